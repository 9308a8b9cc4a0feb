//! The parts of a policy: lockout parameters and groups, address
//! matchers, tiers, and the small settings that are tables in TOML.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ConfigError;

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
