//! [`SqliteStore`]: the embedded default store.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::SqlitePool;
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::codec::{encode_times, from_millis, to_millis};
use super::sql::{
    self, attempt_from_row, counter_from_row, db_count, question_marks, ATTEMPT_COLUMNS,
};
use super::{
    AccessAttempt, AccessFailureLog, AccessLog, AttemptFilter, Counter, FailureRecord, Reset,
    Store, StoreError,
};
use crate::identity::LockoutKey;

/// How long a connection waits for another writer before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// A store in an SQLite database: the embedded default. Lockouts survive
/// restarts; one file serves the processes of one machine.
///
/// [`connect`](Self::connect) creates the file if needed, turns on WAL and
/// applies the migrations of `migrations/sqlite`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use axes::{Axes, AxesConfig, ClientInfo, SqliteStore};
/// let dir = tempfile::tempdir()?;
/// let url = format!("sqlite://{}", dir.path().join("axes.sqlite3").display());
/// let axes = Axes::new(AxesConfig::default(), SqliteStore::connect(&url).await?);
/// let client = ClientInfo::new("192.0.2.1".parse()?);
/// axes.login_failed(&client).await?;
/// assert_eq!(axes.attempts(axes::AttemptFilter::All).await?.len(), 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// This process's writes, one at a time: they queue here, in order,
    /// rather than in SQLite's busy handler, which polls with sleeps.
    writing: Arc<Mutex<()>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` (`sqlite://PATH`,
    /// or `sqlite::memory:`) and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let in_memory = url.contains(":memory:");
        let options = SqliteConnectOptions::from_str(url)
            .map_err(StoreError::backend)?
            .create_if_missing(true)
            .journal_mode(if in_memory {
                SqliteJournalMode::Memory
            } else {
                SqliteJournalMode::Wal
            })
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            // Each connection to `:memory:` would be a database of its own.
            .max_connections(if in_memory { 1 } else { 8 })
            .connect_with(options)
            .await
            .map_err(StoreError::backend)?;
        let store = Self::new(pool);
        store.migrate().await?;
        Ok(store)
    }

    /// A store on an existing pool; call [`migrate`](Self::migrate) once.
    pub fn new(pool: SqlitePool) -> Self {
        Self {
            pool,
            writing: Arc::new(Mutex::new(())),
        }
    }

    /// Applies the schema migrations; running it again changes nothing.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Migration(Box::new(e)))
    }

    /// The connection pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// The counters an upsert returned, in the order of `keys`.
fn in_key_order(
    keys: &[String],
    mut counters: HashMap<String, Counter>,
) -> Result<Vec<Counter>, StoreError> {
    keys.iter()
        .map(|key| {
            counters.remove(key).ok_or_else(|| {
                StoreError::InvalidData(format!("the upsert returned no counter for {key}"))
            })
        })
        .collect()
}

/// A write transaction and the turn it holds.
type Writing = (
    OwnedMutexGuard<()>,
    sqlx::Transaction<'static, sqlx::Sqlite>,
);

impl SqliteStore {
    /// A write transaction, holding SQLite's write lock from its start
    /// (`BEGIN IMMEDIATE`: a transaction that read first and wrote later
    /// could fail to upgrade its lock under contention), and this process's
    /// turn to write until it is dropped.
    async fn write(&self) -> Result<Writing, StoreError> {
        let turn = self.writing.clone().lock_owned().await;
        let tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(StoreError::backend)?;
        Ok((turn, tx))
    }

    /// This process's turn to run one write statement.
    async fn turn(&self) -> OwnedMutexGuard<()> {
        self.writing.clone().lock_owned().await
    }

    /// Runs `SELECT {columns} FROM {table} WHERE <filter>`, newest first.
    async fn select_filtered(
        &self,
        columns: &str,
        table: &str,
        time_column: &str,
        filter: &AttemptFilter,
    ) -> Result<Vec<SqliteRow>, StoreError> {
        let (condition, binds) = sql::filter_condition(filter, question_marks());
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
impl Store for SqliteStore {
    async fn counters(&self, keys: &[LockoutKey]) -> Result<Vec<Option<Counter>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let encoded: Vec<String> = keys.iter().map(LockoutKey::encode).collect();
        let statement = format!(
            "SELECT lockout_key, failures, last_failure_ms, recent FROM axes_counters WHERE lockout_key IN ({})",
            vec!["?"; keys.len()].join(", ")
        );
        let mut query = sqlx::query(&statement);
        for key in &encoded {
            query = query.bind(key);
        }
        let rows = query
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        let mut found = HashMap::with_capacity(rows.len());
        for row in rows {
            let key: String = sql::get(&row, 0)?;
            found.insert(key, counter_from_row(&row)?);
        }
        Ok(encoded.iter().map(|key| found.remove(key)).collect())
    }

    async fn record_failure(&self, failure: FailureRecord<'_>) -> Result<Vec<Counter>, StoreError> {
        let at = to_millis(failure.at);
        let (_turn, mut tx) = self.write().await?;

        let mut counters = HashMap::with_capacity(failure.keys.len());
        let encoded: Vec<String> = failure.keys.iter().map(LockoutKey::encode).collect();
        if !encoded.is_empty() {
            let statement = format!(
                "INSERT INTO axes_counters (lockout_key, failures, last_failure_ms) VALUES {} \
                 ON CONFLICT (lockout_key) DO UPDATE SET \
                 failures = CASE WHEN {} THEN axes_counters.failures + 1 ELSE 1 END, \
                 last_failure_ms = MAX(axes_counters.last_failure_ms, excluded.last_failure_ms) \
                 RETURNING lockout_key, failures, last_failure_ms, recent",
                vec!["(?, 1, ?)"; encoded.len()].join(", "),
                sql::continues(
                    "axes_counters",
                    "last_failure_ms",
                    failure.window,
                    "excluded.last_failure_ms"
                ),
            );
            let mut query = sqlx::query(&statement);
            for key in &encoded {
                query = query.bind(key).bind(at);
            }
            for row in query
                .fetch_all(&mut *tx)
                .await
                .map_err(StoreError::backend)?
            {
                let key: String = sql::get(&row, 0)?;
                let mut counter = counter_from_row(&row)?;
                // The write lock is held: slide the failure times.
                if failure.slide(&mut counter) {
                    sqlx::query(
                        "UPDATE axes_counters SET failures = ?, recent = ? WHERE lockout_key = ?",
                    )
                    .bind(db_count(counter.failures))
                    .bind(encode_times(&counter.recent))
                    .bind(&key)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::backend)?;
                }
                counters.insert(key, counter);
            }
        }
        if !failure.record_attempt {
            tx.commit().await.map_err(StoreError::backend)?;
            return in_key_order(&encoded, counters);
        }

        let statement = format!(
            "INSERT INTO axes_attempts (attempt_key, username, ip_address, user_agent, path_info, \
             http_accept, get_data, post_data, failures, attempt_time_ms) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?) \
             ON CONFLICT (attempt_key) DO UPDATE SET \
             failures = CASE WHEN {} THEN axes_attempts.failures + 1 ELSE 1 END, \
             attempt_time_ms = MAX(axes_attempts.attempt_time_ms, excluded.attempt_time_ms), \
             path_info = excluded.path_info, http_accept = excluded.http_accept, \
             get_data = excluded.get_data, post_data = excluded.post_data",
            sql::continues(
                "axes_attempts",
                "attempt_time_ms",
                failure.window,
                "excluded.attempt_time_ms"
            ),
        );
        sql::bind_attempt(sqlx::query(&statement), &failure, at)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::backend)?;
        tx.commit().await.map_err(StoreError::backend)?;
        in_key_order(&encoded, counters)
    }

    async fn reset(&self, reset: &Reset<'_>) -> Result<u64, StoreError> {
        let filter = reset.filter;
        let (_turn, mut tx) = self.write().await?;
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
        let (condition, binds) = sql::filter_condition(filter, question_marks());
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
            for key in reset.counters_of(&attempt) {
                sqlx::query(
                    "UPDATE axes_counters SET failures = MAX(failures - ?, 0) WHERE lockout_key = ?",
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

    async fn delete_counters(&self, keys: &[LockoutKey]) -> Result<u64, StoreError> {
        let _turn = self.turn().await;
        if keys.is_empty() {
            return Ok(0);
        }
        let statement = format!(
            "DELETE FROM axes_counters WHERE lockout_key IN ({})",
            vec!["?"; keys.len()].join(", ")
        );
        let query = keys.iter().fold(sqlx::query(&statement), |query, key| {
            query.bind(key.encode())
        });
        let done = query
            .execute(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        Ok(done.rows_affected())
    }

    async fn purge_expired(&self, before: SystemTime) -> Result<u64, StoreError> {
        let before = to_millis(before);
        let (_turn, mut tx) = self.write().await?;
        sqlx::query("DELETE FROM axes_counters WHERE last_failure_ms < ?")
            .bind(before)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::backend)?;
        let removed = sqlx::query("DELETE FROM axes_attempts WHERE attempt_time_ms < ?")
            .bind(before)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::backend)?
            .rows_affected();
        tx.commit().await.map_err(StoreError::backend)?;
        Ok(removed)
    }

    async fn record_login(&self, entry: &AccessLog) -> Result<(), StoreError> {
        let _turn = self.turn().await;
        sqlx::query(
            "INSERT INTO axes_access_logs (username, ip_address, user_agent, path_info, \
             http_accept, session_hash, attempt_time_ms, logout_time_ms) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
        let _turn = self.turn().await;
        Ok(sqlx::query(
            "UPDATE axes_access_logs SET logout_time_ms = ? \
             WHERE username = ? AND session_hash = ? AND logout_time_ms IS NULL",
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
                sql::ACCESS_LOG_COLUMNS,
                "axes_access_logs",
                "attempt_time_ms",
                filter,
            )
            .await?;
        rows.iter().map(sql::access_log_from_row).collect()
    }

    async fn latest_login(
        &self,
        username: &str,
        ip: std::net::IpAddr,
        user_agent: &str,
    ) -> Result<Option<SystemTime>, StoreError> {
        let latest: Option<i64> = sqlx::query_scalar("SELECT MAX(attempt_time_ms) FROM axes_access_logs WHERE username = ? AND ip_address = ? AND user_agent = ?")
            .bind(username)
            .bind(ip.to_string())
            .bind(user_agent)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        Ok(latest.map(from_millis))
    }

    async fn purge_access_logs(&self, before: SystemTime) -> Result<u64, StoreError> {
        let _turn = self.turn().await;
        Ok(
            sqlx::query("DELETE FROM axes_access_logs WHERE attempt_time_ms < ?")
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
        let (_turn, mut tx) = self.write().await?;
        sqlx::query(
            "INSERT INTO axes_failure_logs (username, ip_address, user_agent, path_info, \
             http_accept, attempt_time_ms, locked_out) VALUES (?, ?, ?, ?, ?, ?, ?)",
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
             WHERE username IS ? ORDER BY id DESC LIMIT -1 OFFSET ?)",
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
                sql::FAILURE_LOG_COLUMNS,
                "axes_failure_logs",
                "attempt_time_ms",
                filter,
            )
            .await?;
        rows.iter().map(sql::failure_log_from_row).collect()
    }

    async fn purge_failure_logs(&self, before: SystemTime) -> Result<u64, StoreError> {
        let _turn = self.turn().await;
        Ok(
            sqlx::query("DELETE FROM axes_failure_logs WHERE attempt_time_ms < ?")
                .bind(to_millis(before))
                .execute(&self.pool)
                .await
                .map_err(StoreError::backend)?
                .rows_affected(),
        )
    }
}
