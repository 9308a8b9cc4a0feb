use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::Response;
use http::{HeaderMap, Request};
use tower_service::Service;

use super::request;
use super::ResponseFuture;
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

/// One login request: resolve, check, dispatch, record.
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

    let mut admission = None;
    if config.enabled && check_before_dispatch {
        match axes.admit(&client).await {
            Ok(admitted) => {
                if let Decision::LockedOut(lockout) = admitted.decision() {
                    axes.note_refusal(&client, lockout);
                    return Ok(axes.lockout_response(lockout, &headers));
                }
                admission = Some(admitted);
            }
            Err(error) => {
                if let Some(answer) = store_failed(&axes, error) {
                    return Ok(answer);
                }
            }
        }
    }

    let slot = ReportSlot::new(client.clone());
    request.extensions_mut().insert(slot.clone());
    let response = inner.call(request).await?.map(Body::new);
    if !config.enabled {
        return Ok(response);
    }
    let answer = match slot.take() {
        None => response,
        Some(outcome) => {
            let client = client_with_session(client, &slot);
            match apply(&axes, client, outcome, &headers, check_before_dispatch).await {
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
    // The outcome is recorded: the attempt no longer holds its slots.
    if let Some(admission) = admission {
        admission.release().await;
    }
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
async fn apply(
    axes: &Axes,
    mut client: ClientInfo,
    outcome: Outcome,
    headers: &HeaderMap,
    prechecked: bool,
) -> Result<Answer, AxesError> {
    match outcome {
        Outcome::Failed(credentials) => {
            axes.resolve_username(&mut client, Some(&credentials));
            let outcome = axes.failed_with(&client, Some(&credentials)).await?;
            Ok(match outcome.lockout {
                Some(lockout) => Answer::Replace(axes.lockout_response(&lockout, headers)),
                None => Answer::Keep,
            })
        }
        Outcome::Succeeded(username) => {
            // The pre-check saw the username of the body; when the handler
            // logged in another (normalised, say), or nothing was checked
            // before dispatch, that username must not be locked either.
            if !prechecked || client.username() != Some(username.as_str()) {
                client.set_username(Some(username.clone()));
                if let Decision::LockedOut(lockout) = axes.check(&client).await? {
                    axes.note_refusal(&client, &lockout);
                    return Ok(Answer::Replace(axes.lockout_response(&lockout, headers)));
                }
            }
            axes.logged_in(&client, &username).await?;
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
