//! The lockout policy: [`AxesConfig`], its builder and its parts.
//!
//! Every setting is named after its django-axes counterpart, lower-case and
//! without the `AXES_` prefix, so a `settings.py` moves over key by key:
//!
//! ```
//! let config = axes::AxesConfig::from_toml_str(r#"
//!     failure_limit = 5
//!     cooloff_time = "15m"
//!     lockout_parameters = ["ip_address", ["username", "user_agent"]]
//! "#)?;
//! assert_eq!(config.failure_limit, 5);
//! # Ok::<(), axes::ConfigError>(())
//! ```
//!
//! Unknown keys and invalid values are rejected with an error that names the
//! key, so a typo never silently leaves a default in force.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::identity::{
    IpMatcher, LockoutGroup, LockoutParameter, ProxyConfig, ProxyOrder, UsernameNormalization,
};

mod builder;
mod checks;
mod parts;
mod validate;

pub use builder::AxesConfigBuilder;
pub use checks::{config_warnings, ConfigWarning};
pub use parts::{
    CooloffBackoff, DuringLockout, LockoutResponseMode, LockoutTier, OnStoreError, SiteBreaker,
    SprayLimit,
};

/// django-axes' message for a lockout that ends on its own.
pub const COOLOFF_MESSAGE: &str =
    "Account locked: too many login attempts. Please try again later.";

/// django-axes' message for a lockout that lasts until reset.
pub const PERMALOCK_MESSAGE: &str =
    "Account locked: too many login attempts. Contact an admin to unlock your account.";

/// The message of an attempt refused because too many attempts of its
/// client were in flight: not a lockout, only a moment's wait.
pub const BUSY_MESSAGE: &str =
    "Too many login attempts are in progress for this account or address. Please try again in a moment.";

/// The default number of bytes of a request body the layer buffers to read
/// the username before dispatch (64 KiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// How long one store call may take by default (5 s).
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long reading a login body may take by default (10 s).
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an attempt beyond the in-flight bound waits by default (10 s).
pub const DEFAULT_IN_FLIGHT_WAIT: Duration = Duration::from_secs(10);

/// How many attempts may wait per key by default.
pub const DEFAULT_IN_FLIGHT_QUEUE: usize = 256;

/// How long a shared store's slots outlive their app server by default (10 s).
pub const DEFAULT_IN_FLIGHT_LEASE: Duration = Duration::from_secs(10);

/// How many further attempts a passed challenge buys by default.
pub const DEFAULT_CHALLENGE_ATTEMPTS: u32 = 3;

/// How long an unlock token can be redeemed by default (1 h).
pub const DEFAULT_UNLOCK_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// The default [`AxesConfig::second_factor_failure_limit`].
pub const DEFAULT_SECOND_FACTOR_FAILURE_LIMIT: u32 = 5;

/// How long a key's past lockouts are remembered by default (24 h).
pub const DEFAULT_LOCKOUT_HISTORY: Duration = Duration::from_secs(24 * 3600);

/// An error in the configuration, naming the offending key.
///
/// ```
/// let err = axes::AxesConfig::from_toml_str("failure_limt = 3").unwrap_err();
/// assert!(err.to_string().contains("failure_limt"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid axes configuration: {key}: {message}")]
#[non_exhaustive]
pub struct ConfigError {
    /// The setting at fault (`"toml"` when the document itself does not parse).
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}
/// The lockout policy. Deserializes from TOML/JSON with django-axes' setting
/// names; [`AxesConfig::builder`] builds one in code.
///
/// ```
/// use std::time::Duration;
/// use axes::{AxesConfig, LockoutParameter};
///
/// let config = AxesConfig::builder()
///     .failure_limit(5)
///     .cooloff_time(Duration::from_secs(900))
///     .lockout_parameters([LockoutParameter::Username])
///     .build()?;
/// assert_eq!(config.cooloff_time, Some(Duration::from_secs(900)));
/// # Ok::<(), axes::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct AxesConfig {
    /// Master switch; `false` turns every check and record off (`AXES_ENABLED`).
    pub enabled: bool,
    /// Failures after which a client is locked out (`AXES_FAILURE_LIMIT`).
    pub failure_limit: u32,
    /// Whether reaching the limit locks out at all (`AXES_LOCK_OUT_AT_FAILURE`).
    pub lock_out_at_failure: bool,
    /// How long failures count after the last one; `None` locks until reset
    /// (`AXES_COOLOFF_TIME`).
    #[serde(with = "humantime_serde")]
    pub cooloff_time: Option<Duration>,
    /// Count failures in a sliding window (`AXES_USE_ATTEMPT_EXPIRATION`):
    /// each failure stops counting `cooloff_time` (its tier's cool-off)
    /// after it happened, so a client is locked while `failure_limit`
    /// failures lie within any cool-off period. Off: failures count until
    /// the client has been quiet for the cool-off (django-axes' default).
    pub use_attempt_expiration: bool,
    /// Progressive lockouts (`AXES_LOCKOUT_TIERS`): when set, the lowest
    /// tier's `failures` is the failure limit and the tier of a count sets
    /// its cool-off, overriding `failure_limit` and `cooloff_time`.
    pub lockout_tiers: Vec<LockoutTier>,
    /// What a client is counted by (`AXES_LOCKOUT_PARAMETERS`).
    pub lockout_parameters: Vec<LockoutGroup>,
    /// Whether a successful login clears the user's failures (`AXES_RESET_ON_SUCCESS`).
    pub reset_on_success: bool,
    /// What happens to attempts made while already locked out
    /// (`AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT`; `true` and `false`
    /// as in django-axes, unset by default): see [`DuringLockout`].
    pub reset_cool_off_on_failure_during_lockout: DuringLockout,
    /// Status code of the lockout response (`AXES_HTTP_RESPONSE_CODE`).
    pub http_response_code: u16,
    /// Send `Retry-After` with the seconds remaining (`AXES_ENABLE_RETRY_AFTER_HEADER`).
    pub enable_retry_after_header: bool,
    /// The lockout message when lockouts end on their own (`AXES_COOLOFF_MESSAGE`).
    pub cooloff_message: String,
    /// The lockout message when they last until reset (`AXES_PERMALOCK_MESSAGE`).
    pub permalock_message: String,
    /// Redirect locked-out clients here, with `?username=` (`AXES_LOCKOUT_URL`).
    pub lockout_url: Option<String>,
    /// Whether the lockout response says so, or looks like a bad password.
    pub lockout_response: LockoutResponseMode,
    /// With `lockout_response = "indistinguishable"`: the application's
    /// status for a bad password.
    pub bad_credentials_status: u16,
    /// … its body for a bad password.
    pub bad_credentials_body: String,
    /// … and its `Content-Type`, if it sends one.
    pub bad_credentials_content_type: Option<String>,
    /// Body field holding the username (`AXES_USERNAME_FORM_FIELD`).
    pub username_form_field: String,
    /// Body field holding the password (`AXES_PASSWORD_FORM_FIELD`).
    pub password_form_field: String,
    /// Addresses and networks that may be exempted (`AXES_IP_WHITELIST`).
    pub ip_whitelist: Vec<IpMatcher>,
    /// Addresses and networks that are always refused (`AXES_IP_BLACKLIST`).
    pub ip_blacklist: Vec<IpMatcher>,
    /// Whitelisted IPs are never locked out (`AXES_NEVER_LOCKOUT_WHITELIST`).
    pub never_lockout_whitelist: bool,
    /// Only whitelisted IPs may log in at all (`AXES_ONLY_WHITELIST`).
    pub only_whitelist: bool,
    /// `GET` requests are never locked out (`AXES_NEVER_LOCKOUT_GET`).
    pub never_lockout_get: bool,
    /// Where to look for the client IP, in order: `REMOTE_ADDR` (the TCP
    /// peer) or a header, in Django's spelling (`HTTP_X_FORWARDED_FOR`) or
    /// as a header name (`X-Forwarded-For`, `X-Real-IP`, `Forwarded`)
    /// (`AXES_IPWARE_META_PRECEDENCE_ORDER`).
    pub ipware_meta_precedence_order: Vec<String>,
    /// With a forwarding header: the client is this many entries left of
    /// the right-most one (`AXES_IPWARE_PROXY_COUNT`).
    pub ipware_proxy_count: Option<u32>,
    /// Which end of a forwarding chain is the client when neither a count
    /// nor trusted proxies are set (`AXES_IPWARE_PROXY_ORDER`).
    pub ipware_proxy_order: ProxyOrder,
    /// Proxies whose forwarding headers are believed: a header counts only
    /// when the TCP peer is one of them, and the client is the nearest
    /// untrusted entry (`AXES_IPWARE_PROXY_TRUSTED_IPS`).
    pub ipware_proxy_trusted_ips: Vec<IpMatcher>,
    /// Count IPv6 clients by this prefix (e.g. 64), so rotating addresses
    /// inside one allocation does not reset the count.
    pub ipv6_prefix_length: Option<u8>,
    /// How usernames are normalised before counting.
    pub username_normalization: UsernameNormalization,
    /// A client (IP and user agent) that logged in as a username within this
    /// window is not blocked by that username's username-only lockout.
    #[serde(with = "humantime_serde")]
    pub trusted_client_window: Option<Duration>,
    /// With `trusted_client_window`: the name of a cookie the layer sets
    /// after a successful login, which makes the device a trusted client of
    /// that username wherever it connects from (besides the same IP and
    /// user agent).
    pub device_cookie: Option<String>,
    /// Lock an IP failing for too many distinct usernames.
    pub spray_limit: Option<SprayLimit>,
    /// Failures for one key closer together than this lock it at once for
    /// `quick_failure_wait` (Keycloak's quick login check).
    #[serde(with = "humantime_serde")]
    pub min_interval_between_failures: Option<Duration>,
    /// How long a quick-succession lock lasts.
    #[serde(with = "humantime_serde")]
    pub quick_failure_wait: Duration,
    /// Repeated lockouts of a key last longer and longer.
    pub cooloff_backoff: Option<CooloffBackoff>,
    /// A random delay of up to this much added to the end of each lockout,
    /// so a botnet cannot time its next burst to the second.
    #[serde(with = "humantime_serde")]
    pub cooloff_jitter: Option<Duration>,
    /// After this many temporary lockouts of a key within
    /// `lockout_history`, the next one lasts until reset (Keycloak's
    /// "permanent lockout" after temporary ones).
    pub max_temporary_lockouts: Option<u32>,
    /// How long a key's past lockouts are remembered, for `cooloff_backoff`
    /// and `max_temporary_lockouts`, after the latest one began.
    #[serde(with = "humantime_serde")]
    pub lockout_history: Duration,
    /// Do not log successful logins (`AXES_DISABLE_ACCESS_LOG`).
    pub disable_access_log: bool,
    /// Keep a log entry for every recorded failure (`AXES_ENABLE_ACCESS_FAILURE_LOG`).
    pub enable_access_failure_log: bool,
    /// Failure log entries kept per username; older ones are deleted
    /// (`AXES_ACCESS_FAILURE_LOG_PER_USER_LIMIT`).
    pub access_failure_log_per_user_limit: u64,
    /// Request fields masked in stored attempt data, besides the password
    /// field (`AXES_SENSITIVE_PARAMETERS`).
    pub sensitive_parameters: Vec<String>,
    /// Bytes of a body buffered before dispatch to read the username; a
    /// larger body is answered `413 Payload Too Large`.
    pub max_body_bytes: usize,
    /// How long reading that body may take; a body that has not ended by
    /// then is answered `408 Request Timeout`.
    #[serde(with = "humantime_serde")]
    pub body_read_timeout: Duration,
    /// Count attempts in flight toward the limit, so that however many
    /// arrive at once, at most `failure_limit` reach the handler; the
    /// others wait their turn.
    pub bound_in_flight: bool,
    /// How long an attempt beyond the in-flight bound waits for a slot
    /// before it is refused (`Retry-After` then says how long to wait).
    #[serde(with = "humantime_serde")]
    pub in_flight_wait: Duration,
    /// How many attempts may wait per key; one more is refused at once.
    pub in_flight_queue: usize,
    /// How long the slots an app server holds in a shared store (PostgreSQL,
    /// Redis) outlive it: each server renews its lease while it holds
    /// slots, so a killed server's slots lapse this long after its last
    /// renewal.
    #[serde(with = "humantime_serde")]
    pub in_flight_lease: Duration,
    /// How long one store call may take before it counts as a store failure.
    #[serde(with = "humantime_serde")]
    pub store_timeout: Duration,
    /// What to do when the store fails.
    pub on_store_error: OnStoreError,
    /// Fire [`AxesEvent::ApproachingLimit`](crate::AxesEvent::ApproachingLimit)
    /// when a failure leaves a client this many attempts or fewer before
    /// its lockout (Devise's `last_attempt_warning`); `1` warns before the
    /// last one. Off by default.
    pub warn_attempts_left: Option<u32>,
    /// Send `RateLimit-Policy` and `RateLimit` headers (the IETF
    /// httpapi-ratelimit-headers draft) on login responses: the failure
    /// limit, the attempts left and when they reset. Never sent in
    /// `lockout_response = "indistinguishable"` mode. Off by default.
    pub ratelimit_headers: bool,
    /// Log lines name clients in clear. Off by default: as django-axes
    /// since 6.1, the IP addresses and usernames `sensitive_parameters`
    /// names are masked in logs — each a stable pseudonym (a keyed hash
    /// under the engine's secret, the same on every app server sharing
    /// it), so a client's lines can be followed without naming it.
    pub log_in_clear: bool,
    /// From this many failures (below `failure_limit`), the check asks for
    /// a challenge — a CAPTCHA, a second factor — instead of letting the
    /// client try: the handler learns it through
    /// [`AxesReport::challenge_required`](crate::AxesReport::challenge_required).
    /// Off by default.
    pub challenge_after: Option<u32>,
    /// How many further attempts a passed challenge buys: the client's
    /// next challenge, and its lockout, come this many failures later.
    pub challenge_attempts: u32,
    /// How long an unlock token ([`Axes::unlock_token`](crate::Axes::unlock_token))
    /// can be redeemed.
    #[serde(with = "humantime_serde")]
    pub unlock_token_lifetime: Duration,
    /// A second factor's own budget: how many failed second factors (a
    /// one-time code, a security key) in a row lock the username out of
    /// its second factor, counted apart from password failures and by the
    /// username alone (see [`Report::second_factor_failed`](crate::Report::second_factor_failed)).
    /// `0` turns the budget off. Default 5.
    pub second_factor_failure_limit: u32,
    /// How long a second-factor lockout lasts after its last failure;
    /// `None` (the default, as Keycloak's `maxSecondaryAuthFailures`):
    /// until a reset of the username, or [`Axes::unlock`](crate::Axes::unlock).
    #[serde(with = "humantime_serde")]
    pub second_factor_cooloff: Option<Duration>,
    /// A site-wide credential-stuffing breaker (OWASP ASVS 5.0 V2.1.3,
    /// "limits per user and globally"): past a failure budget across every
    /// key, every attempt from a client without trust (no device cookie
    /// vouching for it, no login of it from that address within
    /// `trusted_client_window`, or 30 days) must pass the challenge. It
    /// locks no one out by itself, and clears by itself. Off by default.
    pub site_breaker: Option<SiteBreaker>,
    /// Store usernames as pseudonyms: `~` and 32 hex digits of a keyed
    /// hash (HMAC-SHA256) under the engine's secret, in every counter,
    /// record and log. The operator's listings (the admin, the command
    /// line, [`Axes::attempts`](crate::Axes::attempts) and its kin) still
    /// find a user by the name typed, and show the name where it was given
    /// (a search by it), the pseudonym elsewhere. Give every app server and
    /// the command line the same secret (`AXES_SECRET`): another secret
    /// names other pseudonyms. Off by default.
    pub private_usernames: bool,
}

impl Default for AxesConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            failure_limit: 3,
            lock_out_at_failure: true,
            cooloff_time: None,
            use_attempt_expiration: false,
            lockout_tiers: Vec::new(),
            lockout_parameters: vec![LockoutGroup::single(LockoutParameter::IpAddress)],
            reset_on_success: false,
            reset_cool_off_on_failure_during_lockout: DuringLockout::RecordReported,
            http_response_code: 429,
            enable_retry_after_header: false,
            cooloff_message: COOLOFF_MESSAGE.to_owned(),
            permalock_message: PERMALOCK_MESSAGE.to_owned(),
            lockout_url: None,
            lockout_response: LockoutResponseMode::Informative,
            bad_credentials_status: 403,
            bad_credentials_body: String::new(),
            bad_credentials_content_type: None,
            username_form_field: "username".to_owned(),
            password_form_field: "password".to_owned(),
            ip_whitelist: Vec::new(),
            ip_blacklist: Vec::new(),
            never_lockout_whitelist: false,
            only_whitelist: false,
            never_lockout_get: false,
            ipware_meta_precedence_order: vec!["REMOTE_ADDR".to_owned()],
            ipware_proxy_count: None,
            ipware_proxy_order: ProxyOrder::LeftMost,
            ipware_proxy_trusted_ips: Vec::new(),
            ipv6_prefix_length: Some(64),
            trusted_client_window: None,
            device_cookie: None,
            spray_limit: None,
            min_interval_between_failures: None,
            quick_failure_wait: Duration::from_secs(60),
            username_normalization: UsernameNormalization::Trim,
            cooloff_backoff: None,
            cooloff_jitter: None,
            max_temporary_lockouts: None,
            lockout_history: DEFAULT_LOCKOUT_HISTORY,
            disable_access_log: false,
            enable_access_failure_log: false,
            access_failure_log_per_user_limit: 1000,
            sensitive_parameters: vec!["username".to_owned(), "ip_address".to_owned()],
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            bound_in_flight: true,
            in_flight_wait: DEFAULT_IN_FLIGHT_WAIT,
            in_flight_queue: DEFAULT_IN_FLIGHT_QUEUE,
            in_flight_lease: DEFAULT_IN_FLIGHT_LEASE,
            store_timeout: DEFAULT_STORE_TIMEOUT,
            on_store_error: OnStoreError::FailClosed,
            warn_attempts_left: None,
            ratelimit_headers: false,
            log_in_clear: false,
            challenge_after: None,
            challenge_attempts: DEFAULT_CHALLENGE_ATTEMPTS,
            unlock_token_lifetime: DEFAULT_UNLOCK_TOKEN_LIFETIME,
            second_factor_failure_limit: DEFAULT_SECOND_FACTOR_FAILURE_LIMIT,
            second_factor_cooloff: None,
            site_breaker: None,
            private_usernames: false,
        }
    }
}

impl AxesConfig {
    /// A builder starting from django-axes' defaults.
    pub fn builder() -> AxesConfigBuilder {
        AxesConfigBuilder::default()
    }

    /// Parses and validates a TOML document. Unknown keys are errors.
    ///
    /// ```
    /// let err = axes::AxesConfig::from_toml_str("failure_limit = 0").unwrap_err();
    /// assert_eq!(err.key, "failure_limit");
    /// ```
    pub fn from_toml_str(toml_text: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(toml_text).map_err(|e| {
            let message = e.message().to_owned();
            let line_key = e.span().and_then(|span| key_at(toml_text, span.start));
            let key = match (unknown_field_name(&message), line_key) {
                (Some(field), Some(line)) if field != line => format!("{line}.{field}"),
                (Some(field), _) => field,
                (None, Some(line)) => line,
                (None, None) => "toml".to_owned(),
            };
            ConfigError::new(key, message)
        })?;
        config.validate()?;
        Ok(config)
    }

    /// How the client IP is found behind proxies: the `ipware_*` settings.
    pub fn proxies(&self) -> ProxyConfig {
        ProxyConfig::new(
            &self.ipware_meta_precedence_order,
            self.ipware_proxy_count,
            self.ipware_proxy_order,
            self.ipware_proxy_trusted_ips.clone(),
        )
    }

    /// Whether lockouts escalate (`cooloff_backoff`, `cooloff_jitter` or
    /// `max_temporary_lockouts`): each key's lockouts are then counted.
    pub fn escalates(&self) -> bool {
        self.cooloff_backoff.is_some()
            || self.cooloff_jitter.is_some()
            || self.max_temporary_lockouts.is_some()
    }

    /// The failure limit in force: the lowest tier's threshold when
    /// `lockout_tiers` is set, `failure_limit` otherwise.
    pub fn effective_failure_limit(&self) -> u32 {
        self.lockout_tiers
            .iter()
            .map(|t| t.failures)
            .min()
            .unwrap_or(self.failure_limit)
    }

    /// How long failures keep counting (and a lockout lasts) after the last
    /// one, for a count of `failures`: the tier of that count (the lowest
    /// tier below its threshold), or `cooloff_time`. `None`: forever.
    pub fn cooloff_for(&self, failures: u64) -> Option<Duration> {
        if self.lockout_tiers.is_empty() {
            return self.cooloff_time;
        }
        let mut tiers = self.lockout_tiers.clone();
        tiers.sort_by_key(|t| t.failures);
        let tier = tiers
            .iter()
            .rev()
            .find(|t| u64::from(t.failures) <= failures)
            .unwrap_or(&tiers[0]);
        Some(tier.cooloff)
    }

    /// Whether lockouts end on their own (a cool-off or tiers are set).
    pub fn has_cooloff(&self) -> bool {
        self.cooloff_time.is_some() || !self.lockout_tiers.is_empty()
    }

    /// Whether `ip` is on the blacklist, or not on the whitelist while
    /// `only_whitelist` is set.
    pub fn is_blacklisted(&self, ip: IpAddr) -> bool {
        self.ip_blacklist.iter().any(|m| m.contains(ip))
            || (self.only_whitelist && !self.ip_whitelist.iter().any(|m| m.contains(ip)))
    }

    /// Whether `ip` is on the whitelist (whatever the whitelist flags say).
    pub fn is_listed_in_whitelist(&self, ip: IpAddr) -> bool {
        self.ip_whitelist.iter().any(|m| m.contains(ip))
    }
}

fn unknown_field_name(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest[..rest.find('`')?].to_owned())
}

/// The key whose line holds byte `offset` of a TOML document, for errors.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let line_start = text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next()?;
    let key = line.split('=').next()?.trim();
    (!key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then(|| key.to_owned())
}

#[cfg(test)]
mod tests;
