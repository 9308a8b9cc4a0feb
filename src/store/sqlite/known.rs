//! [`KnownKeys`]: which lockout keys may have a counter in the database, so
//! that a check of a client with no failures reads nothing.
//!
//! Most logins are of clients that never failed: their keys have no row,
//! and asking the database so costs a round trip to the writer. The writer
//! keeps the set of keys that have rows (a keyed hash of each, so a
//! collision only means a read that finds nothing), adding a key when it
//! writes its counter. Keys are not taken out when a reset or a purge
//! deletes their rows (a rolled-back delete must not hide a counter): the
//! set is rebuilt from the table after each purge. When another connection
//! (another process) has written to the database, the set is rebuilt before
//! the next batch, and at least every [`STALE_AFTER`](super::writer) while
//! idle.

use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;

use crate::store::error::StoreError;

/// Beyond this many keys the set is dropped and every check reads.
const MAX_KEYS: usize = 4_000_000;

#[derive(Debug, Default)]
pub(super) struct KnownKeys {
    state: Mutex<State>,
    hasher: RandomState,
}

#[derive(Debug, Default)]
struct State {
    /// Whether `keys` holds every key that has a row; if not, nothing can
    /// be ruled out.
    complete: bool,
    keys: HashSet<u64>,
    /// Rows were deleted: rebuild once that commits.
    stale: bool,
}

impl KnownKeys {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn hash(&self, key: &str) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Whether the counter of `key` (encoded) may exist.
    pub fn may_exist(&self, key: &str) -> bool {
        let hash = self.hash(key);
        let state = self.lock();
        !state.complete || state.keys.contains(&hash)
    }

    /// Notes that `key` (encoded) has a row now (or will once committed).
    pub fn add(&self, key: &str) {
        let hash = self.hash(key);
        let mut state = self.lock();
        if state.complete {
            state.keys.insert(hash);
            if state.keys.len() > MAX_KEYS {
                *state = State::default();
            }
        }
    }

    /// Notes that counters are being deleted: the set is to be rebuilt
    /// once that commits.
    pub fn mark_stale(&self) {
        self.lock().stale = true;
    }

    /// Whether the set is to be rebuilt; clears the mark.
    pub fn take_stale(&self) -> bool {
        std::mem::take(&mut self.lock().stale)
    }

    /// Rebuilds the set from the counters table.
    pub fn rebuild(&self, connection: &Connection) -> Result<(), StoreError> {
        // Incomplete while it is read: nothing is ruled out meanwhile.
        *self.lock() = State::default();
        let mut statement = connection
            .prepare_cached("SELECT lockout_key FROM axes_counters")
            .map_err(StoreError::backend)?;
        let mut rows = statement.query([]).map_err(StoreError::backend)?;
        let mut keys = HashSet::new();
        while let Some(row) = rows.next().map_err(StoreError::backend)? {
            let key: String = row.get(0).map_err(StoreError::backend)?;
            keys.insert(self.hash(&key));
            if keys.len() > MAX_KEYS {
                return Ok(());
            }
        }
        *self.lock() = State {
            complete: true,
            keys,
            stale: false,
        };
        Ok(())
    }
}
