//! The trusted-device cookie (`device_cookie`): the `Set-Cookie` header the
//! layer adds to every successful login.

use cookie::{Cookie, SameSite};
use http::HeaderValue;

use crate::config::AxesConfig;

/// The `Set-Cookie` header value carrying `token`, the trusted-device token
/// a success earned ([`Verdict::device_token`](crate::Verdict::device_token)):
/// `HttpOnly`, `Secure`, `SameSite=Lax`, living as long as
/// `trusted_client_window`. `None` without `device_cookie`.
pub(crate) fn device_cookie(config: &AxesConfig, token: &str) -> Option<HeaderValue> {
    let (Some(name), Some(window)) = (&config.device_cookie, config.trusted_client_window) else {
        return None;
    };
    let lasts = i64::try_from(window.as_secs()).unwrap_or(i64::MAX);
    let cookie = Cookie::build((name.as_str(), token))
        .path("/")
        .max_age(cookie::time::Duration::seconds(lasts))
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Lax);
    HeaderValue::from_str(&cookie.to_string()).ok()
}
