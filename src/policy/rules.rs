//! [`Rules`]: the policy in force for one client — the configuration with
//! the per-request callables applied — and its arithmetic: how many of a
//! counter's failures count at a time, and whether and until when it locks.

use std::time::{Duration, SystemTime};

use super::{Counter, Window};
use crate::config::{AxesConfig, LockoutTier};

/// The rules in force for one client: the configuration with the
/// per-request callables applied.
#[derive(Debug, Clone)]
pub(crate) struct Rules<'a> {
    pub lock_out_at_failure: bool,
    /// The failure limit (the lowest tier's threshold with tiers).
    pub failure_limit: u32,
    /// `cooloff_time`, or what the cool-off callable said.
    pub cooloff: Option<Duration>,
    /// The lockout tiers, sorted by threshold.
    pub tiers: &'a [LockoutTier],
    /// `use_attempt_expiration` with a cool-off: each failure stops counting
    /// one cool-off after it happened.
    pub sliding: bool,
    /// How many failure times a sliding counter keeps.
    pub keep: usize,
}

impl Rules<'_> {
    /// The rules of `config` with no callables.
    pub fn of(config: &AxesConfig) -> Rules<'_> {
        Rules {
            lock_out_at_failure: config.lock_out_at_failure,
            failure_limit: config.effective_failure_limit(),
            cooloff: config.cooloff_time,
            tiers: &config.lockout_tiers,
            sliding: config.use_attempt_expiration && config.has_cooloff(),
            keep: config
                .lockout_tiers
                .iter()
                .map(|t| t.failures)
                .max()
                .unwrap_or(config.failure_limit) as usize,
        }
    }

    /// The thresholds in force and the cool-off of each: the tiers, or the
    /// failure limit with `cooloff`.
    fn thresholds(&self) -> impl Iterator<Item = (u64, Option<Duration>)> + '_ {
        let limit = self
            .tiers
            .is_empty()
            .then(|| (u64::from(self.failure_limit), self.cooloff));
        let tiers = self
            .tiers
            .iter()
            .map(|t| (u64::from(t.failures), Some(t.cooloff)));
        limit.into_iter().chain(tiers)
    }

    /// The longest cool-off of any count; `None` when failures count forever.
    fn longest_cooloff(&self) -> Option<Duration> {
        match self.tiers.iter().map(|t| t.cooloff).max() {
            Some(longest) => Some(longest),
            None => self.cooloff,
        }
    }

    /// Whether counters slide: `use_attempt_expiration` and a cool-off to
    /// slide by.
    fn slides(&self, counter: &Counter) -> bool {
        self.sliding && self.longest_cooloff().is_some() && !counter.recent.is_empty()
    }

    /// How many more failures a client with `failures` may make before its
    /// lockout (0 when `locked` already); `None` when none comes.
    pub fn attempts_left(&self, failures: u64, locked: bool) -> Option<u64> {
        if locked {
            return Some(0);
        }
        self.lock_out_at_failure
            .then(|| u64::from(self.failure_limit).saturating_sub(failures))
    }

    /// How many of `counter`'s failures still count at `now`.
    pub fn live_failures(&self, counter: &Counter, now: SystemTime) -> u64 {
        if self.slides(counter) {
            let longest = self.longest_cooloff();
            return counter
                .counted_times()
                .iter()
                .filter(|t| longest.is_none_or(|w| now <= **t + w))
                .count() as u64;
        }
        if counter.is_live(now, self.cooloff_for(counter.failures)) {
            counter.failures
        } else {
            0
        }
    }

    /// How many thresholds `counter` has reached at `now` (0: it does not
    /// lock): each one reached is a lockout begun.
    pub fn lock_level(&self, counter: &Counter, now: SystemTime) -> usize {
        if self.counter_lock(counter, now).is_none() {
            return 0;
        }
        if !self.slides(counter) {
            return self
                .thresholds()
                .filter(|(threshold, _)| counter.failures >= *threshold)
                .count();
        }
        let times = counter.counted_times();
        self.thresholds()
            .filter(|(threshold, cooloff)| {
                let within = times
                    .iter()
                    .filter(|t| cooloff.is_none_or(|c| now <= **t + c))
                    .count();
                within as u64 >= *threshold
            })
            .count()
    }

    /// Whether `counter` locks at `now`: `Some((until, cooloff))`, where
    /// `until` is `None` for a lockout that lasts until reset.
    ///
    /// Counted by inactivity (the default), a counter at the limit locks
    /// until its last failure is the cool-off of its count old. Sliding,
    /// a threshold of `f` failures with cool-off `c` locks while `f`
    /// failures lie within the last `c`: until the `f`-th newest is `c` old.
    pub fn counter_lock(
        &self,
        counter: &Counter,
        now: SystemTime,
    ) -> Option<(Option<SystemTime>, Option<Duration>)> {
        if !self.slides(counter) {
            let cooloff = self.cooloff_for(counter.failures);
            let locks =
                counter.is_live(now, cooloff) && counter.failures >= u64::from(self.failure_limit);
            return locks.then(|| (cooloff.map(|c| counter.last_failure + c), cooloff));
        }
        let times = counter.counted_times();
        let mut lock: Option<(Option<SystemTime>, Option<Duration>)> = None;
        for (threshold, cooloff) in self.thresholds() {
            let Some(cooloff) = cooloff else {
                continue;
            };
            // Oldest first: the failures within the cool-off are a suffix.
            let within = &times[times.partition_point(|t| *t + cooloff < now)..];
            let Some(index) = within.len().checked_sub(threshold as usize) else {
                continue;
            };
            let until = within[index] + cooloff;
            if lock.is_none_or(|(u, _)| u.is_some_and(|u| u < until)) {
                lock = Some((Some(until), Some(cooloff)));
            }
        }
        lock
    }

    /// How long a count of `failures` keeps counting after its last
    /// failure: its tier's cool-off (the lowest tier's below the first
    /// threshold), or the cool-off; `None` forever.
    pub fn cooloff_for(&self, failures: u64) -> Option<Duration> {
        let Some(first) = self.tiers.first() else {
            return self.cooloff;
        };
        let tier = self
            .tiers
            .iter()
            .rev()
            .find(|t| u64::from(t.failures) <= failures)
            .unwrap_or(first);
        Some(tier.cooloff)
    }

    /// How long counters keep counting, by count, for the store.
    pub fn window(&self) -> Window {
        if self.sliding {
            if let Some(longest) = self.longest_cooloff() {
                return Window::fixed(longest).sliding(self.keep);
            }
        }
        if !self.tiers.is_empty() {
            Window::tiered(
                self.tiers
                    .iter()
                    .map(|t| (u64::from(t.failures), t.cooloff)),
            )
        } else if let Some(cooloff) = self.cooloff {
            Window::fixed(cooloff)
        } else {
            Window::forever()
        }
    }
}
