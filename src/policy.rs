//! The pure decisions: which keys a client is counted under, whether it is
//! listed, and whether its counters mean "locked" and until when. No I/O,
//! no clock reads: time is passed in.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use crate::client::{ClientInfo, LockoutKey};
use crate::config::{AxesConfig, LockoutGroup, LockoutTier};
use crate::store::{Counter, Window};

/// Why a client is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockoutReason {
    /// The IP is on `ip_blacklist`, or off the whitelist with `only_whitelist`.
    Blacklisted,
    /// A lockout group reached the failure limit.
    TooManyFailures,
    /// The IP failed for more distinct usernames than `spray_limit` allows.
    PasswordSpray,
    /// Failures came closer together than `min_interval_between_failures`.
    QuickSuccession,
    /// Failures and attempts in flight together reached the limit: the
    /// attempt was refused so that no more than the limit reach the handler.
    TooManyInFlight,
}

/// A refusal: why, with what counts, and until when.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), axes::AxesError> {
/// use std::time::Duration;
/// use axes::{Axes, AxesConfig, ClientInfo, Clock, LockoutReason, ManualClock};
/// let config = AxesConfig::builder().failure_limit(1).cooloff_time(Duration::from_secs(2)).build().unwrap();
/// let clock = ManualClock::new();
/// let axes = Axes::builder(config).clock(clock.clone()).build();
/// let lockout = axes.login_failed(&ClientInfo::new("192.0.2.1".parse().unwrap())).await?.lockout.unwrap();
/// assert_eq!(lockout.reason, LockoutReason::TooManyFailures);
/// clock.advance(Duration::from_millis(500));
/// assert_eq!(lockout.retry_after(clock.now()), Some(Duration::from_secs(2)), "1.5 s, rounded up");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Lockout {
    /// Why the client is refused.
    pub reason: LockoutReason,
    /// The largest failure count among the client's lockout groups.
    pub failures: u64,
    /// The failure limit in force.
    pub failure_limit: u32,
    /// When the lockout ends on its own; `None` lasts until a reset (or, for
    /// a blacklisted IP, for as long as it is listed).
    pub locked_until: Option<SystemTime>,
    /// The cool-off of the lockout's tier (or `cooloff_time`), if lockouts
    /// end on their own.
    pub cooloff: Option<Duration>,
    /// The username the client tried, if known.
    pub username: Option<String>,
}

impl Lockout {
    /// Whole seconds until the lockout ends, rounded up (at least one), or
    /// `None` when it does not end on its own.
    pub fn retry_after(&self, now: SystemTime) -> Option<Duration> {
        let until = self.locked_until?;
        let remaining = until.duration_since(now).unwrap_or_default();
        let seconds = remaining.as_secs() + u64::from(remaining.subsec_nanos() > 0);
        Some(Duration::from_secs(seconds.max(1)))
    }
}

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
    pub groups: Cow<'a, [LockoutGroup]>,
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
            groups: Cow::Borrowed(&config.lockout_parameters),
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

/// How the lists treat a client, before any counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listing {
    /// Always refused.
    Blacklisted,
    /// Never locked out, failures not recorded.
    Whitelisted,
    /// Counted like everybody.
    Counted,
}

/// Applies the allow/deny rules in django-axes' order: blacklist first,
/// then the whitelist (with `never_lockout_whitelist` or `only_whitelist`),
/// then `never_lockout_get`.
pub(crate) fn listing(config: &AxesConfig, client: &ClientInfo) -> Listing {
    let ip = client.ip_address();
    let whitelisted = (config.never_lockout_whitelist || config.only_whitelist)
        && config.is_listed_in_whitelist(ip);
    let exempt_get = config.never_lockout_get && client.method() == http::Method::GET;
    if config.is_blacklisted(ip) {
        Listing::Blacklisted
    } else if whitelisted || exempt_get {
        Listing::Whitelisted
    } else {
        Listing::Counted
    }
}

/// The keys `client` is counted under, one per lockout group whose parts
/// are all known, without repeats.
pub(crate) fn lockout_keys(groups: &[LockoutGroup], client: &ClientInfo) -> Vec<LockoutKey> {
    let mut keys: Vec<LockoutKey> = Vec::with_capacity(groups.len());
    for key in groups.iter().filter_map(|group| client.lockout_key(group)) {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

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
    use crate::config::{LockoutGroup, LockoutParameter::*};

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

    fn client(ip: &str) -> ClientInfo {
        ClientInfo::new(ip.parse().unwrap())
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

    #[test]
    fn listing_follows_django_axes_order() {
        let c = config(
            "ip_whitelist = [\"10.0.0.0/8\"]\nip_blacklist = [\"10.0.0.66\"]\nnever_lockout_whitelist = true\nnever_lockout_get = true",
        );
        assert_eq!(listing(&c, &client("10.0.0.66")), Listing::Blacklisted);
        assert_eq!(listing(&c, &client("10.1.2.3")), Listing::Whitelisted);
        assert_eq!(listing(&c, &client("192.0.2.1")), Listing::Counted);
        let get = client("192.0.2.1").with_method(http::Method::GET);
        assert_eq!(listing(&c, &get), Listing::Whitelisted);
        let head = client("192.0.2.1").with_method(http::Method::HEAD);
        assert_eq!(listing(&c, &head), Listing::Counted);
        let blacklisted_get = client("10.0.0.66").with_method(http::Method::GET);
        assert_eq!(listing(&c, &blacklisted_get), Listing::Blacklisted);
    }

    #[test]
    fn whitelist_alone_has_no_effect() {
        let c = config("ip_whitelist = [\"10.0.0.1\"]");
        assert_eq!(listing(&c, &client("10.0.0.1")), Listing::Counted);
        let only = config("ip_whitelist = [\"10.0.0.1\"]\nonly_whitelist = true");
        assert_eq!(listing(&only, &client("10.0.0.1")), Listing::Whitelisted);
        assert_eq!(listing(&only, &client("10.0.0.2")), Listing::Blacklisted);
    }

    #[test]
    fn keys_follow_the_groups_and_skip_unknown_usernames() {
        let c = config("lockout_parameters = [\"ip_address\", [\"username\", \"ip_address\"], \"username\", [\"ip_address\"]]");
        let anonymous = client("192.0.2.1");
        assert_eq!(
            lockout_keys(&c.lockout_parameters, &anonymous).len(),
            1,
            "ip only, deduplicated"
        );
        let alice = client("192.0.2.1").with_username("alice");
        let keys = lockout_keys(&c.lockout_parameters, &alice);
        assert_eq!(keys.len(), 3);
        assert_eq!(
            keys[2],
            alice.lockout_key(&LockoutGroup::single(Username)).unwrap()
        );
    }

    #[test]
    fn retry_after_rounds_up() {
        let config = AxesConfig::default();
        let mut lockout = blacklisted(&Rules::of(&config), &client("192.0.2.1"));
        assert_eq!(lockout.retry_after(at(0.0)), None);
        lockout.locked_until = Some(at(2.0));
        assert_eq!(lockout.retry_after(at(0.0)), Some(Duration::from_secs(2)));
        assert_eq!(lockout.retry_after(at(0.2)), Some(Duration::from_secs(2)));
        assert_eq!(
            lockout.retry_after(at(1.9999)),
            Some(Duration::from_secs(1))
        );
        assert_eq!(lockout.retry_after(at(5.0)), Some(Duration::from_secs(1)));
    }
}
