//! The "Access Attempts" admin as a web UI, after Django's admin: who is
//! locked out now (with a chart of failures and lockouts over the last hour
//! and day, in any configuration), attempt records, the access log and the
//! failure log. Every listing has sortable columns, filters (IP, username,
//! locked now, reason, a date range), paging, times relative to now with
//! the exact time on hover, and — where records can be reset — a checkbox
//! and a reset button per row, a reset of the selected rows and of every
//! lockout a search finds. Each IP and username links to the page of that
//! client: its lockout now, its counters, its lockout history, its logins
//! and failures. The pages follow the browser's light or dark preference
//! and fit a phone's width. The same data and actions are JSON under
//! `/api`.
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
//! Every page is rendered on the server from maud templates, which escape
//! every value, and
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

use axum::body::Bytes;
use axum::extract::{FromRequestParts, NestedPath, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use http::request::Parts;
use http::{HeaderMap, StatusCode};

use crate::engine::{Axes, AxesError};
use crate::store::AttemptFilter;

mod api;
mod chart;
mod client;
mod csrf;
mod listings;
mod page;
mod search;

use search::Search;

/// How many rows a page shows (newest first); `?page=2` shows the next.
pub const PAGE_ROWS: usize = 100;

/// The admin's routes:
///
/// | route | what |
/// |---|---|
/// | `GET /` | attempt records (`?ip=`, `?username=`, `?locked=yes\|no`, `?reason=`, `?from=`/`?to=` days, `?sort=`/`?dir=`, `?page=`) |
/// | `GET /lockouts` | who is locked out now, and the chart |
/// | `GET /access-logs`, `GET /failure-logs` | the logs |
/// | `GET /client?ip=…&username=…` | one client: its lockout, counters, lockout history, logins and failures |
/// | `POST /reset` | resets the records of a posted `ip` and/or `username` |
/// | `POST /reset-selected` | resets each posted `select` (or the one `only`): a row's `ip` and `username`, form-encoded |
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
        .route("/", get(listings::attempts))
        .route("/lockouts", get(listings::lockouts))
        .route("/access-logs", get(listings::access_logs))
        .route("/failure-logs", get(listings::failure_logs))
        .route("/client", get(client::client))
        .route("/reset", post(reset))
        .route("/reset-selected", post(reset_selected))
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

/// Resets each selected row (the posted `select` values), or the one row
/// whose button was pressed (`only`): each an IP and username as the row
/// shows them. Then back to the page it came from, with what it did.
async fn reset_selected(
    State(axes): State<Axes>,
    Base(base): Base,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut token = String::new();
    let (mut selected, mut only) = (Vec::new(), None);
    let mut back = home(&base).to_owned();
    for (key, value) in form_urlencoded::parse(&body) {
        match key.as_ref() {
            CSRF_FIELD => token = value.into_owned(),
            "select" => selected.push(value.into_owned()),
            "only" => only = Some(value.into_owned()),
            // Back to a page of the admin's own, never elsewhere.
            "back" if value == "lockouts" => back = format!("{base}/lockouts"),
            _ => {}
        }
    }
    if let Err(refusal) = csrf::check(&axes, &headers, &token) {
        return (StatusCode::FORBIDDEN, refusal).into_response();
    }
    let targets = only.map_or(selected, |one| vec![one]);
    let message = match reset_targets(&axes, &targets).await {
        Ok((0, _)) => "Select the rows to reset.".to_owned(),
        Ok((clients, removed)) => format!("{clients} reset: {removed} attempts removed."),
        Err(error) => error,
    };
    back_with(&back, &message)
}

/// Resets each target (`ip=…&username=…`); how many there were and how
/// many records the resets removed.
async fn reset_targets(axes: &Axes, targets: &[String]) -> Result<(usize, u64), String> {
    let mut removed = 0;
    let mut reset = 0;
    for target in targets {
        let (search, _) = posted_search(target.as_bytes());
        match search.filter()? {
            // A row of neither names nothing: never a reset of everything.
            AttemptFilter::All => continue,
            filter => removed += axes.reset(filter).await.map_err(|e| e.to_string())?,
        }
        reset += 1;
    }
    Ok((reset, removed))
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
