use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::Response;
use http::{HeaderMap, Request};
use tower_service::Service;

use super::request;
use super::ResponseFuture;
use crate::admission::Attempt;
use crate::axes::{Axes, AxesError, Decision};
use crate::client::ClientInfo;
use crate::config::OnStoreError;
use crate::report::{Outcome, ReportSlot};
use crate::response::store_unavailable;

/// The middleware [`AxesLayer`](super::AxesLayer) applies; see the
/// [module docs](crate::layer).
#[derive(Debug, Clone)]
pub struct AxesService<S> {
    inner: S,
    axes: Axes,
    check_before_dispatch: bool,
}

impl<S> AxesService<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, axes: Axes, check_before_dispatch: bool) -> Self {
        Self {
            inner,
            axes,
            check_before_dispatch,
        }
    }
}

impl<S, ResBody> Service<Request<Body>> for AxesService<S>
where
    S: Service<Request<Body>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: http_body::Body<Data = axum::body::Bytes> + Send + 'static,
    ResBody::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // The clone is ready only if polled; keep the ready one (tower's advice).
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let axes = self.axes.clone();
        let check = self.check_before_dispatch;
        ResponseFuture {
            inner: Box::pin(guard(axes, inner, request, check)),
        }
    }
}

/// One login request: resolve, check, dispatch, check again if the
/// handler reports a username that was not checked, record.
async fn guard<S, ResBody>(
    axes: Axes,
    mut inner: S,
    request: Request<Body>,
    check_before_dispatch: bool,
) -> Result<Response, S::Error>
where
    S: Service<Request<Body>, Response = http::Response<ResBody>>,
    ResBody: http_body::Body<Data = axum::body::Bytes> + Send + 'static,
    ResBody::Error: Into<axum::BoxError>,
{
    let config = axes.config();
    let (client, mut request) = if config.enabled {
        match request::resolve(&axes, request).await {
            Ok(resolved) => resolved,
            Err(answer) => return Ok(answer),
        }
    } else {
        let client = ClientInfo::new(std::net::Ipv4Addr::UNSPECIFIED.into());
        (client, request)
    };
    let headers = request.headers().clone();

    let mut attempt = axes.attempt();
    if config.enabled && check_before_dispatch {
        match axes.admit_in(&mut attempt, &client).await {
            Ok(Decision::LockedOut(lockout)) => {
                axes.note_refusal(&client, &lockout);
                return Ok(axes.lockout_response(&lockout, &headers));
            }
            Ok(_) => {}
            Err(error) => {
                if let Some(answer) = store_failed(&axes, error) {
                    return Ok(answer);
                }
            }
        }
    }

    let slot = ReportSlot::new(client.clone(), axes.clone(), headers.clone(), attempt);
    request.extensions_mut().insert(slot.clone());
    // A panic in the handler drops the slot, and with it the attempt,
    // which gives its slots back.
    let response = inner.call(request).await?.map(Body::new);
    let Some(mut attempt) = slot.take_attempt().await else {
        return Ok(response);
    };
    if !config.enabled {
        return Ok(response);
    }
    // Refused by the handler's own check: that refusal stands.
    if let Some(refusal) = slot.refusal() {
        attempt.release().await;
        return Ok(refusal.response(&axes, &headers));
    }
    let answer = match slot.take() {
        None => response,
        Some(outcome) => {
            let client = client_with_session(client, &slot);
            match apply(&axes, client, outcome, &headers, &mut attempt).await {
                Ok(Answer::Keep) => response,
                Ok(Answer::Replace(replacement)) => replacement,
                Ok(Answer::SetCookie(cookie)) => {
                    let mut response = response;
                    response
                        .headers_mut()
                        .append(http::header::SET_COOKIE, cookie);
                    response
                }
                Err(error) => store_failed(&axes, error).unwrap_or(response),
            }
        }
    };
    // Recorded (its slots went back with the record) or not to be.
    attempt.release().await;
    Ok(answer)
}

fn client_with_session(mut client: ClientInfo, slot: &ReportSlot) -> ClientInfo {
    if let Some(session_id) = slot.take_session_id() {
        client.set_session_id(Some(session_id));
    }
    client
}

/// What becomes of the handler's response once its report is recorded.
enum Answer {
    /// It goes out as it is.
    Keep,
    /// The lockout response goes out instead.
    Replace(Response),
    /// It goes out with the trusted-device cookie.
    SetCookie(http::HeaderValue),
}

/// Records what the handler reported and says what becomes of its response.
///
/// The lockout is authoritative: when the handler reports a failure or a
/// success for a username whose keys were not checked (the layer read
/// none, or another), that username is checked first, and a locked one is
/// answered exactly as a refusal before dispatch, recording nothing of the
/// outcome: the answer never depends on the password.
async fn apply(
    axes: &Axes,
    mut client: ClientInfo,
    outcome: Outcome,
    headers: &HeaderMap,
    attempt: &mut Attempt,
) -> Result<Answer, AxesError> {
    match outcome {
        Outcome::Failed(credentials) => {
            axes.resolve_username(&mut client, Some(&credentials));
            if let Some(refusal) = check_unchecked(axes, &client, headers, attempt).await? {
                return Ok(Answer::Replace(refusal));
            }
            let outcome = axes
                .failed_with(&client, Some(&credentials), Some(attempt))
                .await?;
            Ok(match outcome.lockout {
                Some(lockout) => Answer::Replace(axes.lockout_response(&lockout, headers)),
                None => Answer::Keep,
            })
        }
        Outcome::Succeeded(username) => {
            client.set_username(Some(username.clone()));
            if let Some(refusal) = check_unchecked(axes, &client, headers, attempt).await? {
                return Ok(Answer::Replace(refusal));
            }
            axes.logged_in_with(&client, &username, Some(attempt))
                .await?;
            Ok(match axes.device_cookie(&client, &username) {
                Some(cookie) => Answer::SetCookie(cookie),
                None => Answer::Keep,
            })
        }
        Outcome::LoggedOut(username) => {
            axes.logged_out(&client, username.as_deref()).await?;
            Ok(Answer::Keep)
        }
    }
}

/// Checks `client` unless each of its keys was checked for this attempt;
/// the refusal to answer with, if it is refused.
async fn check_unchecked(
    axes: &Axes,
    client: &ClientInfo,
    headers: &HeaderMap,
    attempt: &mut Attempt,
) -> Result<Option<Response>, AxesError> {
    if axes.checked_in(attempt, client) {
        return Ok(None);
    }
    match axes.admit_in(attempt, client).await? {
        Decision::LockedOut(lockout) => {
            axes.note_refusal(client, &lockout);
            Ok(Some(axes.lockout_response(&lockout, headers)))
        }
        _ => Ok(None),
    }
}

/// Logs a store failure and returns the answer `on_store_error` calls for
/// (`None`: carry on).
fn store_failed(axes: &Axes, error: AxesError) -> Option<Response> {
    match axes.config().on_store_error {
        OnStoreError::FailClosed => {
            axes.note_store_failure(&error, "refusing the login (on_store_error = fail_closed)");
            Some(store_unavailable())
        }
        OnStoreError::FailOpen => {
            axes.note_store_failure(
                &error,
                "letting the login through (on_store_error = fail_open)",
            );
            None
        }
    }
}
