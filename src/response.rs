//! The lockout response: JSON for JSON clients, a short HTML text otherwise,
//! with the status from `http_response_code` and an optional `Retry-After`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::{self, HeaderMap, HeaderValue};
use http::StatusCode;

use crate::config::{AxesConfig, LockoutResponseMode};
use crate::policy::{Lockout, LockoutReason};

/// django-axes' message for a lockout that ends on its own.
pub const COOLOFF_MESSAGE: &str =
    "Account locked: too many login attempts. Please try again later.";

/// django-axes' message for a lockout that lasts until reset.
pub const PERMALOCK_MESSAGE: &str =
    "Account locked: too many login attempts. Contact an admin to unlock your account.";

/// The message of an attempt refused because too many attempts of its
/// client were in flight: not a lockout, only a moment's wait.
pub const BUSY_MESSAGE: &str =
    "Too many login attempts are in progress for this account or address. Please try again in a moment.";

/// What a lockout response is made from: handed to the
/// [`lockout_callable`](crate::AxesBuilder::lockout_callable) and
/// [`lockout_template`](crate::AxesBuilder::lockout_template) hooks.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct LockoutContext<'a> {
    /// The lockout.
    pub lockout: &'a Lockout,
    /// The headers of the refused request.
    pub request_headers: &'a HeaderMap,
    /// The message for this lockout (`cooloff_message` or `permalock_message`).
    pub message: &'a str,
    /// The cool-off of the lockout's tier, if lockouts end on their own.
    pub cooloff: Option<Duration>,
    /// Time until the lockout ends, rounded up to whole seconds.
    pub retry_after: Option<Duration>,
    /// The status the response should carry (`http_response_code`).
    pub status: StatusCode,
}

/// A custom lockout response (django-axes' `AXES_LOCKOUT_CALLABLE`).
pub type LockoutCallable = dyn Fn(&LockoutContext<'_>) -> Response + Send + Sync;

/// Renders the HTML body of the lockout response (django-axes'
/// `AXES_LOCKOUT_TEMPLATE`).
pub type LockoutTemplate = dyn Fn(&LockoutContext<'_>) -> String + Send + Sync;

/// The hooks that shape a lockout response.
#[derive(Clone, Default)]
pub(crate) struct ResponseHooks {
    pub callable: Option<Arc<LockoutCallable>>,
    pub template: Option<Arc<LockoutTemplate>>,
}

/// Builds the response for `lockout`, shaped for the request whose headers
/// are `request_headers`. In order: the lockout callable; JSON when the
/// request is JSON, accepts JSON or is an XHR; the template; a redirect to
/// `lockout_url`; the message as HTML.
pub(crate) fn lockout_response(
    config: &AxesConfig,
    hooks: &ResponseHooks,
    lockout: &Lockout,
    request_headers: &HeaderMap,
    now: SystemTime,
) -> Response {
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
        let mut body = serde_json::json!({
            "message": message,
            "failure_limit": lockout.failure_limit,
            "failure_count": lockout.failures,
            "username": lockout.username.as_deref().unwrap_or(""),
        });
        if let Some(cooloff) = cooloff {
            body["cooloff_time"] = iso8601_duration(cooloff).into();
        }
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
/// zero parts left out, seconds rounded.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(axes::iso8601_duration(Duration::from_secs(300)), "PT5M");
/// assert_eq!(axes::iso8601_duration(Duration::from_secs(9005)), "PT2H30M5S");
/// assert_eq!(axes::iso8601_duration(Duration::from_secs(15 * 86400)), "P15D");
/// ```
pub fn iso8601_duration(duration: Duration) -> String {
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
