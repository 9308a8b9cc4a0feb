//! The PostgreSQL store's statement helpers: locking many rows in one order,
//! running a transaction again after a deadlock, binding, reading rows back
//! in key order.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use sqlx::postgres::PgRow;
use sqlx::AssertSqlSafe;
use sqlx::{PgConnection, PgExecutor};

use super::rows::{attempt_from_row, get};
use super::{PgQuery, KEY_ORDER};
use crate::identity::LockoutKey;
use crate::store::changes::Reset;
use crate::store::error::StoreError;
use crate::store::sql::db_count;

/// `column IN (…)` over the rows of `table` that match `condition`, locked
/// first in `order` (which may end in `OFFSET`): for statements that change
/// many rows.
pub(super) fn locked(table: &str, column: &str, condition: &str, order: &str) -> String {
    format!(
        "{column} IN (SELECT {column} FROM {table} WHERE {condition} ORDER BY {order} FOR UPDATE)"
    )
}

/// How many times a transaction PostgreSQL aborted to break a deadlock (or
/// a serialization conflict) is run again.
const CONFLICT_ATTEMPTS: u32 = 4;

/// Runs `transaction` again when PostgreSQL aborted it to break a deadlock
/// or a serialization conflict. Every multi-row write locks its rows in one
/// order, but a statement in READ COMMITTED sees rows committed after the
/// transaction's earlier statements locked theirs, so a rare cycle remains
/// possible under heavy concurrent resets; the aborted transaction changed
/// nothing, and running it again is what PostgreSQL advises.
pub(super) async fn retry_conflicts<T, F, Fut>(mut transaction: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut attempt = 1;
    loop {
        match transaction().await {
            Err(error) if attempt < CONFLICT_ATTEMPTS && is_conflict(&error) => {
                tracing::debug!(target: "axes", %error, attempt, "transaction aborted by a conflict; running it again");
                tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt))).await;
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// Whether `error` is PostgreSQL's `deadlock_detected` (40P01) or
/// `serialization_failure` (40001).
pub(super) fn is_conflict(error: &StoreError) -> bool {
    let StoreError::Backend(source) = error else {
        return false;
    };
    source
        .downcast_ref::<sqlx::Error>()
        .and_then(|e| e.as_database_error())
        .and_then(|e| e.code())
        .is_some_and(|code| code == "40P01" || code == "40001")
}

/// Runs `query`; how many rows it changed.
pub(super) async fn execute<'c>(
    query: PgQuery<'_>,
    on: impl PgExecutor<'c>,
) -> Result<u64, StoreError> {
    let done = query.execute(on).await.map_err(StoreError::backend)?;
    Ok(done.rows_affected())
}

pub(super) async fn fetch<'c>(
    query: PgQuery<'_>,
    on: impl PgExecutor<'c>,
) -> Result<Vec<PgRow>, StoreError> {
    query.fetch_all(on).await.map_err(StoreError::backend)
}

/// `statement` with the values of a filter condition bound.
pub(super) fn filtered<'q>(statement: &'q str, binds: &'q [String]) -> PgQuery<'q> {
    binds.iter().fold(
        sqlx::query(AssertSqlSafe(statement.to_owned())),
        |query, value| query.bind(value),
    )
}

pub(super) fn encode(keys: &[LockoutKey]) -> Vec<String> {
    keys.iter().map(LockoutKey::encode).collect()
}

/// The `(key, value)` rows of an upsert, in the order of `keys`.
pub(super) fn in_key_order<T: Clone>(
    keys: &[String],
    rows: &[PgRow],
    value: impl Fn(&PgRow) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let found = rows
        .iter()
        .map(|row| Ok((get::<_, String>(row, 0)?, value(row)?)))
        .collect::<Result<HashMap<_, _>, StoreError>>()?;
    keys.iter()
        .map(|key| {
            found.get(key).cloned().ok_or_else(|| {
                StoreError::InvalidData(format!("the upsert returned no row for {key}"))
            })
        })
        .collect()
}

/// Takes the failures of the deleted attempt `rows` off the counters they
/// counted toward under `groups`; counters that reach zero are deleted.
pub(super) async fn take_off_counters(
    conn: &mut PgConnection,
    rows: &[PgRow],
    reset: &Reset<'_>,
) -> Result<(), StoreError> {
    // Summed per key, in lock order.
    let mut taken = BTreeMap::<String, i64>::new();
    for row in rows {
        let attempt = attempt_from_row(row)?;
        for key in reset.counters_of(&attempt) {
            let total = taken.entry(key.encode()).or_default();
            *total = total.saturating_add(db_count(attempt.failures));
        }
    }
    if taken.is_empty() {
        return Ok(());
    }
    let (keys, amounts): (Vec<String>, Vec<i64>) = taken.into_iter().unzip();
    let lock = format!(
        "SELECT 1 FROM axes_counters WHERE lockout_key = ANY($1) ORDER BY {KEY_ORDER} FOR UPDATE"
    );
    execute(sqlx::query(AssertSqlSafe(lock)).bind(&keys), &mut *conn).await?;
    for statement in [
        "DELETE FROM axes_counters AS c USING UNNEST($1::text[], $2::bigint[]) AS d(k, n) \
         WHERE c.lockout_key = d.k AND c.failures <= d.n",
        "UPDATE axes_counters AS c SET failures = c.failures - d.n \
         FROM UNNEST($1::text[], $2::bigint[]) AS d(k, n) WHERE c.lockout_key = d.k",
    ] {
        execute(
            sqlx::query(statement).bind(&keys).bind(&amounts),
            &mut *conn,
        )
        .await?;
    }
    // A reset gives back the slots of the keys it resets (after the
    // counters: every transaction locks slots last).
    let slots = "DELETE FROM axes_slots WHERE lockout_key = ANY($1)";
    execute(sqlx::query(slots).bind(&keys), &mut *conn).await?;
    Ok(())
}

/// A duration in whole milliseconds, as the SQL functions take it.
pub(super) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// A count read back from the database.
pub(super) fn count_of(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// Where each request's list ends once the lists of `batch` (`len` gives
/// one's length) are laid one after another: one-based SQL array indexes,
/// as the batch functions slice `p_list[end[i - 1] + 1 : end[i]]`.
pub(super) fn ends<'a, T>(batch: &'a [T], len: impl Fn(&'a T) -> usize) -> Vec<i32> {
    batch
        .iter()
        .scan(0usize, |end, request| {
            *end += len(request);
            Some(i32::try_from(*end).unwrap_or(i32::MAX))
        })
        .collect()
}

/// The string lists `list` gives of each request of `batch`, one after
/// another, and where each ends (see [`ends`]).
pub(super) fn flattened<'a, T>(
    batch: &'a [T],
    list: impl Fn(&'a T) -> &'a [String],
) -> (Vec<&'a str>, Vec<i32>) {
    let items = batch
        .iter()
        .flat_map(|request| list(request).iter().map(String::as_str))
        .collect();
    (items, ends(batch, |request| list(request).len()))
}
