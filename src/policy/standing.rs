//! What a client's counters amount to: its [`Standing`], and the lockout
//! that is.

use std::time::{Duration, SystemTime};

use super::{Counter, Lockout, LockoutReason, Rules};
use crate::identity::ClientInfo;

/// What a client's counters amount to at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Standing {
    /// The largest live count (OR across groups).
    pub failures: u64,
    /// Whether the client is locked out.
    pub locked: bool,
    /// When the lockout ends, if it is one that ends.
    pub locked_until: Option<SystemTime>,
    /// The cool-off of the lockout that ends last.
    pub cooloff: Option<Duration>,
}

/// Windows each counter (see [`Rules::counter_lock`]) and takes the largest
/// count; the client is locked when any counter locks, until the last of
/// them ends (never, if one lasts until reset).
pub(crate) fn standing<'a>(
    rules: &Rules<'_>,
    counters: impl IntoIterator<Item = &'a Counter>,
    now: SystemTime,
) -> Standing {
    let mut failures = 0;
    let mut locked = false;
    let mut locked_until: Option<SystemTime> = None;
    let mut cooloff = None;
    let mut permanent = false;
    for counter in counters {
        failures = failures.max(rules.live_failures(counter, now));
        let Some((until, lock_cooloff)) = rules.counter_lock(counter, now) else {
            continue;
        };
        locked = true;
        match until {
            Some(until) if locked_until.is_none_or(|u| u < until) => {
                locked_until = Some(until);
                cooloff = lock_cooloff;
            }
            Some(_) => {}
            None => permanent = true,
        }
    }
    if permanent {
        locked_until = None;
        cooloff = None;
    }
    Standing {
        failures,
        locked: rules.lock_out_at_failure && locked,
        locked_until,
        cooloff,
    }
}

/// The lockout a standing amounts to, if it is one.
pub(crate) fn lockout_for(
    rules: &Rules<'_>,
    client: &ClientInfo,
    standing: Standing,
) -> Option<Lockout> {
    standing.locked.then(|| Lockout {
        reason: LockoutReason::TooManyFailures,
        failures: standing.failures,
        failure_limit: rules.failure_limit,
        locked_until: standing.locked_until,
        cooloff: standing.cooloff,
        username: client.username().map(str::to_owned),
    })
}

/// The refusal of a blacklisted client.
pub(crate) fn blacklisted(rules: &Rules<'_>, client: &ClientInfo) -> Lockout {
    Lockout {
        reason: LockoutReason::Blacklisted,
        failures: 0,
        failure_limit: rules.failure_limit,
        locked_until: None,
        cooloff: None,
        username: client.username().map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AxesConfig;

    const T0: Duration = Duration::from_secs(1_700_000_000);

    fn at(secs: f64) -> SystemTime {
        SystemTime::UNIX_EPOCH + T0 + Duration::from_secs_f64(secs)
    }

    fn counter(failures: u64, last: f64) -> Counter {
        Counter::new(failures, at(last))
    }

    fn config(toml: &str) -> AxesConfig {
        let mut config = AxesConfig::from_toml_str(toml).unwrap();
        config.lockout_tiers.sort_by_key(|t| t.failures);
        config
    }

    fn standing(c: &AxesConfig, counters: &[Counter], now: SystemTime) -> Standing {
        super::standing(&Rules::of(c), counters, now)
    }

    #[test]
    fn lock_flips_at_the_limit_and_not_before() {
        let c = config("failure_limit = 3");
        let s = standing(&c, &[counter(2, 0.0)], at(1.0));
        assert!(!s.locked);
        assert_eq!(s.failures, 2);
        let s = standing(&c, &[counter(3, 0.0)], at(1.0));
        assert!(s.locked);
        assert_eq!(s.locked_until, None, "no cool-off: until reset");
    }

    #[test]
    fn groups_are_alternatives_the_largest_count_decides() {
        let c = config("failure_limit = 3");
        let s = standing(
            &c,
            &[counter(1, 0.0), counter(3, 0.0), counter(2, 0.0)],
            at(0.0),
        );
        assert_eq!(s.failures, 3);
        assert!(s.locked);
    }

    #[test]
    fn cooloff_windows_counters_inclusively() {
        let c = config("failure_limit = 3\ncooloff_time = \"2s\"");
        let locked = [counter(3, 0.0)];
        assert!(
            standing(&c, &locked, at(2.0)).locked,
            "boundary still counts"
        );
        assert!(!standing(&c, &locked, at(2.001)).locked);
        assert_eq!(standing(&c, &locked, at(1.0)).locked_until, Some(at(2.0)));
    }

    #[test]
    fn lock_out_at_failure_false_counts_but_never_locks() {
        let c = config("lock_out_at_failure = false");
        let s = standing(&c, &[counter(50, 0.0)], at(0.0));
        assert_eq!(s.failures, 50);
        assert!(!s.locked);
    }

    #[test]
    fn locked_until_is_the_latest_of_the_groups_at_the_limit() {
        let c = config("failure_limit = 2\ncooloff_time = \"10s\"");
        let s = standing(
            &c,
            &[counter(2, 1.0), counter(5, 4.0), counter(1, 9.0)],
            at(5.0),
        );
        assert_eq!(s.locked_until, Some(at(14.0)));
    }

    #[test]
    fn tiers_lock_at_the_lowest_threshold_for_the_tier_of_the_count() {
        let c = config(
            "failure_limit = 99\nlockout_tiers = [{ failures = 2, cooloff = \"10s\" }, { failures = 4, cooloff = \"100s\" }]",
        );
        assert!(!standing(&c, &[counter(1, 0.0)], at(0.0)).locked);
        let two = standing(&c, &[counter(2, 0.0)], at(0.0));
        assert!(two.locked);
        assert_eq!(two.locked_until, Some(at(10.0)));
        assert!(
            !standing(&c, &[counter(3, 0.0)], at(10.5)).locked,
            "tier 1 expires"
        );
        let four = standing(&c, &[counter(4, 0.0)], at(50.0));
        assert_eq!(four.locked_until, Some(at(100.0)));
        assert!(
            !standing(&c, &[counter(4, 0.0)], at(100.1)).locked,
            "tier 2 expires"
        );
    }

    #[test]
    fn a_permanent_group_makes_the_lockout_permanent() {
        let c = config("failure_limit = 1");
        let s = standing(&c, &[counter(1, 0.0), counter(1, 5.0)], at(6.0));
        assert!(s.locked);
        assert_eq!(s.locked_until, None);
    }
}
