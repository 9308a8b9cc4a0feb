//! The challenge before the wall (`challenge_after`): from how many failures
//! a check asks for one, and what passed challenges buy. Each key counts
//! the challenges its clients passed under a scoped counter; an attempt is
//! credited with the passes *every* one of its keys holds, times
//! `challenge_attempts`, so a challenge passed for one username or from one
//! address buys nothing for another.

use std::time::SystemTime;

use super::{Counter, Rules};
use crate::config::AxesConfig;
use crate::identity::{LockoutKey, Scope};

/// The pass counters of `keys` (none without `challenge_after`).
pub(crate) fn pass_keys(config: &AxesConfig, keys: &[LockoutKey]) -> Vec<LockoutKey> {
    if config.challenge_after.is_none() {
        return Vec::new();
    }
    keys.iter()
        .map(|key| key.scoped(Scope::ChallengePass))
        .collect()
}

/// The failures forgiven to an attempt whose keys' pass counters are
/// `passes` (one per key, in order): the fewest live passes among them,
/// times `challenge_attempts`.
pub(crate) fn credit(
    config: &AxesConfig,
    rules: &Rules<'_>,
    passes: &[Option<Counter>],
    now: SystemTime,
) -> u64 {
    if config.challenge_after.is_none() || passes.is_empty() {
        return 0;
    }
    let fewest = passes
        .iter()
        .map(|pass| pass.as_ref().map_or(0, |c| rules.live_failures(c, now)))
        .min()
        .unwrap_or(0);
    fewest.saturating_mul(u64::from(config.challenge_attempts))
}

/// `counters` with `credit` failures forgiven each (the oldest, under a
/// sliding window).
pub(crate) fn forgive<'a>(counters: impl IntoIterator<Item = &'a mut Counter>, credit: u64) {
    for counter in counters {
        counter.failures = counter.failures.saturating_sub(credit);
    }
}

/// Whether a client with `failures` (as credited) must pass a challenge
/// before it tries again.
pub(crate) fn required(config: &AxesConfig, failures: u64) -> bool {
    config
        .challenge_after
        .is_some_and(|after| failures >= u64::from(after))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn config() -> AxesConfig {
        AxesConfig::builder()
            .failure_limit(6)
            .challenge_after(Some(3))
            .challenge_attempts(2)
            .cooloff_time(Duration::from_secs(60))
            .build()
            .unwrap()
    }

    #[test]
    fn an_attempt_is_credited_with_the_passes_every_key_holds() {
        let config = config();
        let rules = Rules::of(&config);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let pass = |n| Some(Counter::new(n, now));
        assert_eq!(credit(&config, &rules, &[pass(2), pass(1)], now), 2);
        assert_eq!(
            credit(&config, &rules, &[pass(2), None], now),
            0,
            "a key that passed none"
        );
        let stale = Some(Counter::new(5, now - Duration::from_secs(61)));
        assert_eq!(
            credit(&config, &rules, &[stale], now),
            0,
            "passes expire with the window"
        );
    }

    #[test]
    fn a_challenge_is_required_from_challenge_after_on() {
        let config = config();
        assert!(!required(&config, 2));
        assert!(required(&config, 3));
        assert!(!required(&AxesConfig::default(), 100));
        let mut counter = Counter::new(4, SystemTime::UNIX_EPOCH);
        forgive([&mut counter], 2);
        assert_eq!(counter.failures, 2);
    }
}
