use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::Response;
use http::{HeaderMap, Request};
use tower_service::Service;

use std::sync::Arc;

use super::request;
use super::ResponseFuture;
use crate::config::OnStoreError;
use crate::engine::{Axes, AxesError, Decision, Flight};
use crate::http::ratelimit::Quota;
use crate::http::report::{ChallengeReport, Outcome, ReportSlot};
use crate::http::response::store_unavailable;
use crate::identity::{ClientInfo, Credentials, LoginAttempt, RequestInfo};
use crate::policy::Lockout;

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
    if !config.enabled {
        // Nothing is checked or recorded, but the handler's report is
        // taken (and ignored) all the same.
        return Ok(
            request::disabled(&axes, request, |request| inner.call(request))
                .await?
                .map(Body::new),
        );
    }
    let (client, info, mut request) = match request::resolve(&axes, request).await {
        Ok(resolved) => resolved,
        Err(answer) => return Ok(answer),
    };
    let mut flight = axes.flight();
    if check_before_dispatch {
        let attempt = LoginAttempt::new(&client).with_request(&info);
        match axes.admit_in(&mut flight, &attempt).await {
            Ok(Decision::LockedOut(lockout)) => {
                axes.note_refusal(&client, &lockout);
                return Ok(refusal(&axes, &lockout, info.headers(), &flight));
            }
            Ok(_) => {}
            Err(error) => {
                if let Some(answer) = store_failed(&axes, error) {
                    return Ok(answer);
                }
            }
        }
    }

    let slot = ReportSlot::new(client, Arc::new(info), axes.clone(), flight);
    request.extensions_mut().insert(slot.clone());
    // A panic in the handler drops the slot, and with it the attempt in
    // flight, which gives its slots back.
    let response = inner.call(request).await?.map(Body::new);
    let Some(mut flight) = slot.take_flight().await else {
        return Ok(response);
    };
    let headers = slot.request().headers();
    // Refused by the handler's own check: that refusal stands.
    if let Some(refusal) = slot.refusal() {
        flight.release().await;
        return Ok(refusal.response(&axes, headers));
    }
    let session = slot.take_session_id();
    let report = Report {
        client: slot.client(),
        request: slot.request(),
        session: session.as_deref(),
        headers,
    };
    let reported = (slot.take(), slot.take_challenge());
    let answer = match apply(&axes, report, reported, &mut flight).await {
        Ok((answer, quota)) => {
            let mut answer = match answer {
                Answer::Keep => response,
                Answer::Replace(replacement) => replacement,
                Answer::SetCookie(cookie) => {
                    let mut response = response;
                    response
                        .headers_mut()
                        .append(http::header::SET_COOKIE, cookie);
                    response
                }
            };
            if let Some(quota) = quota {
                quota.apply(&axes, answer.headers_mut());
            }
            answer
        }
        Err(error) => store_failed(&axes, error).unwrap_or(response),
    };
    // Recorded (its slots went back with the record) or not to be.
    flight.release().await;
    Ok(answer)
}

/// What the layer knows of the attempt when the handler has reported.
#[derive(Clone, Copy)]
struct Report<'a> {
    client: &'a ClientInfo,
    request: &'a RequestInfo,
    session: Option<&'a str>,
    headers: &'a HeaderMap,
}

impl<'a> Report<'a> {
    /// The attempt of `client`, with the request, the session and, when
    /// the handler gave them, its credentials.
    fn attempt(
        &self,
        client: &'a ClientInfo,
        credentials: Option<&'a Credentials>,
    ) -> LoginAttempt<'a> {
        let mut attempt = LoginAttempt::new(client).with_request(self.request);
        if let Some(session) = self.session {
            attempt = attempt.with_session_id(session);
        }
        if let Some(credentials) = credentials {
            attempt = attempt.with_credentials(credentials);
        }
        attempt
    }
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

/// What the handler reported: the outcome, and how the challenge it showed
/// went.
type Reported = (Option<Outcome>, Option<ChallengeReport>);

/// Records what the handler reported and says what becomes of its
/// response, with the `RateLimit` headers to send.
///
/// The lockout is authoritative: when the handler reports a failure or a
/// success for a username whose keys were not checked (the layer read
/// none, or another), that username is checked first, and a locked one is
/// answered exactly as a refusal before dispatch, recording nothing of the
/// outcome: the answer never depends on the password.
///
/// So is a challenge: an outcome reported for a client that had to pass
/// one and did not is one failure, answered with the challenge response
/// whether the password was right or wrong. A failed challenge is a
/// failure; a passed one is recorded before the outcome.
async fn apply(
    axes: &Axes,
    report: Report<'_>,
    (outcome, challenge): Reported,
    flight: &mut Flight,
) -> Result<(Answer, Option<Quota>), AxesError> {
    let failed_challenge = challenge == Some(ChallengeReport::Failed);
    let outcome = match outcome {
        Some(outcome) => outcome,
        // The challenge alone failed: a failure, the handler's page kept.
        None if failed_challenge => {
            return failure(axes, report, Credentials::default(), flight, None).await;
        }
        None => {
            if challenge == Some(ChallengeReport::Passed) {
                let attempt = report.attempt(report.client, None);
                pass_if_challenged(axes, &attempt, flight).await?;
            }
            return Ok((Answer::Keep, flight.headroom().and_then(Quota::of)));
        }
    };
    match outcome {
        Outcome::Failed(credentials) => {
            failure(axes, report, credentials, flight, Some(challenge)).await
        }
        Outcome::Succeeded(username) => {
            let client = report.client.clone().with_username(username.clone());
            let attempt = report.attempt(&client, None);
            if let Some(refusal) = check_unchecked(axes, &attempt, report.headers, flight).await? {
                return Ok((Answer::Replace(refusal), None));
            }
            if failed_challenge || (challenged(flight) && challenge.is_none()) {
                // The right password, but not the challenge: answered as the
                // wrong one would be.
                let credentials = Credentials::from(username.as_str());
                return failure(axes, report, credentials, flight, Some(challenge)).await;
            }
            if challenge == Some(ChallengeReport::Passed) {
                pass_if_challenged(axes, &attempt, flight).await?;
            }
            let quota = flight.headroom().and_then(Quota::of);
            axes.succeeded(&attempt, &username, Some(flight)).await?;
            let answer = match axes.device_cookie(&attempt, &username) {
                Some(cookie) => Answer::SetCookie(cookie),
                None => Answer::Keep,
            };
            Ok((answer, quota))
        }
        Outcome::LoggedOut(username) => {
            let attempt = report.attempt(report.client, None);
            axes.logged_out_attempt(&attempt, username.as_deref())
                .await?;
            Ok((Answer::Keep, None))
        }
    }
}

/// Records a failure of `credentials`' username, once its lockout is
/// checked. With `outcome_challenge` (the handler reported an outcome, and
/// how its challenge went): a client that had to pass a challenge and did
/// not is answered with the challenge response.
async fn failure(
    axes: &Axes,
    report: Report<'_>,
    credentials: Credentials,
    flight: &mut Flight,
    outcome_challenge: Option<Option<ChallengeReport>>,
) -> Result<(Answer, Option<Quota>), AxesError> {
    let client = axes.with_username(&report.attempt(report.client, Some(&credentials)));
    let attempt = report.attempt(&client, Some(&credentials));
    if let Some(refusal) = check_unchecked(axes, &attempt, report.headers, flight).await? {
        return Ok((Answer::Replace(refusal), None));
    }
    let unpassed = match outcome_challenge {
        Some(Some(ChallengeReport::Passed)) => {
            pass_if_challenged(axes, &attempt, flight).await?;
            false
        }
        Some(Some(ChallengeReport::Failed)) => true,
        Some(None) => challenged(flight),
        None => false,
    };
    #[cfg(feature = "metrics")]
    match outcome_challenge {
        Some(Some(ChallengeReport::Failed)) | None => crate::metrics::challenge("failed"),
        Some(None) if unpassed => crate::metrics::challenge("skipped"),
        _ => {}
    }
    let headroom = flight.headroom();
    let outcome = axes.failed(&attempt, Some(flight)).await?;
    let quota = headroom.and_then(|h| Quota::after_failure(h, &outcome, axes.now()));
    let answer = match &outcome.lockout {
        Some(lockout) => Answer::Replace(axes.lockout_response(lockout, report.headers)),
        None if unpassed => Answer::Replace(axes.challenge_response(report.headers)),
        None => Answer::Keep,
    };
    Ok((answer, quota))
}

/// Whether the attempt's latest check asked for a challenge.
fn challenged(flight: &Flight) -> bool {
    flight.headroom().is_some_and(|headroom| headroom.challenge)
}

/// Records the challenge the handler reported passed, if the attempt's
/// latest check asked for one (a pass nobody asked for buys nothing).
async fn pass_if_challenged(
    axes: &Axes,
    attempt: &LoginAttempt<'_>,
    flight: &Flight,
) -> Result<(), AxesError> {
    if challenged(flight) {
        axes.challenge_passed_checked(attempt).await?;
    }
    Ok(())
}

/// The lockout response to a refused attempt, with its `RateLimit`
/// headers when they are asked for.
fn refusal(axes: &Axes, lockout: &Lockout, headers: &HeaderMap, flight: &Flight) -> Response {
    let mut response = axes.lockout_response(lockout, headers);
    if axes.config().ratelimit_headers {
        if let Some(quota) = flight
            .headroom()
            .and_then(|headroom| Quota::refused(headroom, lockout, axes.now()))
        {
            quota.apply(axes, response.headers_mut());
        }
    }
    response
}

/// Checks `attempt` unless each of its keys was checked for this flight;
/// the refusal to answer with, if it is refused.
async fn check_unchecked(
    axes: &Axes,
    attempt: &LoginAttempt<'_>,
    headers: &HeaderMap,
    flight: &mut Flight,
) -> Result<Option<Response>, AxesError> {
    if axes.checked_in(flight, attempt) {
        return Ok(None);
    }
    match axes.admit_in(flight, attempt).await? {
        Decision::LockedOut(lockout) => {
            axes.note_refusal(attempt.client(), &lockout);
            Ok(Some(refusal(axes, &lockout, headers, flight)))
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
