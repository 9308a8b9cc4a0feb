//! SQL shared by the SQL stores: the window test of an upsert and the
//! `WHERE` clause of a filter. Only numbers the crate computes are written
//! into statements; every value from a request is bound.

use std::net::IpAddr;

use super::{AttemptFilter, Window};

/// The condition under which a row of `table` (columns `failures` and
/// `time_column`, in milliseconds) still counts at the failure time
/// `at_expr`: `last + window(failures) >= at`.
pub(crate) fn continues(table: &str, time_column: &str, window: &Window, at_expr: &str) -> String {
    let steps = window.steps();
    if steps.is_empty() {
        return "TRUE".to_owned();
    }
    let mut expr = String::from("CASE");
    for (from, duration) in steps.iter().rev() {
        expr.push_str(&format!(
            " WHEN {table}.failures >= {from} THEN {}",
            duration.as_millis().min(i64::MAX as u128)
        ));
    }
    expr.push_str(" ELSE 0 END");
    format!("{table}.{time_column} + ({expr}) >= {at_expr}")
}

/// A `WHERE` condition for `filter` over the columns `ip_address` and
/// `username`, with placeholders from `placeholder`, and the values to bind
/// in order.
pub(crate) fn filter_condition(
    filter: &AttemptFilter,
    mut placeholder: impl FnMut() -> String,
) -> (String, Vec<String>) {
    let ip = |ip: &IpAddr| ip.to_canonical().to_string();
    match filter {
        AttemptFilter::All => ("TRUE".to_owned(), Vec::new()),
        AttemptFilter::Ip(addr) => (format!("ip_address = {}", placeholder()), vec![ip(addr)]),
        AttemptFilter::Username(user) => {
            (format!("username = {}", placeholder()), vec![user.clone()])
        }
        AttemptFilter::IpAndUsername(addr, user) => (
            format!(
                "(ip_address = {} AND username = {})",
                placeholder(),
                placeholder()
            ),
            vec![ip(addr), user.clone()],
        ),
        AttemptFilter::IpOrUsername(addr, user) => (
            format!(
                "(ip_address = {} OR username = {})",
                placeholder(),
                placeholder()
            ),
            vec![ip(addr), user.clone()],
        ),
    }
}

/// `?` placeholders, as SQLite writes them.
#[cfg(feature = "sqlite")]
pub(crate) fn question_marks() -> impl FnMut() -> String {
    || "?".to_owned()
}

/// `$n` placeholders from `$first` on, as PostgreSQL writes them.
#[allow(dead_code)]
pub(crate) fn numbered(first: usize) -> impl FnMut() -> String {
    let mut next = first;
    move || {
        let placeholder = format!("${next}");
        next += 1;
        placeholder
    }
}

/// Parses a stored IP address.
pub(crate) fn parse_ip(text: Option<String>) -> Result<Option<IpAddr>, super::StoreError> {
    text.map(|t| {
        t.parse()
            .map_err(|_| super::StoreError::InvalidData(format!("`{t}` is not an IP address")))
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn window_conditions() {
        assert_eq!(continues("c", "t", &Window::forever(), "?"), "TRUE");
        assert_eq!(
            continues("c", "t", &Window::fixed(Duration::from_secs(2)), "?"),
            "c.t + (CASE WHEN c.failures >= 0 THEN 2000 ELSE 0 END) >= ?"
        );
        let tiers = Window::tiered([(3, Duration::from_secs(1)), (6, Duration::from_secs(5))]);
        assert_eq!(
            continues("c", "t", &tiers, "$2"),
            "c.t + (CASE WHEN c.failures >= 6 THEN 5000 WHEN c.failures >= 3 THEN 1000 WHEN c.failures >= 0 THEN 1000 ELSE 0 END) >= $2"
        );
    }

    #[test]
    fn filters_bind_every_value() {
        let filter = AttemptFilter::IpOrUsername("::ffff:10.0.0.1".parse().unwrap(), "a'b".into());
        let (sql, binds) = filter_condition(&filter, numbered(3));
        assert_eq!(sql, "(ip_address = $3 OR username = $4)");
        assert_eq!(binds, ["10.0.0.1", "a'b"]);
    }
}
