//! SQL shared by the SQL stores: the columns of the records, reading rows
//! back, and the `WHERE` clause of a filter. Only numbers the crate
//! computes are written into statements; every value from a request is
//! bound.

use std::net::IpAddr;

use super::records::AttemptFilter;

/// The columns of an attempt record, in the order the stores read them.
pub(crate) const ATTEMPT_COLUMNS: &str =
    "username, ip_address, user_agent, path_info, http_accept, get_data, post_data, failures, attempt_time_ms";

/// The columns of an access log entry, in the order the stores read them.
pub(crate) const ACCESS_LOG_COLUMNS: &str = "username, ip_address, user_agent, path_info, \
     http_accept, session_hash, attempt_time_ms, logout_time_ms";

/// The columns of a failure log entry, in the order the stores read them.
pub(crate) const FAILURE_LOG_COLUMNS: &str =
    "username, ip_address, user_agent, path_info, http_accept, attempt_time_ms, locked_out";

/// A count as stored (a non-negative `BIGINT`/`INTEGER`).
pub(crate) fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// A count as it is stored.
pub(crate) fn db_count(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
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

    use super::*;

    #[test]
    fn filters_bind_every_value() {
        let filter = AttemptFilter::IpOrUsername("::ffff:10.0.0.1".parse().unwrap(), "a'b".into());
        let (sql, binds) = filter_condition(&filter, numbered(3));
        assert_eq!(sql, "(ip_address = $3 OR username = $4)");
        assert_eq!(binds, ["10.0.0.1", "a'b"]);
    }
}
