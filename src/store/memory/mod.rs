//! [`MemoryStore`]: counters and attempt records in process memory, within
//! a byte budget.

mod access_log;
mod attempts;
mod budget;

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tokio::sync::broadcast;

use self::access_log::AccessLogBuffer;
use self::attempts::AttemptIndex;
use self::budget::Lifetime;
use super::changes::{FailureRecord, Reset};
use super::contract::{AccessLogs, AttemptRecords, FailureLogs, Store};
use super::error::StoreError;
use super::records::{AccessAttempt, AccessFailureLog, AccessLog, AttemptFilter};
use super::slots::StoreEvent;
use crate::identity::LockoutKey;
use crate::log_limit::Every;
use crate::policy::Counter;

/// The default memory budget of a [`MemoryStore`] (64 MiB).
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024 * 1024;

/// A store in process memory: fast, lost on restart, not shared between
/// processes.
///
/// It is bounded by bytes: every stored string counts toward a budget
/// ([`with_max_bytes`](Self::with_max_bytes), default 64 MiB, estimated
/// from what each entry holds), of which the access log and the failure
/// log may take an eighth each, dropping their oldest entries. Counters and
/// attempt records take the rest; when it is full, entries that stopped
/// counting go first, then the least recently failed of the others, so a
/// flood of distinct clients cannot exhaust memory.
///
/// A counter that locks a client is never evicted, nor the attempt record
/// of the failure that made it lock: a flood cannot lift a lockout. When
/// the store is full of lockouts, it refuses to track new keys
/// ([`StoreError::Full`]; the engine applies `on_store_error`) and logs
/// that, rather than forget one.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use axes::{Axes, AxesConfig, ClientInfo, MemoryStore, Report};
/// let axes = Axes::new(AxesConfig::default(), MemoryStore::with_max_bytes(8 << 20));
/// let client = ClientInfo::new("192.0.2.1".parse().unwrap());
/// axes.attempt(client).report(Report::failed("alice")).await.unwrap();
/// assert_eq!(axes.attempts(axes::AttemptFilter::All).await.unwrap()[0].failures, 1);
/// # }
/// ```
#[derive(Debug)]
pub struct MemoryStore {
    max_bytes: usize,
    max_keys: usize,
    state: Mutex<State>,
    full: Every,
    /// Resets announced, for the other engines sharing this store.
    resets: broadcast::Sender<StoreEvent>,
}

/// A counter, how long it matters, and what it costs.
#[derive(Debug)]
struct Entry {
    counter: Counter,
    life: Lifetime,
    bytes: usize,
}

#[derive(Debug, Default)]
struct State {
    counters: HashMap<LockoutKey, Entry>,
    counter_bytes: usize,
    attempts: AttemptIndex,
    access_logs: AccessLogBuffer,
    failure_logs: VecDeque<AccessFailureLog>,
    failure_log_bytes: usize,
    /// After a search for room found none: no new search before this,
    /// unless something was removed meanwhile.
    full_until: Option<SystemTime>,
}

impl MemoryStore {
    /// A store within the default budget ([`DEFAULT_MAX_BYTES`]).
    pub fn new() -> Self {
        Self::with_max_bytes(DEFAULT_MAX_BYTES)
    }

    /// A store whose entries take at most about `max_bytes` of memory.
    pub fn with_max_bytes(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            max_keys: usize::MAX,
            state: Mutex::new(State::default()),
            full: Every::new(Duration::from_secs(60)),
            resets: broadcast::channel(16).0,
        }
    }

    /// A store holding at most `max_keys` counters, as many attempt records
    /// and as many entries of each log (at least 1), within the default
    /// byte budget.
    pub fn with_max_keys(max_keys: usize) -> Self {
        Self {
            max_keys: max_keys.max(1),
            ..Self::new()
        }
    }

    /// How many counters the store holds now.
    pub fn counter_count(&self) -> usize {
        self.lock().counters.len()
    }

    /// About how many bytes the store's entries take now.
    pub fn bytes_used(&self) -> usize {
        let state = self.lock();
        state.counter_bytes
            + state.attempts.bytes()
            + state.access_logs.bytes()
            + state.failure_log_bytes
    }

    /// The share of the budget counters and attempt records may take.
    fn record_budget(&self) -> usize {
        self.max_bytes - 2 * self.log_budget()
    }

    /// The share of the budget each log may take.
    fn log_budget(&self) -> usize {
        self.max_bytes / 8
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

impl State {
    fn record_bytes(&self) -> usize {
        self.counter_bytes + self.attempts.bytes()
    }

    fn remove_counter(&mut self, key: &LockoutKey) -> Option<Entry> {
        let entry = self.counters.remove(key)?;
        self.counter_bytes -= entry.bytes;
        self.full_until = None;
        Some(entry)
    }

    fn retain_counters(&mut self, mut keep: impl FnMut(&Entry) -> bool) -> usize {
        let before = self.counters.len();
        let mut freed = 0;
        self.counters.retain(|_, entry| {
            let kept = keep(entry);
            if !kept {
                freed += entry.bytes;
            }
            kept
        });
        self.counter_bytes -= freed;
        let gone = before - self.counters.len();
        if gone > 0 {
            self.full_until = None;
        }
        gone
    }

    fn retain_attempts(&mut self, keep: impl FnMut(&attempts::Tracked) -> bool) -> usize {
        let gone = self.attempts.retain(keep);
        if gone > 0 {
            self.full_until = None;
        }
        gone
    }
}

/// How many entries the eviction threshold is estimated from.
const EVICTION_SAMPLE: usize = 1024;

/// About the quarter least recently failed of the entries whose failure
/// times `times` yields: entries failed no later are evicted. A quarter,
/// not less: each eviction is a pass over every entry, and under a flood
/// of distinct failures a tenth made those passes a fifth of the server's
/// time (a 20 s flood ran at 22.6-25.3k req/s with a tenth, 30.7-32.9k with
/// a quarter). It is read from the first [`EVICTION_SAMPLE`] of them, which
/// a map iterated in hash order yields in no relation to their times, so
/// that a store at its bound does not copy and sort every entry each time
/// it makes room.
fn eviction_threshold(times: impl Iterator<Item = SystemTime>) -> Option<SystemTime> {
    let mut times: Vec<SystemTime> = times.take(EVICTION_SAMPLE).collect();
    if times.is_empty() {
        return None;
    }
    let cut = (times.len() / 4).min(times.len() - 1);
    let (_, &mut threshold, _) = times.select_nth_unstable(cut);
    Some(threshold)
}

impl MemoryStore {
    /// Makes room for `counters` more counters and `attempts` more attempt
    /// records taking `bytes` in all: drops entries that stopped counting,
    /// then the least recently failed quarter of the attempt records and of
    /// the counters, never one that locks. `false` when there is no room.
    fn make_room(
        &self,
        state: &mut State,
        (counters, attempts, bytes): (usize, usize, usize),
        now: SystemTime,
    ) -> bool {
        let fits = |state: &State| {
            state.record_bytes() + bytes <= self.record_budget()
                && state.counters.len() + counters <= self.max_keys
                && state.attempts.len() + attempts <= self.max_keys
        };
        if fits(state) {
            return true;
        }
        if state.full_until.is_some_and(|until| now < until) {
            return false;
        }
        state.retain_counters(|entry| !entry.life.expired(now));
        state.retain_attempts(|tracked| !tracked.life.expired(now));
        // Each round frees a quarter of what may go: a handful of rounds
        // frees anything that can be freed.
        for _ in 0..32 {
            if fits(state) {
                return true;
            }
            let attempt_times = state
                .attempts
                .values()
                .filter(|t| t.life.evictable(now))
                .map(|t| t.record.attempt_time);
            let freed_attempts = match eviction_threshold(attempt_times) {
                Some(cut) => {
                    state.retain_attempts(|t| !t.life.evictable(now) || t.record.attempt_time > cut)
                }
                None => 0,
            };
            if fits(state) {
                return true;
            }
            let counter_times = state
                .counters
                .values()
                .filter(|e| e.life.evictable(now))
                .map(|e| e.counter.last_failure);
            let freed_counters = match eviction_threshold(counter_times) {
                Some(cut) => state
                    .retain_counters(|e| !e.life.evictable(now) || e.counter.last_failure > cut),
                None => 0,
            };
            if freed_attempts + freed_counters == 0 {
                break;
            }
        }
        if fits(state) {
            return true;
        }
        // Full of lockouts: look again in a second, or when one goes.
        state.full_until = now.checked_add(Duration::from_secs(1));
        if let Some(refused) = self.full.tick(now) {
            tracing::warn!(target: "axes", refused, max_bytes = self.max_bytes, "memory store full of lockouts: new keys are not tracked; raise its budget or use a shared store");
        }
        false
    }
}

/// The lifetime of `counter` of `key` after `failure` bumped it.
fn counter_life(failure: &FailureRecord<'_>, key: &LockoutKey, counter: &Counter) -> Lifetime {
    Lifetime {
        expires: failure
            .window
            .for_count(counter.failures)
            .and_then(|window| counter.last_failure.checked_add(window)),
        protected: failure.locks(key, counter),
    }
}

/// The full error when there is no room for a failure's new keys.
fn full(max_bytes: usize) -> StoreError {
    StoreError::Full(format!(
        "the memory store's {max_bytes} bytes are taken by lockouts"
    ))
}

#[async_trait]
impl Store for MemoryStore {
    fn subscribe(&self) -> Option<broadcast::Receiver<StoreEvent>> {
        Some(self.resets.subscribe())
    }

    async fn announce_reset(&self) -> Result<(), StoreError> {
        let _ = self.resets.send(StoreEvent::Reset);
        Ok(())
    }

    async fn counters(&self, keys: &[LockoutKey]) -> Result<Vec<Option<Counter>>, StoreError> {
        let state = self.lock();
        Ok(keys
            .iter()
            .map(|key| state.counters.get(key).map(|e| e.counter.clone()))
            .collect())
    }

    async fn record_failure(&self, failure: FailureRecord<'_>) -> Result<Vec<Counter>, StoreError> {
        let now = failure.at;
        let mut state = self.lock();
        let attempt_key = failure
            .record_attempt
            .then(|| failure.client.attempt_key().encode());

        // Room for what is new, before anything changes: all or nothing.
        let mut new_counters = 0;
        let mut needed = 0;
        for key in failure.keys {
            if !state.counters.contains_key(key) {
                new_counters += 1;
                needed += budget::counter(budget::key(key), &Counter::new(1, now));
            }
        }
        let new_attempt = attempt_key
            .as_ref()
            .filter(|key| state.attempts.get(key).is_none());
        if let Some(key) = new_attempt {
            needed += budget::attempt(key, &AccessAttempt::first(&failure));
        }
        let new = (new_counters, usize::from(new_attempt.is_some()), needed);
        if (new_counters > 0 || new_attempt.is_some()) && !self.make_room(&mut state, new, now) {
            return Err(full(self.max_bytes));
        }

        let mut counts = Vec::with_capacity(failure.keys.len());
        // How long the attempt record must be kept: as long as a counter
        // its failure made lock.
        let mut protected = None;
        for key in failure.keys {
            let state = &mut *state;
            let entry = state.counters.entry(key.clone()).or_insert_with(|| Entry {
                counter: Counter::new(0, now),
                life: Lifetime::default(),
                bytes: 0,
            });
            let counter = &mut entry.counter;
            failure.bump(counter);
            let life = counter_life(&failure, key, counter);
            entry.life.expires = life.expires;
            entry.life.protect(life.protected);
            if key.scope().is_none() {
                protected = budget::later(protected, life.protected);
            }
            counts.push(counter.clone());
            // The cost settles on the counter's new size (its failure times).
            let bytes = budget::counter(budget::key(key), counter);
            state.counter_bytes = state.counter_bytes + bytes - entry.bytes;
            entry.bytes = bytes;
        }
        let Some(attempt_key) = attempt_key else {
            return Ok(counts);
        };
        let updated = state.attempts.update(&attempt_key, |record, life| {
            record.bump(&failure);
            life.expires = failure
                .window
                .for_count(record.failures)
                .and_then(|w| record.attempt_time.checked_add(w));
            life.protect(protected);
        });
        if !updated {
            let record = AccessAttempt::first(&failure);
            let life = Lifetime {
                expires: failure
                    .window
                    .for_count(1)
                    .and_then(|w| record.attempt_time.checked_add(w)),
                protected,
            };
            state.attempts.insert(attempt_key, record, life);
        }
        Ok(counts)
    }

    async fn reset(&self, reset: &Reset<'_>) -> Result<u64, StoreError> {
        let filter = reset.filter;
        let mut state = self.lock();
        if *filter == AttemptFilter::All {
            let removed = state.attempts.len() as u64;
            state.attempts.clear();
            state.counters.clear();
            state.counter_bytes = 0;
            state.full_until = None;
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
            for counter_key in reset.counters_of(&attempt) {
                let emptied = state.counters.get_mut(&counter_key).is_some_and(|entry| {
                    entry.counter.failures =
                        entry.counter.failures.saturating_sub(attempt.failures);
                    entry.counter.failures == 0
                });
                if emptied {
                    state.remove_counter(&counter_key);
                }
            }
        }
        state.full_until = None;
        Ok(doomed.len() as u64)
    }

    async fn delete_counters(&self, keys: &[LockoutKey]) -> Result<u64, StoreError> {
        let mut state = self.lock();
        Ok(keys
            .iter()
            .filter(|key| state.remove_counter(key).is_some())
            .count() as u64)
    }

    async fn purge_expired(&self, before: SystemTime) -> Result<u64, StoreError> {
        let mut state = self.lock();
        state.retain_counters(|e| e.counter.last_failure >= before);
        Ok(state.retain_attempts(|t| t.record.attempt_time >= before) as u64)
    }

    fn records(&self) -> Option<&dyn AttemptRecords> {
        Some(self)
    }

    fn access_log(&self) -> Option<&dyn AccessLogs> {
        Some(self)
    }

    fn failure_log(&self) -> Option<&dyn FailureLogs> {
        Some(self)
    }
}

#[async_trait]
impl AttemptRecords for MemoryStore {
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
}

#[async_trait]
impl AccessLogs for MemoryStore {
    async fn record_login(&self, entry: &AccessLog) -> Result<(), StoreError> {
        let mut state = self.lock();
        let max_bytes = self.log_budget();
        state
            .access_logs
            .push(entry.clone(), self.max_keys, max_bytes);
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

    async fn latest_login(
        &self,
        username: &str,
        ip: IpAddr,
        user_agent: &str,
    ) -> Result<Option<SystemTime>, StoreError> {
        Ok(self
            .lock()
            .access_logs
            .latest_login(username, ip, user_agent))
    }

    async fn purge_access_logs(&self, before: SystemTime) -> Result<u64, StoreError> {
        let mut state = self.lock();
        Ok(state.access_logs.retain_since(before))
    }

    async fn erase_access_logs(&self, filter: &AttemptFilter) -> Result<u64, StoreError> {
        let mut state = self.lock();
        Ok(state
            .access_logs
            .retain(|e| !filter.matches_parts(e.ip_address, Some(&e.username))))
    }
}

#[async_trait]
impl FailureLogs for MemoryStore {
    async fn record_failure_log(
        &self,
        entry: &AccessFailureLog,
        per_user_limit: u64,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let cost = budget::failure_log(entry);
        if cost > self.log_budget() {
            return Ok(());
        }
        while state.failure_logs.len() >= self.max_keys
            || state.failure_log_bytes + cost > self.log_budget()
        {
            let Some(old) = state.failure_logs.pop_front() else {
                break;
            };
            state.failure_log_bytes -= budget::failure_log(&old);
        }
        state.failure_logs.push_back(entry.clone());
        state.failure_log_bytes += cost;
        let same_user = |e: &AccessFailureLog| e.username == entry.username;
        let mut excess = state
            .failure_logs
            .iter()
            .filter(|e| same_user(e))
            .count()
            .saturating_sub(per_user_limit as usize);
        // Entries are in insertion order: the first ones are the oldest.
        let mut freed = 0;
        state.failure_logs.retain(|e| {
            if excess > 0 && same_user(e) {
                excess -= 1;
                freed += budget::failure_log(e);
                false
            } else {
                true
            }
        });
        state.failure_log_bytes -= freed;
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
        Ok(self.retain_failure_logs(|e| e.attempt_time >= before))
    }

    async fn erase_failure_logs(&self, filter: &AttemptFilter) -> Result<u64, StoreError> {
        Ok(
            self.retain_failure_logs(|e| {
                !filter.matches_parts(e.ip_address, e.username.as_deref())
            }),
        )
    }
}

impl MemoryStore {
    /// Keeps the failure log entries `keep` keeps; how many went.
    fn retain_failure_logs(&self, keep: impl Fn(&AccessFailureLog) -> bool) -> u64 {
        let mut state = self.lock();
        let len = state.failure_logs.len();
        let mut freed = 0;
        state.failure_logs.retain(|e| {
            let kept = keep(e);
            if !kept {
                freed += budget::failure_log(e);
            }
            kept
        });
        state.failure_log_bytes -= freed;
        (len - state.failure_logs.len()) as u64
    }
}
