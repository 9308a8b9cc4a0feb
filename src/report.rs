//! [`AxesReport`]: the extractor a login handler uses to tell the layer how
//! the attempt went.

use std::fmt;
use std::sync::{Arc, Mutex};

use std::convert::Infallible;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::StatusCode;

use crate::client::ClientInfo;

/// What the handler knows about the credentials of a failed attempt: the
/// username, when it could read one (django-axes' `credentials` dict).
///
/// ```
/// use axes::Credentials;
/// assert_eq!(Credentials::from("alice").username(), Some("alice"));
/// assert_eq!(Credentials::from(None::<String>).username(), None);
/// assert_eq!(Credentials::default().username(), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    username: Option<String>,
    fields: Vec<(String, String)>,
}

impl Credentials {
    /// Credentials naming `username`.
    pub fn username_only(username: impl Into<String>) -> Self {
        Self {
            username: Some(username.into()),
            fields: Vec::new(),
        }
    }

    /// Adds another field (a namespace, a tenant…) for a
    /// [`username_callable`](crate::AxesBuilder::username_callable) to read.
    ///
    /// ```
    /// let credentials = axes::Credentials::from("alice").with_field("namespace", "acme");
    /// assert_eq!(credentials.field("namespace"), Some("acme"));
    /// ```
    pub fn with_field(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.fields.push((name.into(), value.into()));
        self
    }

    /// The username, if given.
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// Another field, if given.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl From<&str> for Credentials {
    fn from(username: &str) -> Self {
        Self::username_only(username)
    }
}

impl From<String> for Credentials {
    fn from(username: String) -> Self {
        Self::username_only(username)
    }
}

impl From<Option<String>> for Credentials {
    fn from(username: Option<String>) -> Self {
        Self {
            username,
            fields: Vec::new(),
        }
    }
}

impl From<Option<&str>> for Credentials {
    fn from(username: Option<&str>) -> Self {
        Self::from(username.map(str::to_owned))
    }
}

/// What a handler reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Failed(Credentials),
    Succeeded(String),
    LoggedOut(Option<String>),
}

/// The per-request slot the layer puts in the request extensions and reads
/// after the handler returns.
#[derive(Clone)]
pub(crate) struct ReportSlot {
    client: Arc<ClientInfo>,
    outcome: Arc<Mutex<Option<Outcome>>>,
    session_id: Arc<Mutex<Option<String>>>,
}

impl ReportSlot {
    pub(crate) fn new(client: ClientInfo) -> Self {
        Self {
            client: Arc::new(client),
            outcome: Arc::default(),
            session_id: Arc::default(),
        }
    }

    pub(crate) fn take_session_id(&self) -> Option<String> {
        self.session_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    pub(crate) fn take(&self) -> Option<Outcome> {
        self.outcome
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    fn set(&self, outcome: Outcome) {
        *self.outcome.lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
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
            .field("client", &self.slot.client)
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
        *self
            .slot
            .session_id
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(session_id.into());
    }

    /// The client as the layer resolved it (IP, user agent, path, and the
    /// username read from the body).
    pub fn client(&self) -> &ClientInfo {
        &self.slot.client
    }
}

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
