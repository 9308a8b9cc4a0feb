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

use std::future::Future;
use std::net::IpAddr;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, NestedPath, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use http::request::Parts;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;

use crate::engine::{Axes, AxesError, CurrentLockout};
use crate::store::{AccessAttempt, AccessFailureLog, AccessLog, AttemptFilter};

mod api;
mod chart;
mod csrf;
mod page;

use page::{time, Cell, Page};

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
/// use axes::{Axes, AxesConfig, ClientInfo, MemoryStore, Report};
/// let axes = Axes::new(AxesConfig::from_toml_str("failure_limit = 1")?, MemoryStore::new());
/// axes.attempt(ClientInfo::new("192.0.2.1".parse()?)).report(Report::failed("alice")).await?;
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
        .merge(
            Router::new()
                .route("/api/lockouts", get(api::lockouts))
                .route("/api/attempts", get(api::attempts))
                .route("/api/reset", post(api::reset))
                .layer(axum::middleware::map_response(api::private)),
        )
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
    let page = Page::new(&axes, &headers, &base, "Access attempts", &search);
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
    let page = Page::new(&axes, &headers, &base, "Lockouts", &search);
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
    let page = Page::new(&axes, &headers, &base, "Access logs", &search);
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
    let page = Page::new(&axes, &headers, &base, "Failure logs", &search);
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
