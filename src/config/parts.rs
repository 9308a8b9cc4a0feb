//! The parts of a policy: tiers, and the small settings that are tables or
//! choices in TOML.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One step of progressive lockout: from `failures` failures on, a lockout
/// lasts `cooloff` (django-axes' `LockoutTier`).
///
/// ```
/// let config = axes::AxesConfig::from_toml_str(r#"
///     lockout_tiers = [ { failures = 3, cooloff = "15m" }, { failures = 6, cooloff = "2h" } ]
/// "#).unwrap();
/// assert_eq!(config.effective_failure_limit(), 3);
/// assert_eq!(config.cooloff_for(7), Some(std::time::Duration::from_secs(7200)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockoutTier {
    /// The failure count from which this tier applies.
    pub failures: u32,
    /// How long a lockout in this tier lasts after the last failure.
    #[serde(with = "humantime_serde")]
    pub cooloff: Duration,
}

/// What the lockout response tells the client (`lockout_response`).
///
/// ```
/// let config = axes::AxesConfig::from_toml_str(r#"
///     lockout_response = "indistinguishable"
///     bad_credentials_status = 401
/// "#).unwrap();
/// assert_eq!(config.lockout_response, axes::config::LockoutResponseMode::Indistinguishable);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockoutResponseMode {
    /// The lockout status and message (and JSON details, `Retry-After`).
    #[default]
    Informative,
    /// Exactly the application's answer to a bad password
    /// (`bad_credentials_status`, `_body`, `_content_type`): no username,
    /// counts or `Retry-After`, so a locked account cannot be told from a
    /// wrong password, nor an existing user from a missing one.
    Indistinguishable,
    /// An RFC 9457 problem document (`application/problem+json`) of type
    /// `quota-exceeded` (the RateLimit draft's), naming the policy it
    /// violated, for every client: the message, the counts, the
    /// username and `retry-after` as members; `Retry-After` as enabled.
    Problem,
}

/// Password-spray detection (`spray_limit`): an IP that fails for more than
/// `distinct_usernames` usernames within `window` is locked out for `window`.
///
/// ```
/// let config = axes::AxesConfig::from_toml_str(
///     r#"spray_limit = { distinct_usernames = 10, window = "10m" }"#,
/// ).unwrap();
/// assert_eq!(config.spray_limit.unwrap().distinct_usernames, 10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SprayLimit {
    /// How many distinct usernames one IP may fail for within the window.
    pub distinct_usernames: u32,
    /// The window, and how long the IP stays locked.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
}

/// The site-wide breaker (`site_breaker`): a failure budget across every
/// key of the routes one engine guards. Past it, every attempt from a
/// client without trust must pass the challenge; it clears by itself when
/// the rate falls back. Give `failures_per_minute` (an absolute budget) or
/// `baseline_multiple` (a multiple of the last hour's average a minute,
/// never below `min_failures_per_minute`).
///
/// ```
/// let config = axes::AxesConfig::from_toml_str(
///     r#"site_breaker = { baseline_multiple = 10.0, min_failures_per_minute = 50 }"#,
/// ).unwrap();
/// let breaker = config.site_breaker.unwrap();
/// assert_eq!(breaker.budget(0), 50, "never below the floor");
/// assert_eq!(breaker.budget(600), 100, "ten times 10 a minute");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteBreaker {
    /// Trips past this many failures a minute.
    #[serde(default)]
    pub failures_per_minute: Option<u64>,
    /// Or: trips past this multiple of the last hour's failures a minute.
    #[serde(default)]
    pub baseline_multiple: Option<f64>,
    /// With `baseline_multiple`: the budget is never below this many
    /// failures a minute (default 30), so a quiet hour does not trip it.
    #[serde(default = "SiteBreaker::default_floor")]
    pub min_failures_per_minute: u64,
}

impl SiteBreaker {
    fn default_floor() -> u64 {
        30
    }

    /// The failures a minute it allows, given the last hour's failures.
    pub fn budget(&self, last_hour: u64) -> u64 {
        match (self.failures_per_minute, self.baseline_multiple) {
            (Some(budget), _) => budget,
            (None, Some(multiple)) => {
                let baseline = last_hour as f64 / 60.0 * multiple;
                (baseline.ceil() as u64).max(self.min_failures_per_minute)
            }
            (None, None) => u64::MAX,
        }
    }
}

/// Exponential growth of repeated lockouts (`cooloff_backoff`): the n-th
/// lockout of a key within `lockout_history` lasts the cool-off times
/// `factor^(n-1)`, at most `max`.
///
/// ```
/// use std::time::Duration;
/// let config = axes::AxesConfig::from_toml_str(r#"
///     cooloff_time = "1m"
///     cooloff_backoff = { factor = 2.0, max = "1h" }
/// "#).unwrap();
/// let backoff = config.cooloff_backoff.unwrap();
/// assert_eq!(backoff.cooloff(Duration::from_secs(60), 3), Duration::from_secs(240));
/// assert_eq!(backoff.cooloff(Duration::from_secs(60), 30), Duration::from_secs(3600));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CooloffBackoff {
    /// What each further lockout multiplies the cool-off by (at least 1).
    pub factor: f64,
    /// The longest a temporary lockout lasts.
    #[serde(with = "humantime_serde")]
    pub max: Duration,
}

impl CooloffBackoff {
    /// The cool-off of the `lockout`-th lockout (from 1) whose first lasts `base`.
    pub fn cooloff(&self, base: Duration, lockout: u64) -> Duration {
        let exponent = i32::try_from(lockout.saturating_sub(1)).unwrap_or(i32::MAX);
        let scaled = base.as_secs_f64() * self.factor.powi(exponent);
        if !scaled.is_finite() || scaled >= self.max.as_secs_f64() {
            self.max
        } else {
            Duration::from_secs_f64(scaled).max(base.min(self.max))
        }
    }
}

/// What the layer does when the store cannot be reached.
///
/// ```
/// let config = axes::AxesConfig::from_toml_str(r#"on_store_error = "fail_open""#).unwrap();
/// assert_eq!(config.on_store_error, axes::config::OnStoreError::FailOpen);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnStoreError {
    /// Refuse the login with `503 Service Unavailable`; the handler is not run.
    #[default]
    FailClosed,
    /// Let the handler run; the error is logged under the `axes` target.
    FailOpen,
}

/// What becomes of attempts made while a client is locked out
/// (`reset_cool_off_on_failure_during_lockout`). django-axes' default,
/// `True`, behaves two ways, one per flow; here each has a name.
///
/// In TOML: unset, `true` or `false` as in django-axes, or the name.
///
/// ```
/// use axes::config::DuringLockout;
/// let config = axes::AxesConfig::from_toml_str("reset_cool_off_on_failure_during_lockout = true").unwrap();
/// assert_eq!(config.reset_cool_off_on_failure_during_lockout, DuringLockout::RecordAll);
/// let named = axes::AxesConfig::from_toml_str(r#"reset_cool_off_on_failure_during_lockout = "record_nothing""#).unwrap();
/// assert_eq!(named.reset_cool_off_on_failure_during_lockout, DuringLockout::RecordNothing);
/// assert_eq!(axes::AxesConfig::default().reset_cool_off_on_failure_during_lockout, DuringLockout::RecordReported);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DuringLockout {
    /// Unset, the default: attempts refused before dispatch are not
    /// recorded; a failure the handler reports while the client is locked
    /// is recorded and restarts the cool-off (django-axes' `axes_dispatch`
    /// flow, what a custom login view gets).
    #[default]
    RecordReported,
    /// `true`: every attempt refused during a lockout is recorded as a
    /// failure too, so the cool-off restarts and tiers escalate while the
    /// client keeps trying (django-axes' authentication-backend flow).
    RecordAll,
    /// `false`: nothing made during a lockout is recorded.
    RecordNothing,
}

impl DuringLockout {
    fn name(self) -> &'static str {
        match self {
            Self::RecordReported => "record_reported",
            Self::RecordAll => "record_all",
            Self::RecordNothing => "record_nothing",
        }
    }
}

impl<'de> Deserialize<'de> for DuringLockout {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Flag(bool),
            Name(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Flag(true) => Ok(Self::RecordAll),
            Raw::Flag(false) => Ok(Self::RecordNothing),
            Raw::Name(name) => [Self::RecordReported, Self::RecordAll, Self::RecordNothing]
                .into_iter()
                .find(|v| v.name() == name)
                .ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "`{name}` is neither true, false, record_reported, record_all nor record_nothing"
                    ))
                }),
        }
    }
}

impl Serialize for DuringLockout {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::RecordAll => serializer.serialize_bool(true),
            Self::RecordNothing => serializer.serialize_bool(false),
            Self::RecordReported => serializer.serialize_str(self.name()),
        }
    }
}
