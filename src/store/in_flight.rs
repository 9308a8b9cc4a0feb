//! [`InFlight`]: attempts in flight per lockout key, in this process's
//! memory, for the stores one process owns (memory, SQLite).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::client::LockoutKey;

/// Attempts in flight per key, each entry forgotten `ttl` after it was last
/// acquired; at most `max_keys` entries before expired ones are dropped.
#[derive(Debug)]
pub(crate) struct InFlight {
    entries: Mutex<HashMap<String, (u64, SystemTime)>>,
    max_keys: usize,
}

impl InFlight {
    pub fn new(max_keys: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            max_keys: max_keys.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, SystemTime)>> {
        // Counts of attempts in flight are advisory: a poisoned lock is taken over.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One more attempt under each of `keys`; how many each has now.
    pub fn acquire(&self, keys: &[LockoutKey], at: SystemTime, ttl: Duration) -> Vec<u64> {
        let mut entries = self.lock();
        if entries.len() >= self.max_keys {
            entries.retain(|_, (_, expires)| *expires >= at);
        }
        keys.iter()
            .map(|key| {
                let entry = entries.entry(key.encode()).or_insert((0, at));
                entry.0 = if entry.1 < at { 1 } else { entry.0 + 1 };
                entry.1 = at + ttl;
                entry.0
            })
            .collect()
    }

    /// One attempt fewer under each of `keys`.
    pub fn release(&self, keys: &[LockoutKey]) {
        let mut entries = self.lock();
        for key in keys {
            let encoded = key.encode();
            if let Some(entry) = entries.get_mut(&encoded) {
                entry.0 = entry.0.saturating_sub(1);
                if entry.0 == 0 {
                    entries.remove(&encoded);
                }
            }
        }
    }
}
