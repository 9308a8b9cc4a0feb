//! [`LockCache`]: the lockouts this process has seen, so that a locked-out
//! client's flood is refused from memory instead of a store read per
//! request.
//!
//! A lockout has a known end, or lasts until a reset: each key found
//! locking on its own (its failure count, its lockout history, a detector)
//! is remembered with the lockout it imposes, until that ends. Resets and
//! unlocks forget everything: at once in this process, and through the
//! store's notifications ([`StoreEvent::Reset`](crate::store::StoreEvent))
//! in every other. No entry is believed longer than [`TRUST`], in case a
//! notification was lost while its channel was down.
//!
//! Only keys that lock the same way for every attempt that names them are
//! remembered: nothing when per-attempt callables decide the limit or the
//! cool-off, no username-only key when a trusted client may pass it, and
//! no key whose clients passed a challenge (a pass forgives failures).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tokio::sync::broadcast::{self, error::TryRecvError};

use crate::identity::LockoutKey;
use crate::policy::Lockout;
use crate::store::StoreEvent;

/// The longest an entry is believed without a read.
pub(crate) const TRUST: Duration = Duration::from_secs(10);

/// The most entries kept.
const MAX_ENTRIES: usize = 10_000;

/// One key's lockout, as found.
#[derive(Debug, Clone)]
struct Entry {
    lockout: Lockout,
    /// When the entry stops being believed: the lockout's end, or
    /// [`TRUST`] after it was found, whichever comes first.
    until: SystemTime,
}

/// The lockouts this process has seen, by key.
#[derive(Debug, Default)]
pub(crate) struct LockCache {
    entries: Mutex<HashMap<LockoutKey, Entry>>,
    /// The store's notifications, read before every lookup: a reset
    /// announced on this store instance is seen by the very next one.
    events: Option<Mutex<broadcast::Receiver<StoreEvent>>>,
}

impl LockCache {
    /// A cache that forgets everything when `events` tells of a reset.
    pub fn new(events: Option<broadcast::Receiver<StoreEvent>>) -> Self {
        Self {
            entries: Mutex::default(),
            events: events.map(Mutex::new),
        }
    }

    /// Reads the notifications that arrived: a reset, or a notification
    /// lost, empties the cache.
    fn heed(&self, entries: &mut HashMap<LockoutKey, Entry>) {
        let Some(events) = &self.events else {
            return;
        };
        let mut events = events.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            match events.try_recv() {
                Ok(StoreEvent::SlotsFreed(_) | StoreEvent::Waiting { .. }) => {}
                Ok(_) | Err(TryRecvError::Lagged(_)) => entries.clear(),
                Err(TryRecvError::Empty | TryRecvError::Closed) => return,
            }
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<LockoutKey, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remembers that `key` alone imposes `lockout`, found at `now`.
    pub fn insert(&self, key: LockoutKey, lockout: Lockout, now: SystemTime) {
        let trusted = now + TRUST;
        let until = lockout.locked_until.map_or(trusted, |end| end.min(trusted));
        if until <= now {
            return;
        }
        let mut entries = self.entries();
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
            entries.retain(|_, entry| entry.until > now);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, Entry { lockout, until });
    }

    /// The lockout the remembered entries of `keys` impose together at
    /// `now`, as the counters would: the largest count, the latest end (a
    /// lockout until reset wins), for `username`.
    pub fn lookup(
        &self,
        keys: &[LockoutKey],
        now: SystemTime,
        username: Option<&str>,
    ) -> Option<Lockout> {
        let mut entries = self.entries();
        self.heed(&mut entries);
        if entries.is_empty() {
            return None;
        }
        let mut found: Option<Lockout> = None;
        for key in keys {
            let Some(entry) = entries.get(key).filter(|entry| entry.until > now) else {
                continue;
            };
            let lockout = &entry.lockout;
            if lockout.locked_until.is_some_and(|end| end < now) {
                continue;
            }
            let Some(current) = found.as_mut() else {
                found = Some(lockout.clone());
                continue;
            };
            current.failures = current.failures.max(lockout.failures);
            current.extend_to(lockout.locked_until, lockout.cooloff);
        }
        let mut lockout = found?;
        lockout.username = username.map(str::to_owned);
        Some(lockout)
    }

    /// Forgets everything (a reset, an unlock, a lost notification).
    pub fn clear(&self) {
        self.entries().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::LockoutReason;

    fn key(ip: &str) -> LockoutKey {
        crate::identity::ClientInfo::new(ip.parse().unwrap())
            .lockout_key(&crate::identity::LockoutGroup::single(
                crate::identity::LockoutParameter::IpAddress,
            ))
            .unwrap()
    }

    fn lockout(failures: u64, until: Option<SystemTime>) -> Lockout {
        Lockout {
            reason: LockoutReason::TooManyFailures,
            failures,
            failure_limit: 3,
            locked_until: until,
            cooloff: until.map(|_| Duration::from_secs(60)),
            username: None,
        }
    }

    #[test]
    fn entries_hold_until_their_lockout_ends_or_trust_runs_out() {
        let cache = LockCache::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let (a, b) = (key("192.0.2.1"), key("192.0.2.2"));
        cache.insert(a.clone(), lockout(3, Some(t0 + Duration::from_secs(5))), t0);
        cache.insert(b.clone(), lockout(4, None), t0);
        let both = cache
            .lookup(&[a.clone(), b.clone()], t0, Some("alice"))
            .unwrap();
        assert_eq!(
            (both.failures, both.locked_until),
            (4, None),
            "until reset wins"
        );
        assert_eq!(both.username.as_deref(), Some("alice"));
        let later = t0 + Duration::from_secs(6);
        assert!(
            cache
                .lookup(std::slice::from_ref(&a), later, None)
                .is_none(),
            "ended"
        );
        assert!(cache
            .lookup(std::slice::from_ref(&b), later, None)
            .is_some());
        assert!(
            cache.lookup(&[b], t0 + TRUST, None).is_none(),
            "not believed past TRUST"
        );
        cache.clear();
        assert!(cache.lookup(&[a], t0, None).is_none());
    }
}
