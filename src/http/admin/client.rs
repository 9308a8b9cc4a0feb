//! The page of one client — an IP address, a username, or both — with
//! its lockout now, its attempt records (the counters), its lockout
//! history, its logins and its failures, and a button that resets it.

use axum::extract::{Query, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use maud::{html, Markup};

use super::listings::{failure_cells, ip_cell, target, username_cell};
use super::page::{target_value, Cell, Page};
use super::search::Search;
use super::{Base, CSRF_FIELD};
use crate::engine::show_given;
use crate::engine::{Axes, AxesError};
use crate::store::AttemptFilter;

pub(super) async fn client(
    State(axes): State<Axes>,
    Base(base): Base,
    headers: HeaderMap,
    Query(search): Query<Search>,
) -> Response {
    let title = match (search.ip.trim(), search.username.as_str()) {
        ("", "") => "Client".to_owned(),
        (ip, "") => format!("Client {ip}"),
        ("", username) => format!("Client {username}"),
        (ip, username) => format!("Client {ip} · {username}"),
    };
    let page = Page::new(&axes, &headers, &base, title, &search);
    let filter = match search.filter() {
        Ok(AttemptFilter::All) => return page.error("Name an IP address or a username."),
        Ok(filter) => filter,
        Err(message) => return page.error(&message),
    };
    match sections(&axes, &page, &filter).await {
        Ok(body) => page.respond(StatusCode::OK, body, false),
        Err(error) => page.error(&error.to_string()),
    }
}

async fn sections(
    axes: &Axes,
    page: &Page<'_>,
    filter: &AttemptFilter,
) -> Result<Markup, AxesError> {
    let config = axes.config();
    let locked = axes.lockouts(filter.clone()).await?;
    let counters = axes.attempts(filter.clone()).await?;
    let logins = if config.disable_access_log {
        None
    } else {
        Some(axes.access_logs(filter.clone()).await?)
    };
    let failures = if config.enable_access_failure_log {
        Some(axes.failure_logs(filter.clone()).await?)
    } else {
        None
    };
    // The activity keeps clients as counted (with `private_usernames`,
    // a pseudonym): matched in those terms, shown by the name searched.
    let counted = axes.engine.counted_filter(filter.clone());
    let given = axes.engine.given_name(filter);
    let history: Vec<_> = axes
        .activity()
        .lockouts()
        .iter()
        .filter(|l| counted.matches_parts(Some(l.ip_address), l.username.as_deref()))
        .cloned()
        .map(|mut l| {
            show_given(given.as_ref(), l.username.as_mut());
            l
        })
        .collect();
    let (ip, username) = (filter.ip(), filter.username());
    let this = target_value(&target(ip, username));
    Ok(html! {
        form method="post" action={ (page.base) "/reset-selected" } {
            input type="hidden" name=(CSRF_FIELD) value=(page.token());
            button id="reset-client" name="only" value=(this) { "Reset this client" }
        }
        h2 { "Locked now" }
        @if locked.is_empty() {
            p id="not-locked" { "Not locked out." }
        } @else {
            div.scroll { table id="locked" {
                thead { tr { th { "IP address" } th { "Username" } th { "Reason" } th { "Failures" } th { "Since" } th { "Until" } } }
                tbody { @for l in &locked { tr {
                    (page.cell(&ip_cell(l.attempt.ip_address)))
                    (page.cell(&username_cell(l.attempt.username.as_deref())))
                    (page.cell(&Cell::Alert(l.lockout.reason.as_str().to_owned())))
                    (page.cell(&Cell::Number(l.lockout.failures)))
                    (page.cell(&Cell::Time(l.since())))
                    @match l.until() {
                        Some(until) => (page.cell(&Cell::Time(until))),
                        None => td { "until reset" },
                    }
                } } }
            } }
        }
        h2 { "Counters" }
        p { "The attempt records: failures in their window, and the latest." }
        div.scroll { table id="counters" {
            thead { tr { th { "IP address" } th { "Username" } th { "User agent" } th { "Path" } th { "Failures" } th { "Last attempt" } } }
            tbody { @for a in &counters { tr {
                (page.cell(&ip_cell(a.ip_address)))
                (page.cell(&username_cell(a.username.as_deref())))
                (page.cell(&Cell::Text(a.user_agent.clone())))
                (page.cell(&Cell::Text(a.path_info.clone())))
                (page.cell(&Cell::Number(a.failures)))
                (page.cell(&Cell::Time(a.attempt_time)))
            } } }
        } }
        h2 { "Lockout history" }
        @if history.is_empty() {
            p { "No lockout seen by this server lately." }
        } @else {
            div.scroll { table id="history" {
                thead { tr { th { "Began" } th { "IP address" } th { "Username" } th { "Reason" } th { "Failures" } } }
                tbody { @for l in &history { tr {
                    (page.cell(&Cell::Time(l.at)))
                    (page.cell(&ip_cell(Some(l.ip_address))))
                    (page.cell(&username_cell(l.username.as_deref())))
                    (page.cell(&Cell::Alert(l.reason.as_str().to_owned())))
                    (page.cell(&Cell::Number(l.failures)))
                } } }
            } }
        }
        p { small {
            "Lockouts seen by this server since it started (the latest "
            (crate::engine::RECENT_LOCKOUTS) ")"
            @if failures.is_some() { "; the failures below, from the failure log, are every server's" }
            "."
        } }
        h2 { "Logins" }
        @match &logins {
            None => p { "The access log is off (disable_access_log)." },
            Some(logins) => div.scroll { table id="logins" {
                thead { tr { th { "IP address" } th { "User agent" } th { "Logged in" } th { "Logged out" } } }
                tbody { @for e in logins { tr {
                    (page.cell(&ip_cell(e.ip_address)))
                    (page.cell(&Cell::Text(e.user_agent.clone())))
                    (page.cell(&Cell::Time(e.attempt_time)))
                    @match e.logout_time {
                        Some(out) => (page.cell(&Cell::Time(out))),
                        None => td {},
                    }
                } } }
            } },
        }
        h2 { "Failures" }
        @match &failures {
            None => p { "The failure log is off (enable_access_failure_log)." },
            Some(failures) => div.scroll { table id="failures" {
                thead { tr { th { "IP address" } th { "Username" } th { "User agent" } th { "Path" } th { "Failed at" } th { "Locked out" } } }
                tbody { @for e in failures { tr {
                    @for cell in failure_cells(e) { (page.cell(&cell)) }
                } } }
            } },
        }
    })
}
