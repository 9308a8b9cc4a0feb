//! Who is locked out now: the attempt records whose client the check would
//! refuse, with why and until when — what the admin's "Lockouts" view, its
//! JSON and `axes lockouts` show.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, SystemTime};

use super::decision::Decision;
use super::error::AxesError;
use super::state::Engine;
use crate::identity::ClientInfo;
use crate::policy::Lockout;
use crate::store::{AccessAttempt, AttemptFilter};

/// An attempt record whose client is locked out now, and its lockout.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use axes::{AttemptFilter, Axes, AxesConfig, ClientInfo, MemoryStore, Report};
/// let axes = Axes::new(AxesConfig::from_toml_str("failure_limit = 1")?, MemoryStore::new());
/// axes.attempt(ClientInfo::new("192.0.2.1".parse()?)).report(Report::failed("alice")).await?;
/// let now = axes.lockouts(AttemptFilter::All).await?;
/// assert_eq!(now.len(), 1);
/// assert_eq!(now[0].attempt.username.as_deref(), Some("alice"));
/// assert_eq!(now[0].lockout.failures, 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CurrentLockout {
    /// The attempt record: the client's IP, username, user agent, its
    /// failures and the time of its last one.
    pub attempt: AccessAttempt,
    /// What a login by that client would be refused with now.
    pub lockout: Lockout,
}

impl CurrentLockout {
    /// When the record's last failure happened: when the lockout began, or
    /// was last extended.
    pub fn since(&self) -> SystemTime {
        self.attempt.attempt_time
    }

    /// When the lockout ends on its own; `None` until a reset.
    pub fn until(&self) -> Option<SystemTime> {
        self.lockout.locked_until
    }

    /// How long the lockout still lasts at `now`; `None` until a reset.
    pub fn time_left(&self, now: SystemTime) -> Option<Duration> {
        self.until()
            .map(|until| until.duration_since(now).unwrap_or_default())
    }

    /// The lockout as the admin's JSON and `axes lockouts --json` give it:
    /// `ip_address`, `username`, `user_agent`, `reason`
    /// ([`LockoutReason::as_str`](crate::LockoutReason::as_str)),
    /// `failures`, `failure_limit`, `since` and `until` (RFC 3339, `until`
    /// `null` until a reset) and `seconds_left` at `now`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use axes::{AttemptFilter, Axes, AxesConfig, ClientInfo, MemoryStore, Report};
    /// let axes = Axes::new(AxesConfig::from_toml_str("failure_limit = 1")?, MemoryStore::new());
    /// axes.attempt(ClientInfo::new("192.0.2.1".parse()?)).report(Report::failed("alice")).await?;
    /// let json = axes.lockouts(AttemptFilter::All).await?[0].to_json(axes.now());
    /// assert_eq!(json["ip_address"], "192.0.2.1");
    /// assert_eq!(json["reason"], "too_many_failures");
    /// assert_eq!(json["until"], serde_json::Value::Null, "no cool-off: until a reset");
    /// # Ok(()) }
    /// ```
    pub fn to_json(&self, now: SystemTime) -> serde_json::Value {
        let time = |at: SystemTime| humantime::format_rfc3339_seconds(at).to_string();
        serde_json::json!({
            "ip_address": self.attempt.ip_address.map(|ip| ip.to_string()),
            "username": self.attempt.username,
            "user_agent": self.attempt.user_agent,
            "reason": self.lockout.reason.as_str(),
            "failures": self.lockout.failures,
            "failure_limit": self.lockout.failure_limit,
            "since": time(self.since()),
            "until": self.until().map(time),
            "seconds_left": self.time_left(now).map(|left| left.as_secs()),
        })
    }
}

impl Engine {
    /// The attempt records `filter` covers whose client is locked out now,
    /// most recent first: each record's client checked as a login by it
    /// would be (its IP, username and user agent), one read per record.
    /// Then the usernames locked out of their second factor: the one the
    /// filter names, those of the records, and those this process saw
    /// locked lately.
    pub(crate) async fn lockouts(
        &self,
        filter: AttemptFilter,
    ) -> Result<Vec<CurrentLockout>, AxesError> {
        let mut locked = Vec::new();
        let mut usernames: Vec<String> = Vec::new();
        let mut note = |username: Option<&str>| {
            if let Some(username) = username.filter(|u| !usernames.iter().any(|n| n == u)) {
                usernames.push(username.to_owned());
            }
        };
        let counted = self.checked_filter(filter)?;
        note(counted.username());
        for attempt in self.timed_store().attempts(&counted).await? {
            note(attempt.username.as_deref());
            if let Decision::LockedOut(lockout) = self.check(&client_of(&attempt)).await? {
                locked.push(CurrentLockout { attempt, lockout });
            }
        }
        if counted == AttemptFilter::All {
            for recent in self.activity.lockouts() {
                if recent.reason == crate::LockoutReason::SecondFactor {
                    note(recent.username.as_deref());
                }
            }
        }
        locked.extend(self.second_factor_lockouts(usernames).await?);
        Ok(locked)
    }
}

/// The client an attempt record was made by, as a check sees it.
fn client_of(attempt: &AccessAttempt) -> ClientInfo {
    let ip = attempt
        .ip_address
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let client = ClientInfo::new(ip)
        .with_user_agent(&attempt.user_agent)
        .with_path(&attempt.path_info);
    match &attempt.username {
        Some(username) => client.with_username(username.clone()),
        None => client,
    }
}
