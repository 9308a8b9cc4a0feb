//! The HTML of the admin's pages: a search form, a table with paging and
//! reset buttons, and the security headers every page is sent with.

use std::fmt::Write as _;
use std::time::SystemTime;

use axum::response::{Html, IntoResponse, Response};
use http::{header, HeaderMap, HeaderValue, StatusCode};

use super::{csrf, home, Search, CSRF_FIELD, PAGE_ROWS};
use crate::engine::Axes;

/// A time as UTC, to the second (RFC 3339).
pub(super) fn time(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

/// One cell of a table.
pub(super) enum Cell {
    Text(String),
    /// A reset button for the records of this IP and username.
    Reset {
        ip: String,
        username: String,
    },
}

/// One page of the admin.
pub(super) struct Page<'a> {
    base: String,
    title: &'a str,
    pub(super) search: &'a Search,
    csrf: csrf::Binding,
    /// HTML shown above the table (already escaped).
    extra: String,
    /// Whether the table offers to reset every row the search finds.
    bulk_reset: bool,
}

impl<'a> Page<'a> {
    /// A page titled `title` showing what `search` finds, its forms bound
    /// to the request's CSRF cookie.
    pub(super) fn new(
        axes: &Axes,
        headers: &HeaderMap,
        base: &str,
        title: &'a str,
        search: &'a Search,
    ) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            title,
            search,
            csrf: csrf::Binding::of(axes, headers, base),
            extra: String::new(),
            bulk_reset: false,
        }
    }

    pub(super) fn with_extra(mut self, html: String) -> Self {
        self.extra = html;
        self
    }

    pub(super) fn with_bulk_reset(mut self) -> Self {
        self.bulk_reset = true;
        self
    }

    pub(super) fn error(&self, message: &str) -> Response {
        let mut html = self.header();
        let _ = write!(html, "<p class=error>{}</p>", escape(message));
        self.respond(StatusCode::BAD_REQUEST, html)
    }

    /// The page, with the CSRF cookie when the request had none.
    pub(super) fn respond(&self, status: StatusCode, html: String) -> Response {
        let mut response = respond(status, html);
        if let Some(cookie) = &self.csrf.set_cookie {
            response
                .headers_mut()
                .append(header::SET_COOKIE, cookie.clone());
        }
        response
    }

    pub(super) fn table(
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
pub(super) fn respond(status: StatusCode, html: String) -> Response {
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

pub(super) fn escape(text: &str) -> String {
    crate::http::response::escape_html(text)
}
