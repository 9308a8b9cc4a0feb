//! The pure decisions: which keys a client is counted under, whether it is
//! listed, how long a count lasts ([`Window`]), whether its counters mean
//! "locked" and until when, and the detectors, escalation and trust beyond
//! django-axes. No I/O, no clock reads: time is passed in.

use std::time::{Duration, SystemTime};

use crate::config::AxesConfig;
use crate::identity::{ClientInfo, LockoutGroup, LockoutKey};

pub(crate) mod attempt_data;
pub(crate) mod challenge;
pub(crate) mod detectors;
pub(crate) mod escalation;
mod rules;
mod standing;
pub(crate) mod trust;
mod window;

pub use attempt_data::{cleansed_data, MASK, MAX_DATA_BYTES};
pub(crate) use rules::Rules;
pub(crate) use standing::{blacklisted, lockout_for, standing, Standing};
pub use window::{Counter, Window};

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
    /// The username failed its second factor `second_factor_failure_limit`
    /// times in a row.
    SecondFactor,
}

impl LockoutReason {
    /// The reason's name in listings and JSON: `blacklisted`,
    /// `too_many_failures`, `password_spray`, `quick_succession`,
    /// `too_many_in_flight` or `second_factor`.
    ///
    /// ```
    /// assert_eq!(axes::LockoutReason::TooManyFailures.as_str(), "too_many_failures");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Blacklisted => "blacklisted",
            Self::TooManyFailures => "too_many_failures",
            Self::PasswordSpray => "password_spray",
            Self::QuickSuccession => "quick_succession",
            Self::TooManyInFlight => "too_many_in_flight",
            Self::SecondFactor => "second_factor",
        }
    }
}

/// A refusal: why, with what counts, and until when.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), axes::AxesError> {
/// use std::time::Duration;
/// use axes::{Axes, AxesConfig, ClientInfo, Clock, LockoutReason, ManualClock, MemoryStore, Report};
/// let config = AxesConfig::builder().failure_limit(1).cooloff_time(Duration::from_secs(2)).build().unwrap();
/// let clock = ManualClock::new();
/// let axes = Axes::builder(config, MemoryStore::new()).clock(clock.clone()).build();
/// let client = ClientInfo::new("192.0.2.1".parse().unwrap());
/// let verdict = axes.attempt(client).report(Report::failed("alice")).await?;
/// let lockout = verdict.lockout().unwrap().clone();
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

    /// Extends the lockout to a lock ending at `until` (`None`: at a
    /// reset) with `cooloff`: the later end wins, one at a reset most of
    /// all.
    pub(crate) fn extend_to(&mut self, until: Option<SystemTime>, cooloff: Option<Duration>) {
        match (self.locked_until, until) {
            (None, _) => {}
            (Some(_), None) => {
                self.locked_until = None;
                self.cooloff = None;
            }
            (Some(ends), Some(until)) if until > ends => {
                self.locked_until = Some(until);
                self.cooloff = cooloff;
            }
            (Some(_), Some(_)) => {}
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{LockoutGroup, LockoutParameter::*};

    const T0: Duration = Duration::from_secs(1_700_000_000);

    fn at(secs: f64) -> SystemTime {
        SystemTime::UNIX_EPOCH + T0 + Duration::from_secs_f64(secs)
    }

    fn config(toml: &str) -> AxesConfig {
        let mut config = AxesConfig::from_toml_str(toml).unwrap();
        config.lockout_tiers.sort_by_key(|t| t.failures);
        config
    }

    fn client(ip: &str) -> ClientInfo {
        ClientInfo::new(ip.parse().unwrap())
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
