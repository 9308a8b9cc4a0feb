//! The one definition of how long a count lasts: [`Window`] ("continue the
//! count, or restart it"), and the [`Counter`] a store keeps per key.
//!
//! Every store applies this rule atomically: the memory store and SQLite
//! (whose single writer reads and writes each row with no other write in
//! between) call it; PostgreSQL restates it as the functions
//! `axes_continues`/`axes_slide` (migration `0006`) and Redis in its Lua
//! script, and the store conformance suite holds each to this one.

use std::time::{Duration, SystemTime};

/// One counter: how many failures a key has and when the last one was.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// let counter = axes::policy::Counter::new(3, SystemTime::UNIX_EPOCH);
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
    /// let counter = axes::policy::Counter::new(2, t(9)).with_recent(vec![t(1), t(5), t(9)]);
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
/// use axes::policy::Window;
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
    /// let window = axes::policy::Window::fixed(Duration::from_secs(10)).sliding(3);
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
