//! [`AxesReport`]: the extractor a login handler uses to tell the layer how
//! the attempt went — a handle on the request's [`Attempt`], which the
//! layer takes back once the handler returned.

use std::convert::Infallible;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{Extensions, StatusCode};

use super::layer::StoreUnavailable;
use super::response::Responses;
use crate::config::LockoutResponseMode;
use crate::engine::{Attempt, Decision, Headroom, Outcome, Report};
use crate::identity::{ClientInfo, Credentials, RequestInfo};
use crate::policy::Lockout;

/// What the layer and the handler share of one request.
struct Shared {
    /// The client as the layer resolved it.
    client: ClientInfo,
    request: Arc<RequestInfo>,
    responses: Arc<Responses>,
    /// What the handler reported.
    report: Mutex<Report>,
    /// The attempt, until the layer takes it back (none when axes is
    /// disabled: the reports are taken and ignored).
    attempt: tokio::sync::Mutex<Option<Attempt>>,
    /// Why [`AxesReport::admit`] refused the attempt, if it did: the layer
    /// then answers with that refusal whatever the handler does.
    refusal: Mutex<Option<Refusal>>,
    /// Where the attempt stood at its latest check.
    headroom: Mutex<Option<Headroom>>,
}

/// Why an attempt was refused after dispatch.
#[derive(Debug, Clone)]
pub(crate) enum Refusal {
    /// A lockout (or the in-flight bound).
    Lockout(Lockout),
    /// The store failed, and `on_store_error` fails closed.
    StoreUnavailable,
}

impl Refusal {
    /// The response it is answered with.
    pub(crate) fn response(&self, responses: &Responses, request: &RequestInfo) -> Response {
        match self {
            Self::Lockout(lockout) => responses.lockout(lockout, request.headers()),
            Self::StoreUnavailable => StoreUnavailable.into_response(),
        }
    }
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the layer takes back from the handler: the attempt, the handler's
/// report, and the refusal [`AxesReport::admit`] gave, if any.
pub(crate) struct TakenBack {
    pub attempt: Attempt,
    pub report: Report,
    pub refusal: Option<Refusal>,
}

/// Lets a login handler report the outcome of an attempt to the
/// [`AxesLayer`](crate::AxesLayer) wrapping it, as a Django view sends
/// `user_login_failed` / `user_logged_in` / `user_logged_out`. The layer
/// records the report after the handler returns; when a failure reaches the
/// limit, the lockout response replaces the handler's response.
///
/// The last report of a request wins.
///
/// ```
/// use axum::{handler::Handler, http::StatusCode, routing::post, Json, Router};
/// use axes::{Axes, AxesConfig, AxesLayer, AxesReport, MemoryStore};
///
/// #[derive(serde::Deserialize)]
/// struct Login { username: String, password: String }
///
/// async fn login(report: AxesReport, Json(form): Json<Login>) -> StatusCode {
///     if form.password == "wonderland" {
///         report.succeeded(form.username);
///         StatusCode::OK
///     } else {
///         report.failed(form.username);
///         StatusCode::FORBIDDEN
///     }
/// }
///
/// let axes = Axes::new(AxesConfig::default(), MemoryStore::new());
/// let app: Router = Router::new()
///     .route("/login", post(login.layer(AxesLayer::new(axes))));
/// ```
#[derive(Clone)]
pub struct AxesReport {
    shared: Arc<Shared>,
}

impl fmt::Debug for AxesReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AxesReport")
            .field("client", &self.shared.client)
            .finish_non_exhaustive()
    }
}

impl AxesReport {
    /// The report handle of `attempt` (`None`: axes is disabled, reports
    /// are ignored).
    pub(crate) fn new(
        client: ClientInfo,
        request: Arc<RequestInfo>,
        responses: Arc<Responses>,
        attempt: Option<Attempt>,
    ) -> Self {
        let headroom = attempt.as_ref().and_then(Attempt::headroom);
        Self {
            shared: Arc::new(Shared {
                client,
                request,
                responses,
                report: Mutex::default(),
                attempt: tokio::sync::Mutex::new(attempt),
                refusal: Mutex::default(),
                headroom: Mutex::new(headroom),
            }),
        }
    }

    /// The attempt and what the handler reported, taken back by the layer
    /// once the handler returned (`None` when axes is disabled).
    pub(crate) async fn take_back(&self) -> Option<TakenBack> {
        let attempt = self.shared.attempt.lock().await.take()?;
        Some(TakenBack {
            attempt,
            report: std::mem::take(&mut *locked(&self.shared.report)),
            refusal: locked(&self.shared.refusal).take(),
        })
    }

    /// The report the layer put in `extensions`, for a handler that is
    /// not an axum one (a `tower::Service` over `http::Request`).
    ///
    /// ```
    /// let extensions = http::Extensions::new();
    /// assert!(axes::AxesReport::from_extensions(&extensions).is_none(), "no layer");
    /// ```
    pub fn from_extensions(extensions: &Extensions) -> Option<Self> {
        extensions.get::<Self>().cloned()
    }

    /// The attempt failed; `credentials` names the username if the handler
    /// read one (otherwise the one the layer read from the body is used).
    ///
    /// ```
    /// async fn login(report: axes::AxesReport) -> &'static str {
    ///     report.failed(axes::Credentials::username_only("alice").with_field("otp", "000000"));
    ///     "wrong password"
    /// }
    /// ```
    pub fn failed(&self, credentials: impl Into<Credentials>) {
        locked(&self.shared.report).outcome = Some(Outcome::Failed(credentials.into()));
    }

    /// `username` logged in.
    ///
    /// ```
    /// async fn login(report: axes::AxesReport) -> &'static str {
    ///     report.succeeded("alice");
    ///     "welcome"
    /// }
    /// ```
    pub fn succeeded(&self, username: impl Into<String>) {
        locked(&self.shared.report).outcome = Some(Outcome::Succeeded(username.into()));
    }

    /// `username`'s password was right; its second factor comes next (see
    /// [`Report::second_factor_pending`](crate::Report::second_factor_pending)).
    ///
    /// ```
    /// async fn login(report: axes::AxesReport) -> &'static str {
    ///     report.second_factor_pending("alice");
    ///     "enter the code from your app"
    /// }
    /// ```
    pub fn second_factor_pending(&self, username: impl Into<String>) {
        locked(&self.shared.report).outcome = Some(Outcome::SecondFactorPending(username.into()));
    }

    /// `username`'s second factor failed, counted against its own budget
    /// (see [`Report::second_factor_failed`](crate::Report::second_factor_failed)).
    ///
    /// ```
    /// async fn code(report: axes::AxesReport) -> &'static str {
    ///     report.second_factor_failed("alice");
    ///     "wrong code"
    /// }
    /// ```
    pub fn second_factor_failed(&self, username: impl Into<String>) {
        locked(&self.shared.report).outcome = Some(Outcome::SecondFactorFailed(username.into()));
    }

    /// `username`'s second factor passed: the login succeeded (see
    /// [`Report::second_factor_passed`](crate::Report::second_factor_passed)).
    ///
    /// ```
    /// async fn code(report: axes::AxesReport) -> &'static str {
    ///     report.second_factor_passed("alice");
    ///     "welcome"
    /// }
    /// ```
    pub fn second_factor_passed(&self, username: impl Into<String>) {
        locked(&self.shared.report).outcome = Some(Outcome::SecondFactorPassed(username.into()));
    }

    /// `username` logged out.
    ///
    /// ```
    /// async fn logout(report: axes::AxesReport) -> &'static str {
    ///     report.logged_out("alice");
    ///     "bye"
    /// }
    /// ```
    pub fn logged_out(&self, username: impl Into<String>) {
        let username = Some(username.into()).filter(|u| !u.is_empty());
        locked(&self.shared.report).outcome = Some(Outcome::LoggedOut(username));
    }

    /// The session the handler opened (with `succeeded`) or closed (with
    /// `logged_out`): the access log keeps its SHA-256 hash, so a logout
    /// closes only that session's entry.
    ///
    /// ```
    /// async fn login(report: axes::AxesReport) -> &'static str {
    ///     report.succeeded("alice");
    ///     report.session_id("the session the handler opened");
    ///     "welcome"
    /// }
    /// ```
    pub fn session_id(&self, session_id: impl Into<String>) {
        locked(&self.shared.report).session_id = Some(session_id.into());
    }

    /// The client as the layer resolved it (IP, user agent, path, and the
    /// username read from the body).
    ///
    /// ```
    /// async fn login(report: axes::AxesReport) -> String {
    ///     format!("hello, {}", report.client().ip_address())
    /// }
    /// ```
    pub fn client(&self) -> &ClientInfo {
        &self.shared.client
    }

    /// How many more failures the client may make before it is locked out,
    /// as its check found it — counting this attempt, so `Some(1)` means a
    /// failure now locks it out, and a failed attempt leaves one fewer:
    /// what a login page shows as "one attempt left" (Devise's
    /// `last_attempt_warning`). After [`admit`](Self::admit), the admitted
    /// username's. `None` when no lockout comes (exempt, or
    /// `lock_out_at_failure = false`), before any check, and always in
    /// `lockout_response = "indistinguishable"` mode, which tells a client
    /// nothing of its counts.
    ///
    /// ```
    /// use axum::{handler::Handler, http::StatusCode, routing::post, Json, Router};
    /// use axes::{Axes, AxesConfig, AxesLayer, AxesReport, MemoryStore};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Login { username: String, password: String }
    ///
    /// async fn login(report: AxesReport, Json(form): Json<Login>) -> (StatusCode, String) {
    ///     if form.password == "wonderland" {
    ///         report.succeeded(form.username);
    ///         return (StatusCode::OK, "welcome".into());
    ///     }
    ///     report.failed(form.username);
    ///     match report.attempts_left() {
    ///         Some(2) => (StatusCode::FORBIDDEN, "wrong password: one attempt left".into()),
    ///         _ => (StatusCode::FORBIDDEN, "wrong password".into()),
    ///     }
    /// }
    ///
    /// let axes = Axes::new(AxesConfig::default(), MemoryStore::new());
    /// let app: Router = Router::new()
    ///     .route("/login", post(login.layer(AxesLayer::new(axes))));
    /// ```
    pub fn attempts_left(&self) -> Option<u64> {
        let shared = &self.shared;
        if shared.responses.axes.config().lockout_response == LockoutResponseMode::Indistinguishable
        {
            return None;
        }
        locked(&shared.headroom).and_then(|headroom| headroom.attempts_left)
    }

    /// Whether the check asks for a challenge (`challenge_after`) before
    /// the password is tried: show the CAPTCHA or second factor, then
    /// report [`challenge_passed`](Self::challenge_passed) or
    /// [`challenge_failed`](Self::challenge_failed). axes runs no challenge
    /// itself. An attempt that skips a required challenge — reports a
    /// failure or a success with neither — counts as a failed challenge and
    /// is answered with the challenge response (`403`), whatever the
    /// password was. After [`admit`](Self::admit), the admitted username's.
    ///
    /// ```
    /// use axum::{handler::Handler, http::StatusCode, routing::post, Json, Router};
    /// use axes::{Axes, AxesConfig, AxesLayer, AxesReport, MemoryStore};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Login { username: String, password: String, captcha: Option<String> }
    ///
    /// fn captcha_solved(answer: Option<&str>) -> bool {
    ///     answer == Some("verified by the CAPTCHA provider")
    /// }
    ///
    /// async fn login(report: AxesReport, Json(form): Json<Login>) -> (StatusCode, &'static str) {
    ///     if report.challenge_required() {
    ///         if !captcha_solved(form.captcha.as_deref()) {
    ///             report.challenge_failed();
    ///             return (StatusCode::UNAUTHORIZED, "solve the CAPTCHA");
    ///         }
    ///         report.challenge_passed();
    ///     }
    ///     if form.password == "wonderland" {
    ///         report.succeeded(form.username);
    ///         (StatusCode::OK, "welcome")
    ///     } else {
    ///         report.failed(form.username);
    ///         (StatusCode::FORBIDDEN, "wrong password")
    ///     }
    /// }
    ///
    /// let config = AxesConfig::builder().failure_limit(10).challenge_after(Some(3)).build().unwrap();
    /// let axes = Axes::new(config, MemoryStore::new());
    /// let app: Router = Router::new()
    ///     .route("/login", post(login.layer(AxesLayer::new(axes))));
    /// ```
    pub fn challenge_required(&self) -> bool {
        locked(&self.shared.headroom).is_some_and(|headroom| headroom.challenge)
    }

    /// The client passed the challenge [`challenge_required`](Self::challenge_required)
    /// asked for: it buys `challenge_attempts` further attempts before the
    /// next challenge and the lockout, for this client's keys only (the
    /// same username from another address, or another username from this
    /// one, gains nothing). A pass nobody asked for buys nothing.
    ///
    /// ```
    /// async fn login(report: axes::AxesReport) {
    ///     if report.challenge_required() {
    ///         report.challenge_passed(); // once the CAPTCHA provider said so
    ///     }
    /// }
    /// ```
    pub fn challenge_passed(&self) {
        locked(&self.shared.report).challenge = Some(true);
    }

    /// The client failed the challenge: it counts as a failed login.
    ///
    /// ```
    /// async fn login(report: axes::AxesReport) -> &'static str {
    ///     report.challenge_failed();
    ///     "solve the CAPTCHA"
    /// }
    /// ```
    pub fn challenge_failed(&self) {
        locked(&self.shared.report).challenge = Some(false);
    }

    /// Checks `username` before the handler verifies its password — the
    /// counterpart of django-axes' `AxesBackend.authenticate`. `Err` holds
    /// the lockout response to send: the username (with the client's IP
    /// and user agent, as the lockout parameters combine them) is locked
    /// out, or the in-flight bound found no slot in time. The check takes
    /// part in that bound, so parallel guesses are bounded even for
    /// usernames the layer could not read from the body.
    ///
    /// Once refused, the attempt is answered with the refusal whatever the
    /// handler goes on to do or report. Without this call the layer checks
    /// a username it did not read after the handler returns, before its
    /// verdict can show; calling it spares the password check and bounds
    /// the guesses in flight. When the layer reads the username from the
    /// body itself (JSON, form, multipart field `username_form_field`),
    /// the call finds it checked already and costs nothing. A challenge
    /// required (`challenge_after`) is no refusal: read
    /// [`challenge_required`](Self::challenge_required) after the call.
    ///
    /// ```
    /// use axum::{handler::Handler, http::StatusCode, response::{IntoResponse, Response}, routing::post, Json, Router};
    /// use axes::{Axes, AxesConfig, AxesLayer, AxesReport, MemoryStore};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Login { user: String, password: String }
    ///
    /// async fn login(report: AxesReport, Json(form): Json<Login>) -> Response {
    ///     // `user` is not `username_form_field`: the layer could not read it.
    ///     if let Err(refusal) = report.admit(&form.user).await {
    ///         return refusal.into_response();
    ///     }
    ///     if form.password == "wonderland" {
    ///         report.succeeded(form.user);
    ///         StatusCode::OK.into_response()
    ///     } else {
    ///         report.failed(form.user);
    ///         StatusCode::FORBIDDEN.into_response()
    ///     }
    /// }
    ///
    /// let axes = Axes::new(AxesConfig::default(), MemoryStore::new());
    /// let app: Router = Router::new()
    ///     .route("/login", post(login.layer(AxesLayer::new(axes))));
    /// ```
    pub async fn admit(&self, username: impl AsRef<str>) -> Result<(), AxesRefusal> {
        let shared = &self.shared;
        let refused =
            |refusal: &Refusal| AxesRefusal(refusal.response(&shared.responses, &shared.request));
        if let Some(refusal) = locked(&shared.refusal).as_ref() {
            return Err(refused(refusal));
        }
        let mut attempt = shared.attempt.lock().await;
        let Some(attempt) = attempt.as_mut() else {
            // Disabled, or the layer has the attempt back: nothing to guard.
            return Ok(());
        };
        let admitted = attempt.admit_username(username.as_ref()).await;
        *locked(&shared.headroom) = attempt.headroom();
        let refusal = match admitted {
            Ok(Decision::LockedOut(lockout)) => Refusal::Lockout(lockout),
            Ok(_) => return Ok(()),
            Err(_) => Refusal::StoreUnavailable,
        };
        let response = refused(&refusal);
        *locked(&shared.refusal) = Some(refusal);
        Err(response)
    }
}

/// The answer [`AxesReport::admit`] refuses an attempt with: the lockout
/// response (or `503` when the store fails and `on_store_error` fails
/// closed). Return it from the handler.
///
/// ```
/// use axum::response::IntoResponse;
/// # async fn handler(report: axes::AxesReport) -> axum::response::Response {
/// match report.admit("alice").await {
///     Err(refusal) => refusal.into_response(),
///     Ok(()) => "verify the password here".into_response(),
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct AxesRefusal(Response);

impl AxesRefusal {
    /// The status of the refusal.
    ///
    /// ```
    /// # async fn handler(report: axes::AxesReport) {
    /// if let Err(refusal) = report.admit("alice").await {
    ///     assert!(refusal.status().is_client_error() || refusal.status().is_server_error());
    /// }
    /// # }
    /// ```
    pub fn status(&self) -> StatusCode {
        self.0.status()
    }
}

impl IntoResponse for AxesRefusal {
    fn into_response(self) -> Response {
        self.0
    }
}

impl fmt::Display for AxesRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "login attempt refused ({})", self.0.status())
    }
}

impl std::error::Error for AxesRefusal {}

/// Rejection of [`AxesReport`] on a route the [`AxesLayer`](crate::AxesLayer)
/// does not wrap: a `500` naming the missing layer.
///
/// ```
/// use axum::response::IntoResponse;
/// let response = axes::MissingAxesLayer.into_response();
/// assert_eq!(response.status(), 500);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, thiserror::Error)]
#[error(
    "AxesReport needs the AxesLayer: add `.layer(AxesLayer::new(axes))` to the router serving this route"
)]
pub struct MissingAxesLayer;

impl IntoResponse for MissingAxesLayer {
    fn into_response(self) -> Response {
        tracing::error!(target: "axes", "{self}");
        (StatusCode::INTERNAL_SERVER_ERROR, self.to_string()).into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AxesReport {
    type Rejection = MissingAxesLayer;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Self::from_extensions(&parts.extensions).ok_or(MissingAxesLayer)
    }
}

/// `Option<AxesReport>`: `None` on a route the layer does not wrap, for
/// handlers that serve both.
impl<S: Send + Sync> OptionalFromRequestParts<S> for AxesReport {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(Self::from_extensions(&parts.extensions))
    }
}
