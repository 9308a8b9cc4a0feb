//! What failures are counted under: [`LockoutParameter`]s, their
//! [`LockoutGroup`]s, and the [`LockoutKey`] of one group for one client.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
    type Err = UnknownParameter;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ip_address" => Ok(Self::IpAddress),
            "username" => Ok(Self::Username),
            "user_agent" => Ok(Self::UserAgent),
            other => Err(UnknownParameter(other.to_owned())),
        }
    }
}

/// A name that is not a lockout parameter.
///
/// ```
/// let err = "password".parse::<axes::LockoutParameter>().unwrap_err();
/// assert!(err.to_string().contains("`password`"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a lockout parameter (expected ip_address, username or user_agent)")]
pub struct UnknownParameter(pub String);

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
            .map_err(serde::de::Error::custom)?;
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

/// The engine's own counters beside a client's failure counts, each under
/// a key of the same parts.
///
/// ```
/// assert_eq!(axes::identity::Scope::LockoutHistory.as_str(), "lockouts");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scope {
    /// Failures closer together than `min_interval_between_failures`.
    QuickSuccession,
    /// An IP's failures for many usernames (`spray_limit`).
    PasswordSpray,
    /// A key's past lockouts (`cooloff_backoff`, `max_temporary_lockouts`).
    LockoutHistory,
    /// The challenges a key's clients passed (`challenge_after`): each one
    /// buys `challenge_attempts` further attempts.
    ChallengePass,
    /// The latest unlock token issued for a username.
    UnlockToken,
    /// An unlock token redeemed, so that it is redeemed once.
    RedeemedToken,
    /// A username's failed second factors in a row
    /// (`second_factor_failure_limit`).
    SecondFactor,
    /// The site-wide breaker's failures of one minute or one hour.
    Breaker,
}

impl Scope {
    /// The name keys of this scope are encoded with.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::QuickSuccession => "quick",
            Self::PasswordSpray => "spray",
            Self::LockoutHistory => "lockouts",
            Self::ChallengePass => "challenge",
            Self::UnlockToken => "unlock",
            Self::RedeemedToken => "redeemed",
            Self::SecondFactor => "second-factor",
            Self::Breaker => "breaker",
        }
    }
}

/// The name of one counter: the values of one lockout group for one client.
///
/// Keys are built from typed parts and encoded unambiguously (each part
/// named and escaped), so `("ab", "c")` and `("a", "bc")` never collide.
///
/// ```
/// use axes::{ClientInfo, LockoutGroup, LockoutParameter::*};
/// let key = ClientInfo::new("192.0.2.1".parse().unwrap())
///     .with_username("a&b=c")
///     .lockout_key(&LockoutGroup::combination([Username, IpAddress]))
///     .unwrap();
/// assert_eq!(key.encode(), "ip_address=192.0.2.1&username=a%26b%3Dc");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LockoutKey {
    scope: Option<Scope>,
    ip_address: Option<IpAddr>,
    username: Option<Arc<str>>,
    user_agent: Option<Arc<str>>,
}

impl LockoutKey {
    /// The key of `group` for the given parts, or `None` when the group
    /// needs a part that is missing.
    pub fn for_group(
        group: &LockoutGroup,
        ip_address: Option<IpAddr>,
        username: Option<&str>,
        user_agent: Option<&str>,
    ) -> Option<Self> {
        let mut key = Self {
            scope: None,
            ip_address: None,
            username: None,
            user_agent: None,
        };
        for parameter in group.parameters() {
            match parameter {
                LockoutParameter::IpAddress => key.ip_address = Some(ip_address?.to_canonical()),
                LockoutParameter::Username => {
                    key.username = Some(username.filter(|u| !u.is_empty())?.into())
                }
                LockoutParameter::UserAgent => key.user_agent = Some(user_agent?.into()),
            }
        }
        Some(key)
    }

    /// The key of an attempt record: its (username, IP, user agent), as
    /// django-axes keys an `AccessAttempt` row.
    pub(crate) fn attempt(ip_address: IpAddr, username: Option<&str>, user_agent: &str) -> Self {
        Self {
            scope: None,
            ip_address: Some(ip_address),
            username: username.map(Arc::from),
            user_agent: Some(user_agent.into()),
        }
    }

    /// The same parts under another counter: the engine's own bookkeeping
    /// (a detector's, a lockout history's) rather than the failure count.
    pub fn scoped(&self, scope: Scope) -> Self {
        Self {
            scope: Some(scope),
            ..self.clone()
        }
    }

    /// The key of `ip` alone, under `scope`.
    pub fn ip_scoped(ip: IpAddr, scope: Scope) -> Self {
        Self {
            scope: Some(scope),
            ip_address: Some(ip.to_canonical()),
            username: None,
            user_agent: None,
        }
    }

    /// The key of the latest unlock token issued for `username`.
    pub(crate) fn unlock_token(username: &str) -> Self {
        Self {
            scope: Some(Scope::UnlockToken),
            ip_address: None,
            username: Some(username.into()),
            user_agent: None,
        }
    }

    /// The key of the site-wide breaker's `bucket` (a minute's or an
    /// hour's). The bucket is kept in the user-agent part, so no reset by
    /// username or IP names it.
    pub(crate) fn breaker(bucket: &str) -> Self {
        Self {
            scope: Some(Scope::Breaker),
            ip_address: None,
            username: None,
            user_agent: Some(bucket.into()),
        }
    }

    /// The key of `username`'s failed second factors.
    pub(crate) fn second_factor(username: &str) -> Self {
        Self {
            scope: Some(Scope::SecondFactor),
            ip_address: None,
            username: Some(username.into()),
            user_agent: None,
        }
    }

    /// The key marking the unlock token `id` (hex) redeemed. The id is kept
    /// in the user-agent part, so no reset by username or IP names it.
    pub(crate) fn redeemed_token(id: &str) -> Self {
        Self {
            scope: Some(Scope::RedeemedToken),
            ip_address: None,
            username: None,
            user_agent: Some(id.into()),
        }
    }

    /// The bookkeeping the key belongs to, if it is not a failure count.
    pub fn scope(&self) -> Option<Scope> {
        self.scope
    }

    /// The IP part, if the key has one.
    pub fn ip_address(&self) -> Option<IpAddr> {
        self.ip_address
    }

    /// The username part, if the key has one.
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// The user-agent part, if the key has one.
    pub fn user_agent(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }

    /// The key as one string, for stores: `name=value` pairs, URL-encoded,
    /// in a fixed order.
    pub fn encode(&self) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        if let Some(scope) = self.scope {
            out.append_pair("scope", scope.as_str());
        }
        if let Some(ip) = self.ip_address {
            out.append_pair("ip_address", &ip.to_string());
        }
        if let Some(username) = &self.username {
            out.append_pair("username", username);
        }
        if let Some(user_agent) = &self.user_agent {
            out.append_pair("user_agent", user_agent);
        }
        out.finish()
    }

    /// A short, stable name of the key for notifications between app
    /// servers: the first 8 bytes of the SHA-256 of
    /// [`encode`](Self::encode), the same in every process and build. Two
    /// keys may share a tag; a notification then wakes a waiter for
    /// nothing, which costs one store call.
    ///
    /// ```
    /// use axes::{ClientInfo, LockoutGroup, LockoutParameter};
    /// let key = ClientInfo::new("192.0.2.1".parse().unwrap())
    ///     .lockout_key(&LockoutGroup::single(LockoutParameter::IpAddress))
    ///     .unwrap();
    /// assert_eq!(key.wake_tag(), key.clone().wake_tag());
    /// assert_eq!(format!("{:016x}", key.wake_tag()).len(), 16);
    /// ```
    pub fn wake_tag(&self) -> u64 {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(self.encode().as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first)
    }
}

impl fmt::Display for LockoutKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}
