//! Reading the PostgreSQL store's rows back: counters, attempt records and
//! log entries.

use sqlx::postgres::PgRow;
use sqlx::{ColumnIndex, Database, Decode, Row, Type};

use crate::policy::Counter;
use crate::store::codec::{decode_times, from_millis};
use crate::store::error::StoreError;
use crate::store::records::{AccessAttempt, AccessFailureLog, AccessLog};
use crate::store::sql::{count, parse_ip};

/// A type read from a column.
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

/// The attempt record of a row of `ATTEMPT_COLUMNS`.
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

/// The access log entry of a row of `ACCESS_LOG_COLUMNS`.
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

/// The failure log entry of a row of `FAILURE_LOG_COLUMNS`.
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

/// The rows a batch call returned, grouped by the request each names (a
/// one-based index in column `column`), for `requests` requests.
pub(crate) fn by_request(
    rows: Vec<PgRow>,
    requests: usize,
    column: usize,
) -> Result<Vec<Vec<PgRow>>, StoreError> {
    let mut grouped: Vec<Vec<PgRow>> = (0..requests).map(|_| Vec::new()).collect();
    for row in rows {
        let request = usize::try_from(get::<_, i32>(&row, column)?)
            .ok()
            .and_then(|request| grouped.get_mut(request.wrapping_sub(1)))
            .ok_or_else(|| StoreError::InvalidData("a batch row names no request".into()))?;
        request.push(row);
    }
    Ok(grouped)
}
