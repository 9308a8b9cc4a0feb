//! Cross-site request forgery protection, after Django's: the `Origin` and
//! `Sec-Fetch-Site` headers a browser sends, and a token bound to a cookie
//! for requests that carry neither.

use http::{header, HeaderMap, HeaderValue};

use crate::engine::Axes;
use crate::identity::cookie;

/// The cookie holding the random value a page's tokens are bound to.
pub(super) const COOKIE: &str = "axes_admin_csrf";

const PURPOSE: &str = "axes-admin-csrf";

/// Whether a state-changing request may proceed: never when the
/// browser marks it cross-site or its `Origin` is another host; when it
/// carries neither header, only with a valid `token`.
pub(super) fn check(axes: &Axes, headers: &HeaderMap, token: &str) -> Result<(), &'static str> {
    if cross_site(headers) {
        return Err("cross-site reset refused");
    }
    if headers.contains_key("sec-fetch-site") || headers.contains_key(header::ORIGIN) {
        return Ok(());
    }
    let bound = cookie(headers, COOKIE).unwrap_or("");
    if !bound.is_empty()
        && axes
            .engine
            .secret()
            .verify(PURPOSE, &[bound.as_bytes()], token)
    {
        Ok(())
    } else {
        Err("reset refused: the request carries neither Origin nor Sec-Fetch-Site, and no valid CSRF token; reset from the admin's pages")
    }
}

/// Whether a browser marks the request cross-site (`Sec-Fetch-Site`),
/// or — from a browser that does not send that header — its `Origin`
/// is not the host it was sent to. `Sec-Fetch-Site` decides when sent:
/// the pages' `Referrer-Policy: no-referrer` makes a browser send
/// `Origin: null` with their own forms.
pub(super) fn cross_site(headers: &HeaderMap) -> bool {
    let header = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = headers.get("sec-fetch-site") {
        return !matches!(site.to_str().unwrap_or(""), "same-origin" | "none");
    }
    headers.get(header::ORIGIN).is_some_and(|origin| {
        let origin = origin.to_str().unwrap_or("");
        !header(header::HOST).is_some_and(|host| {
            origin
                .split_once("://")
                .is_some_and(|(_, authority)| authority == host)
        })
    })
}

/// What a page's forms carry: the token of the request's cookie, and
/// the cookie to set when the request had none.
pub(super) struct Binding {
    pub token: String,
    pub set_cookie: Option<HeaderValue>,
}

impl Binding {
    pub fn of(axes: &Axes, headers: &HeaderMap, base: &str) -> Self {
        let sent = cookie(headers, COOKIE)
            .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()));
        let (bound, set_cookie) = match sent {
            Some(value) => (value.to_owned(), None),
            None => {
                let value = crate::secret::random_hex(32).unwrap_or_default();
                let path = if base.is_empty() { "/" } else { base };
                let cookie = cookie::Cookie::build((COOKIE, value.as_str()))
                    .path(path)
                    .http_only(true)
                    .same_site(cookie::SameSite::Strict);
                let header = HeaderValue::from_str(&cookie.to_string()).ok();
                (value, header)
            }
        };
        let token = axes
            .engine
            .secret()
            .sign(PURPOSE, &[bound.as_bytes()])
            .unwrap_or_default();
        Self { token, set_cookie }
    }
}
