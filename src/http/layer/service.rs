//! [`AxesService`]: the plumbing around one login request. It reads the
//! request, begins its [`Attempt`](crate::engine::Attempt), admits it, puts
//! the [`AxesReport`] handle in the extensions, calls the inner service,
//! reports what the handler said, turns the verdict into the response and
//! finishes the attempt. Every decision is the engine's.

use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use axum::BoxError;
use http::Request;
use tower_service::Service;

use super::rejection::StoreUnavailable;
use super::{request, ResponseFuture};
use crate::engine::{Decision, Outcome};
use crate::http::ratelimit::Quota;
use crate::http::report::{AxesReport, TakenBack};
use crate::http::response::Responses;
use crate::identity::{ClientInfo, RequestInfo};

/// The middleware [`AxesLayer`](super::AxesLayer) applies; see the
/// [module docs](crate::layer).
///
/// ```
/// use axum::body::Body;
/// use tower::{service_fn, Layer};
/// # let axes = axes::Axes::new(axes::AxesConfig::default(), axes::MemoryStore::new());
/// let login = service_fn(|_: http::Request<Body>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(Body::empty()))
/// });
/// let service: axes::layer::AxesService<_> = axes::AxesLayer::new(axes).layer(login);
/// # drop(service);
/// ```
#[derive(Debug, Clone)]
pub struct AxesService<S> {
    inner: S,
    responses: Arc<Responses>,
    check_before_dispatch: bool,
}

impl<S> AxesService<S> {
    pub(super) fn new(inner: S, responses: Arc<Responses>, check_before_dispatch: bool) -> Self {
        Self {
            inner,
            responses,
            check_before_dispatch,
        }
    }
}

impl<S, B, ResBody> Service<Request<B>> for AxesService<S>
where
    S: Service<Request<B>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: http_body::Body<Data = Bytes> + From<Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The clone is ready only if polled; keep the ready one (tower's advice).
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let responses = self.responses.clone();
        let check = self.check_before_dispatch;
        ResponseFuture {
            inner: Box::pin(guard(responses, inner, request, check)),
        }
    }
}

/// One login request, from its reading to its answer.
async fn guard<S, B, ResBody>(
    responses: Arc<Responses>,
    mut inner: S,
    request: Request<B>,
    check_before_dispatch: bool,
) -> Result<Response, S::Error>
where
    S: Service<Request<B>, Response = http::Response<ResBody>>,
    B: http_body::Body<Data = Bytes> + From<Bytes>,
    B::Error: Into<BoxError>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    let axes = &responses.axes;
    if !axes.config().enabled {
        // Nothing is checked or recorded; the handler's report is ignored.
        let mut request = request;
        let report = detached(&request, &responses);
        request.extensions_mut().insert(report);
        return Ok(inner.call(request).await?.map(Body::new));
    }
    let (info, mut request) = match request::read(axes.config(), request).await {
        Ok(read) => read,
        Err(rejection) => return Ok(rejection.into_response()),
    };
    let info = Arc::new(info);
    let client = axes.client_of(&info);
    let mut attempt = axes
        .attempt(client.clone())
        .with_shared_request(info.clone());
    if check_before_dispatch {
        match attempt.admit().await {
            // In the mode that hides a lockout, a refused attempt reaches
            // the handler too; whatever it reports is answered as a wrong
            // password (see `Responses::answer`).
            Ok(Decision::LockedOut(_)) if responses.hide_lockouts() => {}
            Ok(Decision::LockedOut(lockout)) => {
                let quota = attempt
                    .headroom()
                    .and_then(|h| Quota::refused(h, &lockout, axes.now()));
                let mut response = responses.lockout(&lockout, info.headers());
                Quota::apply_to(quota, axes, &mut response);
                return Ok(response);
            }
            Ok(_) => {}
            Err(_) => return Ok(StoreUnavailable.into_response()),
        }
    }

    let report = AxesReport::new(client, info.clone(), responses.clone(), Some(attempt));
    request.extensions_mut().insert(report.clone());
    // A panic in the handler drops the report, and with it the attempt,
    // which gives its slots back.
    let response = inner.call(request).await?.map(Body::new);
    let Some(TakenBack {
        mut attempt,
        report,
        refusal,
    }) = report.take_back().await
    else {
        return Ok(response);
    };
    let answer = match refusal {
        // Refused by the handler's own admission: that refusal stands.
        Some(refusal) => refusal.response(&responses, &info),
        None => {
            // The RateLimit headers quote the password's budget: not on a
            // logout, nor on a second factor's step.
            let quoted = !matches!(
                report.outcome(),
                Some(
                    Outcome::LoggedOut(_)
                        | Outcome::SecondFactorFailed(_)
                        | Outcome::SecondFactorPassed(_)
                )
            );
            match attempt.report(report).await {
                Ok(verdict) => {
                    let headroom = attempt.headroom().filter(|_| quoted);
                    let quota = headroom.and_then(|h| Quota::of_verdict(h, &verdict, axes.now()));
                    let mut answer = responses.answer(&verdict, response, info.headers());
                    Quota::apply_to(quota, axes, &mut answer);
                    answer
                }
                Err(_) => StoreUnavailable.into_response(),
            }
        }
    };
    attempt.finish().await;
    Ok(answer)
}

/// A report handle that records nothing, for a request axes does not
/// count (it is disabled).
fn detached<B>(request: &Request<B>, responses: &Arc<Responses>) -> AxesReport {
    let unknown = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
    let info = RequestInfo::new(
        request.method().clone(),
        request.uri().clone(),
        http::HeaderMap::new(),
        unknown,
    );
    let client = ClientInfo::new(unknown.ip());
    AxesReport::new(client, Arc::new(info), responses.clone(), None)
}
