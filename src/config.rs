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

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ip::ProxyOrder;
use crate::normalize::UsernameNormalization;

/// The default number of bytes of a request body the layer buffers to read
/// the username before dispatch (64 KiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// How long one store call may take by default (5 s).
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long reading a login body may take by default (10 s).
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

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

/// One attribute of a client that failures can be counted under.
///
/// ```
/// use axes::LockoutParameter;
/// assert_eq!("username".parse::<LockoutParameter>().unwrap(), LockoutParameter::Username);
/// assert!("password".parse::<LockoutParameter>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LockoutParameter {
    /// The resolved client IP address (`"ip_address"`).
    IpAddress,
    /// The username being logged in as (`"username"`).
    Username,
    /// The `User-Agent` header (`"user_agent"`).
    UserAgent,
}

impl LockoutParameter {
    /// The django-axes name of the parameter.
    ///
    /// ```
    /// assert_eq!(axes::LockoutParameter::IpAddress.as_str(), "ip_address");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IpAddress => "ip_address",
            Self::Username => "username",
            Self::UserAgent => "user_agent",
        }
    }
}

impl fmt::Display for LockoutParameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LockoutParameter {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ip_address" => Ok(Self::IpAddress),
            "username" => Ok(Self::Username),
            "user_agent" => Ok(Self::UserAgent),
            other => Err(ConfigError::new(
                "lockout_parameters",
                format!(
                    "`{other}` is not a lockout parameter (expected ip_address, username or user_agent)"
                ),
            )),
        }
    }
}

/// One entry of `lockout_parameters`: a single parameter, or a combination
/// whose parts must all match (AND). Entries are alternatives (OR): a client
/// is locked out when any entry's count reaches the limit.
///
/// ```
/// use axes::{LockoutGroup, LockoutParameter};
/// let pair = LockoutGroup::combination([LockoutParameter::Username, LockoutParameter::IpAddress]);
/// assert!(pair.contains(LockoutParameter::Username));
/// assert_eq!(pair.to_string(), "[ip_address, username]");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LockoutGroup(Vec<LockoutParameter>);

impl LockoutGroup {
    /// A group of one parameter.
    pub fn single(parameter: LockoutParameter) -> Self {
        Self(vec![parameter])
    }

    /// A combination of parameters (kept sorted and without repeats, so
    /// `[username, ip_address]` and `[ip_address, username]` are one group).
    pub fn combination(parameters: impl IntoIterator<Item = LockoutParameter>) -> Self {
        let mut parts: Vec<_> = parameters.into_iter().collect();
        parts.sort();
        parts.dedup();
        Self(parts)
    }

    /// The parameters of the group, in canonical order.
    pub fn parameters(&self) -> &[LockoutParameter] {
        &self.0
    }

    /// Whether the group counts by `parameter`.
    pub fn contains(&self, parameter: LockoutParameter) -> bool {
        self.0.contains(&parameter)
    }
}

impl From<LockoutParameter> for LockoutGroup {
    fn from(parameter: LockoutParameter) -> Self {
        Self::single(parameter)
    }
}

impl fmt::Display for LockoutGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let [single] = self.0.as_slice() {
            return write!(f, "{single}");
        }
        f.write_str("[")?;
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{p}")?;
        }
        f.write_str("]")
    }
}

impl<'de> Deserialize<'de> for LockoutGroup {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(String),
            Many(Vec<String>),
        }
        let names = match Raw::deserialize(deserializer)? {
            Raw::One(name) => vec![name],
            Raw::Many(names) => names,
        };
        if names.is_empty() {
            return Err(serde::de::Error::custom(
                "a lockout parameter combination must not be empty",
            ));
        }
        let parameters = names
            .iter()
            .map(|n| n.parse::<LockoutParameter>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| serde::de::Error::custom(e.message))?;
        Ok(Self::combination(parameters))
    }
}

impl Serialize for LockoutGroup {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if let [single] = self.0.as_slice() {
            serializer.serialize_str(single.as_str())
        } else {
            serializer.collect_seq(self.0.iter().map(|p| p.as_str()))
        }
    }
}

/// An entry of `ip_whitelist` / `ip_blacklist`: an address (`"10.0.0.1"`)
/// or a CIDR network (`"10.0.0.0/8"`).
///
/// ```
/// use axes::IpMatcher;
/// let net: IpMatcher = "10.0.0.0/8".parse().unwrap();
/// assert!(net.contains("10.1.2.3".parse().unwrap()));
/// let one: IpMatcher = "10.0.0.1".parse().unwrap();
/// assert!(!one.contains("10.0.0.10".parse().unwrap()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpMatcher(IpNet);

impl IpMatcher {
    /// Whether `ip` is this address or inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip.to_canonical())
    }
}

impl FromStr for IpMatcher {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Ok(net) = s.parse::<IpNet>() {
            return Ok(Self(net.trunc()));
        }
        s.parse::<IpAddr>()
            .map(|ip| Self(IpNet::from(ip.to_canonical())))
            .map_err(|_| format!("`{s}` is neither an IP address nor a CIDR network"))
    }
}

impl fmt::Display for IpMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.prefix_len() == self.0.max_prefix_len() {
            write!(f, "{}", self.0.addr())
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl<'de> Deserialize<'de> for IpMatcher {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for IpMatcher {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

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
/// assert_eq!(config.lockout_response, axes::LockoutResponseMode::Indistinguishable);
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
/// assert_eq!(config.on_store_error, axes::OnStoreError::FailOpen);
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
    /// (`AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT`):
    ///
    /// - unset (the default): as django-axes does for a custom login view
    ///   (`axes_dispatch`): attempts refused before dispatch are not
    ///   recorded; a failure the handler reports while the client is locked
    ///   is recorded and restarts the cool-off.
    /// - `true`: as django-axes' authentication-backend flow: every attempt
    ///   refused during a lockout is recorded as a failure too, so the
    ///   cool-off restarts and tiers escalate while the client keeps trying.
    /// - `false`: nothing made during a lockout is recorded.
    pub reset_cool_off_on_failure_during_lockout: Option<bool>,
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
    /// arrive at once, at most `failure_limit` reach the handler.
    pub bound_in_flight: bool,
    /// How long one store call may take before it counts as a store failure.
    #[serde(with = "humantime_serde")]
    pub store_timeout: Duration,
    /// What to do when the store fails.
    pub on_store_error: OnStoreError,
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
            reset_cool_off_on_failure_during_lockout: None,
            http_response_code: 429,
            enable_retry_after_header: false,
            cooloff_message: crate::response::COOLOFF_MESSAGE.to_owned(),
            permalock_message: crate::response::PERMALOCK_MESSAGE.to_owned(),
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
            ipv6_prefix_length: None,
            trusted_client_window: None,
            device_cookie: None,
            spray_limit: None,
            min_interval_between_failures: None,
            quick_failure_wait: Duration::from_secs(60),
            username_normalization: UsernameNormalization::None,
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
            store_timeout: DEFAULT_STORE_TIMEOUT,
            on_store_error: OnStoreError::FailClosed,
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

    /// Checks values that parse but make no sense.
    ///
    /// ```
    /// let mut config = axes::AxesConfig::default();
    /// config.lockout_parameters.clear();
    /// assert_eq!(config.validate().unwrap_err().key, "lockout_parameters");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.failure_limit == 0 {
            return Err(ConfigError::new(
                "failure_limit",
                "must be at least 1 (0 would lock out every client)",
            ));
        }
        if self.cooloff_time == Some(Duration::ZERO) {
            return Err(ConfigError::new(
                "cooloff_time",
                "must be longer than zero; leave it out for a lockout that lasts until reset",
            ));
        }
        for tier in &self.lockout_tiers {
            if tier.failures == 0 {
                return Err(ConfigError::new(
                    "lockout_tiers",
                    "a tier's `failures` must be at least 1",
                ));
            }
            if tier.cooloff.is_zero() {
                return Err(ConfigError::new(
                    "lockout_tiers",
                    "a tier's `cooloff` must be longer than zero",
                ));
            }
            if self
                .lockout_tiers
                .iter()
                .filter(|t| t.failures == tier.failures)
                .count()
                > 1
            {
                return Err(ConfigError::new(
                    "lockout_tiers",
                    format!("two tiers start at {} failures", tier.failures),
                ));
            }
        }
        if self.use_attempt_expiration && !self.has_cooloff() {
            return Err(ConfigError::new(
                "use_attempt_expiration",
                "needs cooloff_time or lockout_tiers: each failure expires one cool-off after it happened",
            ));
        }
        if self.lockout_parameters.is_empty() {
            return Err(ConfigError::new(
                "lockout_parameters",
                "must name at least one parameter",
            ));
        }
        if self
            .lockout_parameters
            .iter()
            .any(|g| g.parameters().is_empty())
        {
            return Err(ConfigError::new(
                "lockout_parameters",
                "a combination must not be empty",
            ));
        }
        if !(400..=599).contains(&self.http_response_code) {
            return Err(ConfigError::new(
                "http_response_code",
                format!(
                    "{} is not an error status (expected 400 to 599)",
                    self.http_response_code
                ),
            ));
        }
        if !(100..=599).contains(&self.bad_credentials_status) {
            return Err(ConfigError::new(
                "bad_credentials_status",
                format!("{} is not an HTTP status", self.bad_credentials_status),
            ));
        }
        if let Some(content_type) = &self.bad_credentials_content_type {
            if http::HeaderValue::from_str(content_type).is_err() {
                return Err(ConfigError::new(
                    "bad_credentials_content_type",
                    "is not a valid header value",
                ));
            }
        }
        if self.username_form_field.trim().is_empty() {
            return Err(ConfigError::new("username_form_field", "must not be empty"));
        }
        if self.password_form_field.trim().is_empty() {
            return Err(ConfigError::new("password_form_field", "must not be empty"));
        }
        for name in &self.ipware_meta_precedence_order {
            crate::ip::validate_source(name)
                .map_err(|m| ConfigError::new("ipware_meta_precedence_order", m))?;
        }
        if let Some(url) = &self.lockout_url {
            if url.is_empty() || http::HeaderValue::from_str(url).is_err() {
                return Err(ConfigError::new(
                    "lockout_url",
                    "must be a non-empty URL of visible ASCII characters",
                ));
            }
        }
        if matches!(self.ipv6_prefix_length, Some(0) | Some(129..)) {
            return Err(ConfigError::new(
                "ipv6_prefix_length",
                "must be between 1 and 128",
            ));
        }
        if let Some((key, message)) = crate::checks::contradictions(self) {
            return Err(ConfigError::new(key, message));
        }
        if let Some(spray) = &self.spray_limit {
            if spray.distinct_usernames == 0 || spray.window.is_zero() {
                return Err(ConfigError::new(
                    "spray_limit",
                    "distinct_usernames and window must be more than zero",
                ));
            }
        }
        if self.trusted_client_window == Some(Duration::ZERO) {
            return Err(ConfigError::new(
                "trusted_client_window",
                "must be longer than zero",
            ));
        }
        if self.trusted_client_window.is_some() && self.disable_access_log {
            return Err(ConfigError::new(
                "trusted_client_window",
                "trusted clients are found in the access log, which disable_access_log turns off",
            ));
        }
        if let Some(name) = &self.device_cookie {
            if self.trusted_client_window.is_none() {
                return Err(ConfigError::new(
                    "device_cookie",
                    "needs trusted_client_window: it says how long a device stays trusted",
                ));
            }
            let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            if name.is_empty() || !name.chars().all(token) {
                return Err(ConfigError::new(
                    "device_cookie",
                    format!("`{name}` is not a cookie name (letters, digits and !#$%&'*+-.^_`|~)"),
                ));
            }
        }
        if self.min_interval_between_failures == Some(Duration::ZERO) {
            return Err(ConfigError::new(
                "min_interval_between_failures",
                "must be longer than zero",
            ));
        }
        if self.quick_failure_wait.is_zero() {
            return Err(ConfigError::new(
                "quick_failure_wait",
                "must be longer than zero",
            ));
        }
        self.validate_escalation()?;
        if self.store_timeout.is_zero() {
            return Err(ConfigError::new(
                "store_timeout",
                "must be longer than zero",
            ));
        }
        if self.body_read_timeout.is_zero() {
            return Err(ConfigError::new(
                "body_read_timeout",
                "must be longer than zero",
            ));
        }
        if self.max_body_bytes == 0 {
            return Err(ConfigError::new("max_body_bytes", "must be at least 1"));
        }
        Ok(())
    }

    fn validate_escalation(&self) -> Result<(), ConfigError> {
        let escalation = [
            ("cooloff_backoff", self.cooloff_backoff.is_some()),
            ("cooloff_jitter", self.cooloff_jitter.is_some()),
            (
                "max_temporary_lockouts",
                self.max_temporary_lockouts.is_some(),
            ),
        ];
        for (key, set) in escalation {
            if set && !self.has_cooloff() {
                return Err(ConfigError::new(
                    key,
                    "needs cooloff_time or lockout_tiers: without them every lockout already lasts until reset",
                ));
            }
        }
        if let Some(backoff) = &self.cooloff_backoff {
            if !backoff.factor.is_finite() || backoff.factor < 1.0 {
                return Err(ConfigError::new(
                    "cooloff_backoff",
                    "factor must be a number of at least 1",
                ));
            }
            if backoff.max.is_zero() {
                return Err(ConfigError::new(
                    "cooloff_backoff",
                    "max must be longer than zero",
                ));
            }
            if backoff.max > self.lockout_history {
                return Err(ConfigError::new(
                    "lockout_history",
                    format!(
                        "must be at least cooloff_backoff.max ({}): a lockout would outlast the history that escalated it",
                        humantime::format_duration(backoff.max)
                    ),
                ));
            }
        }
        if self.cooloff_jitter == Some(Duration::ZERO) {
            return Err(ConfigError::new(
                "cooloff_jitter",
                "must be longer than zero",
            ));
        }
        if self.max_temporary_lockouts == Some(0) {
            return Err(ConfigError::new(
                "max_temporary_lockouts",
                "must be at least 1; leave cooloff_time out for lockouts that all last until reset",
            ));
        }
        if self.lockout_history.is_zero() {
            return Err(ConfigError::new(
                "lockout_history",
                "must be longer than zero",
            ));
        }
        Ok(())
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

/// Builds an [`AxesConfig`] in code; [`build`](Self::build) validates it.
///
/// ```
/// let config = axes::AxesConfig::builder()
///     .failure_limit(10)
///     .ip_blacklist(["192.0.2.0/24"])?
///     .build()?;
/// assert!(config.is_blacklisted("192.0.2.7".parse().unwrap()));
/// # Ok::<(), axes::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct AxesConfigBuilder {
    config: AxesConfig,
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, value: $ty) -> Self {
                self.config.$name = value;
                self
            }
        )*
    };
}

impl AxesConfigBuilder {
    setters! {
        /// See [`AxesConfig::enabled`].
        enabled: bool,
        /// See [`AxesConfig::failure_limit`].
        failure_limit: u32,
        /// See [`AxesConfig::lock_out_at_failure`].
        lock_out_at_failure: bool,
        /// See [`AxesConfig::reset_on_success`].
        reset_on_success: bool,
        /// See [`AxesConfig::use_attempt_expiration`].
        use_attempt_expiration: bool,
        /// See [`AxesConfig::reset_cool_off_on_failure_during_lockout`].
        reset_cool_off_on_failure_during_lockout: Option<bool>,
        /// See [`AxesConfig::http_response_code`].
        http_response_code: u16,
        /// See [`AxesConfig::enable_retry_after_header`].
        enable_retry_after_header: bool,
        /// See [`AxesConfig::never_lockout_whitelist`].
        never_lockout_whitelist: bool,
        /// See [`AxesConfig::only_whitelist`].
        only_whitelist: bool,
        /// See [`AxesConfig::never_lockout_get`].
        never_lockout_get: bool,
        /// See [`AxesConfig::max_body_bytes`].
        max_body_bytes: usize,
        /// See [`AxesConfig::on_store_error`].
        on_store_error: OnStoreError,
        /// See [`AxesConfig::body_read_timeout`].
        body_read_timeout: Duration,
        /// See [`AxesConfig::bound_in_flight`].
        bound_in_flight: bool,
        /// See [`AxesConfig::store_timeout`].
        store_timeout: Duration,
        /// See [`AxesConfig::lockout_response`].
        lockout_response: LockoutResponseMode,
        /// See [`AxesConfig::bad_credentials_status`].
        bad_credentials_status: u16,
        /// See [`AxesConfig::ipv6_prefix_length`].
        ipv6_prefix_length: Option<u8>,
        /// See [`AxesConfig::spray_limit`].
        spray_limit: Option<SprayLimit>,
        /// See [`AxesConfig::trusted_client_window`].
        trusted_client_window: Option<Duration>,
        /// See [`AxesConfig::min_interval_between_failures`].
        min_interval_between_failures: Option<Duration>,
        /// See [`AxesConfig::quick_failure_wait`].
        quick_failure_wait: Duration,
        /// See [`AxesConfig::username_normalization`].
        username_normalization: UsernameNormalization,
        /// See [`AxesConfig::cooloff_backoff`].
        cooloff_backoff: Option<CooloffBackoff>,
        /// See [`AxesConfig::cooloff_jitter`].
        cooloff_jitter: Option<Duration>,
        /// See [`AxesConfig::max_temporary_lockouts`].
        max_temporary_lockouts: Option<u32>,
        /// See [`AxesConfig::lockout_history`].
        lockout_history: Duration,
        /// See [`AxesConfig::disable_access_log`].
        disable_access_log: bool,
        /// See [`AxesConfig::enable_access_failure_log`].
        enable_access_failure_log: bool,
        /// See [`AxesConfig::access_failure_log_per_user_limit`].
        access_failure_log_per_user_limit: u64,
        /// See [`AxesConfig::ipware_proxy_count`].
        ipware_proxy_count: Option<u32>,
        /// See [`AxesConfig::ipware_proxy_order`].
        ipware_proxy_order: ProxyOrder,
    }

    /// See [`AxesConfig::device_cookie`].
    pub fn device_cookie(mut self, name: impl Into<String>) -> Self {
        self.config.device_cookie = Some(name.into());
        self
    }

    /// See [`AxesConfig::ipware_meta_precedence_order`].
    pub fn ipware_meta_precedence_order<I, S>(mut self, sources: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.ipware_meta_precedence_order = sources.into_iter().map(Into::into).collect();
        self
    }

    /// See [`AxesConfig::ipware_proxy_trusted_ips`]; each entry an address or a network.
    pub fn ipware_proxy_trusted_ips<I, S>(mut self, entries: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.config.ipware_proxy_trusted_ips = parse_ip_list("ipware_proxy_trusted_ips", entries)?;
        Ok(self)
    }

    /// See [`AxesConfig::lockout_tiers`].
    pub fn lockout_tiers(mut self, tiers: impl IntoIterator<Item = LockoutTier>) -> Self {
        self.config.lockout_tiers = tiers.into_iter().collect();
        self
    }

    /// See [`AxesConfig::cooloff_time`].
    pub fn cooloff_time(mut self, cooloff: Duration) -> Self {
        self.config.cooloff_time = Some(cooloff);
        self
    }

    /// See [`AxesConfig::lockout_parameters`]: each item is a single
    /// [`LockoutParameter`] or a [`LockoutGroup`] combination.
    pub fn lockout_parameters<I, G>(mut self, groups: I) -> Self
    where
        I: IntoIterator<Item = G>,
        G: Into<LockoutGroup>,
    {
        self.config.lockout_parameters = groups.into_iter().map(Into::into).collect();
        self
    }

    /// See [`AxesConfig::cooloff_message`].
    pub fn cooloff_message(mut self, message: impl Into<String>) -> Self {
        self.config.cooloff_message = message.into();
        self
    }

    /// See [`AxesConfig::permalock_message`].
    pub fn permalock_message(mut self, message: impl Into<String>) -> Self {
        self.config.permalock_message = message.into();
        self
    }

    /// See [`AxesConfig::lockout_url`].
    pub fn lockout_url(mut self, url: impl Into<String>) -> Self {
        self.config.lockout_url = Some(url.into());
        self
    }

    /// See [`AxesConfig::username_form_field`].
    pub fn username_form_field(mut self, field: impl Into<String>) -> Self {
        self.config.username_form_field = field.into();
        self
    }

    /// See [`AxesConfig::password_form_field`].
    pub fn password_form_field(mut self, field: impl Into<String>) -> Self {
        self.config.password_form_field = field.into();
        self
    }

    /// See [`AxesConfig::ip_whitelist`]; each entry an address or a network.
    pub fn ip_whitelist<I, S>(mut self, entries: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.config.ip_whitelist = parse_ip_list("ip_whitelist", entries)?;
        Ok(self)
    }

    /// See [`AxesConfig::ip_blacklist`]; each entry an address or a network.
    pub fn ip_blacklist<I, S>(mut self, entries: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.config.ip_blacklist = parse_ip_list("ip_blacklist", entries)?;
        Ok(self)
    }

    /// Validates and returns the configuration.
    pub fn build(self) -> Result<AxesConfig, ConfigError> {
        self.config.validate()?;
        Ok(self.config)
    }
}

fn parse_ip_list<I, S>(key: &str, entries: I) -> Result<Vec<IpMatcher>, ConfigError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    entries
        .into_iter()
        .map(|e| e.as_ref().parse().map_err(|m| ConfigError::new(key, m)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_django_axes() {
        let c = AxesConfig::from_toml_str("").unwrap();
        assert_eq!(c, AxesConfig::default());
        assert_eq!(c.failure_limit, 3);
        assert_eq!(c.http_response_code, 429);
        assert_eq!(c.cooloff_time, None);
        assert_eq!(
            c.lockout_parameters,
            vec![LockoutGroup::single(LockoutParameter::IpAddress)]
        );
        assert_eq!(c.reset_cool_off_on_failure_during_lockout, None);
    }

    #[test]
    fn full_document_parses() {
        let c = AxesConfig::from_toml_str(
            r#"
            enabled = true
            failure_limit = 5
            lock_out_at_failure = false
            cooloff_time = "1h 30m"
            lockout_parameters = ["ip_address", ["user_agent", "username"]]
            reset_on_success = true
            reset_cool_off_on_failure_during_lockout = false
            http_response_code = 403
            username_form_field = "email"
            password_form_field = "passphrase"
            ip_whitelist = ["127.0.0.9", "10.0.0.0/8", "::1"]
            ip_blacklist = ["192.0.2.1"]
            never_lockout_whitelist = true
            only_whitelist = false
            never_lockout_get = true
            max_body_bytes = 1024
            on_store_error = "fail_open"
            disable_access_log = true
            enable_access_failure_log = true
            access_failure_log_per_user_limit = 10
            sensitive_parameters = ["otp"]
            ipware_proxy_count = 1
            ipware_meta_precedence_order = ["HTTP_X_FORWARDED_FOR", "X-Real-IP", "REMOTE_ADDR"]
            ipware_proxy_order = "right-most"
            ipware_proxy_trusted_ips = ["127.0.0.1", "10.0.0.0/8"]
            "#,
        )
        .unwrap();
        assert_eq!(c.cooloff_time, Some(Duration::from_secs(5400)));
        assert_eq!(
            c.lockout_parameters[1],
            LockoutGroup::combination([LockoutParameter::Username, LockoutParameter::UserAgent])
        );
        assert!(c.is_listed_in_whitelist("10.200.0.1".parse().unwrap()));
        assert!(c.is_blacklisted("192.0.2.1".parse().unwrap()));
        assert!(!c.is_blacklisted("192.0.2.2".parse().unwrap()));
    }

    #[test]
    fn errors_name_the_key() {
        for (doc, key) in [
            ("nope = 1", "nope"),
            ("failure_limit = -1", "failure_limit"),
            ("failure_limit = \"three\"", "failure_limit"),
            ("cooloff_time = \"soon\"", "cooloff_time"),
            ("lockout_parameters = [\"password\"]", "lockout_parameters"),
            ("lockout_parameters = [[]]", "lockout_parameters"),
            ("lockout_parameters = []", "lockout_parameters"),
            ("ip_blacklist = [\"localhost\"]", "ip_blacklist"),
            ("http_response_code = 200", "http_response_code"),
            ("username_form_field = \"\"", "username_form_field"),
            ("cooloff_time = \"0s\"", "cooloff_time"),
            ("ipware_proxy_order = \"middle\"", "ipware_proxy_order"),
            ("ipware_meta_precedence_order = [\"bad header\"]", "ipware_meta_precedence_order"),
            ("ipware_proxy_trusted_ips = [\"proxy.local\"]", "ipware_proxy_trusted_ips"),
            ("ipware_proxy_count = 1", "ipware_proxy_count"),
            ("only_whitelist = true", "only_whitelist"),
            ("ipv6_prefix_length = 129", "ipv6_prefix_length"),
            ("username_normalization = \"lower\"", "username_normalization"),
            ("lockout_tiers = [{ failures = 0, cooloff = \"1s\" }]", "lockout_tiers"),
            ("lockout_tiers = [{ failures = 3 }]", "lockout_tiers"),
            ("lockout_tiers = [{ failures = 3, cooloff = \"1s\", extra = 1 }]", "lockout_tiers.extra"),
            ("lockout_tiers = [{ failures = 3, cooloff = \"1s\" }, { failures = 3, cooloff = \"2s\" }]", "lockout_tiers"),
        ] {
            let err = AxesConfig::from_toml_str(doc).unwrap_err();
            assert_eq!(err.key, key, "{doc}: {err}");
            assert!(err.to_string().contains(key), "{err}");
        }
    }

    #[test]
    fn tiers_set_the_limit_and_the_cooloff_by_count() {
        let c = AxesConfig::from_toml_str(
            r#"
            failure_limit = 50
            cooloff_time = "1s"
            lockout_tiers = [
                { failures = 10, cooloff = "1d" },
                { failures = 3, cooloff = "15m" },
                { failures = 6, cooloff = "2h" },
            ]
            "#,
        )
        .unwrap();
        assert_eq!(c.effective_failure_limit(), 3);
        let minutes = |n| c.cooloff_for(n).unwrap().as_secs() / 60;
        assert_eq!(
            [0, 2, 3, 5, 6, 7, 10, 100].map(minutes),
            [15, 15, 15, 15, 120, 120, 1440, 1440]
        );
        assert!(c.has_cooloff());
        assert_eq!(AxesConfig::default().cooloff_for(5), None);
    }

    #[test]
    fn whitelist_is_not_substring_matching() {
        let c = AxesConfig::from_toml_str("ip_whitelist = [\"10.0.0.10\"]\nonly_whitelist = true")
            .unwrap();
        assert!(c.is_blacklisted("10.0.0.1".parse().unwrap()));
        assert!(!c.is_blacklisted("10.0.0.10".parse().unwrap()));
    }

    #[test]
    fn ipv4_mapped_addresses_match_ipv4_entries() {
        let c = AxesConfig::builder()
            .ip_blacklist(["127.0.0.66"])
            .unwrap()
            .build()
            .unwrap();
        assert!(c.is_blacklisted("::ffff:127.0.0.66".parse().unwrap()));
    }

    #[test]
    fn groups_round_trip_through_serde() {
        let c = AxesConfig::from_toml_str(
            "lockout_parameters = [[\"username\", \"ip_address\"], \"user_agent\"]",
        )
        .unwrap();
        let text = toml::to_string(&c).unwrap();
        assert_eq!(AxesConfig::from_toml_str(&text).unwrap(), c);
    }
}
