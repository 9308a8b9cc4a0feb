//! What a store is asked to change: a failure to record
//! ([`FailureRecord`]) and a reset ([`Reset`]).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::records::{AccessAttempt, AttemptFilter};
use super::slots::Slots;
use crate::identity::{ClientInfo, LockoutKey};
use crate::policy::{Counter, Window};

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

impl AccessAttempt {
    /// The record the first failure of `failure.client` creates.
    pub fn first(failure: &FailureRecord<'_>) -> Self {
        let client = failure.client;
        Self {
            username: client.username().map(str::to_owned),
            ip_address: Some(client.ip_address()),
            user_agent: client.user_agent().to_owned(),
            path_info: client.path().to_owned(),
            http_accept: client.http_accept().to_owned(),
            get_data: failure.get_data.to_owned(),
            post_data: failure.post_data.to_owned(),
            failures: 1,
            attempt_time: failure.at,
        }
    }

    /// Applies a later failure of the same client: bumps (or restarts) the
    /// count and keeps the latest request's details.
    pub fn bump(&mut self, failure: &FailureRecord<'_>) {
        self.failures = if failure.continues(self.failures, self.attempt_time) {
            self.failures + 1
        } else {
            1
        };
        self.attempt_time = self.attempt_time.max(failure.at);
        self.path_info = failure.client.path().to_owned();
        self.http_accept = failure.client.http_accept().to_owned();
        self.get_data = failure.get_data.to_owned();
        self.post_data = failure.post_data.to_owned();
    }
}
