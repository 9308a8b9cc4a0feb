//! The SQLite store's operations, each run by the writer on its one
//! connection inside a batch's transaction.
//!
//! The writer is the only one to write, and each operation runs whole
//! before the next: an operation reads a row and writes it back with no
//! other write in between, so a failure bumps counters with the engine's
//! own rule ([`FailureRecord::bump`], [`AccessAttempt::bump`]) rather than
//! a restatement of it in SQL.

use std::net::IpAddr;
use std::time::SystemTime;

use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};

use crate::policy::Counter;
use crate::store::changes::CountersOf;
use crate::store::changes::FailureRecord;
use crate::store::codec::{decode_times, encode_times, from_millis, to_millis};
use crate::store::error::StoreError;
use crate::store::records::{AccessAttempt, AccessFailureLog, AccessLog, AttemptFilter};
use crate::store::sql::{self, db_count, parse_ip, question_marks, ATTEMPT_COLUMNS};

fn backend(error: rusqlite::Error) -> StoreError {
    StoreError::backend(error)
}

fn count(value: i64) -> u64 {
    sql::count(value)
}

/// The counter of `lockout_key`, if there is one.
fn counter(connection: &Connection, key: &str) -> Result<Option<Counter>, StoreError> {
    let mut statement = connection
        .prepare_cached(
            "SELECT failures, last_failure_ms, recent FROM axes_counters WHERE lockout_key = ?1",
        )
        .map_err(backend)?;
    let row = statement
        .query_row([key], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, String>(2)?,
            ))
        })
        .optional()
        .map_err(backend)?;
    row.map(|(failures, last, recent)| {
        Ok(Counter::new(count(failures), from_millis(last)).with_recent(decode_times(&recent)?))
    })
    .transpose()
}

/// The counters of `keys` (encoded), in their order.
pub(super) fn counters(
    connection: &Connection,
    keys: &[String],
) -> Result<Vec<Option<Counter>>, StoreError> {
    keys.iter().map(|key| counter(connection, key)).collect()
}

/// Bumps the counters of `failure` (keys encoded as `keys`) and its attempt
/// record; the counters as bumped.
pub(super) fn record_failure(
    connection: &Connection,
    failure: &FailureRecord<'_>,
    keys: &[String],
) -> Result<Vec<Counter>, StoreError> {
    let mut upsert = connection
        .prepare_cached(
            "INSERT INTO axes_counters (lockout_key, failures, last_failure_ms, recent) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (lockout_key) DO UPDATE SET \
             failures = excluded.failures, last_failure_ms = excluded.last_failure_ms, \
             recent = excluded.recent",
        )
        .map_err(backend)?;
    let mut bumped = Vec::with_capacity(keys.len());
    for key in keys {
        let mut counter = counter(connection, key)?.unwrap_or(Counter::new(0, failure.at));
        failure.bump(&mut counter);
        upsert
            .execute(params![
                key,
                db_count(counter.failures),
                to_millis(counter.last_failure),
                encode_times(&counter.recent),
            ])
            .map_err(backend)?;
        bumped.push(counter);
    }
    if failure.record_attempt {
        record_attempt(connection, failure)?;
    }
    Ok(bumped)
}

/// Creates or bumps the attempt record of `failure`'s client.
fn record_attempt(connection: &Connection, failure: &FailureRecord<'_>) -> Result<(), StoreError> {
    let key = failure.client.attempt_key().encode();
    let existing = connection
        .prepare_cached(&format!(
            "SELECT {ATTEMPT_COLUMNS} FROM axes_attempts WHERE attempt_key = ?1"
        ))
        .map_err(backend)?
        .query_row([&key], attempt_row)
        .optional()
        .map_err(backend)?;
    let record = match existing {
        Some(row) => {
            let mut record = row.into_attempt()?;
            record.bump(failure);
            record
        }
        None => AccessAttempt::first(failure),
    };
    connection
        .prepare_cached(
            "INSERT INTO axes_attempts (attempt_key, username, ip_address, user_agent, \
             path_info, http_accept, get_data, post_data, failures, attempt_time_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
             ON CONFLICT (attempt_key) DO UPDATE SET \
             path_info = excluded.path_info, http_accept = excluded.http_accept, \
             get_data = excluded.get_data, post_data = excluded.post_data, \
             failures = excluded.failures, attempt_time_ms = excluded.attempt_time_ms",
        )
        .map_err(backend)?
        .execute(params![
            key,
            record.username,
            record.ip_address.map(|ip| ip.to_string()),
            record.user_agent,
            record.path_info,
            record.http_accept,
            record.get_data,
            record.post_data,
            db_count(record.failures),
            to_millis(record.attempt_time),
        ])
        .map_err(backend)?;
    Ok(())
}

/// Deletes the attempt records `filter` covers, taking their failures off
/// the counters `counters_of` names; how many records went.
pub(super) fn reset(
    connection: &Connection,
    filter: &AttemptFilter,
    counters_of: &CountersOf,
) -> Result<u64, StoreError> {
    if *filter == AttemptFilter::All {
        let removed = connection
            .execute("DELETE FROM axes_attempts", [])
            .map_err(backend)?;
        connection
            .execute("DELETE FROM axes_counters", [])
            .map_err(backend)?;
        return Ok(removed as u64);
    }
    let (condition, binds) = sql::filter_condition(filter, question_marks());
    let mut delete = connection
        .prepare_cached(&format!(
            "DELETE FROM axes_attempts WHERE {condition} RETURNING {ATTEMPT_COLUMNS}"
        ))
        .map_err(backend)?;
    let removed = delete
        .query_map(params_from_iter(binds.iter()), attempt_row)
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    let mut take_off = connection
        .prepare_cached(
            "UPDATE axes_counters SET failures = MAX(failures - ?1, 0) WHERE lockout_key = ?2",
        )
        .map_err(backend)?;
    for row in &removed {
        let attempt = row.clone().into_attempt()?;
        for key in counters_of(&attempt) {
            take_off
                .execute(params![db_count(attempt.failures), key.encode()])
                .map_err(backend)?;
        }
    }
    connection
        .execute("DELETE FROM axes_counters WHERE failures <= 0", [])
        .map_err(backend)?;
    Ok(removed.len() as u64)
}

/// Deletes the counters of `keys` (encoded); how many there were.
pub(super) fn delete_counters(connection: &Connection, keys: &[String]) -> Result<u64, StoreError> {
    let mut delete = connection
        .prepare_cached("DELETE FROM axes_counters WHERE lockout_key = ?1")
        .map_err(backend)?;
    let mut deleted = 0;
    for key in keys {
        deleted += delete.execute([key]).map_err(backend)? as u64;
    }
    Ok(deleted)
}

/// Deletes the counters and attempt records last bumped before `before`;
/// how many attempt records went.
pub(super) fn purge_expired(
    connection: &Connection,
    before: SystemTime,
) -> Result<u64, StoreError> {
    let before = to_millis(before);
    connection
        .execute(
            "DELETE FROM axes_counters WHERE last_failure_ms < ?1",
            [before],
        )
        .map_err(backend)?;
    let removed = connection
        .execute(
            "DELETE FROM axes_attempts WHERE attempt_time_ms < ?1",
            [before],
        )
        .map_err(backend)?;
    Ok(removed as u64)
}

/// Appends an access log entry.
pub(super) fn insert_login(connection: &Connection, entry: &AccessLog) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT INTO axes_access_logs (username, ip_address, user_agent, path_info, \
             http_accept, session_hash, attempt_time_ms, logout_time_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .map_err(backend)?
        .execute(params![
            entry.username,
            entry.ip_address.map(|ip| ip.to_string()),
            entry.user_agent,
            entry.path_info,
            entry.http_accept,
            entry.session_hash,
            to_millis(entry.attempt_time),
            entry.logout_time.map(to_millis),
        ])
        .map_err(backend)?;
    Ok(())
}

/// Sets the logout time of the open entries of `username` with
/// `session_hash`; how many were closed.
pub(super) fn close_sessions(
    connection: &Connection,
    username: &str,
    session_hash: &str,
    at: SystemTime,
) -> Result<u64, StoreError> {
    let closed = connection
        .prepare_cached(
            "UPDATE axes_access_logs SET logout_time_ms = ?1 \
             WHERE username = ?2 AND session_hash = ?3 AND logout_time_ms IS NULL",
        )
        .map_err(backend)?
        .execute(params![to_millis(at), username, session_hash])
        .map_err(backend)?;
    Ok(closed as u64)
}

/// When the (username, IP, user agent) client last logged in.
pub(super) fn latest_login(
    connection: &Connection,
    username: &str,
    ip: IpAddr,
    user_agent: &str,
) -> Result<Option<SystemTime>, StoreError> {
    let latest: Option<i64> = connection
        .prepare_cached(
            "SELECT MAX(attempt_time_ms) FROM axes_access_logs \
             WHERE username = ?1 AND ip_address = ?2 AND user_agent = ?3",
        )
        .map_err(backend)?
        .query_row(params![username, ip.to_string(), user_agent], |row| {
            row.get(0)
        })
        .map_err(backend)?;
    Ok(latest.map(from_millis))
}

/// Deletes the rows of the log `table` logged before `before`.
pub(super) fn delete_before(
    connection: &Connection,
    table: &str,
    before: SystemTime,
) -> Result<u64, StoreError> {
    let deleted = connection
        .prepare_cached(&format!("DELETE FROM {table} WHERE attempt_time_ms < ?1"))
        .map_err(backend)?
        .execute([to_millis(before)])
        .map_err(backend)?;
    Ok(deleted as u64)
}

/// Deletes the rows of `table` that `filter` covers; how many.
pub(super) fn delete_filtered(
    connection: &Connection,
    table: &str,
    filter: &AttemptFilter,
) -> Result<u64, StoreError> {
    let (condition, values) = sql::filter_condition(filter, sql::question_marks());
    let deleted = connection
        .prepare_cached(&format!("DELETE FROM {table} WHERE {condition}"))
        .map_err(backend)?
        .execute(params_from_iter(values))
        .map_err(backend)?;
    Ok(deleted as u64)
}

/// Appends a failure log entry, keeping the newest `per_user_limit` of its
/// username.
pub(super) fn insert_failure_log(
    connection: &Connection,
    entry: &AccessFailureLog,
    per_user_limit: u64,
) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT INTO axes_failure_logs (username, ip_address, user_agent, path_info, \
             http_accept, attempt_time_ms, locked_out) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .map_err(backend)?
        .execute(params![
            entry.username,
            entry.ip_address.map(|ip| ip.to_string()),
            entry.user_agent,
            entry.path_info,
            entry.http_accept,
            to_millis(entry.attempt_time),
            entry.locked_out,
        ])
        .map_err(backend)?;
    connection
        .prepare_cached(
            "DELETE FROM axes_failure_logs WHERE id IN (SELECT id FROM axes_failure_logs \
             WHERE username IS ?1 ORDER BY id DESC LIMIT -1 OFFSET ?2)",
        )
        .map_err(backend)?
        .execute(params![entry.username, db_count(per_user_limit)])
        .map_err(backend)?;
    Ok(())
}

/// The rows of `table` (as `columns`) that `filter` covers, newest first.
fn select_filtered<T>(
    connection: &Connection,
    columns: &str,
    table: &str,
    filter: &AttemptFilter,
    read: impl Fn(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let (condition, binds) = sql::filter_condition(filter, question_marks());
    let mut select = connection
        .prepare_cached(&format!(
            "SELECT {columns} FROM {table} WHERE {condition} \
             ORDER BY attempt_time_ms DESC, id DESC"
        ))
        .map_err(backend)?;
    let rows = select
        .query_map(params_from_iter(binds.iter()), read)
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    Ok(rows)
}

/// The attempt records `filter` covers, newest first.
pub(super) fn attempts(
    connection: &Connection,
    filter: &AttemptFilter,
) -> Result<Vec<AccessAttempt>, StoreError> {
    select_filtered(
        connection,
        ATTEMPT_COLUMNS,
        "axes_attempts",
        filter,
        attempt_row,
    )?
    .into_iter()
    .map(AttemptRow::into_attempt)
    .collect()
}

/// The access log entries `filter` covers, newest first.
pub(super) fn access_logs(
    connection: &Connection,
    filter: &AttemptFilter,
) -> Result<Vec<AccessLog>, StoreError> {
    let rows = select_filtered(
        connection,
        sql::ACCESS_LOG_COLUMNS,
        "axes_access_logs",
        filter,
        |row| {
            Ok((
                (
                    row.get::<_, String>(0)?,
                    row.get::<_, Option<String>>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                ),
                (
                    row.get::<_, String>(4)?,
                    row.get::<_, String>(5)?,
                    row.get::<_, i64>(6)?,
                    row.get::<_, Option<i64>>(7)?,
                ),
            ))
        },
    )?;
    rows.into_iter()
        .map(
            |((username, ip, user_agent, path_info), (accept, session, at, out))| {
                Ok(AccessLog {
                    username,
                    ip_address: parse_ip(ip)?,
                    user_agent,
                    path_info,
                    http_accept: accept,
                    session_hash: session,
                    attempt_time: from_millis(at),
                    logout_time: out.map(from_millis),
                })
            },
        )
        .collect()
}

/// The failure log entries `filter` covers, newest first.
pub(super) fn failure_logs(
    connection: &Connection,
    filter: &AttemptFilter,
) -> Result<Vec<AccessFailureLog>, StoreError> {
    let rows = select_filtered(
        connection,
        sql::FAILURE_LOG_COLUMNS,
        "axes_failure_logs",
        filter,
        |row| {
            Ok((
                row.get::<_, Option<String>>(0)?,
                row.get::<_, Option<String>>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, i64>(5)?,
                row.get::<_, bool>(6)?,
            ))
        },
    )?;
    rows.into_iter()
        .map(
            |(username, ip, user_agent, path_info, accept, at, locked_out)| {
                Ok(AccessFailureLog {
                    username,
                    ip_address: parse_ip(ip)?,
                    user_agent,
                    path_info,
                    http_accept: accept,
                    attempt_time: from_millis(at),
                    locked_out,
                })
            },
        )
        .collect()
}

/// A row of [`ATTEMPT_COLUMNS`], as read.
#[derive(Clone)]
struct AttemptRow {
    username: Option<String>,
    ip_address: Option<String>,
    user_agent: String,
    path_info: String,
    http_accept: String,
    get_data: String,
    post_data: String,
    failures: i64,
    attempt_time_ms: i64,
}

fn attempt_row(row: &Row<'_>) -> rusqlite::Result<AttemptRow> {
    Ok(AttemptRow {
        username: row.get(0)?,
        ip_address: row.get(1)?,
        user_agent: row.get(2)?,
        path_info: row.get(3)?,
        http_accept: row.get(4)?,
        get_data: row.get(5)?,
        post_data: row.get(6)?,
        failures: row.get(7)?,
        attempt_time_ms: row.get(8)?,
    })
}

impl AttemptRow {
    fn into_attempt(self) -> Result<AccessAttempt, StoreError> {
        Ok(AccessAttempt {
            username: self.username,
            ip_address: parse_ip(self.ip_address)?,
            user_agent: self.user_agent,
            path_info: self.path_info,
            http_accept: self.http_accept,
            get_data: self.get_data,
            post_data: self.post_data,
            failures: count(self.failures),
            attempt_time: from_millis(self.attempt_time_ms),
        })
    }
}
