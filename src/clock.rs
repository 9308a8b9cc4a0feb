//! Where the engine reads the time, so tests can move it by hand.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// A source of the current time.
///
/// ```
/// use axes::{Clock, SystemClock};
/// let before = std::time::SystemTime::now();
/// assert!(SystemClock.now() >= before);
/// ```
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The system's wall clock (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that only moves when told to: for tests of cool-offs that must
/// not sleep. Clones share one time.
///
/// ```
/// use std::time::Duration;
/// use axes::{Clock, ManualClock};
/// let clock = ManualClock::new();
/// let t0 = clock.now();
/// clock.advance(Duration::from_secs(90));
/// assert_eq!(clock.now().duration_since(t0).unwrap(), Duration::from_secs(90));
/// ```
#[derive(Clone)]
pub struct ManualClock {
    now: Arc<Mutex<SystemTime>>,
}

impl ManualClock {
    /// A clock stopped at the current system time.
    pub fn new() -> Self {
        Self::at(SystemTime::now())
    }

    /// A clock stopped at `time`.
    pub fn at(time: SystemTime) -> Self {
        Self {
            now: Arc::new(Mutex::new(time)),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }

    /// Sets the clock to `time`.
    pub fn set(&self, time: SystemTime) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = time;
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.now())
            .finish()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Milliseconds since the Unix epoch (negative before it), as the stores
/// keep time.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_500);
/// assert_eq!(axes::clock::to_millis(t), 1_500);
/// assert_eq!(axes::clock::from_millis(1_500), t);
/// ```
pub fn to_millis(time: SystemTime) -> i64 {
    match time.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// Whole minutes since the Unix epoch (0 before it): the minute buckets
/// of the admin's activity and the site breaker.
pub(crate) fn minute_of(time: SystemTime) -> u64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        / 60
}

/// The inverse of [`to_millis`].
pub fn from_millis(millis: i64) -> SystemTime {
    let magnitude = Duration::from_millis(millis.unsigned_abs());
    if millis >= 0 {
        std::time::UNIX_EPOCH + magnitude
    } else {
        std::time::UNIX_EPOCH - magnitude
    }
}
