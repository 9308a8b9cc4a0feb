//! Where attempts are kept: the [`Store`] trait, its record types, and one
//! module per backend.
//!
//! A store counts; the policy decides. A store never knows what "locked"
//! means: it keeps one counter per [`LockoutKey`] (failures and the time of
//! the last one) and one [`AccessAttempt`] record per (username, IP, user
//! agent), and answers keyed reads. Every store passes the same conformance
//! suite (`tests/store_conformance.rs`).
//!
//! A complete in-memory implementation is [`MemoryStore`]; its source is a
//! compact guide to the contract.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use crate::client::{ClientInfo, LockoutKey};
use crate::config::LockoutGroup;

mod memory;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use memory::MemoryStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

/// An error from a store backend.
///
/// ```
/// let err = axes::StoreError::backend(std::io::Error::other("connection reset"));
/// assert!(err.to_string().contains("connection reset"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend failed (connection, query, I/O).
    #[error("store backend error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Applying the schema migrations failed.
    #[error("store migration failed: {0}")]
    Migration(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The store holds data it cannot read back.
    #[error("store holds invalid data: {0}")]
    InvalidData(String),
}

impl StoreError {
    /// Wraps any backend error.
    pub fn backend(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(Box::new(error))
    }
}

/// One counter: how many failures a key has and when the last one was.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// let counter = axes::Counter { failures: 3, last_failure: SystemTime::UNIX_EPOCH };
/// assert!(!counter.is_live(SystemTime::UNIX_EPOCH + Duration::from_secs(2), Some(Duration::from_secs(1))));
/// assert!(counter.is_live(SystemTime::UNIX_EPOCH + Duration::from_secs(2), None));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    /// Failures counted in the current window.
    pub failures: u64,
    /// When the most recent failure happened.
    pub last_failure: SystemTime,
}

impl Counter {
    /// Whether the counter still counts at `now` with the given inactivity
    /// window (`None`: forever). A counter lives while
    /// `now <= last_failure + window`, as in django-axes.
    pub fn is_live(&self, now: SystemTime, window: Option<Duration>) -> bool {
        match window {
            None => true,
            Some(window) => now <= self.last_failure + window,
        }
    }
}

/// One failure to record: which counters to bump and the attempt it was.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct FailureRecord<'a> {
    /// The counters to increment, one per lockout group that applies.
    pub keys: &'a [LockoutKey],
    /// The client that failed; its attempt record is created or bumped.
    pub client: &'a ClientInfo,
    /// When the failure happened.
    pub at: SystemTime,
    /// The inactivity window: a counter (or attempt record) whose last
    /// failure is older than `at - window` restarts from 1. `None` never
    /// restarts.
    pub window: Option<Duration>,
}

impl<'a> FailureRecord<'a> {
    /// A record of `client` failing at `at`, counted under `keys`.
    pub fn new(
        keys: &'a [LockoutKey],
        client: &'a ClientInfo,
        at: SystemTime,
        window: Option<Duration>,
    ) -> Self {
        Self {
            keys,
            client,
            at,
            window,
        }
    }

    /// Whether an entry last bumped at `last` still counts at this failure.
    pub fn continues(&self, last: SystemTime) -> bool {
        match self.window {
            None => true,
            Some(window) => last + window >= self.at,
        }
    }
}

/// A stored attempt record: the failures of one (username, IP, user agent)
/// triple, as django-axes' `AccessAttempt` row.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccessAttempt {
    /// The username tried, if known.
    pub username: Option<String>,
    /// The client IP.
    pub ip_address: Option<IpAddr>,
    /// The user agent (or `"<unknown>"`).
    pub user_agent: String,
    /// The path of the latest failure.
    pub path_info: String,
    /// The `Accept` header of the latest failure.
    pub http_accept: String,
    /// Failures in the record's current window.
    pub failures: u64,
    /// When the latest failure happened.
    pub attempt_time: SystemTime,
}

impl AccessAttempt {
    /// The record a first failure of `client` at `at` creates.
    pub fn first(client: &ClientInfo, at: SystemTime) -> Self {
        Self {
            username: client.username().map(str::to_owned),
            ip_address: Some(client.ip_address()),
            user_agent: client.user_agent().to_owned(),
            path_info: client.path().to_owned(),
            http_accept: client.http_accept().to_owned(),
            failures: 1,
            attempt_time: at,
        }
    }

    /// The counter keys this record contributed to under `groups`.
    pub fn lockout_keys<'a>(
        &'a self,
        groups: &'a [LockoutGroup],
    ) -> impl Iterator<Item = LockoutKey> + 'a {
        groups.iter().filter_map(|group| {
            LockoutKey::for_group(
                group,
                self.ip_address,
                self.username.as_deref(),
                Some(&self.user_agent),
            )
        })
    }
}

/// Which attempt records a reset or listing covers, as the arguments of
/// django-axes' `reset(ip=…, username=…, ip_or_username=…)`.
///
/// ```
/// use axes::AttemptFilter;
/// let both = AttemptFilter::IpAndUsername("192.0.2.1".parse().unwrap(), "alice".into());
/// assert!(both.validate().is_ok());
/// assert!(AttemptFilter::Username(String::new()).validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptFilter {
    /// Every record.
    All,
    /// Records from one IP.
    Ip(IpAddr),
    /// Records of one username.
    Username(String),
    /// Records of one username from one IP (AND).
    IpAndUsername(IpAddr, String),
    /// Records from the IP or of the username (OR).
    IpOrUsername(IpAddr, String),
}

impl AttemptFilter {
    /// Rejects an empty username: resetting `""` must never mean
    /// "everything" (as `reset(username="")` does in django-axes).
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Self::Username(u) | Self::IpAndUsername(_, u) | Self::IpOrUsername(_, u)
                if u.is_empty() =>
            {
                Err("the username of a filter must not be empty".to_owned())
            }
            _ => Ok(()),
        }
    }

    /// Whether `attempt` is covered by the filter.
    pub fn matches(&self, attempt: &AccessAttempt) -> bool {
        let ip_is = |ip: &IpAddr| attempt.ip_address == Some(ip.to_canonical());
        let user_is = |u: &String| attempt.username.as_deref() == Some(u.as_str());
        match self {
            Self::All => true,
            Self::Ip(ip) => ip_is(ip),
            Self::Username(u) => user_is(u),
            Self::IpAndUsername(ip, u) => ip_is(ip) && user_is(u),
            Self::IpOrUsername(ip, u) => ip_is(ip) || user_is(u),
        }
    }
}

/// A backend that keeps counters and attempt records.
///
/// Implementations must be exact under concurrency: 1,000 concurrent
/// [`record_failure`](Store::record_failure) calls for one key count 1,000.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Reads the counters of `keys` in one round trip, in the same order
    /// (`None` for a key with no counter). Expired counters may be returned;
    /// the policy windows them.
    async fn counters(&self, keys: &[LockoutKey]) -> Result<Vec<Option<Counter>>, StoreError>;

    /// Records one failure atomically: increments every counter of
    /// `failure.keys` (restarting those outside the window), creates or
    /// bumps the client's attempt record, and returns the new counters in
    /// key order.
    async fn record_failure(&self, failure: FailureRecord<'_>) -> Result<Vec<Counter>, StoreError>;

    /// Deletes the attempt records `filter` covers and takes their failures
    /// off the counters they contributed to under `groups` (counters that
    /// reach zero are deleted). [`AttemptFilter::All`] deletes every record
    /// and every counter. Returns the number of records deleted.
    async fn reset(
        &self,
        filter: &AttemptFilter,
        groups: &[LockoutGroup],
    ) -> Result<u64, StoreError>;

    /// Lists the attempt records `filter` covers, most recent first.
    async fn attempts(&self, filter: &AttemptFilter) -> Result<Vec<AccessAttempt>, StoreError>;

    /// Deletes counters and attempt records whose last failure is before
    /// `before`. Returns the number of attempt records deleted.
    async fn purge_expired(&self, before: SystemTime) -> Result<u64, StoreError>;
}

/// Milliseconds since the Unix epoch, as SQL stores keep time.
pub(crate) fn to_millis(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// The inverse of [`to_millis`].
pub(crate) fn from_millis(millis: i64) -> SystemTime {
    if millis >= 0 {
        UNIX_EPOCH + Duration::from_millis(millis.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_millis(millis.unsigned_abs())
    }
}
