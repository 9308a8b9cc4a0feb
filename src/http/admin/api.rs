//! The JSON endpoints: the lockouts and attempt records a search finds,
//! and a reset.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::{header, HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{csrf, Search};
use crate::engine::Axes;

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

pub(super) async fn lockouts(State(axes): State<Axes>, Query(search): Query<Search>) -> Response {
    let filter = match search.filter() {
        Ok(filter) => filter,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    match axes.lockouts(filter).await {
        Ok(found) => {
            let now = axes.now();
            let rows: Vec<Value> = search
                .paged(&found)
                .iter()
                .map(|l| l.to_json(now))
                .collect();
            Json(Value::Array(rows)).into_response()
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

pub(super) async fn attempts(State(axes): State<Axes>, Query(search): Query<Search>) -> Response {
    let filter = match search.filter() {
        Ok(filter) => filter,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    match axes.attempts(filter).await {
        Ok(found) => {
            let rows: Vec<Value> = search
                .paged(&found)
                .iter()
                .map(crate::store::AccessAttempt::to_json)
                .collect();
            Json(Value::Array(rows)).into_response()
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetBody {
    #[serde(default)]
    ip: String,
    #[serde(default)]
    username: String,
}

/// A reset. Only `Content-Type: application/json`, which no cross-site
/// form can send, and never a request a browser marks cross-site.
pub(super) async fn reset(State(axes): State<Axes>, headers: HeaderMap, body: Bytes) -> Response {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| m.essence_str() == "application/json");
    if !json {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send Content-Type: application/json",
        );
    }
    if csrf::cross_site(&headers) {
        return error(StatusCode::FORBIDDEN, "cross-site reset refused");
    }
    let body: ResetBody = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let search = Search {
        ip: body.ip,
        username: body.username,
        ..Search::default()
    };
    match search.filter() {
        Ok(crate::store::AttemptFilter::All) => error(
            StatusCode::BAD_REQUEST,
            "name an IP address or a username to reset",
        ),
        Ok(filter) => match axes.reset(filter).await {
            Ok(removed) => Json(json!({ "removed": removed })).into_response(),
            Err(crate::engine::AxesError::InvalidFilter(e)) => {
                error(StatusCode::BAD_REQUEST, e.to_string())
            }
            Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        },
        Err(message) => error(StatusCode::BAD_REQUEST, message),
    }
}
