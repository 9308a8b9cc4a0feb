//! The lockout response: JSON for JSON clients, a short HTML text otherwise,
//! with the status from `http_response_code` and an optional `Retry-After`.

use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::{self, HeaderMap, HeaderValue};
use http::StatusCode;

use crate::config::{AxesConfig, LockoutResponseMode, BUSY_MESSAGE};
use crate::engine::{Axes, LockoutContext};
use crate::policy::{Lockout, LockoutReason};

impl Axes {
    /// The response for `lockout`, shaped for a request with
    /// `request_headers`: the lockout callable if one is set, JSON for JSON
    /// clients, the template, a redirect to `lockout_url`, or the message as
    /// HTML; with the status `http_response_code` and, if enabled,
    /// `Retry-After`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let config = axes::AxesConfig::builder().failure_limit(1).build().unwrap();
    /// let axes = axes::Axes::new(config, axes::MemoryStore::new());
    /// let client = axes::ClientInfo::new("192.0.2.1".parse().unwrap());
    /// let lockout = axes.login_failed(&client).await.unwrap().lockout.unwrap();
    /// let response = axes.lockout_response(&lockout, &http::HeaderMap::new());
    /// assert_eq!(response.status(), 429);
    /// # }
    /// ```
    pub fn lockout_response(&self, lockout: &Lockout, request_headers: &HeaderMap) -> Response {
        lockout_response(self, lockout, request_headers)
    }
}

/// The JSON lockout body, as django-axes' `JsonResponse` (keys in order).
#[derive(serde::Serialize)]
struct JsonLockout<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    cooloff_time: Option<String>,
    failure_count: u64,
    failure_limit: u32,
    message: &'a str,
    username: &'a str,
}

/// Builds the response for `lockout`, shaped for the request whose headers
/// are `request_headers`. In order: the lockout callable; JSON when the
/// request is JSON, accepts JSON or is an XHR; the template; a redirect to
/// `lockout_url`; the message as HTML.
fn lockout_response(axes: &Axes, lockout: &Lockout, request_headers: &HeaderMap) -> Response {
    #[cfg(feature = "metrics")]
    crate::metrics::refusal(lockout.reason);
    let config = axes.config();
    let hooks = &axes.hooks().response;
    let now = axes.now();
    if config.lockout_response == LockoutResponseMode::Indistinguishable {
        return bad_credentials(config);
    }
    let status =
        StatusCode::from_u16(config.http_response_code).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
    let cooloff = lockout.cooloff;
    // A failure lockout that does not end on its own (no cool-off, or past
    // `max_temporary_lockouts`) says so; otherwise django-axes' choice by
    // the settings.
    let lasts_until_reset =
        lockout.reason == LockoutReason::TooManyFailures && lockout.locked_until.is_none();
    let busy = lockout.reason == LockoutReason::TooManyInFlight;
    let message = if busy {
        BUSY_MESSAGE
    } else if !lasts_until_reset && (config.has_cooloff() || cooloff.is_some()) {
        &config.cooloff_message
    } else {
        &config.permalock_message
    };
    let context = LockoutContext {
        lockout,
        request_headers,
        message,
        cooloff,
        retry_after: lockout.retry_after(now),
        status,
    };
    if let Some(callable) = &hooks.callable {
        return callable(&context);
    }
    let mut response = if wants_json(request_headers) {
        let body = JsonLockout {
            cooloff_time: cooloff.map(iso8601_duration),
            failure_count: lockout.failures,
            failure_limit: lockout.failure_limit,
            message,
            username: lockout.username.as_deref().unwrap_or(""),
        };
        (status, axum::Json(body)).into_response()
    } else if let Some(template) = &hooks.template {
        html(status, template(&context))
    } else if let Some(url) = &config.lockout_url {
        redirect(url, lockout.username.as_deref())
    } else {
        html(status, escape_html(message))
    };
    // A busy refusal always says how long to wait; a lockout when enabled.
    if config.enable_retry_after_header || busy {
        if let Some(wait) = context.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs()));
        }
    }
    response
}

/// What a client that skipped a required challenge is told.
pub(crate) const CHALLENGE_MESSAGE: &str =
    "Challenge required: complete the challenge, then try again.";

impl Axes {
    /// The answer to an attempt that skipped the challenge its check asked
    /// for (`challenge_after`): `403` with a JSON or HTML message, or the
    /// bad-password answer in `lockout_response = "indistinguishable"`
    /// mode. The same whatever the password was.
    ///
    /// ```
    /// let axes = axes::Axes::new(axes::AxesConfig::default(), axes::MemoryStore::new());
    /// let response = axes.challenge_response(&http::HeaderMap::new());
    /// assert_eq!(response.status(), 403);
    /// ```
    pub fn challenge_response(&self, request_headers: &HeaderMap) -> Response {
        let config = self.config();
        if config.lockout_response == LockoutResponseMode::Indistinguishable {
            return bad_credentials(config);
        }
        if wants_json(request_headers) {
            let body = serde_json::json!({
                "challenge_required": true,
                "message": CHALLENGE_MESSAGE,
            });
            return (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
        }
        html(StatusCode::FORBIDDEN, escape_html(CHALLENGE_MESSAGE))
    }
}

/// The application's answer to a bad password, as configured.
fn bad_credentials(config: &AxesConfig) -> Response {
    let mut response = Response::new(Body::from(config.bad_credentials_body.clone()));
    *response.status_mut() =
        StatusCode::from_u16(config.bad_credentials_status).unwrap_or(StatusCode::FORBIDDEN);
    if let Some(content_type) = &config.bad_credentials_content_type {
        if let Ok(value) = HeaderValue::from_str(content_type) {
            response.headers_mut().insert(header::CONTENT_TYPE, value);
        }
    }
    response
}

fn html(status: StatusCode, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// `302 Found` to `url`, with `?username=` as django-axes adds it.
fn redirect(url: &str, username: Option<&str>) -> Response {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("username", username.unwrap_or(""))
        .finish();
    let separator = if url.contains('?') { '&' } else { '?' };
    let location = format!("{url}{separator}{query}");
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::FOUND;
    if let Ok(value) = HeaderValue::try_from(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

pub(crate) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// Whether the client sent or accepts JSON, or is an XHR.
fn wants_json(headers: &HeaderMap) -> bool {
    let has = |name: header::HeaderName, needle: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .map(|s| s.to_ascii_lowercase().contains(needle))
                .unwrap_or(false)
        })
    };
    has(header::CONTENT_TYPE, "json")
        || has(header::ACCEPT, "application/json")
        || has(
            header::HeaderName::from_static("x-requested-with"),
            "xmlhttprequest",
        )
}

/// A duration in ISO 8601 form as django-axes writes it: `P[nD][T[nH][nM][nS]]`,
/// zero parts left out, seconds rounded (`PT5M`, `PT2H30M5S`, `P15D`).
fn iso8601_duration(duration: Duration) -> String {
    let total = duration.as_secs() + u64::from(duration.subsec_millis() >= 500);
    let (days, rest) = (total / 86_400, total % 86_400);
    let (hours, minutes, seconds) = (rest / 3600, rest % 3600 / 60, rest % 60);
    let mut out = String::from("P");
    if days > 0 {
        out.push_str(&format!("{days}D"));
    }
    if hours + minutes + seconds > 0 {
        out.push('T');
        for (value, unit) in [(hours, 'H'), (minutes, 'M'), (seconds, 'S')] {
            if value > 0 {
                out.push_str(&format!("{value}{unit}"));
            }
        }
    }
    if out == "P" {
        out.push_str("T0S");
    }
    out
}

/// The answer when the store fails and `on_store_error` fails closed.
pub(crate) fn store_unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "Login is temporarily unavailable: the lockout store cannot be reached. Please try again later.",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_matches_django_axes_examples() {
        let cases = [
            (86_400 + 25 * 3600 + 42 * 60 + 8, "P2DT1H42M8S"),
            (7 * 86_400 + 342, "P7DT5M42S"),
            (2 * 3600 + 42 * 60, "PT2H42M"),
            (20 * 3600 + 42, "PT20H42S"),
            (300, "PT5M"),
            (9005, "PT2H30M5S"),
            (9005 * 60, "P6DT6H5M"),
            (15 * 86_400, "P15D"),
        ];
        for (secs, expected) in cases {
            assert_eq!(iso8601_duration(Duration::from_secs(secs)), expected);
        }
    }

    #[test]
    fn redirects_carry_the_username_form_encoded() {
        let response = redirect("/locked/", Some("bob smith"));
        assert_eq!(response.status(), StatusCode::FOUND);
        assert_eq!(
            response.headers()[header::LOCATION],
            "/locked/?username=bob+smith"
        );
        let response = redirect("/locked/?lang=en", Some("a&b"));
        assert_eq!(
            response.headers()[header::LOCATION],
            "/locked/?lang=en&username=a%26b"
        );
    }

    #[test]
    fn messages_are_escaped() {
        assert_eq!(
            escape_html("<b>\"a\" & 'b'</b>"),
            "&lt;b&gt;&quot;a&quot; &amp; &#x27;b&#x27;&lt;/b&gt;"
        );
    }

    #[test]
    fn json_is_chosen_by_content_type_accept_or_xhr() {
        for (name, value) in [
            ("content-type", "application/json"),
            ("accept", "text/html, application/json;q=0.9"),
            ("x-requested-with", "XMLHttpRequest"),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
            assert!(wants_json(&headers), "{name}");
        }
        assert!(!wants_json(&HeaderMap::new()));
    }
}
