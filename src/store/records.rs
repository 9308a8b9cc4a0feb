//! What stores keep besides counters: attempt records, access logs,
//! failure logs, and the filter that selects them.

use std::net::IpAddr;
use std::time::SystemTime;

use crate::identity::ClientInfo;

/// A stored attempt record: the failures of one (username, IP, user agent)
/// triple, as django-axes' `AccessAttempt` row.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccessAttempt {
    /// The username tried, if known.
    pub username: Option<String>,
    /// The client IP.
    pub ip_address: Option<IpAddr>,
    /// The user agent (or `"<unknown>"`).
    pub user_agent: String,
    /// The path of the latest failure.
    pub path_info: String,
    /// The `Accept` header of the latest failure.
    pub http_accept: String,
    /// The query data of the latest failure, cleansed of secrets.
    pub get_data: String,
    /// The body data of the latest failure, cleansed of secrets.
    pub post_data: String,
    /// Failures in the record's current window.
    pub failures: u64,
    /// When the latest failure happened.
    pub attempt_time: SystemTime,
}

impl AccessAttempt {
    /// The record as the admin's JSON and `axes list-attempts --json` give
    /// it: `ip_address`, `username`, `user_agent`, `path_info`, `failures`
    /// and `attempt_time` (RFC 3339).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use axes::{AttemptFilter, Axes, AxesConfig, ClientInfo, MemoryStore, Report};
    /// let axes = Axes::new(AxesConfig::default(), MemoryStore::new());
    /// axes.attempt(ClientInfo::new("192.0.2.1".parse()?)).report(Report::failed("alice")).await?;
    /// let json = axes.attempts(AttemptFilter::All).await?[0].to_json();
    /// assert_eq!(json["username"], "alice");
    /// assert_eq!(json["failures"], 1);
    /// # Ok(()) }
    /// ```
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "ip_address": self.ip_address.map(|ip| ip.to_string()),
            "username": self.username,
            "user_agent": self.user_agent,
            "path_info": self.path_info,
            "failures": self.failures,
            "attempt_time": humantime::format_rfc3339_seconds(self.attempt_time).to_string(),
        })
    }
}

/// Which attempt records a reset or listing covers, as the arguments of
/// django-axes' `reset(ip=…, username=…, ip_or_username=…)`.
///
/// ```
/// use axes::{AttemptFilter, store::FilterError};
/// let both = AttemptFilter::IpAndUsername("192.0.2.1".parse().unwrap(), "alice".into());
/// assert!(both.validate().is_ok());
/// assert_eq!(AttemptFilter::Username(" ".into()).validate(), Err(FilterError::EmptyUsername));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptFilter {
    /// Every record.
    All,
    /// Records from one IP.
    Ip(IpAddr),
    /// Records of one username.
    Username(String),
    /// Records of one username from one IP (AND).
    IpAndUsername(IpAddr, String),
    /// Records from the IP or of the username (OR).
    IpOrUsername(IpAddr, String),
}

impl AttemptFilter {
    /// The filter of a search by IP and/or username: both, either, or
    /// neither ([`All`](Self::All)).
    ///
    /// ```
    /// use axes::AttemptFilter;
    /// let ip = "192.0.2.1".parse().unwrap();
    /// assert_eq!(AttemptFilter::of(Some(ip), None), AttemptFilter::Ip(ip));
    /// assert_eq!(AttemptFilter::of(None, None), AttemptFilter::All);
    /// ```
    pub fn of(ip: Option<IpAddr>, username: Option<String>) -> Self {
        match (ip, username) {
            (None, None) => Self::All,
            (Some(ip), None) => Self::Ip(ip),
            (None, Some(username)) => Self::Username(username),
            (Some(ip), Some(username)) => Self::IpAndUsername(ip, username),
        }
    }

    /// Rejects an empty username, or one of only white space: resetting
    /// `""` must never mean "everything" (as `reset(username="")` does in
    /// django-axes), nor a username of spaces "any username".
    pub fn validate(&self) -> Result<(), FilterError> {
        match self.username() {
            Some(u) if u.trim().is_empty() => Err(FilterError::EmptyUsername),
            _ => Ok(()),
        }
    }

    /// The IP address the filter names, if any.
    ///
    /// ```
    /// let ip = "192.0.2.1".parse().unwrap();
    /// assert_eq!(axes::AttemptFilter::IpOrUsername(ip, "alice".into()).ip(), Some(ip));
    /// assert_eq!(axes::AttemptFilter::All.ip(), None);
    /// ```
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Self::Ip(ip) | Self::IpAndUsername(ip, _) | Self::IpOrUsername(ip, _) => Some(*ip),
            Self::All | Self::Username(_) => None,
        }
    }

    /// The username the filter names, if any.
    pub fn username(&self) -> Option<&str> {
        match self {
            Self::Username(u) | Self::IpAndUsername(_, u) | Self::IpOrUsername(_, u) => Some(u),
            Self::All | Self::Ip(_) => None,
        }
    }

    /// Whether `attempt` is covered by the filter.
    pub fn matches(&self, attempt: &AccessAttempt) -> bool {
        self.matches_parts(attempt.ip_address, attempt.username.as_deref())
    }

    /// Whether a record with this IP and username is covered by the filter.
    pub fn matches_parts(&self, ip_address: Option<IpAddr>, username: Option<&str>) -> bool {
        let ip_is = |ip: &IpAddr| ip_address == Some(ip.to_canonical());
        let user_is = |u: &String| username == Some(u.as_str());
        match self {
            Self::All => true,
            Self::Ip(ip) => ip_is(ip),
            Self::Username(u) => user_is(u),
            Self::IpAndUsername(ip, u) => ip_is(ip) && user_is(u),
            Self::IpOrUsername(ip, u) => ip_is(ip) || user_is(u),
        }
    }
}

/// Why a filter was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FilterError {
    /// The username is empty or only white space: it would name no one, and
    /// must never mean everyone.
    #[error("the username of a filter must not be empty or only white space")]
    EmptyUsername,
    /// The username has white space around it, and usernames are counted
    /// without it (`username_normalization`): it names no counted user.
    #[error("the username {0:?} has white space around it, and usernames are counted without it")]
    PaddedUsername(String),
    /// The filter names no one (`All`), where someone must be named (an
    /// erasure).
    #[error("name an IP address or a username: an erasure never covers everyone")]
    NamesNoOne,
}

/// A successful login, and when it logged out (django-axes' `AccessLog`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccessLog {
    /// Who logged in.
    pub username: String,
    /// The client IP.
    pub ip_address: Option<IpAddr>,
    /// The user agent.
    pub user_agent: String,
    /// The login path.
    pub path_info: String,
    /// The `Accept` header.
    pub http_accept: String,
    /// SHA-256 (hex) of the session id the application reported, or `""`.
    pub session_hash: String,
    /// When the login happened.
    pub attempt_time: SystemTime,
    /// When the session logged out, if it has.
    pub logout_time: Option<SystemTime>,
}

impl AccessLog {
    /// The entry for `username` logging in as `client` at `at` (the username
    /// bounded as [`ClientInfo::with_username`] bounds it).
    pub fn login(client: &ClientInfo, username: &str, session_hash: &str, at: SystemTime) -> Self {
        let username = ClientInfo::new(client.ip_address())
            .with_username(username)
            .username()
            .unwrap_or_default()
            .to_owned();
        Self {
            username,
            ip_address: Some(client.ip_address()),
            user_agent: client.user_agent().to_owned(),
            path_info: client.path().to_owned(),
            http_accept: client.http_accept().to_owned(),
            session_hash: session_hash.to_owned(),
            attempt_time: at,
            logout_time: None,
        }
    }
}

/// One recorded failure, kept after counters reset (django-axes'
/// `AccessFailureLog`, with `enable_access_failure_log`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccessFailureLog {
    /// The username tried, if known.
    pub username: Option<String>,
    /// The client IP.
    pub ip_address: Option<IpAddr>,
    /// The user agent.
    pub user_agent: String,
    /// The login path.
    pub path_info: String,
    /// The `Accept` header.
    pub http_accept: String,
    /// When the failure happened.
    pub attempt_time: SystemTime,
    /// Whether this failure left the client locked out.
    pub locked_out: bool,
}

impl AccessFailureLog {
    /// The entry for a failure of `client` at `at`.
    pub fn failure(client: &ClientInfo, at: SystemTime, locked_out: bool) -> Self {
        Self {
            username: client.username().map(str::to_owned),
            ip_address: Some(client.ip_address()),
            user_agent: client.user_agent().to_owned(),
            path_info: client.path().to_owned(),
            http_accept: client.http_accept().to_owned(),
            attempt_time: at,
            locked_out,
        }
    }
}
