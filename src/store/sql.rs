//! SQL shared by the SQL stores: the window test of an upsert and the
//! `WHERE` clause of a filter. Only numbers the crate computes are written
//! into statements; every value from a request is bound.

use std::net::IpAddr;

use sqlx::query::Query;
use sqlx::{ColumnIndex, Database, Decode, Encode, Row, Type};

use super::codec::{decode_times, from_millis};
use super::{
    AccessAttempt, AccessFailureLog, AccessLog, AttemptFilter, Counter, FailureRecord, StoreError,
    Window,
};

/// The columns of an attempt record, in the order [`attempt_from_row`] reads.
pub(crate) const ATTEMPT_COLUMNS: &str =
    "username, ip_address, user_agent, path_info, http_accept, get_data, post_data, failures, attempt_time_ms";

/// The columns of an access log entry, in the order [`access_log_from_row`] reads.
pub(crate) const ACCESS_LOG_COLUMNS: &str = "username, ip_address, user_agent, path_info, \
     http_accept, session_hash, attempt_time_ms, logout_time_ms";

/// The columns of a failure log entry, in the order [`failure_log_from_row`] reads.
pub(crate) const FAILURE_LOG_COLUMNS: &str =
    "username, ip_address, user_agent, path_info, http_accept, attempt_time_ms, locked_out";

/// A type both SQL stores read from a column.
pub(crate) trait Column<DB: Database>: for<'r> Decode<'r, DB> + Type<DB> {}

impl<DB: Database, T> Column<DB> for T where T: for<'r> Decode<'r, DB> + Type<DB> {}

/// Column `index` of `row`.
pub(crate) fn get<R, T>(row: &R, index: usize) -> Result<T, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    T: Column<R::Database>,
{
    row.try_get(index).map_err(StoreError::backend)
}

/// The counter of a `lockout_key, failures, last_failure_ms, recent` row.
pub(crate) fn counter_from_row<R>(row: &R) -> Result<Counter, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    String: Column<R::Database>,
    i64: Column<R::Database>,
{
    let recent: String = get(row, 3)?;
    let counter = Counter::new(count(get(row, 1)?), from_millis(get(row, 2)?));
    Ok(counter.with_recent(decode_times(&recent)?))
}

/// The attempt record of a row of [`ATTEMPT_COLUMNS`].
pub(crate) fn attempt_from_row<R>(row: &R) -> Result<AccessAttempt, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    String: Column<R::Database>,
    i64: Column<R::Database>,
{
    Ok(AccessAttempt {
        username: get(row, 0)?,
        ip_address: parse_ip(get(row, 1)?)?,
        user_agent: get(row, 2)?,
        path_info: get(row, 3)?,
        http_accept: get(row, 4)?,
        get_data: get(row, 5)?,
        post_data: get(row, 6)?,
        failures: count(get(row, 7)?),
        attempt_time: from_millis(get(row, 8)?),
    })
}

/// The access log entry of a row of [`ACCESS_LOG_COLUMNS`].
pub(crate) fn access_log_from_row<R>(row: &R) -> Result<AccessLog, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    String: Column<R::Database>,
    i64: Column<R::Database>,
{
    Ok(AccessLog {
        username: get(row, 0)?,
        ip_address: parse_ip(get(row, 1)?)?,
        user_agent: get(row, 2)?,
        path_info: get(row, 3)?,
        http_accept: get(row, 4)?,
        session_hash: get(row, 5)?,
        attempt_time: from_millis(get(row, 6)?),
        logout_time: get::<_, Option<i64>>(row, 7)?.map(from_millis),
    })
}

/// The failure log entry of a row of [`FAILURE_LOG_COLUMNS`].
pub(crate) fn failure_log_from_row<R>(row: &R) -> Result<AccessFailureLog, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    String: Column<R::Database>,
    i64: Column<R::Database>,
    bool: Column<R::Database>,
{
    Ok(AccessFailureLog {
        username: get(row, 0)?,
        ip_address: parse_ip(get(row, 1)?)?,
        user_agent: get(row, 2)?,
        path_info: get(row, 3)?,
        http_accept: get(row, 4)?,
        attempt_time: from_millis(get(row, 5)?),
        locked_out: get(row, 6)?,
    })
}

/// A type both SQL stores bind as a parameter.
pub(crate) trait Param<'q, DB: Database>: Encode<'q, DB> + Type<DB> + Send + 'q {}

impl<'q, DB: Database, T> Param<'q, DB> for T where T: Encode<'q, DB> + Type<DB> + Send + 'q {}

/// `query` (an attempt-record upsert) with the record's values bound in
/// the order of its columns: attempt key, username, IP, user agent, path,
/// `Accept`, query data, body data, then the failure time `at`.
pub(crate) fn bind_attempt<'q, DB>(
    query: Query<'q, DB, <DB as Database>::Arguments<'q>>,
    failure: &FailureRecord<'q>,
    at: i64,
) -> Query<'q, DB, <DB as Database>::Arguments<'q>>
where
    DB: Database,
    String: Param<'q, DB>,
    Option<&'q str>: Param<'q, DB>,
    &'q str: Param<'q, DB>,
    i64: Param<'q, DB>,
{
    let client = failure.client;
    query
        .bind(client.attempt_key().encode())
        .bind(client.username())
        .bind(client.ip_address().to_string())
        .bind(client.user_agent())
        .bind(client.path())
        .bind(client.http_accept())
        .bind(failure.get_data)
        .bind(failure.post_data)
        .bind(at)
}

/// A count as stored (a non-negative `BIGINT`/`INTEGER`).
pub(crate) fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// A count as it is stored.
pub(crate) fn db_count(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

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
