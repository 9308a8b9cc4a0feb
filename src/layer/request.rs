//! Reading a [`ClientInfo`] off a request, username from the body included.

use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::extract::connect_info::{ConnectInfo, MockConnectInfo};
use axum::response::{IntoResponse, Response};
use http::header::{self, HeaderMap};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::axes::Axes;
use crate::client::{ClientInfo, UNKNOWN};
use crate::hooks::RequestInfo;

/// The body kinds the username is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Json,
    Form,
}

fn body_kind(headers: &HeaderMap) -> Option<BodyKind> {
    let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = content_type.split(';').next()?.trim().to_ascii_lowercase();
    if essence == "application/json" || essence.ends_with("+json") {
        Some(BodyKind::Json)
    } else if essence == "application/x-www-form-urlencoded" {
        Some(BodyKind::Form)
    } else {
        None
    }
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// The top-level string fields of a JSON object or form body, in order.
fn body_fields(kind: BodyKind, body: &[u8]) -> Vec<(String, String)> {
    match kind {
        BodyKind::Json => match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(serde_json::Value::Object(map)) => map
                .into_iter()
                .filter_map(|(k, v)| match v {
                    serde_json::Value::String(v) => Some((k, v)),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        },
        BodyKind::Form => form_urlencoded::parse(body).into_owned().collect(),
    }
}

/// Resolves the client of `request`, buffering a JSON or form body to read
/// the username; returns the request with its body restored, or the answer
/// to give instead (no client address, body too large or unreadable).
pub(crate) async fn resolve(
    axes: &Axes,
    request: Request<Body>,
) -> Result<(ClientInfo, Request<Body>), Response> {
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
    let (fields, body) = match body_kind(&parts.headers) {
        None => (Vec::new(), body),
        Some(kind) => {
            let read = read_body(&parts.headers, body, config.max_body_bytes);
            let bytes = match tokio::time::timeout(config.body_read_timeout, read).await {
                Ok(result) => result?,
                Err(_) => {
                    tracing::debug!(target: "axes", "login request body not received in time");
                    return Err((
                        StatusCode::REQUEST_TIMEOUT,
                        "The request body did not arrive in time.",
                    )
                        .into_response());
                }
            };
            (body_fields(kind, &bytes), Body::from(bytes))
        }
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
        .client_ip_callable()
        .and_then(|callable| callable(&info))
        .unwrap_or_else(|| axes.proxies().client_ip(headers, peer.ip()));
    // As Django's QueryDict.get, the last value of a repeated field wins.
    let body_username = info.field(&config.username_form_field).map(str::to_owned);
    let mut client = ClientInfo::new(ip)
        .with_method(parts.method.clone())
        .with_path(parts.uri.path())
        .with_user_agent(header_text(headers, header::USER_AGENT).unwrap_or_else(|| UNKNOWN.into()))
        .with_http_accept(header_text(headers, header::ACCEPT).unwrap_or_else(|| UNKNOWN.into()))
        .with_request(info);
    client.set_username(body_username);
    axes.resolve_username(&mut client, None);
    Ok((client, Request::from_parts(parts, body)))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn username(kind: BodyKind, body: &str) -> Option<String> {
        let fields = body_fields(kind, body.as_bytes());
        let info = RequestInfo::new(
            http::Method::POST,
            "/".parse().unwrap(),
            HeaderMap::new(),
            "127.0.0.1:1".parse().unwrap(),
        )
        .with_fields(fields);
        info.field("username").map(str::to_owned)
    }

    #[test]
    fn username_comes_from_json_objects_only() {
        let read = |body: &str| username(BodyKind::Json, body);
        assert_eq!(
            read(r#"{"username":"alice","password":"x"}"#).as_deref(),
            Some("alice")
        );
        assert_eq!(read(r#"{"username":5}"#), None);
        assert_eq!(read(r#"["alice"]"#), None);
        assert_eq!(read("not json"), None);
        assert_eq!(read(r#"{"email":"alice"}"#), None);
    }

    #[test]
    fn form_takes_the_last_value_of_a_repeated_field() {
        let body = "username=mallory&password=x&username=al%20ice";
        assert_eq!(username(BodyKind::Form, body).as_deref(), Some("al ice"));
    }

    #[test]
    fn content_types_are_matched_by_essence() {
        let kind = |ct: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, ct.parse().unwrap());
            body_kind(&h)
        };
        assert_eq!(
            kind("application/json; charset=utf-8"),
            Some(BodyKind::Json)
        );
        assert_eq!(kind("application/vnd.api+json"), Some(BodyKind::Json));
        assert_eq!(
            kind("Application/X-WWW-Form-Urlencoded"),
            Some(BodyKind::Form)
        );
        assert_eq!(kind("text/plain"), None);
    }
}
