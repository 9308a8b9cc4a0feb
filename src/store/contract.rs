//! The store contract: [`Store`] and its capabilities ([`SharedSlots`]),
//! what it is given ([`FailureRecord`], [`Reset`], [`Slots`],
//! [`SlotRequest`]) and what it answers ([`Admitted`], [`StoreEvent`],
//! [`StoreError`]).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::{AccessAttempt, AccessFailureLog, AccessLog, AttemptFilter};
use crate::identity::{ClientInfo, LockoutKey};
use crate::policy::{Counter, Window};

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
    /// The store's server is set up so that it could lose lockouts (a
    /// Redis that evicts keys, say); the message names the setting.
    #[error("store misconfigured: {0}")]
    Misconfigured(String),
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
    /// to [`MAX_DATA_BYTES`](crate::policy::MAX_DATA_BYTES) (on a character
    /// boundary): no store keeps more of it.
    pub fn with_data(mut self, get_data: &'a str, post_data: &'a str) -> Self {
        self.get_data = cut(get_data, crate::policy::MAX_DATA_BYTES);
        self.post_data = cut(post_data, crate::policy::MAX_DATA_BYTES);
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

    /// Applies this failure to `counter`, the one step a store takes per
    /// key: the count continues or restarts by the window
    /// ([`Window::continues`]), the last failure moves forward, and under a
    /// sliding window the failure times slide ([`slide`](Self::slide)).
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use axes::store::{Counter, FailureRecord, Window};
    /// let t = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
    /// let client = axes::ClientInfo::new("192.0.2.1".parse().unwrap());
    /// let window = Window::fixed(Duration::from_secs(10));
    /// let mut counter = Counter::new(2, t(100));
    /// FailureRecord::new(&[], &client, t(105), &window).bump(&mut counter);
    /// assert_eq!((counter.failures, counter.last_failure), (3, t(105)));
    /// FailureRecord::new(&[], &client, t(200), &window).bump(&mut counter);
    /// assert_eq!(counter.failures, 1, "restarted: the window had passed");
    /// ```
    pub fn bump(&self, counter: &mut Counter) {
        counter.failures = if self.continues(counter.failures, counter.last_failure) {
            counter.failures + 1
        } else {
            1
        };
        counter.last_failure = counter.last_failure.max(self.at);
        self.slide(counter);
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

/// What a reset deletes: the attempt records `filter` covers, and from
/// which counters each one's failures come off (the engine says; a store
/// never recomputes keys).
#[derive(Clone)]
#[non_exhaustive]
pub struct Reset<'a> {
    /// The records to delete ([`AttemptFilter::All`]: every record and
    /// every counter).
    pub filter: &'a AttemptFilter,
    counters_of: Arc<CountersOf>,
}

/// Which counters an attempt record's failures were counted toward.
pub(crate) type CountersOf = dyn Fn(&AccessAttempt) -> Vec<LockoutKey> + Send + Sync;

impl<'a> Reset<'a> {
    /// A reset of the records `filter` covers, each one's failures taken
    /// off the counters `counters_of` names for it.
    pub fn new(
        filter: &'a AttemptFilter,
        counters_of: impl Fn(&AccessAttempt) -> Vec<LockoutKey> + Send + Sync + 'static,
    ) -> Self {
        Self {
            filter,
            counters_of: Arc::new(counters_of),
        }
    }

    /// The counters `record`'s failures were counted toward.
    pub fn counters_of(&self, record: &AccessAttempt) -> Vec<LockoutKey> {
        (self.counters_of)(record)
    }

    /// The rule [`counters_of`](Self::counters_of) applies, to take along
    /// where the reset's borrow cannot go (a store's own thread).
    #[cfg(feature = "sqlite")]
    pub(crate) fn counters_rule(&self) -> Arc<CountersOf> {
        self.counters_of.clone()
    }
}

impl std::fmt::Debug for Reset<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reset")
            .field("filter", self.filter)
            .finish_non_exhaustive()
    }
}

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
/// **Optional capabilities** have default methods: attempt records for
/// listings (and `spray_limit`), the access and failure logs, and attempts
/// in flight shared by several app servers. A store that leaves them keeps
/// no logs (their reads answer [`StoreError::Unsupported`]) and lets the
/// engine count attempts in flight in its own process, which is exact for
/// a store one process owns.
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
/// for _ in 0..3 { axes.login_failed(&client).await.unwrap(); }
/// assert!(axes.check(&client).await.unwrap().lockout().is_some());
/// axes.reset(AttemptFilter::Ip(client.ip_address())).await.unwrap();
/// assert!(axes.check(&client).await.unwrap().lockout().is_none());
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

    /// Lists the attempt records `filter` covers, most recent first.
    async fn attempts(&self, filter: &AttemptFilter) -> Result<Vec<AccessAttempt>, StoreError> {
        let _ = filter;
        Err(StoreError::Unsupported("attempt records"))
    }

    /// Adds an access log entry (a successful login). The default keeps
    /// none.
    async fn record_login(&self, entry: &AccessLog) -> Result<(), StoreError> {
        let _ = entry;
        Ok(())
    }

    /// Sets the logout time on `username`'s open access log entries with
    /// `session_hash` (`""` for requests without a session). Returns how
    /// many entries were closed.
    async fn record_logout(
        &self,
        username: &str,
        session_hash: &str,
        at: SystemTime,
    ) -> Result<u64, StoreError> {
        let _ = (username, session_hash, at);
        Ok(0)
    }

    /// Lists the access log entries `filter` covers, most recent first.
    async fn access_logs(&self, filter: &AttemptFilter) -> Result<Vec<AccessLog>, StoreError> {
        let _ = filter;
        Err(StoreError::Unsupported("the access log"))
    }

    /// When `username` last logged in from `ip` with `user_agent`, if it
    /// did and the entry is still in the access log: the trusted-client
    /// check, on every attempt a username lockout refuses. Its cost must be
    /// bounded by that one client (an index), never by the whole log; the
    /// default reads the user's entries from that IP (none without an
    /// access log).
    async fn latest_login(
        &self,
        username: &str,
        ip: IpAddr,
        user_agent: &str,
    ) -> Result<Option<SystemTime>, StoreError> {
        let filter = AttemptFilter::IpAndUsername(ip, username.to_owned());
        let logs = match self.access_logs(&filter).await {
            Err(StoreError::Unsupported(_)) => return Ok(None),
            logs => logs?,
        };
        Ok(logs
            .iter()
            .filter(|entry| entry.user_agent == user_agent)
            .map(|entry| entry.attempt_time)
            .max())
    }

    /// Deletes access log entries logged before `before`; returns how many.
    async fn purge_access_logs(&self, before: SystemTime) -> Result<u64, StoreError> {
        let _ = before;
        Ok(0)
    }

    /// Adds a failure log entry, then deletes the oldest entries of its
    /// username beyond `per_user_limit`. The default keeps none.
    async fn record_failure_log(
        &self,
        entry: &AccessFailureLog,
        per_user_limit: u64,
    ) -> Result<(), StoreError> {
        let _ = (entry, per_user_limit);
        Ok(())
    }

    /// Lists the failure log entries `filter` covers, most recent first.
    async fn failure_logs(
        &self,
        filter: &AttemptFilter,
    ) -> Result<Vec<AccessFailureLog>, StoreError> {
        let _ = filter;
        Err(StoreError::Unsupported("the failure log"))
    }

    /// Deletes failure log entries logged before `before`; returns how many.
    async fn purge_failure_logs(&self, before: SystemTime) -> Result<u64, StoreError> {
        let _ = before;
        Ok(0)
    }

    /// The shared-slots capability: attempts in flight counted in the
    /// store, shared by every app server using it (PostgreSQL, Redis).
    /// `None` (the default): the engine counts them in its own process,
    /// which is exact for a store one process owns. Asked once, when the
    /// engine is built.
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

    /// Records a successful login: its access log entry, if one is kept,
    /// and the attempt's shared slots given back, in one round trip where
    /// the store can.
    async fn record_success(
        &self,
        entry: Option<&AccessLog>,
        release: Option<Slots<'_>>,
    ) -> Result<(), StoreError> {
        if let Some(entry) = entry {
            self.record_login(entry).await?;
        }
        if let (Some(slots), Some(shared)) = (release, self.shared_slots()) {
            shared.release(slots).await?;
        }
        Ok(())
    }
}

/// Attempts in flight shared by every app server using a store: the
/// capability [`Store::shared_slots`] answers.
///
/// A slot is (key, owner, id): one attempt of one app server (the owner,
/// an engine's random id) under one lockout key. A slot counts while its
/// owner's lease holds: the owner renews it while it holds any slot, so a
/// killed server's slots lapse one lease after its last renewal. Every
/// operation is atomic with respect to the others on the same keys, and
/// giving back a slot that is not held (again, after a reset, after a
/// sweep) does nothing.
///
/// Giving back a slot under a key another app server waits on
/// ([`wait_for`](Self::wait_for)) sends [`StoreEvent::SlotsFreed`] to every
/// subscriber, so waiters are woken rather than poll; and an admission
/// says which keys another server waits on ([`Admitted::waited`]), so a
/// server hands no slot to its own waiters while others wait.
#[async_trait]
pub trait SharedSlots: Send + Sync {
    /// One admission, in one round trip: reads the counters of `read` (as
    /// [`Store::counters`]), takes the slots of [`SlotRequest::take`],
    /// then counts the live slots under each key of
    /// [`SlotRequest::count`], this request's included.
    async fn admit(
        &self,
        read: &[LockoutKey],
        request: SlotRequest<'_>,
    ) -> Result<Admitted, StoreError>;

    /// Gives back `slots`, and tells those waiting on their keys.
    async fn release(&self, slots: Slots<'_>) -> Result<(), StoreError>;

    /// Renews `owner`'s lease for `lease`.
    async fn renew(&self, owner: &str, lease: Duration) -> Result<(), StoreError>;

    /// Deletes every slot of `owner` whose id is at most `upto` and not in
    /// `keep`: slots a dropped call may have taken after its attempt was
    /// gone. Returns how many there were.
    async fn sweep(&self, owner: &str, keep: &[u64], upto: u64) -> Result<u64, StoreError>;

    /// Marks `keys` as waited on by `owner` for `ttl`, and sends
    /// [`StoreEvent::Waiting`]: a slot another owner gives back under one
    /// of them sends [`StoreEvent::SlotsFreed`], and their admissions
    /// answer [`Admitted::waited`].
    async fn wait_for(
        &self,
        owner: &str,
        keys: &[LockoutKey],
        ttl: Duration,
    ) -> Result<(), StoreError>;
}

/// What a store tells its subscribers ([`Store::subscribe`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreEvent {
    /// Slots were given back under the keys with these
    /// [`wake tags`](LockoutKey::wake_tag).
    SlotsFreed(Vec<u64>),
    /// The app server `owner` waits for a slot under the keys with these
    /// wake tags ([`SharedSlots::wait_for`]).
    Waiting {
        /// The app server (engine) waiting.
        owner: String,
        /// The keys' wake tags.
        tags: Vec<u64>,
    },
    /// Counters were reset or deleted (a reset, an unlock): lockouts
    /// cached from them may be lifted.
    Reset,
    /// Notifications may have been lost (the channel reconnected): anything
    /// may have changed.
    Missed,
}

/// One slot in flight: an attempt's place under one lockout key, by an id
/// unique among its owner's slots.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slot {
    /// The key it is held under.
    pub key: LockoutKey,
    /// Its id, unique among the owner's slots.
    pub id: u64,
}

/// Slots of one owner, to give back.
#[derive(Debug, Clone, Copy)]
pub struct Slots<'a> {
    /// The app server (engine) holding them.
    pub owner: &'a str,
    /// The slots.
    pub slots: &'a [Slot],
}

impl<'a> Slots<'a> {
    /// `slots` of `owner`.
    pub fn new(owner: &'a str, slots: &'a [Slot]) -> Self {
        Self { owner, slots }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// What an admission asks of a store that shares attempts in flight.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct SlotRequest<'a> {
    /// The app server (engine) taking them.
    pub owner: &'a str,
    /// The slots to take.
    pub take: &'a [Slot],
    /// The keys whose live slots to count.
    pub count: &'a [LockoutKey],
    /// How long the owner's slots outlive its last renewal of its lease
    /// (see [`AxesConfig::in_flight_lease`](crate::AxesConfig::in_flight_lease)).
    pub lease: Duration,
}

impl<'a> SlotRequest<'a> {
    /// A request of `owner` to take `take` and count the slots under `count`.
    pub fn new(owner: &'a str, take: &'a [Slot], count: &'a [LockoutKey], lease: Duration) -> Self {
        Self {
            owner,
            take,
            count,
            lease,
        }
    }
}

/// What an admission read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Admitted {
    /// The counters, in the order of the keys read.
    pub counters: Vec<Option<Counter>>,
    /// The live slots under each key counted, by every app server (this
    /// request's included).
    pub holders: Vec<u64>,
    /// Whether another owner waits for a slot under each key counted
    /// ([`SharedSlots::wait_for`]).
    pub waited: Vec<bool>,
}

impl Admitted {
    /// What a store read: `counters`, the `holders` of each key counted,
    /// and whether another owner waits on it.
    pub fn new(counters: Vec<Option<Counter>>, holders: Vec<u64>, waited: Vec<bool>) -> Self {
        Self {
            counters,
            holders,
            waited,
        }
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
