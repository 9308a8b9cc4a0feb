//! Reading a [`ClientInfo`] off a request, username from the body included.

use std::borrow::Cow;
use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::extract::connect_info::{ConnectInfo, MockConnectInfo};
use axum::response::{IntoResponse, Response};
use http::header::{self, HeaderMap};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::engine::Axes;
use crate::identity::{ClientInfo, LoginAttempt, RequestInfo, UNKNOWN};

use super::body;

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<Cow<'_, str>> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()))
}

/// Whether `body` is known to be empty: nothing to buffer.
fn is_empty(body: &Body) -> bool {
    use http_body::Body as _;
    body.is_end_stream() || body.size_hint().upper() == Some(0)
}

/// Resolves the client of `request`, buffering its body (at most
/// `max_body_bytes`) to read the username the way handlers read it (see
/// [`body`](super::body)); returns the request with its body restored, or
/// the answer to give instead (no client address, body too large, too slow
/// or unreadable).
pub(crate) async fn resolve(
    axes: &Axes,
    request: Request<Body>,
) -> Result<(ClientInfo, RequestInfo, Request<Body>), Response> {
    let config = axes.config();
    let Some(peer) = peer_address(&request) else {
        tracing::error!(target: "axes", "no client address: serve the router with `into_make_service_with_connect_info::<SocketAddr>()`");
        return Err((
            StatusCode::INTERNAL_SERVER_ERROR,
            "axes: the client address is unknown; serve the router with `into_make_service_with_connect_info::<SocketAddr>()`",
        )
            .into_response());
    };
    let (parts, body) = request.into_parts();
    let (fields, body) = if is_empty(&body) {
        (Vec::new(), body)
    } else {
        let read = read_body(&parts.headers, body, config.max_body_bytes);
        let bytes = match crate::deadline::within(config.body_read_timeout, read).await {
            Some(result) => result?,
            None => {
                tracing::debug!(target: "axes", "login request body not received in time");
                return Err((
                    StatusCode::REQUEST_TIMEOUT,
                    "The request body did not arrive in time.",
                )
                    .into_response());
            }
        };
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        (body::fields(content_type, &bytes).await, Body::from(bytes))
    };
    let headers = &parts.headers;
    let info = RequestInfo::new(
        parts.method.clone(),
        parts.uri.clone(),
        headers.clone(),
        peer,
    )
    .with_fields(fields);
    let ip = axes
        .client_ip(&info)
        .unwrap_or_else(|| axes.proxies().client_ip(headers, peer.ip()));
    // As Django's QueryDict.get, the last value of a repeated field wins.
    let body_username = info.field(&config.username_form_field).map(str::to_owned);
    let mut client = ClientInfo::new(ip)
        .with_method(parts.method.clone())
        .with_path(parts.uri.path())
        .with_user_agent(header_text(headers, header::USER_AGENT).unwrap_or(Cow::Borrowed(UNKNOWN)))
        .with_http_accept(header_text(headers, header::ACCEPT).unwrap_or(Cow::Borrowed(UNKNOWN)));
    client.set_username(body_username);
    let client = axes.with_username(&LoginAttempt::new(&client).with_request(&info));
    Ok((client, info, Request::from_parts(parts, body)))
}

/// Runs `call` on `request` with a report slot that records nothing: axes
/// is disabled.
pub(crate) async fn disabled<F, Fut, T>(axes: &Axes, mut request: Request<Body>, call: F) -> T
where
    F: FnOnce(Request<Body>) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let unknown = SocketAddr::from(([0, 0, 0, 0], 0));
    let info = RequestInfo::new(
        request.method().clone(),
        request.uri().clone(),
        HeaderMap::new(),
        unknown,
    );
    let client = ClientInfo::new(unknown.ip());
    let slot = crate::http::report::ReportSlot::new(
        client,
        std::sync::Arc::new(info),
        axes.clone(),
        axes.flight(),
    );
    request.extensions_mut().insert(slot);
    call(request).await
}

/// Buffers a body of at most `limit` bytes.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, Response> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large(limit));
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => Err(too_large(limit)),
        Err(error) => {
            tracing::debug!(target: "axes", %error, "login request body could not be read");
            Err((
                StatusCode::BAD_REQUEST,
                "The request body could not be read.",
            )
                .into_response())
        }
    }
}

fn peer_address(request: &Request<Body>) -> Option<SocketAddr> {
    let extensions = request.extensions();
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr)
        .or_else(|| {
            extensions
                .get::<MockConnectInfo<SocketAddr>>()
                .map(|MockConnectInfo(addr)| *addr)
        })
}

fn too_large(limit: usize) -> Response {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("The login request body is larger than {limit} bytes."),
    )
        .into_response()
}
