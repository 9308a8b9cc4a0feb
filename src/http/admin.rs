//! The "Access Attempts" admin as a web UI: attempt records, the access
//! log and the failure log, with filters, and a reset button per record.
//!
//! [`router`] gives an axum [`Router`] to nest under a path of your choice.
//! It has no authentication of its own: mount it behind the middleware that
//! admits your administrators, as django-axes' admin sits behind Django's.
//!
//! ```
//! use axum::Router;
//! let axes = axes::Axes::new(axes::AxesConfig::default(), axes::MemoryStore::new());
//! let app: Router = Router::new().nest("/admin/axes", axes::admin::router(axes));
//! // .layer(your_admin_only_auth_layer)
//! # drop(app);
//! ```
//!
//! Every page is rendered on the server with every value HTML-escaped and
//! sent with a strict `Content-Security-Policy`, `X-Frame-Options: DENY`
//! and `Cache-Control: no-store`. A reset is a `POST` that must come from
//! the admin's own pages, as Django admin's are protected: a request a
//! browser marks as cross-site (`Sec-Fetch-Site`) or whose `Origin` is
//! another host is refused, and one that carries neither header must carry
//! the CSRF token the pages embed in their forms (bound to a cookie the
//! pages set, signed with the engine's secret).
//!
//! Usernames are taken exactly as typed: ` alice` never selects `alice`,
//! and a username of only spaces is an error, never "no username".

use std::fmt::Write as _;
use std::future::Future;
use std::net::IpAddr;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, NestedPath, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use http::request::Parts;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde::Deserialize;

use crate::engine::{Axes, AxesError};
use crate::store::{AccessAttempt, AccessFailureLog, AccessLog, AttemptFilter};

/// How many rows a page shows at most (the newest).
pub const PAGE_ROWS: usize = 500;

/// The admin's routes: `/` (attempt records), `/access-logs`,
/// `/failure-logs`, and `POST /reset`.
pub fn router(axes: Axes) -> Router {
    Router::new()
        .route("/", get(attempts))
        .route("/access-logs", get(access_logs))
        .route("/failure-logs", get(failure_logs))
        .route("/reset", post(reset))
        .with_state(axes)
}

/// Where the admin is mounted: the path it is nested under (empty at the
/// root), for its links.
struct Base(String);

impl<S: Send + Sync> FromRequestParts<S> for Base {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let nested = parts.extensions.get::<NestedPath>().map(NestedPath::as_str);
        Ok(Self(nested.unwrap_or("").trim_end_matches('/').to_owned()))
    }
}

/// The filter of a page, from its query string.
#[derive(Debug, Default, Deserialize)]
struct Search {
    #[serde(default)]
    ip: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    message: String,
}

impl Search {
    /// The store filter, or why the search is not one.
    fn filter(&self) -> Result<AttemptFilter, String> {
        let ip = match self.ip.trim() {
            "" => None,
            text => Some(
                text.parse::<IpAddr>()
                    .map_err(|_| format!("`{text}` is not an IP address"))?,
            ),
        };
        // Exactly as typed: the engine refuses white space it would not
        // count, and a username of only white space.
        let username = Some(self.username.as_str())
            .filter(|u| !u.is_empty())
            .map(str::to_owned);
        Ok(match (ip, username) {
            (None, None) => AttemptFilter::All,
            (Some(ip), None) => AttemptFilter::Ip(ip),
            (None, Some(username)) => AttemptFilter::Username(username),
            (Some(ip), Some(username)) => AttemptFilter::IpAndUsername(ip, username),
        })
    }
}

async fn attempts(
    State(axes): State<Axes>,
    Base(base): Base,
    headers: HeaderMap,
    Query(search): Query<Search>,
) -> Response {
    let columns = [
        "IP address",
        "Username",
        "User agent",
        "Path",
        "Failures",
        "Last attempt",
        "",
    ];
    let page = Page::new(
        &base,
        "Access attempts",
        &search,
        csrf::Binding::of(&axes, &headers, &base),
    );
    let row = |a: &AccessAttempt| {
        let ip = ip_text(a.ip_address);
        let username = a.username.clone().unwrap_or_default();
        vec![
            Cell::Text(ip.clone()),
            Cell::Text(username.clone()),
            Cell::Text(a.user_agent.clone()),
            Cell::Text(a.path_info.clone()),
            Cell::Text(a.failures.to_string()),
            Cell::Text(time(a.attempt_time)),
            Cell::Reset { ip, username },
        ]
    };
    listing(page, |filter| axes.attempts(filter), &columns, row).await
}

async fn access_logs(
    State(axes): State<Axes>,
    Base(base): Base,
    headers: HeaderMap,
    Query(search): Query<Search>,
) -> Response {
    let columns = [
        "IP address",
        "Username",
        "User agent",
        "Path",
        "Logged in",
        "Logged out",
    ];
    let page = Page::new(
        &base,
        "Access logs",
        &search,
        csrf::Binding::of(&axes, &headers, &base),
    );
    let row = |e: &AccessLog| {
        vec![
            Cell::Text(ip_text(e.ip_address)),
            Cell::Text(e.username.clone()),
            Cell::Text(e.user_agent.clone()),
            Cell::Text(e.path_info.clone()),
            Cell::Text(time(e.attempt_time)),
            Cell::Text(e.logout_time.map(time).unwrap_or_default()),
        ]
    };
    listing(page, |filter| axes.access_logs(filter), &columns, row).await
}

async fn failure_logs(
    State(axes): State<Axes>,
    Base(base): Base,
    headers: HeaderMap,
    Query(search): Query<Search>,
) -> Response {
    let columns = [
        "IP address",
        "Username",
        "User agent",
        "Path",
        "Failed at",
        "Locked out",
    ];
    let page = Page::new(
        &base,
        "Failure logs",
        &search,
        csrf::Binding::of(&axes, &headers, &base),
    );
    let row = |e: &AccessFailureLog| {
        vec![
            Cell::Text(ip_text(e.ip_address)),
            Cell::Text(e.username.clone().unwrap_or_default()),
            Cell::Text(e.user_agent.clone()),
            Cell::Text(e.path_info.clone()),
            Cell::Text(time(e.attempt_time)),
            Cell::Text(if e.locked_out { "yes" } else { "no" }.to_owned()),
        ]
    };
    listing(page, |filter| axes.failure_logs(filter), &columns, row).await
}

/// A page of what `fetch` finds for the page's search, a row each; the
/// error, when the search is not one or the store fails.
async fn listing<T, Fut>(
    page: Page<'_>,
    fetch: impl FnOnce(AttemptFilter) -> Fut,
    columns: &[&str],
    row: impl Fn(&T) -> Vec<Cell>,
) -> Response
where
    Fut: Future<Output = Result<Vec<T>, AxesError>>,
{
    let found = match page.search.filter() {
        Ok(filter) => fetch(filter).await.map_err(|e| e.to_string()),
        Err(message) => Err(message),
    };
    match found {
        Ok(items) => page.table(columns, items.len(), items.iter().map(row)),
        Err(message) => page.error(&message),
    }
}

/// An address as the pages show it (empty when unknown).
fn ip_text(ip: Option<IpAddr>) -> String {
    ip.map(|ip| ip.to_string()).unwrap_or_default()
}

/// Resets the records of the posted `ip` and/or `username`, then goes back
/// to the attempts page with what it did.
async fn reset(
    State(axes): State<Axes>,
    Base(base): Base,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut search = Search::default();
    let mut token = String::new();
    for (key, value) in form_urlencoded::parse(&body) {
        match key.as_ref() {
            "ip" => search.ip = value.into_owned(),
            "username" => search.username = value.into_owned(),
            CSRF_FIELD => token = value.into_owned(),
            _ => {}
        }
    }
    if let Err(refusal) = csrf::check(&axes, &headers, &token) {
        return (StatusCode::FORBIDDEN, refusal).into_response();
    }
    let message = match search.filter() {
        Ok(AttemptFilter::All) => "Name an IP address or a username to reset.".to_owned(),
        Ok(filter) => match axes.reset(filter).await {
            Ok(0) => "No attempts found.".to_owned(),
            Ok(n) => format!("{n} attempts removed."),
            Err(error) => error.to_string(),
        },
        Err(message) => message,
    };
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("message", &message)
        .finish();
    Redirect::to(&format!("{}?{query}", home(&base))).into_response()
}

/// The attempts page of an admin mounted at `base`.
fn home(base: &str) -> &str {
    if base.is_empty() {
        "/"
    } else {
        base
    }
}

/// The name of the form field that carries the CSRF token.
const CSRF_FIELD: &str = "csrf";

/// Cross-site request forgery protection, after Django's: the `Origin` and
/// `Sec-Fetch-Site` headers a browser sends, and a token bound to a cookie
/// for requests that carry neither.
mod csrf {
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
        let header = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        let site = header(header::HeaderName::from_static("sec-fetch-site"));
        let origin = header(header::ORIGIN);
        if let Some(site) = site {
            if !matches!(site, "same-origin" | "none") {
                return Err("cross-site reset refused");
            }
        }
        if let Some(origin) = origin {
            let same_host = header(header::HOST).is_some_and(|host| {
                origin
                    .split_once("://")
                    .is_some_and(|(_, authority)| authority == host)
            });
            if !same_host {
                return Err("cross-site reset refused");
            }
        }
        if site.is_some() || origin.is_some() {
            return Ok(());
        }
        let bound = cookie(headers, COOKIE).unwrap_or("");
        if !bound.is_empty() && axes.secret().verify(PURPOSE, &[bound.as_bytes()], token) {
            Ok(())
        } else {
            Err("reset refused: the request carries neither Origin nor Sec-Fetch-Site, and no valid CSRF token; reset from the admin's pages")
        }
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
                    let cookie =
                        format!("{COOKIE}={value}; Path={path}; HttpOnly; SameSite=Strict");
                    (value, HeaderValue::from_str(&cookie).ok())
                }
            };
            let token = axes
                .secret()
                .sign(PURPOSE, &[bound.as_bytes()])
                .unwrap_or_default();
            Self { token, set_cookie }
        }
    }
}

/// A time as UTC, to the second (RFC 3339).
fn time(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

/// One cell of a table.
enum Cell {
    Text(String),
    /// A reset button for the records of this IP and username.
    Reset {
        ip: String,
        username: String,
    },
}

/// One page of the admin.
struct Page<'a> {
    base: String,
    title: &'a str,
    search: &'a Search,
    csrf: csrf::Binding,
}

impl<'a> Page<'a> {
    fn new(base: &str, title: &'a str, search: &'a Search, csrf: csrf::Binding) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            title,
            search,
            csrf,
        }
    }

    fn error(&self, message: &str) -> Response {
        let mut html = self.header();
        let _ = write!(html, "<p class=error>{}</p>", escape(message));
        self.respond(StatusCode::BAD_REQUEST, html)
    }

    /// The page, with the CSRF cookie when the request had none.
    fn respond(&self, status: StatusCode, html: String) -> Response {
        let mut response = respond(status, html);
        if let Some(cookie) = &self.csrf.set_cookie {
            response
                .headers_mut()
                .append(header::SET_COOKIE, cookie.clone());
        }
        response
    }

    fn table(
        &self,
        columns: &[&str],
        total: usize,
        rows: impl Iterator<Item = Vec<Cell>>,
    ) -> Response {
        let mut html = self.header();
        if total > PAGE_ROWS {
            let _ = write!(html, "<p>The newest {PAGE_ROWS} of {total}.</p>");
        } else {
            let _ = write!(html, "<p>{total} found.</p>");
        }
        html.push_str("<table><thead><tr>");
        for column in columns {
            let _ = write!(html, "<th>{}</th>", escape(column));
        }
        html.push_str("</tr></thead><tbody>");
        for row in rows.take(PAGE_ROWS) {
            html.push_str("<tr>");
            for cell in row {
                match cell {
                    Cell::Text(text) => {
                        let _ = write!(html, "<td>{}</td>", escape(&text));
                    }
                    Cell::Reset { ip, username } => {
                        let _ = write!(
                            html,
                            "<td><form method=post action=\"{}/reset\">\
                             <input type=hidden name=ip value=\"{}\">\
                             <input type=hidden name=username value=\"{}\">\
                             <input type=hidden name={CSRF_FIELD} value=\"{}\">\
                             <button>Reset</button></form></td>",
                            escape(&self.base),
                            escape(&ip),
                            escape(&username),
                            escape(&self.csrf.token),
                        );
                    }
                }
            }
            html.push_str("</tr>");
        }
        html.push_str("</tbody></table></body></html>");
        self.respond(StatusCode::OK, html)
    }

    fn header(&self) -> String {
        let base = escape(&self.base);
        let mut html = format!(
            "<!doctype html><html><head><meta charset=utf-8><title>{title} · axes</title>\
             <style>body{{font:14px sans-serif;margin:2em}}table{{border-collapse:collapse}}\
             td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}\
             .error{{color:#a00}}.message{{color:#060}}</style></head><body>\
             <nav><a href=\"{home}\">Access attempts</a> · \
             <a href=\"{base}/access-logs\">Access logs</a> · \
             <a href=\"{base}/failure-logs\">Failure logs</a></nav><h1>{title}</h1>\
             <form method=get><input name=ip placeholder=\"IP address\" value=\"{ip}\"> \
             <input name=username placeholder=Username value=\"{username}\"> \
             <button>Search</button></form>",
            title = escape(self.title),
            home = escape(home(&self.base)),
            ip = escape(&self.search.ip),
            username = escape(&self.search.username),
        );
        if !self.search.message.is_empty() {
            let _ = write!(
                html,
                "<p class=message>{}</p>",
                escape(&self.search.message)
            );
        }
        html
    }
}

/// An HTML page with the admin's security headers.
fn respond(status: StatusCode, html: String) -> Response {
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn escape(text: &str) -> String {
    super::response::escape_html(text)
}
