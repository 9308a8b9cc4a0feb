//! [`Activity`]: what this process recorded lately, in any configuration —
//! failures and lockouts a minute over the last day, and the latest
//! lockouts — for the admin's chart and a client's lockout history when
//! there is no failure log. Bounded whatever the traffic: a day of minutes
//! and [`RECENT_LOCKOUTS`] lockouts.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), axes::AxesError> {
//! use std::time::Duration;
//! use axes::{Axes, AxesConfig, ClientInfo, MemoryStore, Report};
//! let config = AxesConfig::builder().failure_limit(2).build().unwrap();
//! let axes = Axes::new(config, MemoryStore::new());
//! let client = ClientInfo::new("192.0.2.1".parse().unwrap());
//! for _ in 0..2 {
//!     axes.attempt(client.clone()).report(Report::failed("alice")).await?;
//! }
//! let activity = axes.activity();
//! let hour = activity.counts(axes.now(), Duration::from_secs(3600), 12);
//! assert_eq!(hour.iter().map(|c| c.failures).sum::<u64>(), 2);
//! assert_eq!(hour.iter().map(|c| c.lockouts).sum::<u64>(), 1);
//! assert_eq!(activity.lockouts()[0].username.as_deref(), Some("alice"));
//! # Ok(()) }
//! ```

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::clock::minute_of;

use crate::policy::{Lockout, LockoutReason};

/// How many of the latest lockouts [`Activity::lockouts`] keeps.
pub const RECENT_LOCKOUTS: usize = 1000;

/// The minutes kept: one day.
const MINUTES: usize = 24 * 60;

/// One minute's counts, with the minute (since the Unix epoch) they are of.
#[derive(Debug, Clone, Copy, Default)]
struct Minute {
    minute: u64,
    failures: u64,
    lockouts: u64,
}

/// The engine's record of its activity, written as failures and lockouts
/// are recorded.
#[derive(Debug)]
pub(crate) struct ActivityLog {
    inner: Mutex<Recorded>,
}

#[derive(Debug)]
struct Recorded {
    /// A ring of minutes: minute `m` lives at `m % MINUTES`.
    minutes: Vec<Minute>,
    /// The latest lockouts, newest at the front.
    lockouts: VecDeque<RecentLockout>,
}

impl ActivityLog {
    pub(crate) fn new() -> Self {
        Self {
            inner: Mutex::new(Recorded {
                minutes: vec![Minute::default(); MINUTES],
                lockouts: VecDeque::new(),
            }),
        }
    }

    /// A recorded failure at `at`; with `lockout` when it began one.
    pub(crate) fn failure(&self, at: SystemTime, ip_address: IpAddr, lockout: Option<&Lockout>) {
        let minute = minute_of(at);
        let mut recorded = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let slot = &mut recorded.minutes[(minute % MINUTES as u64) as usize];
        if slot.minute > minute {
            // A day older than what the slot holds: forgotten already.
            return;
        }
        if slot.minute < minute {
            *slot = Minute {
                minute,
                ..Minute::default()
            };
        }
        slot.failures += 1;
        let Some(lockout) = lockout else {
            return;
        };
        slot.lockouts += 1;
        if recorded.lockouts.len() == RECENT_LOCKOUTS {
            recorded.lockouts.pop_back();
        }
        recorded.lockouts.push_front(RecentLockout {
            at,
            ip_address,
            username: lockout.username.clone(),
            reason: lockout.reason,
            failures: lockout.failures,
        });
    }

    /// Forgets the lockouts of the clients `filter` covers (an erasure);
    /// the counts a minute name no one and stay.
    pub(crate) fn forget(&self, filter: &crate::store::AttemptFilter) {
        let mut recorded = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        recorded
            .lockouts
            .retain(|l| !filter.matches_parts(Some(l.ip_address), l.username.as_deref()));
    }

    /// A copy of the latest lockouts, newest first.
    pub(crate) fn lockouts(&self) -> Vec<RecentLockout> {
        let recorded = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        recorded.lockouts.iter().cloned().collect()
    }

    /// A copy of what was recorded.
    pub(crate) fn snapshot(&self) -> Activity {
        let recorded = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        Activity {
            minutes: recorded
                .minutes
                .iter()
                .filter(|m| m.failures > 0)
                .copied()
                .collect(),
            lockouts: recorded.lockouts.iter().cloned().collect(),
        }
    }
}

/// What this process recorded lately — failures and lockouts a minute
/// over the last day, and the latest lockouts — from
/// [`Axes::activity`](crate::Axes::activity).
#[derive(Debug, Clone)]
pub struct Activity {
    minutes: Vec<Minute>,
    lockouts: Vec<RecentLockout>,
}

/// Failures and lockouts in one bar of [`Activity::counts`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActivityCount {
    /// Failures recorded.
    pub failures: u64,
    /// Lockouts that began.
    pub lockouts: u64,
}

/// A lockout this process saw begin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentLockout {
    /// When it began.
    pub at: SystemTime,
    /// The client's IP address.
    pub ip_address: IpAddr,
    /// The username tried, if known.
    pub username: Option<String>,
    /// Why.
    pub reason: LockoutReason,
    /// The failure count that locked it out.
    pub failures: u64,
}

impl Activity {
    /// The counts of the `span` before `now`, in `bars` equal bars, oldest
    /// first. Counts are kept by the minute, so a bar narrower than a
    /// minute holds the whole minute's counts in its last bar of it.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let axes = axes::Axes::new(axes::AxesConfig::default(), axes::MemoryStore::new());
    /// let day = axes.activity().counts(axes.now(), Duration::from_secs(86_400), 24);
    /// assert_eq!(day.len(), 24);
    /// assert!(day.iter().all(|bar| bar.failures == 0));
    /// ```
    pub fn counts(&self, now: SystemTime, span: Duration, bars: u32) -> Vec<ActivityCount> {
        let bars = bars.max(1);
        let mut counts = vec![ActivityCount::default(); bars as usize];
        let last = minute_of(now);
        let span_minutes = span.as_secs().div_ceil(60).clamp(1, MINUTES as u64);
        for minute in &self.minutes {
            if minute.minute > last || last - minute.minute >= span_minutes {
                continue;
            }
            let age = last - minute.minute;
            let bar = bars as u64 - 1 - age * u64::from(bars) / span_minutes;
            let count = &mut counts[bar as usize];
            count.failures += minute.failures;
            count.lockouts += minute.lockouts;
        }
        counts
    }

    /// The latest lockouts, newest first, at most [`RECENT_LOCKOUTS`].
    ///
    /// ```
    /// let axes = axes::Axes::new(axes::AxesConfig::default(), axes::MemoryStore::new());
    /// assert!(axes.activity().lockouts().is_empty());
    /// ```
    pub fn lockouts(&self) -> &[RecentLockout] {
        &self.lockouts
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    fn at(minute: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(minute * 60 + 30)
    }

    #[test]
    fn counts_fall_in_their_bars_and_a_day_old_minute_is_forgotten() {
        let log = ActivityLog::new();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let now = 100_000;
        log.failure(at(now), ip, None);
        log.failure(at(now - 59), ip, None);
        log.failure(at(now - 60), ip, None);
        // The same ring slot a day earlier: overwritten, never counted.
        log.failure(at(now - MINUTES as u64), ip, None);
        log.failure(at(now), ip, None);
        let hours = log
            .snapshot()
            .counts(at(now), Duration::from_secs(2 * 3600), 2);
        assert_eq!(hours[1].failures, 3, "{hours:?}");
        assert_eq!(hours[0].failures, 1, "{hours:?}");
        let day = log
            .snapshot()
            .counts(at(now), Duration::from_secs(86_400), 24);
        assert_eq!(day.iter().map(|c| c.failures).sum::<u64>(), 4);
    }

    #[test]
    fn recent_lockouts_are_bounded_newest_first() {
        let log = ActivityLog::new();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let lockout = |n: u64| Lockout {
            reason: LockoutReason::TooManyFailures,
            failures: n,
            failure_limit: 3,
            locked_until: None,
            cooloff: None,
            username: Some(format!("user{n}")),
        };
        for n in 0..(RECENT_LOCKOUTS as u64 + 5) {
            log.failure(at(n), ip, Some(&lockout(n)));
        }
        let activity = log.snapshot();
        assert_eq!(activity.lockouts().len(), RECENT_LOCKOUTS);
        assert_eq!(activity.lockouts()[0].failures, RECENT_LOCKOUTS as u64 + 4);
    }
}
