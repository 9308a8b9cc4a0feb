//! The "Access Attempts" admin as a web UI: who is locked out now (with a
//! chart of failures and lockouts over the last hour and day), attempt
//! records, the access log and the failure log, with filters, paging, a
//! reset button per row and a reset of a search's lockouts; and the same
//! data and actions as JSON under `/api`.
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

use crate::engine::{Axes, AxesError, CurrentLockout};
use crate::store::{AccessAttempt, AccessFailureLog, AccessLog, AttemptFilter};

/// How many rows a page shows (newest first); `?page=2` shows the next.
pub const PAGE_ROWS: usize = 100;

/// The admin's routes:
///
/// | route | what |
/// |---|---|
/// | `GET /` | attempt records |
/// | `GET /lockouts` | who is locked out now, and the chart |
/// | `GET /access-logs`, `GET /failure-logs` | the logs |
/// | `POST /reset` | resets the records of a posted `ip` and/or `username` |
/// | `POST /reset-lockouts` | resets every lockout a posted search finds |
/// | `GET /api/lockouts`, `GET /api/attempts` | the same as JSON arrays (`?ip=`, `?username=`, `?page=`) |
/// | `POST /api/reset` | `{"ip": …, "username": …}` (`Content-Type: application/json`); answers `{"removed": n}` |
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use axum::body::Body;
/// use http::Request;
/// use tower::ServiceExt;
/// use axes::{Axes, AxesConfig, ClientInfo, MemoryStore};
/// let axes = Axes::new(AxesConfig::from_toml_str("failure_limit = 1")?, MemoryStore::new());
/// axes.login_failed(&ClientInfo::new("192.0.2.1".parse()?).with_username("alice")).await?;
/// let admin = axes::admin::router(axes);
/// let response = admin.oneshot(Request::get("/api/lockouts").body(Body::empty())?).await?;
/// let body = axum::body::to_bytes(response.into_body(), 1 << 20).await?;
/// let lockouts: serde_json::Value = serde_json::from_slice(&body)?;
/// assert_eq!(lockouts[0]["username"], "alice");
/// # Ok(()) }
/// ```
pub fn router(axes: Axes) -> Router {
    Router::new()
        .route("/", get(attempts))
        .route("/lockouts", get(lockouts))
        .route("/access-logs", get(access_logs))
        .route("/failure-logs", get(failure_logs))
        .route("/reset", post(reset))
        .route("/reset-lockouts", post(reset_lockouts))
        .route("/api/lockouts", get(api::lockouts))
        .route("/api/attempts", get(api::attempts))
        .route("/api/reset", post(api::reset))
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
    /// The page of the listing, from 1.
    #[serde(default)]
    page: Option<usize>,
}

impl Search {
    /// The page shown, from 1.
    fn page(&self) -> usize {
        self.page.unwrap_or(1).max(1)
    }

    /// The rows of `items` on the page shown.
    fn paged<'i, T>(&self, items: &'i [T]) -> &'i [T] {
        let start = (self.page() - 1).saturating_mul(PAGE_ROWS).min(items.len());
        &items[start..(start + PAGE_ROWS).min(items.len())]
    }

    /// The query string of this search on `page`.
    fn query(&self, page: usize) -> String {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("ip", &self.ip)
            .append_pair("username", &self.username)
            .append_pair("page", &page.to_string())
            .finish()
    }

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
        Ok(AttemptFilter::of(ip, username))
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

async fn lockouts(
    State(axes): State<Axes>,
    Base(base): Base,
    headers: HeaderMap,
    Query(search): Query<Search>,
) -> Response {
    let columns = [
        "IP address",
        "Username",
        "Reason",
        "Failures",
        "Since",
        "Until",
        "Time left",
        "",
    ];
    let page = Page::new(
        &base,
        "Lockouts",
        &search,
        csrf::Binding::of(&axes, &headers, &base),
    );
    let now = axes.now();
    let row = |locked: &CurrentLockout| {
        let ip = ip_text(locked.attempt.ip_address);
        let username = locked.attempt.username.clone().unwrap_or_default();
        let (until, left) = match (locked.until(), locked.time_left(now)) {
            (Some(until), Some(left)) => (
                time(until),
                humantime::format_duration(whole_seconds(left)).to_string(),
            ),
            _ => ("until reset".to_owned(), String::new()),
        };
        vec![
            Cell::Text(ip.clone()),
            Cell::Text(username.clone()),
            Cell::Text(locked.lockout.reason.as_str().to_owned()),
            Cell::Text(locked.lockout.failures.to_string()),
            Cell::Text(time(locked.since())),
            Cell::Text(until),
            Cell::Text(left),
            Cell::Reset { ip, username },
        ]
    };
    let extra = chart::section(&axes).await;
    listing(
        page.with_extra(extra).with_bulk_reset(),
        |filter| axes.lockouts(filter),
        &columns,
        row,
    )
    .await
}

/// `duration` to the second, for display.
fn whole_seconds(duration: std::time::Duration) -> std::time::Duration {
    std::time::Duration::from_secs(duration.as_secs() + u64::from(duration.subsec_nanos() > 0))
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
        Ok(items) => {
            let shown = page.search.paged(&items);
            page.table(columns, items.len(), shown.iter().map(row))
        }
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
    let (search, token) = posted_search(&body);
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
    back_with(home(&base), &message)
}

/// Resets every lockout the posted search (`ip` and/or `username`, both
/// empty for all) finds: each locked record's IP and username. Then back to
/// the lockouts page with what it did.
async fn reset_lockouts(
    State(axes): State<Axes>,
    Base(base): Base,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (search, token) = posted_search(&body);
    if let Err(refusal) = csrf::check(&axes, &headers, &token) {
        return (StatusCode::FORBIDDEN, refusal).into_response();
    }
    let message = match search.filter() {
        Ok(filter) => match reset_found(&axes, filter).await {
            Ok((0, _)) => "Nobody is locked out.".to_owned(),
            Ok((lockouts, removed)) => {
                format!("{lockouts} lockouts lifted, {removed} attempts removed.")
            }
            Err(error) => error.to_string(),
        },
        Err(message) => message,
    };
    back_with(&format!("{base}/lockouts"), &message)
}

/// Resets the record of each lockout `filter` finds; how many lockouts
/// there were and how many records the resets removed.
async fn reset_found(axes: &Axes, filter: AttemptFilter) -> Result<(usize, u64), AxesError> {
    let found = axes.lockouts(filter).await?;
    let mut removed = 0;
    for locked in &found {
        let of = AttemptFilter::of(locked.attempt.ip_address, locked.attempt.username.clone());
        // A record of neither names nothing: never a reset of everything.
        if of != AttemptFilter::All {
            removed += axes.reset(of).await?;
        }
    }
    Ok((found.len(), removed))
}

/// The `ip`, `username` and CSRF token of a posted form.
fn posted_search(body: &[u8]) -> (Search, String) {
    let mut search = Search::default();
    let mut token = String::new();
    for (key, value) in form_urlencoded::parse(body) {
        match key.as_ref() {
            "ip" => search.ip = value.into_owned(),
            "username" => search.username = value.into_owned(),
            CSRF_FIELD => token = value.into_owned(),
            _ => {}
        }
    }
    (search, token)
}

/// A redirect to the page at `path`, showing `message`.
fn back_with(path: &str, message: &str) -> Response {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("message", message)
        .finish();
    Redirect::to(&format!("{path}?{query}")).into_response()
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
        if cross_site(headers) {
            return Err("cross-site reset refused");
        }
        if headers.contains_key("sec-fetch-site") || headers.contains_key(header::ORIGIN) {
            return Ok(());
        }
        let bound = cookie(headers, COOKIE).unwrap_or("");
        if !bound.is_empty() && axes.secret().verify(PURPOSE, &[bound.as_bytes()], token) {
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
    /// HTML shown above the table (already escaped).
    extra: String,
    /// Whether the table offers to reset every row the search finds.
    bulk_reset: bool,
}

impl<'a> Page<'a> {
    fn new(base: &str, title: &'a str, search: &'a Search, csrf: csrf::Binding) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            title,
            search,
            csrf,
            extra: String::new(),
            bulk_reset: false,
        }
    }

    fn with_extra(mut self, html: String) -> Self {
        self.extra = html;
        self
    }

    fn with_bulk_reset(mut self) -> Self {
        self.bulk_reset = true;
        self
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
        html.push_str(&self.extra);
        let pages = total.div_ceil(PAGE_ROWS).max(1);
        let page = self.search.page();
        let _ = write!(html, "<p>{total} found");
        if pages > 1 {
            let _ = write!(html, ", newest first: page {page} of {pages}");
            if page > 1 {
                let _ = write!(
                    html,
                    " · <a rel=prev href=\"?{}\">newer</a>",
                    escape(&self.search.query(page - 1))
                );
            }
            if page < pages {
                let _ = write!(
                    html,
                    " · <a rel=next href=\"?{}\">older</a>",
                    escape(&self.search.query(page + 1))
                );
            }
        }
        html.push_str(".</p>");
        if self.bulk_reset && total > 0 {
            let _ = write!(
                html,
                "<form method=post action=\"{}/reset-lockouts\">\
                 <input type=hidden name=ip value=\"{}\">\
                 <input type=hidden name=username value=\"{}\">\
                 <input type=hidden name={CSRF_FIELD} value=\"{}\">\
                 <button id=reset-all>Reset all {total} found</button></form>",
                escape(&self.base),
                escape(&self.search.ip),
                escape(&self.search.username),
                escape(&self.csrf.token),
            );
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
             .error{{color:#a00}}.message{{color:#060}}svg{{display:block;margin:1em 0}}</style></head><body>\
             <nav><a href=\"{base}/lockouts\">Lockouts</a> · <a href=\"{home}\">Access attempts</a> · \
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

/// The JSON endpoints: the lockouts and attempt records a search finds,
/// and a reset.
mod api {
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

    pub(super) async fn lockouts(
        State(axes): State<Axes>,
        Query(search): Query<Search>,
    ) -> Response {
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

    pub(super) async fn attempts(
        State(axes): State<Axes>,
        Query(search): Query<Search>,
    ) -> Response {
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
    pub(super) async fn reset(
        State(axes): State<Axes>,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
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
}

/// The chart of failures and lockouts, from the failure log: inline SVG,
/// no script and no external asset.
mod chart {
    use std::fmt::Write as _;
    use std::time::{Duration, SystemTime};

    use crate::engine::Axes;
    use crate::store::{AccessFailureLog, AttemptFilter};

    /// Counts per bucket: failures, and failures that locked out.
    pub(super) fn buckets(
        logs: &[AccessFailureLog],
        now: SystemTime,
        span: Duration,
        count: u32,
    ) -> Vec<(u64, u64)> {
        let width = span / count;
        let mut buckets = vec![(0, 0); count as usize];
        for log in logs {
            let Ok(age) = now.duration_since(log.attempt_time) else {
                continue;
            };
            if age >= span {
                continue;
            }
            let index = count as usize - 1 - (age.as_nanos() / width.as_nanos()) as usize;
            buckets[index].0 += 1;
            buckets[index].1 += u64::from(log.locked_out);
        }
        buckets
    }

    /// One bar chart: a title, its buckets, a label each end.
    fn svg(title: &str, buckets: &[(u64, u64)], start: &str) -> String {
        let (width, height, bar) = (480.0_f64, 120.0_f64, 480.0 / buckets.len() as f64);
        let top = buckets.iter().map(|b| b.0).max().unwrap_or(0).max(1) as f64;
        let mut svg = format!(
            "<figure><figcaption>{title}: {} failures, {} lockouts</figcaption>\
             <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{}\" role=img \
             aria-label=\"{title}\">",
            buckets.iter().map(|b| b.0).sum::<u64>(),
            buckets.iter().map(|b| b.1).sum::<u64>(),
            height + 16.0,
        );
        for (i, (failures, lockouts)) in buckets.iter().enumerate() {
            let x = i as f64 * bar;
            let h = *failures as f64 / top * height;
            let l = *lockouts as f64 / top * height;
            let _ = write!(
                svg,
                "<rect class=failures x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"#e8a33d\"><title>{failures} failures</title></rect>\
                 <rect class=lockouts x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{l:.1}\" fill=\"#b3261e\"><title>{lockouts} lockouts</title></rect>",
                height - h,
                (bar - 1.0).max(1.0),
                height - l,
                (bar - 1.0).max(1.0),
            );
        }
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{y}\" font-size=\"11\">{start}</text>\
             <text x=\"{width}\" y=\"{y}\" font-size=\"11\" text-anchor=end>now</text></svg></figure>",
            y = height + 13.0,
        );
        svg
    }

    /// The charts of the last hour (5-minute bars) and the last day
    /// (hourly bars), or a line saying why there is none.
    pub(super) async fn section(axes: &Axes) -> String {
        if !axes.config().enable_access_failure_log {
            return "<p>The chart of failures and lockouts needs the failure log \
                    (<code>enable_access_failure_log = true</code>).</p>"
                .to_owned();
        }
        let logs = match axes.failure_logs(AttemptFilter::All).await {
            Ok(logs) => logs,
            Err(e) => return format!("<p class=error>{}</p>", super::escape(&e.to_string())),
        };
        let now = axes.now();
        let hour = buckets(&logs, now, Duration::from_secs(3600), 12);
        let day = buckets(&logs, now, Duration::from_secs(24 * 3600), 24);
        format!(
            "{}{}",
            svg("The last hour", &hour, "1 h ago"),
            svg("The last day", &day, "24 h ago")
        )
    }
}
