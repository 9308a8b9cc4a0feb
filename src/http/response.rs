//! The lockout response: JSON for JSON clients, a short HTML text otherwise,
//! with the status from `http_response_code` and an optional `Retry-After`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::{self, HeaderMap, HeaderValue};
use http::StatusCode;

use super::cookie::device_cookie;
use crate::config::{AxesConfig, LockoutResponseMode, BUSY_MESSAGE};
use crate::engine::{Answer, Axes, Verdict};
use crate::policy::{Lockout, LockoutReason};

/// What a lockout response is made from: handed to the
/// [`lockout_callable`](crate::AxesLayer::lockout_callable) and
/// [`lockout_template`](crate::AxesLayer::lockout_template) hooks.
///
/// ```
/// use axum::response::IntoResponse;
/// # let axes = axes::Axes::new(axes::AxesConfig::default(), axes::MemoryStore::new());
/// let layer = axes::AxesLayer::new(axes).lockout_callable(|ctx: &axes::LockoutContext<'_>| {
///     (ctx.status, format!("{} (retry in {:?})", ctx.message, ctx.retry_after)).into_response()
/// });
/// # drop(layer);
/// ```
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
    /// The handler's own response, when the lockout answers an attempt the
    /// handler ran (a failure that reached the limit), as django-axes 8.1
    /// hands the view's response to its lockout callable: a site keeps its
    /// own headers and cookies from it. `None` for an attempt refused
    /// before the handler.
    pub handler_response: Option<&'a Response>,
}

/// A custom lockout response (django-axes' `AXES_LOCKOUT_CALLABLE`).
pub type LockoutCallable = dyn Fn(&LockoutContext<'_>) -> Response + Send + Sync;

/// Renders the HTML body of the lockout response (django-axes'
/// `AXES_LOCKOUT_TEMPLATE`).
pub type LockoutTemplate = dyn Fn(&LockoutContext<'_>) -> String + Send + Sync;

/// How the layer answers for the engine: the lockout and challenge
/// responses, shaped by the configuration and the hooks set on the layer.
#[derive(Clone)]
pub(crate) struct Responses {
    pub axes: Axes,
    pub callable: Option<Arc<LockoutCallable>>,
    pub template: Option<Arc<LockoutTemplate>>,
}

impl fmt::Debug for Responses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responses")
            .field("lockout_callable", &self.callable.is_some())
            .field("lockout_template", &self.template.is_some())
            .finish()
    }
}

impl Responses {
    /// The responses of `axes`, with no hook.
    pub fn new(axes: Axes) -> Self {
        Self {
            axes,
            callable: None,
            template: None,
        }
    }

    /// The response for `lockout`, shaped for a request with
    /// `request_headers`. In order: the lockout callable; JSON when the
    /// request is JSON, accepts JSON or is an XHR; the template; a redirect
    /// to `lockout_url`; the message as HTML. With the status
    /// `http_response_code` and, if enabled, `Retry-After`.
    pub fn lockout(&self, lockout: &Lockout, request_headers: &HeaderMap) -> Response {
        lockout_response(self, lockout, request_headers, None)
    }

    /// Whether lockouts are hidden (`lockout_response = "indistinguishable"`):
    /// no answer may tell a locked key from an open one.
    pub fn hide_lockouts(&self) -> bool {
        self.axes.config().lockout_response == LockoutResponseMode::Indistinguishable
    }

    /// The answer to a reported attempt: the handler's `response` (with the
    /// trusted-device cookie a success earned), or the lockout or the
    /// challenge instead, as the engine's `verdict` says.
    pub fn answer(
        &self,
        verdict: &Verdict,
        mut response: Response,
        headers: &HeaderMap,
    ) -> Response {
        if self.hide_lockouts() && (verdict.failure().is_some() || verdict.lockout().is_some()) {
            // Locked or not, a failure is answered as a wrong password.
            return bad_credentials(self.axes.config());
        }
        match verdict.answer() {
            Answer::Refused(lockout) => lockout_response(self, lockout, headers, Some(&response)),
            Answer::Challenge => self.challenge(headers),
            _ => {
                let config = self.axes.config();
                let cookie = verdict
                    .device_token()
                    .and_then(|t| device_cookie(config, t));
                if let Some(cookie) = cookie {
                    response.headers_mut().append(header::SET_COOKIE, cookie);
                }
                response
            }
        }
    }

    /// The answer to an attempt that skipped the challenge its check asked
    /// for (`challenge_after`): `403` with a JSON or HTML message, or the
    /// bad-password answer in `lockout_response = "indistinguishable"`
    /// mode. The same whatever the password was.
    pub fn challenge(&self, request_headers: &HeaderMap) -> Response {
        let config = self.axes.config();
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
fn lockout_response(
    responses: &Responses,
    lockout: &Lockout,
    request_headers: &HeaderMap,
    handler_response: Option<&Response>,
) -> Response {
    #[cfg(feature = "metrics")]
    crate::metrics::refusal(lockout.reason);
    let config = responses.axes.config();
    let now = responses.axes.now();
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
        handler_response,
    };
    if let Some(callable) = &responses.callable {
        return callable(&context);
    }
    let mut response = if config.lockout_response == LockoutResponseMode::Problem {
        problem(lockout, message, status, &context)
    } else if wants_json(request_headers) {
        let body = JsonLockout {
            cooloff_time: cooloff.map(iso8601_duration),
            failure_count: lockout.failures,
            failure_limit: lockout.failure_limit,
            message,
            username: lockout.username.as_deref().unwrap_or(""),
        };
        (status, axum::Json(body)).into_response()
    } else if let Some(template) = &responses.template {
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

/// The quota-exceeded problem type of the RateLimit draft.
const QUOTA_EXCEEDED: &str = "https://iana.org/assignments/http-problem-types#quota-exceeded";

/// `lockout` as an RFC 9457 problem document (`lockout_response =
/// "problem"`): the RateLimit draft's `quota-exceeded` type, the policy
/// violated, the message, the counts and the wait as members.
fn problem(
    lockout: &Lockout,
    message: &str,
    status: StatusCode,
    context: &LockoutContext<'_>,
) -> Response {
    let policy = match lockout.reason {
        LockoutReason::TooManyInFlight => "axes-in-flight",
        LockoutReason::SecondFactor => "axes-second-factor",
        _ => "axes",
    };
    let body = serde_json::json!({
        "type": QUOTA_EXCEEDED,
        "title": "Request cannot be satisfied as assigned quota has been exceeded",
        "status": status.as_u16(),
        "detail": message,
        "violated-policies": [policy],
        "reason": lockout.reason.as_str(),
        "failure_count": lockout.failures,
        "failure_limit": lockout.failure_limit,
        "username": lockout.username,
        "retry-after": context.retry_after.map(|wait| wait.as_secs()),
    });
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
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

/// `text` as HTML text: escaped as the admin's templates escape every
/// value (maud's escaper), so that one escaper serves the crate.
pub(crate) fn escape_html(text: &str) -> String {
    maud::html! { (text) }.into_string()
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
            "&lt;b&gt;&quot;a&quot; &amp; 'b'&lt;/b&gt;"
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
