//! The trusted-device cookie (`device_cookie`): the `Set-Cookie` header the
//! layer adds to every successful login.

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
    let cookie = format!(
        "{name}={token}; Path=/; Max-Age={}; HttpOnly; Secure; SameSite=Lax",
        window.as_secs()
    );
    HeaderValue::from_str(&cookie).ok()
}
