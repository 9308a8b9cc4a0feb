//! [`AxesReport`]: the extractor a login handler uses to tell the layer how
//! the attempt went.

use std::fmt;
use std::sync::{Arc, Mutex};

use std::convert::Infallible;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::StatusCode;

use http::HeaderMap;

use crate::config::{LockoutResponseMode, OnStoreError};
use crate::engine::{Axes, Decision, Flight, Headroom};
use crate::identity::{ClientInfo, Credentials, LoginAttempt, RequestInfo};
use crate::policy::Lockout;

/// What a handler reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Failed(Credentials),
    Succeeded(String),
    LoggedOut(Option<String>),
}

/// How the challenge the handler showed went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChallengeReport {
    Passed,
    Failed,
}

/// The per-request slot the layer puts in the request extensions and reads
/// after the handler returns.
#[derive(Clone)]
pub(crate) struct ReportSlot {
    shared: Arc<Shared>,
}

struct Shared {
    client: ClientInfo,
    /// The request, as the callables see it.
    request: Arc<RequestInfo>,
    axes: Axes,
    outcome: Mutex<Option<Outcome>>,
    session_id: Mutex<Option<String>>,
    /// The attempt in flight, until the layer takes it back.
    flight: tokio::sync::Mutex<Option<Flight>>,
    /// Why [`AxesReport::admit`] refused the attempt, if it did: the layer
    /// then answers with that refusal whatever the handler does.
    refusal: Mutex<Option<Refusal>>,
    /// Where the attempt stood at its latest check.
    headroom: Mutex<Option<Headroom>>,
    /// How the challenge went, if the handler showed one.
    challenge: Mutex<Option<ChallengeReport>>,
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
    pub(crate) fn response(&self, axes: &Axes, headers: &HeaderMap) -> Response {
        match self {
            Self::Lockout(lockout) => axes.lockout_response(lockout, headers),
            Self::StoreUnavailable => super::response::store_unavailable(),
        }
    }
}

fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl ReportSlot {
    pub(crate) fn new(
        client: ClientInfo,
        request: Arc<RequestInfo>,
        axes: Axes,
        flight: Flight,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                client,
                request,
                axes,
                outcome: Mutex::default(),
                session_id: Mutex::default(),
                headroom: Mutex::new(flight.headroom()),
                flight: tokio::sync::Mutex::new(Some(flight)),
                refusal: Mutex::default(),
                challenge: Mutex::default(),
            }),
        }
    }

    /// The client as the layer resolved it.
    pub(crate) fn client(&self) -> &ClientInfo {
        &self.shared.client
    }

    /// The request, as the callables see it.
    pub(crate) fn request(&self) -> &RequestInfo {
        &self.shared.request
    }

    pub(crate) fn take_session_id(&self) -> Option<String> {
        locked(&self.shared.session_id).take()
    }

    pub(crate) fn take(&self) -> Option<Outcome> {
        locked(&self.shared.outcome).take()
    }

    /// How the challenge went, if the handler reported it.
    pub(crate) fn take_challenge(&self) -> Option<ChallengeReport> {
        locked(&self.shared.challenge).take()
    }

    /// The refusal [`AxesReport::admit`] gave, if any.
    pub(crate) fn refusal(&self) -> Option<Refusal> {
        locked(&self.shared.refusal).clone()
    }

    /// The attempt in flight, taken back by the layer once the handler
    /// returned.
    pub(crate) async fn take_flight(&self) -> Option<Flight> {
        self.shared.flight.lock().await.take()
    }

    fn set(&self, outcome: Outcome) {
        *locked(&self.shared.outcome) = Some(outcome);
    }
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
/// use axum::{http::StatusCode, routing::post, Json, Router};
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
///     .route("/login", post(login))
///     .layer(AxesLayer::new(axes));
/// ```
#[derive(Clone)]
pub struct AxesReport {
    slot: ReportSlot,
}

impl fmt::Debug for AxesReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AxesReport")
            .field("client", &self.slot.shared.client)
            .finish_non_exhaustive()
    }
}

impl AxesReport {
    /// The attempt failed; `credentials` names the username if the handler
    /// read one (otherwise the one the layer read from the body is used).
    pub fn failed(&self, credentials: impl Into<Credentials>) {
        self.slot.set(Outcome::Failed(credentials.into()));
    }

    /// `username` logged in.
    pub fn succeeded(&self, username: impl Into<String>) {
        self.slot.set(Outcome::Succeeded(username.into()));
    }

    /// `username` logged out.
    pub fn logged_out(&self, username: impl Into<String>) {
        let username = username.into();
        self.slot
            .set(Outcome::LoggedOut(Some(username).filter(|u| !u.is_empty())));
    }

    /// The session the handler opened (with `succeeded`) or closed (with
    /// `logged_out`): the access log keeps its SHA-256 hash, so a logout
    /// closes only that session's entry.
    pub fn session_id(&self, session_id: impl Into<String>) {
        *locked(&self.slot.shared.session_id) = Some(session_id.into());
    }

    /// The client as the layer resolved it (IP, user agent, path, and the
    /// username read from the body).
    pub fn client(&self) -> &ClientInfo {
        &self.slot.shared.client
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
    /// use axum::{http::StatusCode, routing::post, Json, Router};
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
    ///     .route("/login", post(login))
    ///     .layer(AxesLayer::new(axes));
    /// ```
    pub fn attempts_left(&self) -> Option<u64> {
        let shared = &self.slot.shared;
        if shared.axes.config().lockout_response == LockoutResponseMode::Indistinguishable {
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
    /// is answered with [`Axes::challenge_response`], whatever the password
    /// was. After [`admit`](Self::admit), the admitted username's.
    ///
    /// ```
    /// use axum::{http::StatusCode, routing::post, Json, Router};
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
    ///     .route("/login", post(login))
    ///     .layer(AxesLayer::new(axes));
    /// ```
    pub fn challenge_required(&self) -> bool {
        locked(&self.slot.shared.headroom).is_some_and(|headroom| headroom.challenge)
    }

    /// The client passed the challenge [`challenge_required`](Self::challenge_required)
    /// asked for: it buys `challenge_attempts` further attempts before the
    /// next challenge and the lockout, for this client's keys only (the
    /// same username from another address, or another username from this
    /// one, gains nothing). A pass nobody asked for buys nothing.
    pub fn challenge_passed(&self) {
        *locked(&self.slot.shared.challenge) = Some(ChallengeReport::Passed);
    }

    /// The client failed the challenge: it counts as a failed login.
    pub fn challenge_failed(&self) {
        *locked(&self.slot.shared.challenge) = Some(ChallengeReport::Failed);
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
    /// use axum::{http::StatusCode, response::{IntoResponse, Response}, routing::post, Json, Router};
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
    ///     .route("/login", post(login))
    ///     .layer(AxesLayer::new(axes));
    /// ```
    pub async fn admit(&self, username: impl AsRef<str>) -> Result<(), AxesRefusal> {
        let shared = &self.slot.shared;
        if let Some(refusal) = locked(&shared.refusal).clone() {
            return Err(AxesRefusal(
                refusal.response(&shared.axes, shared.request.headers()),
            ));
        }
        let axes = &shared.axes;
        if !axes.config().enabled {
            return Ok(());
        }
        let credentials = Credentials::from(username.as_ref());
        let client = axes.with_username(
            &LoginAttempt::new(&shared.client)
                .with_request(&shared.request)
                .with_credentials(&credentials),
        );
        let attempt = LoginAttempt::new(&client).with_request(&shared.request);
        let mut flight = shared.flight.lock().await;
        let Some(flight) = flight.as_mut() else {
            // The layer has the attempt back already: nothing left to guard.
            return Ok(());
        };
        let admitted = axes.admit_in(flight, &attempt).await;
        *locked(&shared.headroom) = flight.headroom();
        let refusal = match admitted {
            Ok(Decision::LockedOut(lockout)) => {
                axes.note_refusal(&client, &lockout);
                Refusal::Lockout(lockout)
            }
            Ok(_) => return Ok(()),
            Err(error) => match axes.config().on_store_error {
                OnStoreError::FailOpen => {
                    axes.note_store_failure(
                        &error,
                        "admitting the username (on_store_error = fail_open)",
                    );
                    return Ok(());
                }
                OnStoreError::FailClosed => {
                    axes.note_store_failure(
                        &error,
                        "refusing the login (on_store_error = fail_closed)",
                    );
                    Refusal::StoreUnavailable
                }
            },
        };
        let response = refusal.response(axes, shared.request.headers());
        *locked(&shared.refusal) = Some(refusal);
        Err(AxesRefusal(response))
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
        parts
            .extensions
            .get::<ReportSlot>()
            .cloned()
            .map(|slot| Self { slot })
            .ok_or(MissingAxesLayer)
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
        Ok(parts
            .extensions
            .get::<ReportSlot>()
            .cloned()
            .map(|slot| Self { slot }))
    }
}
