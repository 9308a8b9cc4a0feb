//! [`MemoryStore`]: counters and attempt records in process memory.

use super::access_log::AccessLogBuffer;
use super::attempt_index::AttemptIndex;
use super::in_flight::InFlight;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use super::{
    AccessAttempt, AccessFailureLog, AccessLog, AttemptFilter, Counter, FailureRecord, Store,
    StoreError,
};
use crate::client::LockoutKey;
use crate::config::LockoutGroup;

/// The default maximum number of counters (and of attempt records) a
/// [`MemoryStore`] keeps.
pub const DEFAULT_MAX_KEYS: usize = 100_000;

/// A store in process memory: fast, lost on restart, not shared between
/// processes.
///
/// It is bounded: at most `max_keys` counters, as many attempt records and
/// as many entries of each log. When full, entries outside their window are
/// evicted first, then the least recently failed ones (the oldest log
/// entries), so a flood of distinct clients cannot exhaust memory.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use axes::{Axes, AxesConfig, ClientInfo, MemoryStore};
/// let axes = Axes::new(AxesConfig::default(), MemoryStore::new());
/// let client = ClientInfo::new("192.0.2.1".parse().unwrap());
/// axes.login_failed(&client).await.unwrap();
/// assert_eq!(axes.attempts(axes::AttemptFilter::All).await.unwrap()[0].failures, 1);
/// # }
/// ```
#[derive(Debug)]
pub struct MemoryStore {
    max_keys: usize,
    state: Mutex<State>,
    in_flight: InFlight,
}

#[derive(Debug, Default)]
struct State {
    counters: HashMap<String, Counter>,
    attempts: AttemptIndex,
    access_logs: AccessLogBuffer,
    failure_logs: VecDeque<AccessFailureLog>,
}

impl MemoryStore {
    /// A store holding at most [`DEFAULT_MAX_KEYS`] counters.
    pub fn new() -> Self {
        Self::with_max_keys(DEFAULT_MAX_KEYS)
    }

    /// A store holding at most `max_keys` counters and as many attempt
    /// records (at least 1).
    pub fn with_max_keys(max_keys: usize) -> Self {
        Self {
            max_keys: max_keys.max(1),
            state: Mutex::new(State::default()),
            in_flight: InFlight::new(max_keys),
        }
    }

    /// How many counters the store holds now.
    pub fn counter_count(&self) -> usize {
        self.lock().counters.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic cannot leave the maps half-updated in a way that matters
        // more than losing the store, so a poisoned lock is taken over.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

/// Makes room for one more entry: drops expired entries, then the tenth
/// that failed least recently.
fn make_room<T>(
    map: &mut HashMap<String, T>,
    max: usize,
    failure: &FailureRecord<'_>,
    state_of: impl Fn(&T) -> (u64, SystemTime),
) {
    if map.len() < max {
        return;
    }
    map.retain(|_, entry| {
        let (failures, last) = state_of(entry);
        failure.continues(failures, last)
    });
    if map.len() < max {
        return;
    }
    let last = |entry: &T| state_of(entry).1;
    let mut times: Vec<SystemTime> = map.values().map(last).collect();
    let cut = (max / 10).max(1).min(times.len() - 1);
    let (_, &mut threshold, _) = times.select_nth_unstable(cut);
    map.retain(|_, entry| last(entry) > threshold);
}

/// [`make_room`] for the attempt records.
fn make_room_for_attempt(attempts: &mut AttemptIndex, max: usize, failure: &FailureRecord<'_>) {
    if attempts.len() < max {
        return;
    }
    attempts.retain(|a| failure.continues(a.failures, a.attempt_time));
    if attempts.len() < max {
        return;
    }
    let mut times: Vec<SystemTime> = attempts.values().map(|a| a.attempt_time).collect();
    let cut = (max / 10).max(1).min(times.len() - 1);
    let (_, &mut threshold, _) = times.select_nth_unstable(cut);
    attempts.retain(|a| a.attempt_time > threshold);
}

#[async_trait]
impl Store for MemoryStore {
    async fn counters(&self, keys: &[LockoutKey]) -> Result<Vec<Option<Counter>>, StoreError> {
        let state = self.lock();
        Ok(keys
            .iter()
            .map(|key| state.counters.get(&key.encode()).cloned())
            .collect())
    }

    async fn record_failure(&self, failure: FailureRecord<'_>) -> Result<Vec<Counter>, StoreError> {
        let mut state = self.lock();
        let mut counts = Vec::with_capacity(failure.keys.len());
        for key in failure.keys {
            let encoded = key.encode();
            if !state.counters.contains_key(&encoded) {
                make_room(&mut state.counters, self.max_keys, &failure, |c| {
                    (c.failures, c.last_failure)
                });
            }
            let counter = state
                .counters
                .entry(encoded)
                .or_insert_with(|| Counter::new(0, failure.at));
            counter.failures = if failure.continues(counter.failures, counter.last_failure) {
                counter.failures + 1
            } else {
                1
            };
            counter.last_failure = counter.last_failure.max(failure.at);
            failure.slide(counter);
            counts.push(counter.clone());
        }
        if !failure.record_attempt {
            return Ok(counts);
        }

        let attempt_key = failure.client.attempt_key().encode();
        match state.attempts.get_mut(&attempt_key) {
            Some(attempt) => attempt.bump(&failure),
            None => {
                make_room_for_attempt(&mut state.attempts, self.max_keys, &failure);
                state
                    .attempts
                    .insert(attempt_key, AccessAttempt::first(&failure));
            }
        }
        Ok(counts)
    }

    async fn reset(
        &self,
        filter: &AttemptFilter,
        groups: &[LockoutGroup],
    ) -> Result<u64, StoreError> {
        let mut state = self.lock();
        if *filter == AttemptFilter::All {
            let removed = state.attempts.len() as u64;
            state.attempts.clear();
            state.counters.clear();
            return Ok(removed);
        }
        let doomed: Vec<String> = state
            .attempts
            .filtered(filter)
            .into_iter()
            .map(|(key, _)| key.to_owned())
            .collect();
        for key in &doomed {
            let Some(attempt) = state.attempts.remove(key) else {
                continue;
            };
            for counter_key in attempt.lockout_keys(groups) {
                let encoded = counter_key.encode();
                if let Some(counter) = state.counters.get_mut(&encoded) {
                    counter.failures = counter.failures.saturating_sub(attempt.failures);
                    if counter.failures == 0 {
                        state.counters.remove(&encoded);
                    }
                }
            }
        }
        Ok(doomed.len() as u64)
    }

    async fn delete_counters(&self, keys: &[LockoutKey]) -> Result<u64, StoreError> {
        let mut state = self.lock();
        Ok(keys
            .iter()
            .filter(|key| state.counters.remove(&key.encode()).is_some())
            .count() as u64)
    }

    async fn attempts(&self, filter: &AttemptFilter) -> Result<Vec<AccessAttempt>, StoreError> {
        let state = self.lock();
        let mut attempts: Vec<AccessAttempt> = state
            .attempts
            .filtered(filter)
            .into_iter()
            .map(|(_, attempt)| attempt.clone())
            .collect();
        attempts.sort_by_key(|a| std::cmp::Reverse(a.attempt_time));
        Ok(attempts)
    }

    async fn purge_expired(&self, before: SystemTime) -> Result<u64, StoreError> {
        let mut state = self.lock();
        state.counters.retain(|_, c| c.last_failure >= before);
        let len = state.attempts.len();
        state.attempts.retain(|a| a.attempt_time >= before);
        Ok((len - state.attempts.len()) as u64)
    }

    async fn record_login(&self, entry: &AccessLog) -> Result<(), StoreError> {
        let mut state = self.lock();
        state.access_logs.push(entry.clone(), self.max_keys);
        Ok(())
    }

    async fn record_logout(
        &self,
        username: &str,
        session_hash: &str,
        at: SystemTime,
    ) -> Result<u64, StoreError> {
        let mut state = self.lock();
        Ok(state.access_logs.log_out(username, session_hash, at))
    }

    async fn access_logs(&self, filter: &AttemptFilter) -> Result<Vec<AccessLog>, StoreError> {
        let state = self.lock();
        let mut logs: Vec<AccessLog> = state
            .access_logs
            .iter()
            .filter(|e| filter.matches_parts(e.ip_address, Some(&e.username)))
            .cloned()
            .collect();
        logs.sort_by_key(|e| std::cmp::Reverse(e.attempt_time));
        Ok(logs)
    }

    async fn purge_access_logs(&self, before: SystemTime) -> Result<u64, StoreError> {
        let mut state = self.lock();
        Ok(state.access_logs.retain_since(before))
    }

    async fn record_failure_log(
        &self,
        entry: &AccessFailureLog,
        per_user_limit: u64,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        if state.failure_logs.len() >= self.max_keys {
            state.failure_logs.pop_front();
        }
        state.failure_logs.push_back(entry.clone());
        let same_user = |e: &AccessFailureLog| e.username == entry.username;
        let mut excess = state
            .failure_logs
            .iter()
            .filter(|e| same_user(e))
            .count()
            .saturating_sub(per_user_limit as usize);
        // Entries are in insertion order: the first ones are the oldest.
        state.failure_logs.retain(|e| {
            if excess > 0 && same_user(e) {
                excess -= 1;
                false
            } else {
                true
            }
        });
        Ok(())
    }

    async fn failure_logs(
        &self,
        filter: &AttemptFilter,
    ) -> Result<Vec<AccessFailureLog>, StoreError> {
        let state = self.lock();
        let mut logs: Vec<AccessFailureLog> = state
            .failure_logs
            .iter()
            .filter(|e| filter.matches_parts(e.ip_address, e.username.as_deref()))
            .cloned()
            .collect();
        logs.sort_by_key(|e| std::cmp::Reverse(e.attempt_time));
        Ok(logs)
    }

    async fn purge_failure_logs(&self, before: SystemTime) -> Result<u64, StoreError> {
        let mut state = self.lock();
        let len = state.failure_logs.len();
        state.failure_logs.retain(|e| e.attempt_time >= before);
        Ok((len - state.failure_logs.len()) as u64)
    }

    async fn acquire_in_flight(
        &self,
        keys: &[LockoutKey],
        at: SystemTime,
        ttl: Duration,
    ) -> Result<Vec<u64>, StoreError> {
        Ok(self.in_flight.acquire(keys, at, ttl))
    }

    async fn release_in_flight(&self, keys: &[LockoutKey]) -> Result<(), StoreError> {
        self.in_flight.release(keys);
        Ok(())
    }
}
