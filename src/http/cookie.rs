//! The trusted-device cookie (`device_cookie`): the `Set-Cookie` header the
//! layer adds to every successful login.

use http::HeaderValue;

use crate::engine::Axes;
use crate::identity::LoginAttempt;
use crate::policy::trust;

impl Axes {
    /// The `Set-Cookie` header value that makes the attempt's device a
    /// trusted client of `username` (with `device_cookie` and
    /// `trusted_client_window`; `None` otherwise), renewing the cookie the
    /// request sent. The layer adds it to the response of every successful
    /// login; call it yourself without the layer. The cookie is `HttpOnly`,
    /// `Secure`, `SameSite=Lax`, and lives as long as the window.
    ///
    /// ```
    /// let config = axes::AxesConfig::from_toml_str(r#"
    ///     trusted_client_window = "30d"
    ///     device_cookie = "axes_device"
    /// "#).unwrap();
    /// let axes = axes::Axes::new(config, axes::MemoryStore::new());
    /// let client = axes::ClientInfo::new("192.0.2.1".parse().unwrap());
    /// let cookie = axes.device_cookie(&axes::LoginAttempt::new(&client), "alice").unwrap();
    /// assert!(cookie.to_str().unwrap().starts_with("axes_device="));
    /// ```
    pub fn device_cookie(&self, attempt: &LoginAttempt<'_>, username: &str) -> Option<HeaderValue> {
        let config = self.config();
        let (Some(name), Some(window)) = (&config.device_cookie, config.trusted_client_window)
        else {
            return None;
        };
        let named = attempt.client().clone().with_username(username);
        let username = self.counted(&named).username()?.to_owned();
        let previous = attempt.request().and_then(|request| request.cookie(name));
        let value = trust::renewed(self.secret(), previous, &username, self.now(), window)?;
        let cookie = format!(
            "{name}={value}; Path=/; Max-Age={}; HttpOnly; Secure; SameSite=Lax",
            window.as_secs()
        );
        HeaderValue::from_str(&cookie).ok()
    }
}
