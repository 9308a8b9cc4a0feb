//! What an attempt is told and tells: the [`Decision`] of a check, the
//! [`Report`] of its outcome, and the [`Verdict`] on it (with the
//! [`FailureOutcome`] of a failure recorded).

use crate::identity::Credentials;
use crate::policy::Lockout;

/// What a check decided.
///
/// ```
/// assert_eq!(axes::Decision::Allowed { failures: 2 }.failures(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// The client may try; `failures` is its current largest count.
    Allowed {
        /// The largest failure count among its lockout groups.
        failures: u64,
    },
    /// The client is exempt (whitelisted, or a `GET` with
    /// `never_lockout_get`), or axes is disabled.
    Exempt,
    /// The client may try once it passes a challenge (`challenge_after`):
    /// the handler shows its CAPTCHA or second factor and reports how it
    /// went ([`AxesReport::challenge_passed`](crate::AxesReport::challenge_passed)).
    ChallengeRequired {
        /// The largest failure count among its lockout groups, less what
        /// passed challenges bought.
        failures: u64,
    },
    /// The client is refused.
    LockedOut(Lockout),
}

impl Decision {
    /// Whether the check asks for a challenge.
    ///
    /// ```
    /// assert!(axes::Decision::ChallengeRequired { failures: 3 }.challenge_required());
    /// assert!(!axes::Decision::Exempt.challenge_required());
    /// ```
    pub fn challenge_required(&self) -> bool {
        matches!(self, Self::ChallengeRequired { .. })
    }

    /// The largest failure count the check found (0 for an exempt client).
    ///
    /// ```
    /// assert_eq!(axes::Decision::Exempt.failures(), 0);
    /// ```
    pub fn failures(&self) -> u64 {
        match self {
            Self::Allowed { failures } | Self::ChallengeRequired { failures } => *failures,
            Self::Exempt => 0,
            Self::LockedOut(lockout) => lockout.failures,
        }
    }

    /// The lockout, if the client is refused.
    ///
    /// ```
    /// assert!(axes::Decision::Exempt.lockout().is_none());
    /// ```
    pub fn lockout(&self) -> Option<&Lockout> {
        match self {
            Self::LockedOut(lockout) => Some(lockout),
            _ => None,
        }
    }
}

impl Decision {
    /// The decision with its lockout, if any, passed through `show`.
    pub(crate) fn map_lockout(self, show: impl FnOnce(Lockout) -> Lockout) -> Self {
        match self {
            Self::LockedOut(lockout) => Self::LockedOut(show(lockout)),
            other => other,
        }
    }
}

/// What recording a failure did.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), axes::AxesError> {
/// use axes::{Axes, AxesConfig, ClientInfo, MemoryStore, Report};
/// let axes = Axes::new(AxesConfig::default(), MemoryStore::new());
/// let client = ClientInfo::new("192.0.2.1".parse().unwrap());
/// let verdict = axes.attempt(client).report(Report::failed(axes::Credentials::default())).await?;
/// let failure = verdict.failure().unwrap();
/// assert!(failure.recorded);
/// assert_eq!((failure.failures, failure.attempts_left), (1, Some(2)));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FailureOutcome {
    /// Whether the failure was stored (not when axes is disabled, the client
    /// is exempt, no lockout group applies, or a lockout already in force
    /// with `reset_cool_off_on_failure_during_lockout = false`).
    pub recorded: bool,
    /// The client's largest failure count afterwards.
    pub failures: u64,
    /// The lockout the client is now under, if any.
    pub lockout: Option<Lockout>,
    /// How many more failures the client may make before its lockout
    /// (`None` when none comes: exempt, or `lock_out_at_failure = false`).
    pub attempts_left: Option<u64>,
    /// Whether its next attempt must pass a challenge first (`challenge_after`).
    pub challenge_required: bool,
}

/// How an attempt went, as the handler saw it: django-axes'
/// `user_login_failed`, `user_logged_in` and `user_logged_out` signals.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The login failed, with the credentials the handler read.
    Failed(Credentials),
    /// The username logged in.
    Succeeded(String),
    /// The username (if known) logged out.
    LoggedOut(Option<String>),
    /// The username's password was right, and its second factor is asked
    /// for next: nothing is reset yet.
    SecondFactorPending(String),
    /// The username's second factor failed.
    SecondFactorFailed(String),
    /// The username's second factor passed: the login succeeded.
    SecondFactorPassed(String),
}

/// What the handler reports of an attempt: its outcome, if it has one, how
/// the challenge it showed went, and the session it opened or closed.
///
/// ```
/// use axes::Report;
/// let report = Report::succeeded("alice").challenge(true).session_id("s3ss10n");
/// # drop(report);
/// let challenge_only = Report::none().challenge(false);
/// # drop(challenge_only);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct Report {
    pub(crate) outcome: Option<Outcome>,
    pub(crate) challenge: Option<bool>,
    pub(crate) session_id: Option<String>,
}

impl Report {
    /// No outcome (yet): a handler that only showed a challenge, or none.
    pub fn none() -> Self {
        Self::default()
    }

    /// The login failed (`user_login_failed`); `credentials` names the
    /// username if the handler read one.
    pub fn failed(credentials: impl Into<Credentials>) -> Self {
        Self::of(Outcome::Failed(credentials.into()))
    }

    /// `username` logged in (`user_logged_in`).
    pub fn succeeded(username: impl Into<String>) -> Self {
        Self::of(Outcome::Succeeded(username.into()))
    }

    /// `username` logged out (`user_logged_out`).
    pub fn logged_out(username: Option<String>) -> Self {
        Self::of(Outcome::LoggedOut(username.filter(|u| !u.is_empty())))
    }

    /// `username`'s password was right and its second factor comes next.
    /// Nothing is reset until the second factor passes (NIST SP 800-63B
    /// counts a login as successful only when every factor passed); the
    /// username's lockout is checked as for any outcome.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), axes::AxesError> {
    /// use axes::{Answer, Axes, AxesConfig, ClientInfo, MemoryStore, Report};
    /// let axes = Axes::new(AxesConfig::default(), MemoryStore::new());
    /// let client = ClientInfo::new("192.0.2.1".parse().unwrap());
    /// axes.attempt(client.clone()).report(Report::failed("alice")).await?;
    /// let verdict = axes.attempt(client.clone()).report(Report::second_factor_pending("alice")).await?;
    /// assert_eq!(*verdict.answer(), Answer::Proceed);
    /// assert_eq!(axes.attempt(client).check().await?.failures(), 1, "nothing reset yet");
    /// # Ok(()) }
    /// ```
    pub fn second_factor_pending(username: impl Into<String>) -> Self {
        Self::of(Outcome::SecondFactorPending(username.into()))
    }

    /// `username`'s second factor failed: counted against its own budget,
    /// `second_factor_failure_limit`, by the username alone. At the limit
    /// the username is locked out of its second factor (until a reset by
    /// default), and every later second factor of it is refused alike,
    /// whatever code was sent.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), axes::AxesError> {
    /// use axes::{Axes, AxesConfig, ClientInfo, LockoutReason, MemoryStore, Report};
    /// let config = AxesConfig::from_toml_str("second_factor_failure_limit = 2").unwrap();
    /// let axes = Axes::new(config, MemoryStore::new());
    /// let client = ClientInfo::new("192.0.2.1".parse().unwrap());
    /// axes.attempt(client.clone()).report(Report::second_factor_failed("alice")).await?;
    /// let verdict = axes.attempt(client.clone()).report(Report::second_factor_failed("alice")).await?;
    /// assert_eq!(verdict.lockout().unwrap().reason, LockoutReason::SecondFactor);
    /// let right_code = axes.attempt(client).report(Report::second_factor_passed("alice")).await?;
    /// assert!(right_code.lockout().is_some(), "refused whatever the code");
    /// # Ok(()) }
    /// ```
    pub fn second_factor_failed(username: impl Into<String>) -> Self {
        Self::of(Outcome::SecondFactorFailed(username.into()))
    }

    /// `username`'s second factor passed: the login succeeded (recorded as
    /// [`succeeded`](Self::succeeded) records it), and the second factor's
    /// count is forgotten — unless the username is locked out of its
    /// second factor, which refuses it.
    pub fn second_factor_passed(username: impl Into<String>) -> Self {
        Self::of(Outcome::SecondFactorPassed(username.into()))
    }

    /// A report of `outcome`.
    pub fn of(outcome: Outcome) -> Self {
        Self {
            outcome: Some(outcome),
            ..Self::default()
        }
    }

    /// The challenge the check asked for was passed (`true`) or failed.
    pub fn challenge(mut self, passed: bool) -> Self {
        self.challenge = Some(passed);
        self
    }

    /// The session the handler opened (with a success) or closed (with a
    /// logout): the access log keeps its SHA-256 hash.
    pub fn session_id(mut self, session_id: impl Into<String>) -> Self {
        self.session_id = Some(session_id.into());
        self
    }

    /// The outcome reported, if any.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }
}

/// What answers an attempt once its report is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Answer {
    /// The handler's own answer stands.
    Proceed,
    /// The lockout answers instead: the failure reached the limit, or the
    /// username the handler reported is locked out (then nothing of the
    /// outcome was recorded).
    Refused(Lockout),
    /// The challenge answers instead: the attempt skipped the challenge
    /// its check asked for (a failure, recorded).
    Challenge,
}

/// The engine's verdict on a reported attempt: what answers it, and what
/// recording a failure did.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), axes::AxesError> {
/// use axes::{Answer, Axes, AxesConfig, ClientInfo, MemoryStore, Report};
/// let axes = Axes::new(AxesConfig::from_toml_str("failure_limit = 1").unwrap(), MemoryStore::new());
/// let client = ClientInfo::new("192.0.2.1".parse().unwrap());
/// let verdict = axes.attempt(client).report(Report::failed("alice")).await?;
/// assert!(matches!(verdict.answer(), Answer::Refused(_)), "the failure reached the limit");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub(crate) answer: Answer,
    pub(crate) failure: Option<FailureOutcome>,
    /// After a success with `device_cookie`: the renewed cookie's value.
    pub(crate) device_token: Option<String>,
}

impl Verdict {
    /// The handler's answer stands, and nothing was recorded.
    pub(crate) fn proceed() -> Self {
        Self::of(Answer::Proceed)
    }

    /// A verdict of `answer` that recorded nothing.
    pub(crate) fn of(answer: Answer) -> Self {
        Self {
            answer,
            failure: None,
            device_token: None,
        }
    }

    /// The verdict with its lockouts passed through `show`.
    pub(crate) fn map_lockouts(mut self, show: impl Fn(Lockout) -> Lockout) -> Self {
        if let Answer::Refused(lockout) = self.answer {
            self.answer = Answer::Refused(show(lockout));
        }
        if let Some(failure) = &mut self.failure {
            failure.lockout = failure.lockout.take().map(&show);
        }
        self
    }

    /// What answers the attempt.
    pub fn answer(&self) -> &Answer {
        &self.answer
    }

    /// The lockout that answers it, if one does.
    pub fn lockout(&self) -> Option<&Lockout> {
        match &self.answer {
            Answer::Refused(lockout) => Some(lockout),
            _ => None,
        }
    }

    /// What recording the failure did, when one was recorded (or refused
    /// as made during a lockout).
    pub fn failure(&self) -> Option<&FailureOutcome> {
        self.failure.as_ref()
    }

    /// After a success with `device_cookie` and `trusted_client_window`:
    /// the value of the trusted-device cookie to set (the layer sets it,
    /// `HttpOnly`, `Secure`, `SameSite=Lax`, lasting the window).
    pub fn device_token(&self) -> Option<&str> {
        self.device_token.as_deref()
    }
}
