//! The HTML of the admin's pages, as maud templates: the layout (a light
//! or dark style after the browser's preference, usable at a phone's
//! width), the search form with its filters, a sortable table with paging,
//! selection and reset buttons, times relative to now with the exact time
//! on hover, and the security headers every page is sent with.

use std::time::SystemTime;

use axum::response::{Html, IntoResponse, Response};
use http::{header, HeaderMap, HeaderValue, StatusCode};
use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::search::{Order, Search};
use super::{csrf, home, CSRF_FIELD, PAGE_ROWS};
use crate::engine::Axes;
use crate::LockoutReason;

/// The style of every page: the browser's light or dark preference, and
/// one column at a phone's width.
const STYLE: &str = "\
:root{color-scheme:light dark;--fg:#1d1d1f;--bg:#fff;--muted:#64646b;--line:#dcdce1;--head:#f3f3f5;\
--accent:#0b57d0;--bad:#b3261e;--good:#1e7b34;--bar:#e8a33d}\
@media (prefers-color-scheme:dark){:root{--fg:#e6e6e9;--bg:#151517;--muted:#a3a3ab;--line:#3a3a41;\
--head:#212125;--accent:#8ab4f8;--bad:#f2b8b5;--good:#80d49a;--bar:#c98a2e}}\
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;padding:1em;max-width:84em;color:var(--fg);background:var(--bg)}\
nav{display:flex;flex-wrap:wrap;gap:.25em 1.2em}a{color:var(--accent)}h1{font-size:1.5em;margin:.6em 0}\
form.search{display:flex;flex-wrap:wrap;gap:.6em;align-items:end;margin:1em 0}\
label{display:flex;flex-direction:column;font-size:12px;color:var(--muted)}\
input,select,button{font:inherit;padding:4px 8px;color:inherit}\
.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%;margin:.5em 0}\
td,th{border-bottom:1px solid var(--line);padding:6px 8px;text-align:left;vertical-align:top}\
th{background:var(--head);white-space:nowrap}th a{color:inherit;text-decoration:none}\
td.n{text-align:right;font-variant-numeric:tabular-nums}td.wrap{max-width:28em;overflow-wrap:break-word}\
time{border-bottom:1px dotted var(--muted);white-space:nowrap}\
.error{color:var(--bad)}.message{color:var(--good)}.locked{color:var(--bad);font-weight:600}\
figure{margin:1em 0}figcaption{color:var(--muted)}svg{max-width:100%;height:auto}\
svg .failures{fill:var(--bar)}svg .lockouts{fill:var(--bad)}svg text{fill:var(--muted);font-size:11px}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em}dt{color:var(--muted)}\
@media (max-width:40em){body{padding:.5em}td,th{padding:4px}}";

/// A column of a table: its title, and the key and order it sorts by.
pub(super) struct Column<T> {
    pub(super) title: &'static str,
    pub(super) sort: Option<(&'static str, Order<T>)>,
}

impl<T> Column<T> {
    /// A column that does not sort.
    pub(super) fn plain(title: &'static str) -> Self {
        Self { title, sort: None }
    }

    /// A column that sorts by `key`, in `order`.
    pub(super) fn sorted(title: &'static str, key: &'static str, order: Order<T>) -> Self {
        Self {
            title,
            sort: Some((key, order)),
        }
    }
}

/// One cell of a table.
pub(super) enum Cell {
    Text(String),
    /// A number, aligned right.
    Number(u64),
    /// A time, relative to now with the exact time on hover.
    Time(SystemTime),
    /// An IP or username, linked to the page of the client it names.
    Link {
        text: String,
        query: String,
    },
    /// Text marked as bad news.
    Alert(String),
}

/// One row: its cells, and the IP and username a reset of it resets
/// (`None` for a row that cannot be reset).
pub(super) struct Row {
    pub(super) cells: Vec<Cell>,
    pub(super) target: Option<(String, String)>,
}

/// Which filters a page's search form offers besides IP and username.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Filters {
    pub(super) locked: bool,
    pub(super) reason: bool,
    pub(super) days: bool,
}

/// One page of the admin.
pub(super) struct Page<'a> {
    pub(super) base: String,
    title: String,
    pub(super) search: &'a Search,
    csrf: csrf::Binding,
    pub(super) now: SystemTime,
    filters: Filters,
    /// Shown above the table.
    extra: Markup,
    /// Whether the page offers to reset every lockout its search finds.
    bulk_reset: bool,
    /// The page a reset goes back to (relative to the admin's base).
    back: &'static str,
}

impl<'a> Page<'a> {
    /// A page titled `title` showing what `search` finds, its forms bound
    /// to the request's CSRF cookie.
    pub(super) fn new(
        axes: &Axes,
        headers: &HeaderMap,
        base: &str,
        title: impl Into<String>,
        search: &'a Search,
    ) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            title: title.into(),
            search,
            csrf: csrf::Binding::of(axes, headers, base),
            now: axes.now(),
            filters: Filters::default(),
            extra: html! {},
            bulk_reset: false,
            back: "",
        }
    }

    pub(super) fn with_filters(mut self, filters: Filters) -> Self {
        self.filters = filters;
        self
    }

    pub(super) fn with_extra(mut self, extra: Markup) -> Self {
        self.extra = extra;
        self
    }

    /// Offers to reset every lockout the search finds, and goes back to
    /// the lockouts page after a reset.
    pub(super) fn with_bulk_reset(mut self) -> Self {
        self.bulk_reset = true;
        self.back = "lockouts";
        self
    }

    /// The CSRF token the page's forms carry.
    pub(super) fn token(&self) -> &str {
        &self.csrf.token
    }

    pub(super) fn error(&self, message: &str) -> Response {
        self.respond(
            StatusCode::BAD_REQUEST,
            html! { p.error { (message) } },
            true,
        )
    }

    /// The page: the layout around `body`, with the search form when
    /// `searchable`, and the CSRF cookie when the request had none.
    pub(super) fn respond(&self, status: StatusCode, body: Markup, searchable: bool) -> Response {
        let markup = html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (self.title) " · axes" }
                    style { (PreEscaped(STYLE)) }
                }
                body {
                    nav {
                        a href={ (self.base) "/lockouts" } { "Lockouts" }
                        a href=(home(&self.base)) { "Access attempts" }
                        a href={ (self.base) "/access-logs" } { "Access logs" }
                        a href={ (self.base) "/failure-logs" } { "Failure logs" }
                    }
                    h1 { (self.title) }
                    @if !self.search.message.is_empty() {
                        p.message role="status" { (self.search.message) }
                    }
                    @if searchable { (self.search_form()) }
                    (body)
                }
            }
        };
        let mut response = respond(status, markup);
        if let Some(cookie) = &self.csrf.set_cookie {
            response
                .headers_mut()
                .append(header::SET_COOKIE, cookie.clone());
        }
        response
    }

    fn search_form(&self) -> Markup {
        let search = self.search;
        let filters = self.filters;
        html! {
            form.search method="get" {
                label { "IP address" input name="ip" value=(search.ip) inputmode="decimal"; }
                label { "Username" input name="username" value=(search.username); }
                @if filters.locked {
                    label { "Locked now"
                        select name="locked" {
                            (option("", "any", &search.locked))
                            (option("yes", "yes", &search.locked))
                            (option("no", "no", &search.locked))
                        }
                    }
                }
                @if filters.reason {
                    label { "Reason"
                        select name="reason" {
                            (option("", "any", &search.reason))
                            @for reason in REASONS {
                                (option(reason.as_str(), reason.as_str(), &search.reason))
                            }
                        }
                    }
                }
                @if filters.days {
                    label { "From" input type="date" name="from" value=(search.from); }
                    label { "To" input type="date" name="to" value=(search.to); }
                }
                @if !search.sort.is_empty() {
                    input type="hidden" name="sort" value=(search.sort);
                    input type="hidden" name="dir" value=(search.dir);
                }
                button { "Search" }
            }
        }
    }

    /// The table of `items` (every row the search found, in order): the
    /// page shown, with paging links, sortable headers, and — for rows
    /// with a target — a checkbox and a reset button each.
    pub(super) fn table<T>(
        &self,
        columns: &[Column<T>],
        items: &[T],
        row: impl Fn(&T) -> Row,
    ) -> Response {
        let total = items.len();
        let pages = total.div_ceil(PAGE_ROWS).max(1);
        let page = self.search.page();
        let rows: Vec<Row> = self.search.paged(items).iter().map(row).collect();
        let selectable = rows.iter().any(|row| row.target.is_some());
        let body = html! {
            (self.extra)
            p {
                (total) " found"
                @if pages > 1 {
                    @if self.search.sort.is_empty() { ", newest first" }
                    ": page " (page) " of " (pages)
                    @if page > 1 { " · " a rel="prev" href={ "?" (self.search.query(page - 1, None)) } { "previous" } }
                    @if page < pages { " · " a rel="next" href={ "?" (self.search.query(page + 1, None)) } { "next" } }
                }
                "."
            }
            @if self.bulk_reset && total > 0 {
                form method="post" action={ (self.base) "/reset-lockouts" } {
                    input type="hidden" name="ip" value=(self.search.ip);
                    input type="hidden" name="username" value=(self.search.username);
                    input type="hidden" name=(CSRF_FIELD) value=(self.csrf.token);
                    button id="reset-all" { "Reset all " (total) " found" }
                }
            }
            form id="rows" method="post" action={ (self.base) "/reset-selected" } {
                input type="hidden" name=(CSRF_FIELD) value=(self.csrf.token);
                input type="hidden" name="back" value=(self.back);
                div.scroll {
                    table {
                        thead { tr {
                            @if selectable { th { span hidden { "Select" } } }
                            @for column in columns { (self.header(column)) }
                            @if selectable { th {} }
                        } }
                        tbody {
                            @for row in &rows {
                                tr {
                                    @if selectable {
                                        td { @if let Some(target) = &row.target {
                                            input type="checkbox" name="select" value=(target_value(target)) aria-label="Select";
                                        } }
                                    }
                                    @for cell in &row.cells { (self.cell(cell)) }
                                    @if selectable {
                                        td { @if let Some(target) = &row.target {
                                            button name="only" value=(target_value(target)) { "Reset" }
                                        } }
                                    }
                                }
                            }
                        }
                    }
                }
                @if selectable { button id="reset-selected" { "Reset selected" } }
            }
        };
        self.respond(StatusCode::OK, body, true)
    }

    /// A column's header: a link that sorts by it (descending first, then
    /// the other way), with an arrow on the column sorted by.
    fn header<T>(&self, column: &Column<T>) -> Markup {
        let Some((key, _)) = column.sort else {
            return html! { th { (column.title) } };
        };
        let current = self.search.sort == key;
        let descending = self.search.descending();
        let next = if current && descending { "asc" } else { "desc" };
        let (arrow, aria) = match (current, descending) {
            (false, _) => ("", "none"),
            (true, true) => (" ▼", "descending"),
            (true, false) => (" ▲", "ascending"),
        };
        html! {
            th aria-sort=(aria) {
                a href={ "?" (self.search.query(1, Some((key, next)))) } data-sort=(key) {
                    (column.title) (arrow)
                }
            }
        }
    }

    pub(super) fn cell(&self, cell: &Cell) -> Markup {
        match cell {
            Cell::Text(text) => html! { td.wrap { (text) } },
            Cell::Number(n) => html! { td.n { (n) } },
            Cell::Time(at) => html! { td { (self.time(*at)) } },
            Cell::Link { text, query } => html! {
                td.wrap { a href={ (self.base) "/client?" (query) } { (text) } }
            },
            Cell::Alert(text) => html! { td.locked { (text) } },
        }
    }

    /// `at`, relative to now, with the exact time on hover.
    pub(super) fn time(&self, at: SystemTime) -> Markup {
        let exact = humantime::format_rfc3339_seconds(at).to_string();
        html! { time datetime=(exact) title=(exact) { (relative(self.now, at)) } }
    }
}

/// The reasons a lockout can have, for the reason filter.
const REASONS: [LockoutReason; 6] = [
    LockoutReason::TooManyFailures,
    LockoutReason::Blacklisted,
    LockoutReason::PasswordSpray,
    LockoutReason::QuickSuccession,
    LockoutReason::TooManyInFlight,
    LockoutReason::SecondFactor,
];

fn option(value: &str, text: &str, chosen: &str) -> Markup {
    html! { option value=(value) selected[value == chosen] { (text) } }
}

/// The value a row's checkbox and reset button post: its IP and username,
/// form-encoded.
pub(super) fn target_value((ip, username): &(String, String)) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("ip", ip)
        .append_pair("username", username)
        .finish()
}

/// How long ago `at` was at `now` ("3 minutes ago"), or how long until
/// it ("in 2 hours").
pub(super) fn relative(now: SystemTime, at: SystemTime) -> String {
    let (seconds, past) = match now.duration_since(at) {
        Ok(ago) => (ago.as_secs(), true),
        Err(ahead) => (ahead.duration().as_secs(), false),
    };
    if seconds < 5 {
        return "just now".to_owned();
    }
    let (n, unit) = match seconds {
        s if s < 60 => (s, "second"),
        s if s < 3600 => (s / 60, "minute"),
        s if s < 86_400 => (s / 3600, "hour"),
        s => (s / 86_400, "day"),
    };
    let plural = if n == 1 { "" } else { "s" };
    if past {
        format!("{n} {unit}{plural} ago")
    } else {
        format!("in {n} {unit}{plural}")
    }
}

/// An HTML page with the admin's security headers.
pub(super) fn respond(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, Html(markup.into_string())).into_response();
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn times_read_as_people_say_them() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let ago = |s: u64| relative(now, now - Duration::from_secs(s));
        assert_eq!(ago(2), "just now");
        assert_eq!(ago(61), "1 minute ago");
        assert_eq!(ago(7200), "2 hours ago");
        assert_eq!(ago(3 * 86_400), "3 days ago");
        assert_eq!(
            relative(now, now + Duration::from_secs(900)),
            "in 15 minutes"
        );
    }
}
