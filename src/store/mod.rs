//! Where attempts are kept: the [`Store`] trait, its record types, and one
//! module per backend.
//!
//! A store counts; the policy decides. A store never knows what "locked"
//! means: it keeps one counter per [`LockoutKey`] (failures, the time of
//! the last one, and under a sliding window the times of the recent ones)
//! and one [`AccessAttempt`] record per (username, IP, user agent), and
//! answers keyed reads. The engine's own bookkeeping (detectors, lockout
//! histories) lives in counters of scoped keys beside the client's. Every store passes the same conformance
//! suite (the `store_conformance!` macro of `tests/store_suite`).
//!
//! A complete in-memory implementation is [`MemoryStore`]; its source is a
//! compact guide to the contract.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use crate::client::{ClientInfo, LockoutKey};
use crate::config::LockoutGroup;

mod connect;
#[cfg(any(feature = "postgres", feature = "redis"))]
mod lease;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
mod records;
#[cfg(feature = "redis")]
mod redis;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;
mod timed;

pub(crate) use timed::TimedStore;

#[cfg(feature = "postgres")]
pub use self::postgres::PostgresStore;
#[cfg(feature = "redis")]
pub use self::redis::RedisStore;
#[cfg(feature = "sqlite")]
pub use self::sqlite::SqliteStore;
pub use connect::connect;
pub use memory::{MemoryStore, DEFAULT_MAX_BYTES};
pub use records::{AccessAttempt, AccessFailureLog, AccessLog, AttemptFilter};
pub(crate) use records::{HISTORY_SCOPE, QUICK_SCOPE, SPRAY_SCOPE};

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
    /// The store did not answer in time.
    #[error("store did not answer within {0:?}")]
    Timeout(Duration),
    /// A store URL names no store this build supports.
    #[error("invalid store URL: {0}")]
    InvalidUrl(String),
    /// The store does not implement this operation.
    #[error("this store does not support {0}")]
    Unsupported(&'static str),
    /// The store is at its bound and holds nothing it may drop: a new key
    /// is not tracked rather than an old lockout forgotten.
    #[error("store full: {0}")]
    Full(String),
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
/// let counter = axes::Counter::new(3, SystemTime::UNIX_EPOCH);
/// assert!(!counter.is_live(SystemTime::UNIX_EPOCH + Duration::from_secs(2), Some(Duration::from_secs(1))));
/// assert!(counter.is_live(SystemTime::UNIX_EPOCH + Duration::from_secs(2), None));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    /// Failures counted in the current window.
    pub failures: u64,
    /// When the most recent failure happened.
    pub last_failure: SystemTime,
    /// Under a sliding window (`use_attempt_expiration`): the times of the
    /// failures still counted, oldest first. Empty otherwise.
    pub recent: Vec<SystemTime>,
}

impl Counter {
    /// A counter of `failures`, the last at `last_failure`.
    pub fn new(failures: u64, last_failure: SystemTime) -> Self {
        Self {
            failures,
            last_failure,
            recent: Vec::new(),
        }
    }

    /// The counter with the failure times of a sliding window.
    pub fn with_recent(mut self, recent: Vec<SystemTime>) -> Self {
        self.recent = recent;
        self
    }

    /// The failure times that still count: the newest `failures` of
    /// [`recent`](Self::recent) (a reset takes failures off the count
    /// without knowing their times, and the oldest go first).
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// let t = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
    /// let counter = axes::Counter::new(2, t(9)).with_recent(vec![t(1), t(5), t(9)]);
    /// assert_eq!(counter.counted_times(), [t(5), t(9)]);
    /// ```
    pub fn counted_times(&self) -> &[SystemTime] {
        let counted = usize::try_from(self.failures).unwrap_or(usize::MAX);
        &self.recent[self.recent.len().saturating_sub(counted)..]
    }

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

/// How long a counter keeps counting after its last failure, by its count:
/// forever, one cool-off, or a cool-off per lockout tier.
///
/// A counter whose count is `n` continues at the next failure if that comes
/// no later than its last failure plus `for_count(n)`; otherwise it restarts
/// from 1.
///
/// ```
/// use std::time::Duration;
/// use axes::Window;
/// let tiers = Window::tiered([(3, Duration::from_secs(900)), (6, Duration::from_secs(7200))]);
/// assert_eq!(tiers.for_count(1), Some(Duration::from_secs(900)));
/// assert_eq!(tiers.for_count(7), Some(Duration::from_secs(7200)));
/// assert_eq!(Window::forever().for_count(7), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// `(from_failures, window)`, sorted by `from_failures`; the first
    /// starts at 0. Empty: forever.
    steps: Vec<(u64, Duration)>,
    /// Sliding: keep the times of at most this many recent failures.
    keep: Option<usize>,
}

impl Window {
    /// Counters never restart.
    pub fn forever() -> Self {
        Self {
            steps: Vec::new(),
            keep: None,
        }
    }

    /// One inactivity window for every count.
    pub fn fixed(window: Duration) -> Self {
        Self {
            steps: vec![(0, window)],
            keep: None,
        }
    }

    /// A window per tier: from `failures` on, `window`. Counts below the
    /// lowest tier use the lowest tier's window.
    pub fn tiered(tiers: impl IntoIterator<Item = (u64, Duration)>) -> Self {
        let mut steps: Vec<(u64, Duration)> = tiers.into_iter().collect();
        steps.sort_by_key(|(from, _)| *from);
        steps.dedup_by_key(|(from, _)| *from);
        if let Some(&(from, window)) = steps.first() {
            if from > 0 {
                steps.insert(0, (0, window));
            }
        }
        Self { steps, keep: None }
    }

    /// This window, sliding (`use_attempt_expiration`): besides the count,
    /// a counter keeps the times of its `keep` most recent failures within
    /// the longest window, and each failure stops counting on its own.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// let t = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
    /// let window = axes::Window::fixed(Duration::from_secs(10)).sliding(3);
    /// // Failures at 1, 5 and 9 s were counted; one more comes at 12 s.
    /// let recent = window.slide(&[t(1), t(5), t(9)], 4, t(12));
    /// assert_eq!(recent, [t(5), t(9), t(12)], "the one at 1 s has expired");
    /// ```
    pub fn sliding(mut self, keep: usize) -> Self {
        self.keep = Some(keep.max(1));
        self
    }

    /// How many failure times a sliding window keeps; `None` when it does
    /// not slide.
    pub fn keep(&self) -> Option<usize> {
        self.keep
    }

    /// The failure times a sliding counter keeps after a failure at `at`
    /// bumped its count to `bumped` (restarts give 1): the newest
    /// `bumped - 1` of `recent` still within the longest window, then `at`,
    /// at most [`keep`](Self::keep) of them. A store then sets the count to
    /// their number. Empty when the window does not slide.
    pub fn slide(&self, recent: &[SystemTime], bumped: u64, at: SystemTime) -> Vec<SystemTime> {
        let Some(keep) = self.keep else {
            return Vec::new();
        };
        let previous = usize::try_from(bumped.saturating_sub(1)).unwrap_or(usize::MAX);
        let longest = self.longest();
        let mut times: Vec<SystemTime> = recent[recent.len().saturating_sub(previous)..]
            .iter()
            .copied()
            .filter(|t| longest.is_none_or(|w| *t + w >= at))
            .collect();
        times.push(at);
        times.sort();
        let excess = times.len().saturating_sub(keep);
        times.drain(..excess);
        times
    }

    /// The steps, `(from_failures, window)`, ascending; empty for forever.
    pub fn steps(&self) -> &[(u64, Duration)] {
        &self.steps
    }

    /// The window of a count of `failures`; `None` forever.
    pub fn for_count(&self, failures: u64) -> Option<Duration> {
        self.steps
            .iter()
            .rev()
            .find(|(from, _)| *from <= failures)
            .map(|(_, window)| *window)
    }

    /// The longest window of any count; `None` forever.
    pub fn longest(&self) -> Option<Duration> {
        if self.steps.is_empty() {
            None
        } else {
            self.steps.iter().map(|(_, window)| *window).max()
        }
    }

    /// Whether a counter of `failures` last bumped at `last` still counts at `at`.
    pub fn continues(&self, failures: u64, last: SystemTime, at: SystemTime) -> bool {
        match self.for_count(failures) {
            None => true,
            Some(window) => last + window >= at,
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
    /// How long counters (and the attempt record) keep counting: one whose
    /// window has passed restarts from 1.
    pub window: &'a Window,
    /// The request's query data, cleansed of secrets and bounded.
    pub get_data: &'a str,
    /// The request's body data, cleansed of secrets and bounded.
    pub post_data: &'a str,
    /// Whether the client's attempt record is created or bumped (`false`
    /// bumps the counters only, for the engine's own bookkeeping keys).
    pub record_attempt: bool,
    /// From how many failures a counter of [`keys`](Self::keys) locks (a
    /// scoped key, the engine's own bookkeeping, locks from one). A store
    /// that bounds its memory never evicts a counter that locks, nor the
    /// attempt record whose failure made it lock, for
    /// [`lock_span`](Self::lock_span) after its last failure. `u64::MAX`
    /// (the default): none locks.
    pub lock_at: u64,
    /// How long after its last failure a counter that locks may go on
    /// locking; `None`: until reset.
    pub lock_span: Option<Duration>,
    /// The slots of the attempt that failed, given back in the same write
    /// by a store that shares attempts in flight: every admission then sees
    /// the attempt as a slot or as a failure, never as neither.
    pub release: Option<Slots<'a>>,
}

impl<'a> FailureRecord<'a> {
    /// A record of `client` failing at `at`, counted under `keys`.
    pub fn new(
        keys: &'a [LockoutKey],
        client: &'a ClientInfo,
        at: SystemTime,
        window: &'a Window,
    ) -> Self {
        Self {
            keys,
            client,
            at,
            window,
            get_data: "",
            post_data: "",
            record_attempt: true,
            lock_at: u64::MAX,
            lock_span: None,
            release: None,
        }
    }

    /// Gives back `slots` in the same write.
    pub fn releasing(mut self, slots: Slots<'a>) -> Self {
        self.release = Some(slots);
        self
    }

    /// Says which counters lock: those with at least `lock_at` failures
    /// (and every scoped one), for up to `lock_span` after their last
    /// failure (`None`: until reset).
    pub fn locking(mut self, lock_at: u64, lock_span: Option<Duration>) -> Self {
        self.lock_at = lock_at.max(1);
        self.lock_span = lock_span;
        self
    }

    /// Whether `counter` of `key`, as bumped by this failure, locks, and
    /// until when: `Some(None)` until reset.
    pub fn locks(&self, key: &LockoutKey, counter: &Counter) -> Option<Option<SystemTime>> {
        if key.scope().is_none() && counter.failures < self.lock_at {
            return None;
        }
        Some(
            self.lock_span
                .and_then(|span| counter.last_failure.checked_add(span)),
        )
    }

    /// Adds the cleansed request data stored on the attempt record, each cut
    /// to [`MAX_DATA_BYTES`](crate::MAX_DATA_BYTES) (on a character
    /// boundary): no store keeps more of it.
    pub fn with_data(mut self, get_data: &'a str, post_data: &'a str) -> Self {
        self.get_data = cut(get_data, crate::attempt_data::MAX_DATA_BYTES);
        self.post_data = cut(post_data, crate::attempt_data::MAX_DATA_BYTES);
        self
    }

    /// Bumps the counters only, leaving the attempt record alone.
    pub fn counters_only(mut self) -> Self {
        self.record_attempt = false;
        self
    }

    /// Whether an entry of `failures` last bumped at `last` still counts at
    /// this failure.
    pub fn continues(&self, failures: u64, last: SystemTime) -> bool {
        self.window.continues(failures, last, self.at)
    }

    /// Under a sliding window, the last step of bumping `counter` (its count
    /// already bumped or restarted): keeps its failure times by
    /// [`Window::slide`] and counts them. Returns whether the window slides,
    /// that is whether the counter changed and must be written back.
    pub fn slide(&self, counter: &mut Counter) -> bool {
        if self.window.keep().is_none() {
            return false;
        }
        counter.recent = self
            .window
            .slide(&counter.recent, counter.failures, self.at);
        counter.failures = counter.recent.len() as u64;
        true
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
    /// bumps the client's attempt record (unless
    /// [`record_attempt`](FailureRecord::record_attempt) is `false`), and
    /// returns the new counters in key order.
    ///
    /// Under a sliding window ([`Window::keep`] is `Some`), each counter also
    /// keeps its failure times, [`Window::slide`], and its count becomes
    /// their number.
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

    /// Deletes the counters of `keys` outright, whatever their count.
    /// Returns how many there were.
    async fn delete_counters(&self, keys: &[LockoutKey]) -> Result<u64, StoreError>;

    /// Lists the attempt records `filter` covers, most recent first.
    async fn attempts(&self, filter: &AttemptFilter) -> Result<Vec<AccessAttempt>, StoreError>;

    /// Deletes counters and attempt records whose last failure is before
    /// `before`. Returns the number of attempt records deleted.
    async fn purge_expired(&self, before: SystemTime) -> Result<u64, StoreError>;

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
    /// did and the entry is still in the access log: the trusted-client
    /// check, on every attempt a username lockout refuses. Its cost must be
    /// bounded by that one client (an index), never by the whole log; the
    /// default reads the user's entries from that IP.
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

    /// Whether attempts in flight are counted in the store, shared by
    /// every app server using it ([`admit`](Self::admit) counts slots and
    /// [`release`](Self::release) gives them back). `false` (the default):
    /// the engine counts them in its own process.
    fn shares_in_flight(&self) -> bool {
        false
    }

    /// Reads the counters of `read`, as [`counters`](Self::counters), and —
    /// for a store whose attempts in flight are shared by every app server
    /// using it — counts the slots held under `slots`' keys, first taking
    /// one for this attempt when [`take`](SlotRequest::take) says so: one
    /// round trip, atomic with respect to other admissions of those keys.
    ///
    /// The default reads the counters only and answers
    /// [`holders`](Admitted::holders) `None`: the engine then counts
    /// attempts in flight in its own process, which is exact for a store
    /// one process owns.
    async fn admit(
        &self,
        read: &[LockoutKey],
        slots: Option<SlotRequest<'_>>,
    ) -> Result<Admitted, StoreError> {
        let _ = slots;
        Ok(Admitted {
            counters: self.counters(read).await?,
            holders: None,
        })
    }

    /// Gives back the slots an attempt took (a store that shares them).
    /// Giving back a slot that is not held (again, or after a reset) does
    /// nothing.
    async fn release(&self, slots: Slots<'_>) -> Result<(), StoreError> {
        let _ = slots;
        Ok(())
    }

    /// Records a successful login: its access log entry, if one is kept,
    /// and the attempt's slots given back, in one round trip where the
    /// store can.
    async fn record_success(
        &self,
        entry: Option<&AccessLog>,
        release: Option<Slots<'_>>,
    ) -> Result<(), StoreError> {
        if let Some(entry) = entry {
            self.record_login(entry).await?;
        }
        if let Some(slots) = release {
            self.release(slots).await?;
        }
        Ok(())
    }
}

/// The slots of one attempt in flight: a slot under each key, all under
/// one id (unique among the attempts of one engine).
#[derive(Debug, Clone, Copy)]
pub struct Slots<'a> {
    /// The keys it holds a slot under.
    pub keys: &'a [LockoutKey],
    /// The attempt.
    pub id: u64,
}

/// What an admission asks of a store that shares attempts in flight.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct SlotRequest<'a> {
    /// The slots to count, and take.
    pub slots: Slots<'a>,
    /// Whether to take them, or only count those held.
    pub take: bool,
    /// How long this app server's slots outlive its last renewal of its
    /// lease (see [`AxesConfig::in_flight_lease`](crate::AxesConfig::in_flight_lease)).
    pub lease: Duration,
}

impl<'a> SlotRequest<'a> {
    /// A request to count (`take = false`) or take `slots`, under `lease`.
    pub fn new(slots: Slots<'a>, take: bool, lease: Duration) -> Self {
        Self { slots, take, lease }
    }
}

/// What an admission read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Admitted {
    /// The counters, in the order of the keys read.
    pub counters: Vec<Option<Counter>>,
    /// The slots held under each key of the slot request, by every app
    /// server (this attempt's included once taken); `None` when the store
    /// does not share attempts in flight.
    pub holders: Option<Vec<u64>>,
}

impl Admitted {
    /// What a store read: `counters`, and `holders` if it shares attempts in flight.
    pub fn new(counters: Vec<Option<Counter>>, holders: Option<Vec<u64>>) -> Self {
        Self { counters, holders }
    }
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Milliseconds since the Unix epoch, as SQL stores keep time.
#[allow(dead_code)]
pub(crate) fn to_millis(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// Failure times as SQL stores keep them: milliseconds, comma-separated.
#[allow(dead_code)]
pub(crate) fn encode_times(times: &[SystemTime]) -> String {
    let mut text = String::with_capacity(times.len() * 14);
    for (i, time) in times.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&to_millis(*time).to_string());
    }
    text
}

/// The inverse of [`encode_times`].
#[allow(dead_code)]
pub(crate) fn decode_times(text: &str) -> Result<Vec<SystemTime>, StoreError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|part| {
            part.parse::<i64>()
                .map(from_millis)
                .map_err(|_| StoreError::InvalidData(format!("`{part}` is not a failure time")))
        })
        .collect()
}

/// The inverse of [`to_millis`].
#[allow(dead_code)]
pub(crate) fn from_millis(millis: i64) -> SystemTime {
    if millis >= 0 {
        UNIX_EPOCH + Duration::from_millis(millis.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_millis(millis.unsigned_abs())
    }
}
