//! [`Attempt`]: one login attempt as a value — begun from what the request
//! says, prepared once, checked or admitted before the password is
//! verified, reported after, and finished on every path, drop included.
//!
//! Every decision on an attempt is made here, none by the layer: the
//! username the handler reports is checked before its outcome is recorded
//! (the lockout is authoritative), and an outcome reported for an attempt
//! that had to pass a challenge and did not is a failed challenge, whatever
//! the password was.

use std::sync::Arc;

use super::decision::{Answer, Decision, Outcome, Report, Verdict};
use super::error::AxesError;
use super::flight::{Flight, Headroom};
use super::prepare::Prepared;
use super::state::Engine;
use crate::config::{DuringLockout, OnStoreError};
use crate::identity::{ClientInfo, Credentials, LoginAttempt, RequestInfo};
use crate::policy::Lockout;

/// One login attempt: the client, the request it came in, what the engine
/// made of it (prepared once: every per-attempt callable runs once) and
/// the slots it holds in flight. Begun with
/// [`Axes::attempt`](crate::Axes::attempt); gives its slots back when
/// [finished](Self::finish) or dropped.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), axes::AxesError> {
/// use axes::{Answer, Axes, AxesConfig, ClientInfo, MemoryStore, Report};
/// let axes = Axes::new(AxesConfig::default(), MemoryStore::new());
/// let client = ClientInfo::new("192.0.2.1".parse().unwrap()).with_username("alice");
///
/// let mut attempt = axes.attempt(client);
/// if attempt.admit().await?.lockout().is_some() {
///     return Ok(()); // refused before the password is verified
/// }
/// let verdict = attempt.report(Report::failed("alice")).await?;
/// assert_eq!(*verdict.answer(), Answer::Proceed, "one failure of three");
/// assert_eq!(verdict.failure().unwrap().attempts_left, Some(2));
/// attempt.finish().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Attempt {
    engine: Arc<Engine>,
    input: Input,
    /// What the engine made of it, once: for its current username.
    prepared: Option<Prepared>,
    /// Its slots in flight and what its checks found.
    flight: Flight,
    /// The lockout its latest admission refused it with: it stays refused
    /// whatever it reports (a success is no login).
    refused: Option<Lockout>,
}

/// What the attempt was given: the client (its username as the request
/// gave it, or as the handler named it), the request, the session.
#[derive(Debug)]
struct Input {
    client: ClientInfo,
    request: Option<Arc<RequestInfo>>,
    session_id: Option<String>,
}

impl Input {
    /// The attempt as the callables see it.
    fn login(&self) -> LoginAttempt<'_> {
        let mut login = LoginAttempt::new(&self.client);
        if let Some(request) = &self.request {
            login = login.with_request(request);
        }
        if let Some(session) = &self.session_id {
            login = login.with_session_id(session);
        }
        login
    }
}

impl Attempt {
    pub(crate) fn new(engine: Arc<Engine>, client: ClientInfo) -> Self {
        Self {
            flight: Flight::new(engine.clone()),
            engine,
            input: Input {
                client,
                request: None,
                session_id: None,
            },
            prepared: None,
            refused: None,
        }
    }

    /// The request the attempt came in, as the callables see it (its
    /// headers, body fields and cookies).
    ///
    /// ```
    /// let axes = axes::Axes::new(axes::AxesConfig::default(), axes::MemoryStore::new());
    /// let request = axes::RequestInfo::new(
    ///     http::Method::POST, "/login".parse().unwrap(), http::HeaderMap::new(),
    ///     "192.0.2.1:4000".parse().unwrap(),
    /// );
    /// let attempt = axes.attempt(axes::ClientInfo::new("192.0.2.1".parse().unwrap()))
    ///     .with_request(request);
    /// assert_eq!(attempt.request().unwrap().uri().path(), "/login");
    /// ```
    pub fn with_request(self, request: RequestInfo) -> Self {
        self.with_shared_request(Arc::new(request))
    }

    pub(crate) fn with_shared_request(mut self, request: Arc<RequestInfo>) -> Self {
        self.input.request = Some(request);
        self.prepared = None;
        self
    }

    /// The client as it came (its username as the request gave it).
    pub fn client(&self) -> &ClientInfo {
        &self.input.client
    }

    /// The request, when the attempt has one.
    pub fn request(&self) -> Option<&RequestInfo> {
        self.input.request.as_deref()
    }

    /// Makes what the engine makes of the attempt, once, the first time it
    /// is needed (the username callable first, then the others).
    fn prepare(&mut self) {
        if self.prepared.is_none() {
            if let Some(callable) = &self.engine.hooks().username {
                let username = callable(&self.input.login());
                self.input.client.set_username(username);
            }
            self.prepared = Some(self.engine.prepare(&self.input.login()));
        }
    }

    /// The attempt of `credentials`' username: the same attempt when the
    /// handler names none, or the username the request gave (its callables
    /// are not run again); else the attempt of that username, prepared
    /// anew when it differs (its keys are checked in turn).
    fn name(&mut self, credentials: &Credentials) {
        if self.prepared.is_some() {
            let named = credentials.username();
            let field = &self.engine.config().username_form_field;
            let given = self
                .input
                .request
                .as_ref()
                .and_then(|request| request.field(field));
            if named.is_none() || named == given {
                return;
            }
        }
        let client = self
            .engine
            .with_username(&self.input.login().with_credentials(credentials));
        if self.prepared.is_none() || client.username() != self.input.client.username() {
            self.input.client = client;
            self.prepared = Some(self.engine.prepare(&self.input.login()));
        }
    }

    /// Checks the attempt, reading its counters (one store read, none for
    /// a client found locked out lately), without taking a slot.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), axes::AxesError> {
    /// let axes = axes::Axes::new(axes::AxesConfig::default(), axes::MemoryStore::new());
    /// let client = axes::ClientInfo::new("192.0.2.1".parse().unwrap());
    /// assert_eq!(axes.attempt(client).check().await?, axes::Decision::Allowed { failures: 0 });
    /// # Ok(()) }
    /// ```
    pub async fn check(&mut self) -> Result<Decision, AxesError> {
        self.prepare();
        let login = self.input.login();
        let prepared = self.prepared.as_ref().expect("prepared");
        let checked = self.engine.evaluate(&login, prepared).await;
        let decision = self.or_open(checked.map(|(decision, _)| decision), "checking", || {
            Decision::Allowed { failures: 0 }
        })?;
        Ok(decision.map_lockout(|lockout| self.shown(lockout)))
    }

    /// Admits the attempt before its password is verified: checks it, and
    /// (with `bound_in_flight`) takes a slot under each of its lockout keys,
    /// waiting its turn when as many attempts as failures are left are in
    /// flight. The slots are held until the attempt is reported and
    /// finished. A refused attempt is recorded as a failure when
    /// `reset_cool_off_on_failure_during_lockout = true`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), axes::AxesError> {
    /// use std::time::Duration;
    /// use axes::{Axes, AxesConfig, ClientInfo, LockoutReason, MemoryStore};
    /// let config = AxesConfig::builder()
    ///     .failure_limit(2)
    ///     .in_flight_wait(Duration::from_millis(50))
    ///     .build()
    ///     .unwrap();
    /// let axes = Axes::new(config, MemoryStore::new());
    /// let client = ClientInfo::new("192.0.2.1".parse().unwrap());
    /// let mut first = axes.attempt(client.clone());
    /// let mut second = axes.attempt(client.clone());
    /// assert!(first.admit().await?.lockout().is_none());
    /// assert!(second.admit().await?.lockout().is_none());
    /// // A third waits for one of them; none finishes in time here.
    /// let busy = axes.attempt(client.clone()).admit().await?;
    /// assert_eq!(busy.lockout().unwrap().reason, LockoutReason::TooManyInFlight);
    /// first.finish().await;
    /// assert!(axes.attempt(client).admit().await?.lockout().is_none(), "the first one's slot");
    /// # Ok(()) }
    /// ```
    pub async fn admit(&mut self) -> Result<Decision, AxesError> {
        self.prepare();
        let login = self.input.login();
        let prepared = self.prepared.as_ref().expect("prepared");
        let admitted = self.engine.admit(&mut self.flight, &login, prepared).await;
        if let Ok(decision) = &admitted {
            self.refused = decision.lockout().cloned();
            if let Some(lockout) = &self.refused {
                self.engine.note_refusal(&self.input.client, lockout);
            }
        }
        let decision = self.or_open(admitted, "admitting", || Decision::Allowed { failures: 0 })?;
        Ok(decision.map_lockout(|lockout| self.shown(lockout)))
    }

    /// Admits the attempt of `username`, the one the handler verifies
    /// (django-axes' `AxesBackend.authenticate`): when it is not the
    /// username the request gave, that username's keys are checked and
    /// admitted in turn, before its password is verified.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), axes::AxesError> {
    /// let config = axes::AxesConfig::from_toml_str(r#"lockout_parameters = ["username"]"#).unwrap();
    /// let axes = axes::Axes::new(config, axes::MemoryStore::new());
    /// let mut attempt = axes.attempt(axes::ClientInfo::new("192.0.2.1".parse().unwrap()));
    /// assert!(attempt.admit_username("alice").await?.lockout().is_none());
    /// assert_eq!(attempt.client().username(), Some("alice"));
    /// # Ok(()) }
    /// ```
    pub async fn admit_username(&mut self, username: &str) -> Result<Decision, AxesError> {
        self.name(&Credentials::from(username));
        self.admit().await
    }

    /// Where the attempt stands after its latest check: the attempts left,
    /// the limit, whether a challenge is asked for.
    pub(crate) fn headroom(&self) -> Option<Headroom> {
        self.flight.headroom()
    }

    /// How many more failures the client may make before its lockout, as
    /// its latest check found it — counting this attempt (`Some(1)`: a
    /// failure now locks it out); `None` before any check, and when no
    /// lockout comes (exempt, or `lock_out_at_failure = false`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), axes::AxesError> {
    /// let axes = axes::Axes::new(axes::AxesConfig::default(), axes::MemoryStore::new());
    /// let mut attempt = axes.attempt(axes::ClientInfo::new("192.0.2.1".parse().unwrap()));
    /// attempt.admit().await?;
    /// assert_eq!(attempt.attempts_left(), Some(3));
    /// # Ok(()) }
    /// ```
    pub fn attempts_left(&self) -> Option<u64> {
        self.headroom().and_then(|headroom| headroom.attempts_left)
    }

    /// Whether the latest check asks for a challenge (`challenge_after`)
    /// before the password is tried.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), axes::AxesError> {
    /// let axes = axes::Axes::new(axes::AxesConfig::default(), axes::MemoryStore::new());
    /// let mut attempt = axes.attempt(axes::ClientInfo::new("192.0.2.1".parse().unwrap()));
    /// attempt.admit().await?;
    /// assert!(!attempt.challenge_required());
    /// # Ok(()) }
    /// ```
    pub fn challenge_required(&self) -> bool {
        self.headroom().is_some_and(|headroom| headroom.challenge)
    }

    /// Records what the handler reported and says what answers the attempt.
    ///
    /// The lockout is authoritative: an outcome reported for a username
    /// whose keys were not checked (the request gave none, or another) is
    /// checked first, and a locked one is [refused](Answer::Refused)
    /// exactly as before dispatch, recording nothing of the outcome — the
    /// answer never depends on the password. So is the challenge: an
    /// outcome reported for an attempt whose check asked for a challenge,
    /// without a passed one, is a failure answered with
    /// [`Answer::Challenge`], whatever the password was. A failed
    /// challenge is a failure; a passed one is recorded before the outcome.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), axes::AxesError> {
    /// use axes::{Answer, Axes, AxesConfig, ClientInfo, MemoryStore, Report};
    /// let axes = Axes::new(AxesConfig::default(), MemoryStore::new());
    /// let client = ClientInfo::new("192.0.2.1".parse().unwrap());
    /// let verdict = axes.attempt(client).report(Report::succeeded("alice")).await?;
    /// assert_eq!(*verdict.answer(), Answer::Proceed);
    /// # Ok(()) }
    /// ```
    pub async fn report(&mut self, report: Report) -> Result<Verdict, AxesError> {
        let verdict = self.record(report).await;
        let verdict = self.or_open(verdict, "recording the outcome", Verdict::proceed)?;
        Ok(verdict.map_lockouts(|lockout| self.shown(lockout)))
    }

    /// A lockout as the client is told of it (see
    /// [`Engine::told_lockout`]).
    fn shown(&self, lockout: Lockout) -> Lockout {
        self.engine
            .told_lockout(lockout, self.input.client.username())
    }

    /// [`report`](Self::report), whatever the store does.
    async fn record(&mut self, report: Report) -> Result<Verdict, AxesError> {
        if report.session_id.is_some() {
            self.input.session_id = report.session_id;
        }
        let challenge = report.challenge;
        match report.outcome {
            Some(Outcome::Failed(credentials)) => self.failed(credentials, Some(challenge)).await,
            Some(Outcome::Succeeded(username)) => self.succeeded(username, challenge).await,
            Some(Outcome::SecondFactorPending(username)) => {
                self.second_factor(username, SecondFactor::Pending).await
            }
            Some(Outcome::SecondFactorFailed(username)) => {
                self.second_factor(username, SecondFactor::Failed).await
            }
            Some(Outcome::SecondFactorPassed(username)) => {
                self.second_factor(username, SecondFactor::Passed).await
            }
            Some(Outcome::LoggedOut(username)) => {
                self.prepare();
                self.engine
                    .logged_out(&self.input.login(), username.as_deref())
                    .await?;
                Ok(Verdict::proceed())
            }
            // The challenge alone failed: a failure, the handler's page kept.
            None if challenge == Some(false) => self.failed(Credentials::default(), None).await,
            None => {
                if challenge == Some(true) {
                    self.pass_if_challenged().await?;
                }
                Ok(Verdict::proceed())
            }
        }
    }

    /// Gives back the slots the attempt holds (dropping it does too, in the
    /// background).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), axes::AxesError> {
    /// let axes = axes::Axes::new(axes::AxesConfig::default(), axes::MemoryStore::new());
    /// let client = axes::ClientInfo::new("192.0.2.1".parse().unwrap());
    /// let key = client.lockout_key(&axes::LockoutGroup::single(axes::LockoutParameter::IpAddress)).unwrap();
    /// let mut attempt = axes.attempt(client);
    /// attempt.admit().await?;
    /// assert_eq!(axes.in_flight(&key).await?, 1);
    /// attempt.finish().await;
    /// assert_eq!(axes.in_flight(&key).await?, 0);
    /// # Ok(()) }
    /// ```
    pub async fn finish(mut self) {
        self.flight.release().await;
    }

    /// Checks the attempt of `credentials`' username unless each of its keys
    /// was checked already; the lockout that refuses it, if one does.
    async fn check_named(
        &mut self,
        credentials: &Credentials,
    ) -> Result<Option<Answer>, AxesError> {
        self.name(credentials);
        let prepared = self.prepared.as_ref().expect("named");
        if self.flight.checked(&prepared.keys) {
            return Ok(None);
        }
        let login = self.input.login();
        let prepared = self.prepared.as_ref().expect("named");
        let decision = self
            .engine
            .admit(&mut self.flight, &login, prepared)
            .await?;
        self.refused = decision.lockout().cloned();
        Ok(self.refused.clone().map(|lockout| {
            self.engine.note_refusal(&self.input.client, &lockout);
            Answer::Refused(lockout)
        }))
    }

    /// A failure of `credentials`' username, once its lockout is checked.
    /// With `outcome_challenge` (the handler reported an outcome, and how
    /// its challenge went): an attempt that had to pass a challenge and did
    /// not is answered with the challenge.
    async fn failed(
        &mut self,
        credentials: Credentials,
        outcome_challenge: Option<Option<bool>>,
    ) -> Result<Verdict, AxesError> {
        if let Some(refused) = self.check_named(&credentials).await? {
            return Ok(Verdict::of(refused));
        }
        let during = self
            .engine
            .config()
            .reset_cool_off_on_failure_during_lockout;
        if let (Some(lockout), DuringLockout::RecordAll) = (&self.refused, during) {
            // Its admission recorded its refusal as a failure already.
            return Ok(Verdict::of(Answer::Refused(lockout.clone())));
        }
        let refused = self.refused.is_some();
        let unpassed = match outcome_challenge {
            _ if refused => false,
            Some(Some(true)) => {
                self.pass_if_challenged().await?;
                false
            }
            Some(Some(false)) => true,
            Some(None) => self.challenge_required(),
            None => false,
        };
        #[cfg(feature = "metrics")]
        match outcome_challenge {
            Some(Some(false)) | None => crate::metrics::challenge("failed"),
            Some(None) if unpassed => crate::metrics::challenge("skipped"),
            _ => {}
        }
        let login = self.input.login().with_credentials(&credentials);
        let prepared = self.prepared.as_ref().expect("named");
        let outcome = self
            .engine
            .failed(&login, prepared, Some(&mut self.flight))
            .await?;
        let answer = match &outcome.lockout {
            Some(lockout) => Answer::Refused(lockout.clone()),
            None if unpassed => Answer::Challenge,
            None => Answer::Proceed,
        };
        Ok(Verdict {
            answer,
            failure: Some(outcome),
            device_token: None,
        })
    }

    /// The refusal of an outcome of `credentials`' username: its lockout
    /// (checked now, unless its keys were), or the attempt's refusal at
    /// admission.
    async fn refusal_of(
        &mut self,
        credentials: &Credentials,
    ) -> Result<Option<Verdict>, AxesError> {
        if let Some(refused) = self.check_named(credentials).await? {
            return Ok(Some(Verdict::of(refused)));
        }
        Ok(self
            .refused
            .clone()
            .map(|lockout| Verdict::of(Answer::Refused(lockout))))
    }

    /// A success of `username`, once its lockout is checked, and its
    /// challenge if one was asked for.
    async fn succeeded(
        &mut self,
        username: String,
        challenge: Option<bool>,
    ) -> Result<Verdict, AxesError> {
        let credentials = Credentials::from(username.as_str());
        // Refused, the password was right, but it is no login.
        if let Some(refused) = self.refusal_of(&credentials).await? {
            return Ok(refused);
        }
        if challenge.is_none() && self.challenge_required() && self.asked_by_breaker_only() {
            // The site breaker raises the bar, it locks no one out: the
            // right password without the challenge is asked for it again,
            // and not counted.
            return Ok(Verdict::of(Answer::Challenge));
        }
        if challenge == Some(false) || (self.challenge_required() && challenge.is_none()) {
            // The right password, but not the challenge: answered as the
            // wrong one would be.
            return self.failed(credentials, Some(challenge)).await;
        }
        if challenge == Some(true) {
            self.pass_if_challenged().await?;
        }
        let login = self.input.login();
        self.engine
            .succeeded(&login, &username, Some(&mut self.flight))
            .await?;
        Ok(Verdict {
            device_token: self.engine.device_token(&self.input.login(), &username),
            ..Verdict::proceed()
        })
    }

    /// A step of the second factor of `username`, once its lockout is
    /// checked: pending records nothing; a failure counts against the
    /// second factor's budget; a pass, unless the username is locked out
    /// of its second factor, is the login's success.
    async fn second_factor(
        &mut self,
        username: String,
        step: SecondFactor,
    ) -> Result<Verdict, AxesError> {
        let credentials = Credentials::from(username.as_str());
        if let Some(refused) = self.refusal_of(&credentials).await? {
            return Ok(refused);
        }
        // As the username is counted (normalised, altered by its callable).
        let counted = self
            .prepared
            .as_ref()
            .and_then(|prepared| prepared.client.username())
            .unwrap_or(&username)
            .to_owned();
        if !matches!(step, SecondFactor::Failed) {
            // Locked out of its second factor, the username is refused
            // at both steps, whatever it sent (a failure says so too).
            if let Some(lockout) = self.engine.second_factor_lockout(&counted).await? {
                self.engine.note_refusal(&self.input.client, &lockout);
                return Ok(Verdict::of(Answer::Refused(lockout)));
            }
        }
        match step {
            SecondFactor::Pending => Ok(Verdict::proceed()),
            SecondFactor::Failed => {
                self.engine
                    .second_factor_failed(&self.input.client, &counted)
                    .await
            }
            SecondFactor::Passed => {
                let verdict = self.succeeded(username, None).await?;
                if *verdict.answer() == Answer::Proceed {
                    self.engine.second_factor_passed(&counted).await?;
                }
                Ok(verdict)
            }
        }
    }

    /// Whether the challenge was asked for by the site breaker alone, not
    /// by the client's own failures (`challenge_after`).
    fn asked_by_breaker_only(&self) -> bool {
        let failures = match &self.flight.admitted {
            Some((decision, _)) => decision.failures(),
            None => return false,
        };
        !crate::policy::challenge::required(self.engine.config(), failures)
    }

    /// Records the challenge passed, if the latest check asked for one (a
    /// pass nobody asked for buys nothing).
    async fn pass_if_challenged(&mut self) -> Result<(), AxesError> {
        if self.challenge_required() && self.refused.is_none() {
            self.prepare();
            let prepared = self.prepared.as_ref().expect("prepared");
            self.engine.record_pass(prepared).await?;
        }
        Ok(())
    }
}

impl Attempt {
    /// What a store failure leaves of a call: with `on_store_error =
    /// "fail_open"`, `open` (the attempt let through, the failure logged);
    /// with `"fail_closed"`, the error, for the caller to refuse the login.
    fn or_open<T>(
        &self,
        result: Result<T, AxesError>,
        doing: &str,
        open: impl FnOnce() -> T,
    ) -> Result<T, AxesError> {
        let Err(error) = result else {
            return result;
        };
        match self.engine.config().on_store_error {
            OnStoreError::FailOpen => {
                let action = format!("{doing} let the login through (on_store_error = fail_open)");
                self.engine.note_store_failure(&error, &action);
                Ok(open())
            }
            OnStoreError::FailClosed => {
                let action = format!("{doing} refused the login (on_store_error = fail_closed)");
                self.engine.note_store_failure(&error, &action);
                Err(error)
            }
        }
    }
}

/// A step of a second factor.
enum SecondFactor {
    Pending,
    Failed,
    Passed,
}
