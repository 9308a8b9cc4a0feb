//! The four listing pages — access attempts, lockouts, the access log and
//! the failure log — each a search, its filters, its sortable columns and
//! how a record makes a row.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;

use axum::extract::{Query, State};
use axum::response::Response;
use http::HeaderMap;

use super::page::{Cell, Column, Filters, Page, Row};
use super::search::{Days, Search};
use super::{chart, Base};
use crate::engine::{Axes, AxesError, CurrentLockout};
use crate::store::{AccessAttempt, AccessFailureLog, AccessLog, AttemptFilter};
use crate::LockoutReason;

/// An attempt record, with the reason it is locked out now, if it is.
pub(super) struct Located {
    attempt: AccessAttempt,
    locked: Option<LockoutReason>,
}

pub(super) async fn attempts(
    State(axes): State<Axes>,
    Base(base): Base,
    headers: HeaderMap,
    Query(search): Query<Search>,
) -> Response {
    let columns: [Column<Located>; 7] = [
        Column::sorted("IP address", "ip", |a, b| {
            a.attempt.ip_address.cmp(&b.attempt.ip_address)
        }),
        Column::sorted("Username", "username", |a, b| {
            a.attempt.username.cmp(&b.attempt.username)
        }),
        Column::plain("User agent"),
        Column::plain("Path"),
        Column::sorted("Failures", "failures", |a, b| {
            a.attempt.failures.cmp(&b.attempt.failures)
        }),
        Column::sorted("Locked now", "locked", |a, b| {
            a.locked.is_some().cmp(&b.locked.is_some())
        }),
        Column::sorted("Last attempt", "time", |a, b| {
            a.attempt.attempt_time.cmp(&b.attempt.attempt_time)
        }),
    ];
    let filters = Filters {
        locked: true,
        reason: true,
        days: true,
    };
    let page = Page::new(&axes, &headers, &base, "Access attempts", &search).with_filters(filters);
    let fetch = |filter: AttemptFilter| async {
        let locked: HashMap<_, _> = axes
            .lockouts(filter.clone())
            .await?
            .into_iter()
            .map(|l| ((l.attempt.ip_address, l.attempt.username), l.lockout.reason))
            .collect();
        let found = axes.attempts(filter).await?;
        Ok(found
            .into_iter()
            .map(|attempt| Located {
                locked: locked
                    .get(&(attempt.ip_address, attempt.username.clone()))
                    .copied(),
                attempt,
            })
            .collect())
    };
    let keep = |l: &Located, search: &Search, days: &Days| {
        let locked = match search.locked.as_str() {
            "yes" => l.locked.is_some(),
            "no" => l.locked.is_none(),
            _ => true,
        };
        locked && reason_is(search, l.locked) && days.contain(l.attempt.attempt_time)
    };
    let row = |l: &Located| {
        let a = &l.attempt;
        Row {
            cells: vec![
                ip_cell(a.ip_address),
                username_cell(a.username.as_deref()),
                Cell::Text(a.user_agent.clone()),
                Cell::Text(a.path_info.clone()),
                Cell::Number(a.failures),
                match l.locked {
                    Some(reason) => Cell::Alert(reason.as_str().to_owned()),
                    None => Cell::Text(String::new()),
                },
                Cell::Time(a.attempt_time),
            ],
            target: Some(target(a.ip_address, a.username.as_deref())),
        }
    };
    listing(page, fetch, keep, &columns, row).await
}

pub(super) async fn lockouts(
    State(axes): State<Axes>,
    Base(base): Base,
    headers: HeaderMap,
    Query(search): Query<Search>,
) -> Response {
    let columns: [Column<CurrentLockout>; 7] = [
        Column::sorted("IP address", "ip", |a, b| {
            a.attempt.ip_address.cmp(&b.attempt.ip_address)
        }),
        Column::sorted("Username", "username", |a, b| {
            a.attempt.username.cmp(&b.attempt.username)
        }),
        Column::sorted("Reason", "reason", |a, b| {
            a.lockout.reason.as_str().cmp(b.lockout.reason.as_str())
        }),
        Column::sorted("Failures", "failures", |a, b| {
            a.lockout.failures.cmp(&b.lockout.failures)
        }),
        Column::sorted("Since", "time", |a, b| a.since().cmp(&b.since())),
        // A lockout until reset comes after every lockout with an end.
        Column::sorted("Until", "until", |a, b| match (a.until(), b.until()) {
            (Some(a), Some(b)) => a.cmp(&b),
            (a, b) => a.is_none().cmp(&b.is_none()),
        }),
        Column::plain("Time left"),
    ];
    let filters = Filters {
        reason: true,
        days: true,
        ..Filters::default()
    };
    let extra = chart::section(&axes).await;
    let page = Page::new(&axes, &headers, &base, "Lockouts", &search)
        .with_filters(filters)
        .with_extra(extra)
        .with_bulk_reset();
    let now = page.now;
    let keep = |l: &CurrentLockout, search: &Search, days: &Days| {
        reason_is(search, Some(l.lockout.reason)) && days.contain(l.since())
    };
    let row = |locked: &CurrentLockout| {
        let a = &locked.attempt;
        // Time left, to the second, rounded up as `Retry-After` is.
        let (until, left) = match (locked.until(), locked.lockout.retry_after(now)) {
            (Some(until), Some(left)) => (
                Cell::Time(until),
                Cell::Text(humantime::format_duration(left).to_string()),
            ),
            _ => (
                Cell::Text("until reset".to_owned()),
                Cell::Text(String::new()),
            ),
        };
        Row {
            cells: vec![
                ip_cell(a.ip_address),
                username_cell(a.username.as_deref()),
                Cell::Alert(locked.lockout.reason.as_str().to_owned()),
                Cell::Number(locked.lockout.failures),
                Cell::Time(locked.since()),
                until,
                left,
            ],
            target: Some(target(a.ip_address, a.username.as_deref())),
        }
    };
    listing(page, |filter| axes.lockouts(filter), keep, &columns, row).await
}

pub(super) async fn access_logs(
    State(axes): State<Axes>,
    Base(base): Base,
    headers: HeaderMap,
    Query(search): Query<Search>,
) -> Response {
    let columns: [Column<AccessLog>; 6] = [
        Column::sorted("IP address", "ip", |a, b| a.ip_address.cmp(&b.ip_address)),
        Column::sorted("Username", "username", |a, b| a.username.cmp(&b.username)),
        Column::plain("User agent"),
        Column::plain("Path"),
        Column::sorted("Logged in", "time", |a, b| {
            a.attempt_time.cmp(&b.attempt_time)
        }),
        Column::sorted("Logged out", "logout", |a, b| {
            a.logout_time.cmp(&b.logout_time)
        }),
    ];
    let filters = Filters {
        days: true,
        ..Filters::default()
    };
    let page = Page::new(&axes, &headers, &base, "Access logs", &search).with_filters(filters);
    let keep = |e: &AccessLog, _: &Search, days: &Days| days.contain(e.attempt_time);
    let row = |e: &AccessLog| Row {
        cells: vec![
            ip_cell(e.ip_address),
            username_cell(Some(&e.username)),
            Cell::Text(e.user_agent.clone()),
            Cell::Text(e.path_info.clone()),
            Cell::Time(e.attempt_time),
            e.logout_time
                .map_or_else(|| Cell::Text(String::new()), Cell::Time),
        ],
        target: None,
    };
    listing(page, |filter| axes.access_logs(filter), keep, &columns, row).await
}

pub(super) async fn failure_logs(
    State(axes): State<Axes>,
    Base(base): Base,
    headers: HeaderMap,
    Query(search): Query<Search>,
) -> Response {
    let columns: [Column<AccessFailureLog>; 6] = [
        Column::sorted("IP address", "ip", |a, b| a.ip_address.cmp(&b.ip_address)),
        Column::sorted("Username", "username", |a, b| a.username.cmp(&b.username)),
        Column::plain("User agent"),
        Column::plain("Path"),
        Column::sorted("Failed at", "time", |a, b| {
            a.attempt_time.cmp(&b.attempt_time)
        }),
        Column::sorted("Locked out", "locked", |a, b| {
            a.locked_out.cmp(&b.locked_out)
        }),
    ];
    let filters = Filters {
        days: true,
        ..Filters::default()
    };
    let page = Page::new(&axes, &headers, &base, "Failure logs", &search).with_filters(filters);
    let keep = |e: &AccessFailureLog, _: &Search, days: &Days| days.contain(e.attempt_time);
    let row = |e: &AccessFailureLog| Row {
        cells: failure_cells(e),
        target: None,
    };
    listing(
        page,
        |filter| axes.failure_logs(filter),
        keep,
        &columns,
        row,
    )
    .await
}

/// The cells of a failure log entry (its page, and a client's).
pub(super) fn failure_cells(e: &AccessFailureLog) -> Vec<Cell> {
    vec![
        ip_cell(e.ip_address),
        username_cell(e.username.as_deref()),
        Cell::Text(e.user_agent.clone()),
        Cell::Text(e.path_info.clone()),
        Cell::Time(e.attempt_time),
        if e.locked_out {
            Cell::Alert("yes".to_owned())
        } else {
            Cell::Text("no".to_owned())
        },
    ]
}

/// The page of what `fetch` finds for the page's search that `keep`
/// keeps, ordered by the search's column; the error, when the search is
/// not one or the store fails.
async fn listing<T, Fut>(
    page: Page<'_>,
    fetch: impl FnOnce(AttemptFilter) -> Fut,
    keep: impl Fn(&T, &Search, &Days) -> bool,
    columns: &[Column<T>],
    row: impl Fn(&T) -> Row,
) -> Response
where
    Fut: Future<Output = Result<Vec<T>, AxesError>>,
{
    let search = page.search;
    let (filter, days) = match (search.filter(), search.days()) {
        (Ok(filter), Ok(days)) => (filter, days),
        (Err(message), _) | (_, Err(message)) => return page.error(&message),
    };
    let mut items = match fetch(filter).await {
        Ok(items) => items,
        Err(error) => return page.error(&error.to_string()),
    };
    items.retain(|item| keep(item, search, &days));
    let orders: Vec<_> = columns.iter().filter_map(|c| c.sort).collect();
    search.sort(&mut items, &orders);
    page.table(columns, &items, row)
}

/// Whether the search's reason filter keeps a record locked for `reason`.
fn reason_is(search: &Search, reason: Option<LockoutReason>) -> bool {
    search.reason.is_empty() || reason.is_some_and(|r| r.as_str() == search.reason)
}

/// An IP cell, linked to the page of the client at that IP.
pub(super) fn ip_cell(ip: Option<IpAddr>) -> Cell {
    match ip {
        Some(ip) => Cell::Link {
            text: ip.to_string(),
            query: query(&[("ip", &ip.to_string())]),
        },
        None => Cell::Text(String::new()),
    }
}

/// A username cell, linked to the page of the client of that username.
pub(super) fn username_cell(username: Option<&str>) -> Cell {
    match username {
        Some(name) if !name.is_empty() => Cell::Link {
            text: name.to_owned(),
            query: query(&[("username", name)]),
        },
        _ => Cell::Text(String::new()),
    }
}

fn query(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// What a reset of a row resets: its IP and username, as the pages show them.
pub(super) fn target(ip: Option<IpAddr>, username: Option<&str>) -> (String, String) {
    (
        ip.map(|ip| ip.to_string()).unwrap_or_default(),
        username.unwrap_or_default().to_owned(),
    )
}
