//! The store contract: [`Store`], the core every backend implements, and
//! the capabilities a backend may add ([`AttemptRecords`], [`AccessLogs`],
//! [`FailureLogs`]; [`SharedSlots`](super::SharedSlots) in `slots`), with
//! [`StoreError`].

use std::net::IpAddr;
use std::time::SystemTime;

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::changes::{FailureRecord, Reset};
use super::error::StoreError;
use super::records::{AccessAttempt, AccessFailureLog, AccessLog, AttemptFilter};
use super::slots::{SharedSlots, StoreEvent};
use crate::identity::LockoutKey;
use crate::policy::Counter;

/// Where attempts are kept: the contract every backend implements.
///
/// **The core** is five methods: counters are read, bumped by a failure,
/// taken off by a reset, deleted, and purged once they stop counting. The
/// store counts; the policy decides: a store never knows what "locked"
/// means. It must be exact under concurrency (1,000 concurrent
/// [`record_failure`](Store::record_failure) calls for one key count
/// 1,000), and each method must be atomic: one statement, one transaction
/// or one script.
///
/// **Optional capabilities** are traits of their own, which a store
/// implements and names through one method each: attempt records
/// ([`AttemptRecords`], for listings, resets of a search and
/// `spray_limit`), the access log ([`AccessLogs`], for the
/// trusted-client check), the failure log ([`FailureLogs`]), and attempts
/// in flight shared by several app servers ([`SharedSlots`]). The engine
/// asks for each once; a store without one keeps no such records (its
/// listings are empty) or, for attempts in flight, lets the engine count
/// them in its own process, which is exact for a store one process owns.
///
/// [`MemoryStore`](crate::MemoryStore)'s source is a compact guide; the
/// conformance suite (feature `test-suite`, [`store_suite!`](crate::store_suite))
/// runs the tests every built-in store passes against yours.
///
/// A store with the core alone:
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use std::time::SystemTime;
/// use axes::store::{Counter, FailureRecord, Reset, Store, StoreError};
/// use axes::{AttemptFilter, LockoutKey};
///
/// #[derive(Default)]
/// struct Counters(Mutex<HashMap<String, Counter>>);
///
/// #[async_trait::async_trait]
/// impl Store for Counters {
///     async fn counters(&self, keys: &[LockoutKey]) -> Result<Vec<Option<Counter>>, StoreError> {
///         let map = self.0.lock().unwrap();
///         Ok(keys.iter().map(|k| map.get(&k.encode()).cloned()).collect())
///     }
///     async fn record_failure(&self, failure: FailureRecord<'_>) -> Result<Vec<Counter>, StoreError> {
///         let mut map = self.0.lock().unwrap();
///         Ok(failure.keys.iter().map(|key| {
///             let counter = map.entry(key.encode()).or_insert_with(|| Counter::new(0, failure.at));
///             failure.bump(counter);
///             counter.clone()
///         }).collect())
///     }
///     async fn reset(&self, reset: &Reset<'_>) -> Result<u64, StoreError> {
///         if *reset.filter == AttemptFilter::All {
///             self.0.lock().unwrap().clear();
///         }
///         Ok(0) // no attempt records: the engine deletes the keys a filter names
///     }
///     async fn delete_counters(&self, keys: &[LockoutKey]) -> Result<u64, StoreError> {
///         let mut map = self.0.lock().unwrap();
///         Ok(keys.iter().filter(|k| map.remove(&k.encode()).is_some()).count() as u64)
///     }
///     async fn purge_expired(&self, before: SystemTime) -> Result<u64, StoreError> {
///         self.0.lock().unwrap().retain(|_, c| c.last_failure >= before);
///         Ok(0)
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let axes = axes::Axes::new(axes::AxesConfig::default(), Counters::default());
/// let client = axes::ClientInfo::new("192.0.2.1".parse().unwrap());
/// let failed = || axes::Report::failed(axes::Credentials::default());
/// for _ in 0..3 { axes.attempt(client.clone()).report(failed()).await.unwrap(); }
/// assert!(axes.attempt(client.clone()).check().await.unwrap().lockout().is_some());
/// axes.reset(AttemptFilter::Ip(client.ip_address())).await.unwrap();
/// assert!(axes.attempt(client).check().await.unwrap().lockout().is_none());
/// # }
/// ```
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Reads the counters of `keys` in one round trip, in the same order
    /// (`None` for a key with no counter). Expired counters may be returned;
    /// the policy windows them.
    async fn counters(&self, keys: &[LockoutKey]) -> Result<Vec<Option<Counter>>, StoreError>;

    /// Records one failure atomically: bumps every counter of
    /// `failure.keys` by the windowing rule ([`FailureRecord::bump`]),
    /// creates or bumps the client's attempt record (unless
    /// [`record_attempt`](FailureRecord::record_attempt) is `false`, or the
    /// store keeps none), gives back the attempt's slots in flight
    /// ([`release`](FailureRecord::release), a store that shares them), and
    /// returns the new counters in key order.
    async fn record_failure(&self, failure: FailureRecord<'_>) -> Result<Vec<Counter>, StoreError>;

    /// Deletes the attempt records `reset.filter` covers and takes their
    /// failures off the counters [`Reset::counters_of`] names (counters that
    /// reach zero are deleted), with the slots in flight under those keys.
    /// [`AttemptFilter::All`] deletes every record, counter and slot.
    /// Returns the number of records deleted.
    async fn reset(&self, reset: &Reset<'_>) -> Result<u64, StoreError>;

    /// Deletes the counters of `keys` outright, whatever their count, and
    /// the slots in flight under them. Returns how many counters there were.
    async fn delete_counters(&self, keys: &[LockoutKey]) -> Result<u64, StoreError>;

    /// Deletes counters and attempt records whose last failure is before
    /// `before`. Returns the number of attempt records deleted.
    async fn purge_expired(&self, before: SystemTime) -> Result<u64, StoreError>;

    /// The attempt records capability, if the store keeps them.
    fn records(&self) -> Option<&dyn AttemptRecords> {
        None
    }

    /// The access log capability, if the store keeps one.
    fn access_log(&self) -> Option<&dyn AccessLogs> {
        None
    }

    /// The failure log capability, if the store keeps one.
    fn failure_log(&self) -> Option<&dyn FailureLogs> {
        None
    }

    /// The shared-slots capability: attempts in flight counted in the
    /// store, shared by every app server using it (PostgreSQL, Redis).
    /// `None` (the default): the engine counts them in its own process,
    /// which is exact for a store one process owns.
    fn shared_slots(&self) -> Option<&dyn SharedSlots> {
        None
    }

    /// Notifications of what other app servers (or processes) did to the
    /// store: slots given back, counters reset. The engine wakes its
    /// waiting attempts and forgets its cached lockouts by them. `None`
    /// (the default): nobody else writes to the store.
    fn subscribe(&self) -> Option<broadcast::Receiver<StoreEvent>> {
        None
    }

    /// Tells every engine on the store — in this process at once, in others
    /// through the store's notifications — that counters were reset or
    /// deleted (a reset, an unlock), so they forget the lockouts they
    /// cached. The default tells nobody: a store with no subscribers.
    async fn announce_reset(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// How far the store's clock is ahead of this machine's, in
    /// milliseconds (negative: behind), as last measured. The engine adds
    /// it to its clock, so that app servers sharing a store decide every
    /// time by the store's clock, whatever their own say. `0` (the
    /// default): a store without a clock of its own.
    fn clock_offset_ms(&self) -> i64 {
        0
    }
}

/// Attempt records, django-axes' `AccessAttempt` rows: one per (username,
/// IP, user agent), kept by [`Store::record_failure`] and deleted by
/// [`Store::reset`]. The listings, the admin, resets of a search and
/// `spray_limit` read them.
#[async_trait]
pub trait AttemptRecords: Send + Sync {
    /// Lists the attempt records `filter` covers, most recent first.
    async fn attempts(&self, filter: &AttemptFilter) -> Result<Vec<AccessAttempt>, StoreError>;
}

/// The access log: successful logins, closed by their logouts.
#[async_trait]
pub trait AccessLogs: Send + Sync {
    /// Adds an access log entry (a successful login).
    async fn record_login(&self, entry: &AccessLog) -> Result<(), StoreError>;

    /// Sets the logout time on `username`'s open access log entries with
    /// `session_hash` (`""` for requests without a session). Returns how
    /// many entries were closed.
    async fn record_logout(
        &self,
        username: &str,
        session_hash: &str,
        at: SystemTime,
    ) -> Result<u64, StoreError>;

    /// Lists the access log entries `filter` covers, most recent first.
    async fn access_logs(&self, filter: &AttemptFilter) -> Result<Vec<AccessLog>, StoreError>;

    /// When `username` last logged in from `ip` with `user_agent`, if it
    /// did and the entry is still in the log: the trusted-client check, on
    /// every attempt a username lockout refuses. Its cost must be bounded
    /// by that one client (an index), never by the whole log; the default
    /// reads the user's entries from that IP.
    async fn latest_login(
        &self,
        username: &str,
        ip: IpAddr,
        user_agent: &str,
    ) -> Result<Option<SystemTime>, StoreError> {
        let filter = AttemptFilter::IpAndUsername(ip, username.to_owned());
        Ok(self
            .access_logs(&filter)
            .await?
            .iter()
            .filter(|entry| entry.user_agent == user_agent)
            .map(|entry| entry.attempt_time)
            .max())
    }

    /// Deletes access log entries logged before `before`; returns how many.
    async fn purge_access_logs(&self, before: SystemTime) -> Result<u64, StoreError>;

    /// Deletes the access log entries `filter` covers, with whatever index
    /// names them (a client's latest login, its open sessions): an erasure.
    /// The engine never passes [`AttemptFilter::All`]. Returns how many.
    async fn erase_access_logs(&self, filter: &AttemptFilter) -> Result<u64, StoreError>;
}

/// The failure log (`enable_access_failure_log`): an entry per recorded
/// failure, capped per username.
#[async_trait]
pub trait FailureLogs: Send + Sync {
    /// Adds a failure log entry, then deletes the oldest entries of its
    /// username beyond `per_user_limit`.
    async fn record_failure_log(
        &self,
        entry: &AccessFailureLog,
        per_user_limit: u64,
    ) -> Result<(), StoreError>;

    /// Lists the failure log entries `filter` covers, most recent first.
    async fn failure_logs(
        &self,
        filter: &AttemptFilter,
    ) -> Result<Vec<AccessFailureLog>, StoreError>;

    /// Deletes failure log entries logged before `before`; returns how many.
    async fn purge_failure_logs(&self, before: SystemTime) -> Result<u64, StoreError>;

    /// Deletes the failure log entries `filter` covers: an erasure. The
    /// engine never passes [`AttemptFilter::All`]. Returns how many.
    async fn erase_failure_logs(&self, filter: &AttemptFilter) -> Result<u64, StoreError>;
}
