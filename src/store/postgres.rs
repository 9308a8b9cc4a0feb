//! [`PostgresStore`]: one lockout state shared by many app servers.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{Connection, PgPool, Row};

use super::sql::{self, numbered};
use super::{
    from_millis, to_millis, AccessAttempt, AccessFailureLog, AccessLog, AttemptFilter, Counter,
    FailureRecord, Store, StoreError,
};
use crate::client::LockoutKey;
use crate::config::LockoutGroup;

/// How long a request waits for a pooled connection before the store counts
/// as failed (a stalled server must not hang logins).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The columns of an attempt record, in the order [`attempt_from_row`] reads.
const ATTEMPT_COLUMNS: &str = "username, ip_address, user_agent, path_info, http_accept, get_data, post_data, failures, attempt_time_ms";

/// A store in PostgreSQL, for deployments where several app servers share one
/// lockout state: an attacker gets `failure_limit` tries in all, not per
/// machine.
///
/// [`connect`](Self::connect) applies the migrations of `migrations/postgres`
/// (concurrent starts are safe: sqlx's migrator takes an advisory lock).
/// Every write is one statement or transaction of upserts
/// (`INSERT … ON CONFLICT … DO UPDATE … RETURNING`), exact under concurrency
/// from many processes; the pre-dispatch check is one indexed read.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use axes::{Axes, AxesConfig, PostgresStore};
/// let store = PostgresStore::connect("postgres://postgres@127.0.0.1:5432/app").await?;
/// let axes = Axes::new(AxesConfig::default(), store);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://…`) and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with_options(PgConnectOptions::from_str(url).map_err(StoreError::backend)?)
            .await
    }

    /// Connects to `url`, keeping the tables in `schema` (created if
    /// missing): several applications, or tests, can share one database.
    /// The name must be a plain identifier (`[a-z_][a-z0-9_]*`, 63 bytes).
    pub async fn connect_with_schema(url: &str, schema: &str) -> Result<Self, StoreError> {
        let valid = !schema.is_empty()
            && schema.len() <= 63
            && schema.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && schema
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(StoreError::InvalidData(format!(
                "`{schema}` is not a valid schema name ([a-z_][a-z0-9_]*, at most 63 bytes)"
            )));
        }
        let options = PgConnectOptions::from_str(url).map_err(StoreError::backend)?;
        let mut setup = sqlx::PgConnection::connect_with(&options)
            .await
            .map_err(StoreError::backend)?;
        sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .execute(&mut setup)
            .await
            .map_err(StoreError::backend)?;
        drop(setup);
        Self::connect_with_options(options.options([("search_path", schema)])).await
    }

    async fn connect_with_options(options: PgConnectOptions) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(true)
            .connect_with(options)
            .await
            .map_err(StoreError::backend)?;
        let store = Self::new(pool);
        store.migrate().await?;
        Ok(store)
    }

    /// A store on an existing pool; call [`migrate`](Self::migrate) once.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Applies the schema migrations; running it again changes nothing.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Migration(Box::new(e)))
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn db_count(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn attempt_from_row(row: &PgRow) -> Result<AccessAttempt, StoreError> {
    let get = |e: sqlx::Error| StoreError::backend(e);
    Ok(AccessAttempt {
        username: row.try_get(0).map_err(get)?,
        ip_address: sql::parse_ip(row.try_get(1).map_err(get)?)?,
        user_agent: row.try_get(2).map_err(get)?,
        path_info: row.try_get(3).map_err(get)?,
        http_accept: row.try_get(4).map_err(get)?,
        get_data: row.try_get(5).map_err(get)?,
        post_data: row.try_get(6).map_err(get)?,
        failures: count(row.try_get(7).map_err(get)?),
        attempt_time: from_millis(row.try_get(8).map_err(get)?),
    })
}

impl PostgresStore {
    /// Runs `SELECT {columns} FROM {table} WHERE <filter>`, newest first.
    async fn select_filtered(
        &self,
        columns: &str,
        table: &str,
        time_column: &str,
        filter: &AttemptFilter,
    ) -> Result<Vec<PgRow>, StoreError> {
        let (condition, binds) = sql::filter_condition(filter, numbered(1));
        let statement = format!(
            "SELECT {columns} FROM {table} WHERE {condition} ORDER BY {time_column} DESC, id DESC"
        );
        let mut query = sqlx::query(&statement);
        for value in &binds {
            query = query.bind(value);
        }
        query
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::backend)
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn counters(&self, keys: &[LockoutKey]) -> Result<Vec<Option<Counter>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let encoded: Vec<String> = keys.iter().map(LockoutKey::encode).collect();
        let rows = sqlx::query(
            "SELECT lockout_key, failures, last_failure_ms FROM axes_counters \
             WHERE lockout_key = ANY($1)",
        )
        .bind(&encoded)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        let mut found = HashMap::with_capacity(rows.len());
        for row in rows {
            let key: String = row.try_get(0).map_err(StoreError::backend)?;
            found.insert(
                key,
                Counter {
                    failures: count(row.try_get(1).map_err(StoreError::backend)?),
                    last_failure: from_millis(row.try_get(2).map_err(StoreError::backend)?),
                },
            );
        }
        Ok(encoded.iter().map(|key| found.get(key).copied()).collect())
    }

    async fn record_failure(&self, failure: FailureRecord<'_>) -> Result<Vec<Counter>, StoreError> {
        let at = to_millis(failure.at);
        let client = failure.client;
        let mut tx = self.pool.begin().await.map_err(StoreError::backend)?;

        let mut counters = HashMap::with_capacity(failure.keys.len());
        let encoded: Vec<String> = failure.keys.iter().map(LockoutKey::encode).collect();
        if !encoded.is_empty() {
            // Sorted, so concurrent transactions lock rows in one order.
            let mut sorted = encoded.clone();
            sorted.sort();
            sorted.dedup();
            let statement = format!(
                "INSERT INTO axes_counters (lockout_key, failures, last_failure_ms) \
                 SELECT k, 1, $2 FROM UNNEST($1::text[]) AS k \
                 ON CONFLICT (lockout_key) DO UPDATE SET \
                 failures = CASE WHEN {} THEN axes_counters.failures + 1 ELSE 1 END, \
                 last_failure_ms = GREATEST(axes_counters.last_failure_ms, excluded.last_failure_ms) \
                 RETURNING lockout_key, failures, last_failure_ms",
                sql::continues(
                    "axes_counters",
                    "last_failure_ms",
                    failure.window,
                    "excluded.last_failure_ms"
                ),
            );
            let rows = sqlx::query(&statement)
                .bind(&sorted)
                .bind(at)
                .fetch_all(&mut *tx)
                .await
                .map_err(StoreError::backend)?;
            for row in rows {
                let key: String = row.try_get(0).map_err(StoreError::backend)?;
                let counter = Counter {
                    failures: count(row.try_get(1).map_err(StoreError::backend)?),
                    last_failure: from_millis(row.try_get(2).map_err(StoreError::backend)?),
                };
                counters.insert(key, counter);
            }
        }

        let statement = format!(
            "INSERT INTO axes_attempts (attempt_key, username, ip_address, user_agent, path_info, \
             http_accept, get_data, post_data, failures, attempt_time_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9) \
             ON CONFLICT (attempt_key) DO UPDATE SET \
             failures = CASE WHEN {} THEN axes_attempts.failures + 1 ELSE 1 END, \
             attempt_time_ms = GREATEST(axes_attempts.attempt_time_ms, excluded.attempt_time_ms), \
             path_info = excluded.path_info, http_accept = excluded.http_accept, \
             get_data = excluded.get_data, post_data = excluded.post_data",
            sql::continues(
                "axes_attempts",
                "attempt_time_ms",
                failure.window,
                "excluded.attempt_time_ms"
            ),
        );
        sqlx::query(&statement)
            .bind(client.attempt_key().encode())
            .bind(client.username())
            .bind(client.ip_address().to_string())
            .bind(client.user_agent())
            .bind(client.path())
            .bind(client.http_accept())
            .bind(failure.get_data)
            .bind(failure.post_data)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::backend)?;
        tx.commit().await.map_err(StoreError::backend)?;

        encoded
            .iter()
            .map(|key| {
                counters.get(key).copied().ok_or_else(|| {
                    StoreError::InvalidData(format!("the upsert returned no counter for {key}"))
                })
            })
            .collect()
    }

    async fn reset(
        &self,
        filter: &AttemptFilter,
        groups: &[LockoutGroup],
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(StoreError::backend)?;
        if *filter == AttemptFilter::All {
            let removed = sqlx::query("DELETE FROM axes_attempts")
                .execute(&mut *tx)
                .await
                .map_err(StoreError::backend)?
                .rows_affected();
            sqlx::query("DELETE FROM axes_counters")
                .execute(&mut *tx)
                .await
                .map_err(StoreError::backend)?;
            tx.commit().await.map_err(StoreError::backend)?;
            return Ok(removed);
        }
        let (condition, binds) = sql::filter_condition(filter, numbered(1));
        let statement =
            format!("DELETE FROM axes_attempts WHERE {condition} RETURNING {ATTEMPT_COLUMNS}");
        let mut query = sqlx::query(&statement);
        for value in &binds {
            query = query.bind(value);
        }
        let rows = query
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::backend)?;
        for row in &rows {
            let attempt = attempt_from_row(row)?;
            for key in attempt.lockout_keys(groups) {
                sqlx::query(
                    "UPDATE axes_counters SET failures = GREATEST(failures - $1, 0) WHERE lockout_key = $2",
                )
                .bind(db_count(attempt.failures))
                .bind(key.encode())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::backend)?;
            }
        }
        sqlx::query("DELETE FROM axes_counters WHERE failures <= 0")
            .execute(&mut *tx)
            .await
            .map_err(StoreError::backend)?;
        tx.commit().await.map_err(StoreError::backend)?;
        Ok(rows.len() as u64)
    }

    async fn attempts(&self, filter: &AttemptFilter) -> Result<Vec<AccessAttempt>, StoreError> {
        self.select_filtered(ATTEMPT_COLUMNS, "axes_attempts", "attempt_time_ms", filter)
            .await?
            .iter()
            .map(attempt_from_row)
            .collect()
    }

    async fn purge_expired(&self, before: SystemTime) -> Result<u64, StoreError> {
        let before = to_millis(before);
        let mut tx = self.pool.begin().await.map_err(StoreError::backend)?;
        sqlx::query("DELETE FROM axes_counters WHERE last_failure_ms < $1")
            .bind(before)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::backend)?;
        let removed = sqlx::query("DELETE FROM axes_attempts WHERE attempt_time_ms < $1")
            .bind(before)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::backend)?
            .rows_affected();
        tx.commit().await.map_err(StoreError::backend)?;
        Ok(removed)
    }

    async fn record_login(&self, entry: &AccessLog) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO axes_access_logs (username, ip_address, user_agent, path_info, \
             http_accept, session_hash, attempt_time_ms, logout_time_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&entry.username)
        .bind(entry.ip_address.map(|ip| ip.to_string()))
        .bind(&entry.user_agent)
        .bind(&entry.path_info)
        .bind(&entry.http_accept)
        .bind(&entry.session_hash)
        .bind(to_millis(entry.attempt_time))
        .bind(entry.logout_time.map(to_millis))
        .execute(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        Ok(())
    }

    async fn record_logout(
        &self,
        username: &str,
        session_hash: &str,
        at: SystemTime,
    ) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE axes_access_logs SET logout_time_ms = $1 \
             WHERE username = $2 AND session_hash = $3 AND logout_time_ms IS NULL",
        )
        .bind(to_millis(at))
        .bind(username)
        .bind(session_hash)
        .execute(&self.pool)
        .await
        .map_err(StoreError::backend)?
        .rows_affected())
    }

    async fn access_logs(&self, filter: &AttemptFilter) -> Result<Vec<AccessLog>, StoreError> {
        let rows = self
            .select_filtered(
                "username, ip_address, user_agent, path_info, http_accept, session_hash, \
                 attempt_time_ms, logout_time_ms",
                "axes_access_logs",
                "attempt_time_ms",
                filter,
            )
            .await?;
        rows.iter()
            .map(|row| {
                let get = |e: sqlx::Error| StoreError::backend(e);
                Ok(AccessLog {
                    username: row.try_get(0).map_err(get)?,
                    ip_address: sql::parse_ip(row.try_get(1).map_err(get)?)?,
                    user_agent: row.try_get(2).map_err(get)?,
                    path_info: row.try_get(3).map_err(get)?,
                    http_accept: row.try_get(4).map_err(get)?,
                    session_hash: row.try_get(5).map_err(get)?,
                    attempt_time: from_millis(row.try_get(6).map_err(get)?),
                    logout_time: row
                        .try_get::<Option<i64>, _>(7)
                        .map_err(get)?
                        .map(from_millis),
                })
            })
            .collect()
    }

    async fn purge_access_logs(&self, before: SystemTime) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM axes_access_logs WHERE attempt_time_ms < $1")
                .bind(to_millis(before))
                .execute(&self.pool)
                .await
                .map_err(StoreError::backend)?
                .rows_affected(),
        )
    }

    async fn record_failure_log(
        &self,
        entry: &AccessFailureLog,
        per_user_limit: u64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(StoreError::backend)?;
        sqlx::query(
            "INSERT INTO axes_failure_logs (username, ip_address, user_agent, path_info, \
             http_accept, attempt_time_ms, locked_out) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&entry.username)
        .bind(entry.ip_address.map(|ip| ip.to_string()))
        .bind(&entry.user_agent)
        .bind(&entry.path_info)
        .bind(&entry.http_accept)
        .bind(to_millis(entry.attempt_time))
        .bind(entry.locked_out)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::backend)?;
        sqlx::query(
            "DELETE FROM axes_failure_logs WHERE id IN (SELECT id FROM axes_failure_logs \
             WHERE username IS NOT DISTINCT FROM $1 ORDER BY id DESC OFFSET $2)",
        )
        .bind(&entry.username)
        .bind(db_count(per_user_limit))
        .execute(&mut *tx)
        .await
        .map_err(StoreError::backend)?;
        tx.commit().await.map_err(StoreError::backend)
    }

    async fn failure_logs(
        &self,
        filter: &AttemptFilter,
    ) -> Result<Vec<AccessFailureLog>, StoreError> {
        let rows = self
            .select_filtered(
                "username, ip_address, user_agent, path_info, http_accept, attempt_time_ms, \
                 locked_out",
                "axes_failure_logs",
                "attempt_time_ms",
                filter,
            )
            .await?;
        rows.iter()
            .map(|row| {
                let get = |e: sqlx::Error| StoreError::backend(e);
                Ok(AccessFailureLog {
                    username: row.try_get(0).map_err(get)?,
                    ip_address: sql::parse_ip(row.try_get(1).map_err(get)?)?,
                    user_agent: row.try_get(2).map_err(get)?,
                    path_info: row.try_get(3).map_err(get)?,
                    http_accept: row.try_get(4).map_err(get)?,
                    attempt_time: from_millis(row.try_get(5).map_err(get)?),
                    locked_out: row.try_get(6).map_err(get)?,
                })
            })
            .collect()
    }

    async fn purge_failure_logs(&self, before: SystemTime) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM axes_failure_logs WHERE attempt_time_ms < $1")
                .bind(to_millis(before))
                .execute(&self.pool)
                .await
                .map_err(StoreError::backend)?
                .rows_affected(),
        )
    }

    async fn acquire_in_flight(
        &self,
        keys: &[LockoutKey],
        at: SystemTime,
        ttl: Duration,
    ) -> Result<Vec<u64>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let at = to_millis(at);
        let expires = at.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
        let encoded: Vec<String> = keys.iter().map(LockoutKey::encode).collect();
        let mut sorted = encoded.clone();
        sorted.sort();
        sorted.dedup();
        let rows = sqlx::query(
            "INSERT INTO axes_in_flight (lockout_key, holders, expires_ms) \
             SELECT k, 1, $2 FROM UNNEST($1::text[]) AS k \
             ON CONFLICT (lockout_key) DO UPDATE SET \
             holders = CASE WHEN axes_in_flight.expires_ms < $3 THEN 1 \
                            ELSE axes_in_flight.holders + 1 END, \
             expires_ms = excluded.expires_ms \
             RETURNING lockout_key, holders",
        )
        .bind(&sorted)
        .bind(expires)
        .bind(at)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        let mut holders = HashMap::with_capacity(rows.len());
        for row in rows {
            let key: String = row.try_get(0).map_err(StoreError::backend)?;
            holders.insert(key, count(row.try_get(1).map_err(StoreError::backend)?));
        }
        encoded
            .iter()
            .map(|key| {
                holders.get(key).copied().ok_or_else(|| {
                    StoreError::InvalidData(format!("no in-flight entry returned for {key}"))
                })
            })
            .collect()
    }

    async fn release_in_flight(&self, keys: &[LockoutKey]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut encoded: Vec<String> = keys.iter().map(LockoutKey::encode).collect();
        encoded.sort();
        sqlx::query(
            "UPDATE axes_in_flight SET holders = GREATEST(holders - 1, 0) \
             WHERE lockout_key = ANY($1)",
        )
        .bind(&encoded)
        .execute(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        Ok(())
    }
}
