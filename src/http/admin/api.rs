//! The JSON endpoints: the lockouts and attempt records a search finds,
//! and a reset.

use std::future::Future;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{csrf, Search};
use crate::engine::{Axes, AxesError};
use crate::store::{AccessAttempt, AttemptFilter};

/// Every JSON answer is private: never cached, never sniffed as another
/// type (as the pages are).
pub(super) async fn private(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

pub(super) async fn lockouts(State(axes): State<Axes>, Query(search): Query<Search>) -> Response {
    let now = axes.now();
    listing(&search, |filter| axes.lockouts(filter), |l| l.to_json(now)).await
}

pub(super) async fn attempts(State(axes): State<Axes>, Query(search): Query<Search>) -> Response {
    listing(
        &search,
        |filter| axes.attempts(filter),
        AccessAttempt::to_json,
    )
    .await
}

/// A page of what `fetch` finds for `search`, a JSON value a row: the JSON
/// side of the pages' listing. 400 when the search is not one, 503 when
/// the store fails.
async fn listing<T, Fut>(
    search: &Search,
    fetch: impl FnOnce(AttemptFilter) -> Fut,
    row: impl Fn(&T) -> Value,
) -> Response
where
    Fut: Future<Output = Result<Vec<T>, AxesError>>,
{
    let filter = match search.filter() {
        Ok(filter) => filter,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    match fetch(filter).await {
        Ok(found) => {
            let rows = search.paged(&found).iter().map(row).collect();
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
