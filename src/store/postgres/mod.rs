//! [`PostgresStore`]: one lockout state shared by many app servers.
//!
//! Every write is exact under concurrency from many processes: counts change
//! in upserts (`INSERT … ON CONFLICT … DO UPDATE … RETURNING`), never by an
//! unlocked read-then-write (a sliding window's failure times are rewritten
//! while the upsert holds the row). Every statement that locks several rows
//! takes the locks in one global order — the attempt record before any
//! counter, counters by key (byte order, `COLLATE "C"`, as Rust sorts the
//! ASCII keys), slots in flight last, log entries by id. Admissions of one
//! key take turns on an advisory lock. A later
//! statement of a transaction can still meet rows committed after its first
//! statement locked theirs, so under concurrent resets PostgreSQL may abort
//! one transaction of a cycle; [`retry_conflicts`] runs it again.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions, PgRow, Postgres};
use sqlx::query::Query;
use sqlx::AssertSqlSafe;
use sqlx::PgPool;

use tokio::sync::broadcast;

use super::changes::{FailureRecord, Reset};
use super::clock_sync::{ClockSync, StoreTime};
use super::codec::to_millis;
use super::contract::{AccessLogs, AttemptRecords, FailureLogs, Store};
use super::error::StoreError;
use super::notice::Notifications;
use super::records::{AccessAttempt, AccessFailureLog, AccessLog, AttemptFilter};
use super::slots::{Admitted, SharedSlots, StoreEvent};
use super::sql::{self, numbered, ATTEMPT_COLUMNS};
use crate::identity::LockoutKey;
use crate::policy::Counter;
use batch::{Abandoned, Batcher};
use rows::{attempt_from_row, counter_from_row, get};

/// How long a call waits for a pooled connection before it fails: a stalled
/// server turns into an error instead of hanging logins.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the server lets a session sit idle inside a transaction before
/// ending it, so that an app server that vanishes mid-transaction releases
/// its row locks then rather than when TCP notices. The store's transactions
/// never wait between their statements.
const IDLE_IN_TRANSACTION_TIMEOUT: &str = "5s";

/// How the store's sessions plan: one generic plan per statement, on the
/// tables' indexes. The store's PL/pgSQL functions take arrays
/// (`= ANY($1)`, `unnest`), whose custom plans PostgreSQL keeps
/// preferring: it would plan their statements anew on every call, a
/// quarter of its time under load. A generic plan is kept for the
/// session's life, and one made while a table was nearly empty would scan
/// it whole (`axes_slots` gains and loses a row an attempt, and its dead
/// rows pile up between vacuums): every statement of the store reads by
/// key, so its lookups stay on their indexes.
const PLANNING: [(&str, &str); 2] = [
    ("plan_cache_mode", "force_generic_plan"),
    ("enable_seqscan", "off"),
];

const MAX_CONNECTIONS: u32 = 16;

/// The order in which counters and in-flight entries are locked.
const KEY_ORDER: &str = "lockout_key COLLATE \"C\"";

type PgQuery<'q> = Query<'q, Postgres, PgArguments>;

/// A store in PostgreSQL, for deployments where several app servers share one
/// lockout state: an attacker gets `failure_limit` tries in all, not per
/// machine.
///
/// [`connect`](Self::connect) applies the migrations of `migrations/postgres`
/// (concurrent starts are safe: sqlx's migrator takes an advisory lock). The
/// pre-dispatch check is one indexed read; a failure is one transaction of
/// upserts. Connections that break are replaced by the pool on its own.
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
    /// The database's clock less this machine's.
    clock: Arc<ClockSync>,
    /// What other app servers did, from the `LISTEN` connection.
    notifications: Arc<Notifications>,
    /// Admissions, sent in batches.
    admissions: Batcher<slots::Admission, Admitted>,
    /// Successes and slots given back, sent in batches.
    logins: Batcher<slots::Login, ()>,
    /// Failures, sent in batches.
    failures: Batcher<failures::Failure, Vec<Counter>>,
}

mod batch;
mod failures;
mod logs;
mod notify;
mod query;
mod rows;
mod slots;

use query::{
    count_of, encode, execute, fetch, filtered, in_key_order, locked, millis, retry_conflicts,
    take_off_counters,
};

impl PostgresStore {
    /// Connects to `url` (`postgres://…`) and applies the migrations.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), axes::StoreError> {
    /// let store = axes::PostgresStore::connect("postgres://app@db.internal/app").await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(StoreError::backend)?;
        Self::connect_with(options, None).await
    }

    /// Connects to `url`, keeping the tables in `schema` (created if
    /// missing): several applications, or tests, can share one database.
    /// The name must be a plain identifier (`[a-z_][a-z0-9_]*`, at most 63
    /// bytes).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use axes::{PostgresStore, StoreError};
    /// // Checked before connecting: a schema name is never quoted into SQL.
    /// let refused = PostgresStore::connect_with_schema("postgres://db/app", "axes; DROP").await;
    /// assert!(matches!(refused, Err(StoreError::InvalidData(_))));
    /// # }
    /// ```
    pub async fn connect_with_schema(url: &str, schema: &str) -> Result<Self, StoreError> {
        let valid = schema.len() <= 63
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
        Self::connect_with(options.options([("search_path", schema)]), Some(schema)).await
    }

    async fn connect_with(
        options: PgConnectOptions,
        schema: Option<&str>,
    ) -> Result<Self, StoreError> {
        let timeout = (
            "idle_in_transaction_session_timeout",
            IDLE_IN_TRANSACTION_TIMEOUT,
        );
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .connect_with(options.options([timeout]).options(PLANNING))
            .await
            .map_err(StoreError::backend)?;
        if let Some(schema) = schema {
            create_schema(&pool, schema).await?;
        }
        check_schema(&pool).await?;
        let store = Self::new(pool);
        store.migrate().await?;
        store
            .clock
            .measure(&DatabaseTime(store.pool.clone()))
            .await?;
        Ok(store)
    }

    /// A store on an existing pool; call [`migrate`](Self::migrate) once.
    /// [`connect`](Self::connect) also sets an `acquire_timeout`,
    /// `idle_in_transaction_session_timeout` so that a vanished app server
    /// cannot hold row locks for long, `plan_cache_mode =
    /// force_generic_plan`, without which the database plans the store's
    /// functions' statements anew on every call (a third fewer logins a
    /// second under load), and `enable_seqscan = off`, which keeps those
    /// plans on the indexes; consider them all.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::postgres::PgPoolOptions::new()
    ///     .acquire_timeout(std::time::Duration::from_secs(5))
    ///     .connect("postgres://app@db.internal/app")
    ///     .await?;
    /// let store = axes::PostgresStore::new(pool);
    /// store.migrate().await?;
    /// # Ok(()) }
    /// ```
    pub fn new(pool: PgPool) -> Self {
        let clock = Arc::new(ClockSync::default());
        clock.keep_measuring(DatabaseTime(pool.clone()));
        let options = (*pool.connect_options()).clone();
        Self {
            notifications: Arc::new(notify::listen(options)),
            clock,
            admissions: batcher(&pool, Abandoned::Skipped, slots::admit_many),
            logins: batcher(&pool, Abandoned::Sent, slots::record_logins),
            failures: batcher(&pool, Abandoned::Sent, failures::record_failures),
            pool,
        }
    }

    /// Applies the schema migrations; running it again, or from several
    /// processes at once, is safe.
    ///
    /// ```no_run
    /// # async fn run(store: axes::PostgresStore) -> Result<(), axes::StoreError> {
    /// store.migrate().await?;
    /// store.migrate().await?; // nothing left to apply
    /// # Ok(()) }
    /// ```
    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Migration(Box::new(e)))
    }

    /// The connection pool.
    ///
    /// ```no_run
    /// # async fn run(store: axes::PostgresStore) -> Result<(), sqlx::Error> {
    /// let attempts: i64 = sqlx::query_scalar("SELECT count(*) FROM axes_attempts")
    ///     .fetch_one(store.pool())
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Calls on `pool` sent in batches by `send` (see [`batch`]).
fn batcher<Q, A, F, Fut>(pool: &PgPool, abandoned: Abandoned, send: F) -> Batcher<Q, A>
where
    Q: Send + 'static,
    A: Send + 'static,
    F: Fn(PgPool, Vec<Q>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Vec<A>, StoreError>> + Send + 'static,
{
    let pool = pool.clone();
    Batcher::new(abandoned, move |batch| Box::pin(send(pool.clone(), batch)))
}

/// Creates `schema` unless it exists (then no `CREATE` privilege is needed).
/// Whether the schema in use can take axes' migrations without changing
/// what is not axes' own: without a migrations table, no table there may
/// bear an axes name. (With one, the migrations refuse versions that are
/// not axes' before they apply anything.)
async fn check_schema(pool: &PgPool) -> Result<(), StoreError> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT relname::TEXT FROM pg_class \
         WHERE relnamespace = current_schema()::regnamespace AND relkind IN ('r', 'u', 'p') \
         AND (relname = '_sqlx_migrations' OR relname LIKE 'axes\\_%')",
    )
    .fetch_all(pool)
    .await
    .map_err(StoreError::backend)?;
    if tables.iter().any(|t| t == "_sqlx_migrations") {
        return Ok(());
    }
    match tables.first() {
        Some(table) => Err(StoreError::Migration(
            format!("the schema is not axes' own: it has a table `{table}` no axes migration made; nothing was changed").into(),
        )),
        None => Ok(()),
    }
}

async fn create_schema(pool: &PgPool, schema: &str) -> Result<(), StoreError> {
    let exists = "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)";
    let exists: bool = sqlx::query_scalar(exists)
        .bind(schema)
        .fetch_one(pool)
        .await
        .map_err(StoreError::backend)?;
    if exists {
        return Ok(());
    }
    let create = format!("CREATE SCHEMA IF NOT EXISTS {schema}");
    match sqlx::query(AssertSqlSafe(create)).execute(pool).await {
        // `IF NOT EXISTS` is not atomic: a process creating the schema at the
        // same moment makes this one fail on the catalog's unique index.
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(()),
        Err(e) => Err(StoreError::backend(e)),
        Ok(_) => Ok(()),
    }
}

impl PostgresStore {
    async fn reset_once(&self, reset: &Reset<'_>) -> Result<u64, StoreError> {
        let filter = reset.filter;
        let all = *filter == AttemptFilter::All;
        let (condition, binds) = sql::filter_condition(filter, numbered(1));
        let statement = format!(
            "DELETE FROM axes_attempts WHERE {} RETURNING {}",
            locked("axes_attempts", "id", &condition, "id"),
            if all { "id" } else { ATTEMPT_COLUMNS },
        );
        let mut tx = self.pool.begin().await.map_err(StoreError::backend)?;
        let rows = fetch(filtered(&statement, &binds), &mut *tx).await?;
        if all {
            let every = locked("axes_counters", "lockout_key", "TRUE", KEY_ORDER);
            let statement = format!("DELETE FROM axes_counters WHERE {every}");
            execute(sqlx::query(AssertSqlSafe(statement)), &mut *tx).await?;
            execute(sqlx::query("DELETE FROM axes_slots"), &mut *tx).await?;
        } else {
            take_off_counters(&mut tx, &rows, reset).await?;
        }
        tx.commit().await.map_err(StoreError::backend)?;
        Ok(rows.len() as u64)
    }

    async fn delete_counters_once(&self, keys: &[LockoutKey]) -> Result<u64, StoreError> {
        if keys.is_empty() {
            return Ok(0);
        }
        let statement = format!(
            "DELETE FROM axes_counters WHERE {}",
            locked(
                "axes_counters",
                "lockout_key",
                "lockout_key = ANY($1)",
                KEY_ORDER
            )
        );
        let encoded = encode(keys);
        let mut tx = self.pool.begin().await.map_err(StoreError::backend)?;
        let deleted = execute(
            sqlx::query(AssertSqlSafe(statement)).bind(&encoded),
            &mut *tx,
        )
        .await?;
        let slots = "DELETE FROM axes_slots WHERE lockout_key = ANY($1)";
        execute(sqlx::query(slots).bind(&encoded), &mut *tx).await?;
        tx.commit().await.map_err(StoreError::backend)?;
        Ok(deleted)
    }

    async fn purge_expired_once(&self, before: SystemTime) -> Result<u64, StoreError> {
        let before = to_millis(before);
        let attempts = format!(
            "DELETE FROM axes_attempts WHERE {}",
            locked("axes_attempts", "id", "attempt_time_ms < $1", "id")
        );
        let counters = format!(
            "DELETE FROM axes_counters WHERE {}",
            locked(
                "axes_counters",
                "lockout_key",
                "last_failure_ms < $1",
                KEY_ORDER
            )
        );
        // Nobody waits on a key whose mark lapsed.
        let waiting = "DELETE FROM axes_waiting WHERE until_ms < axes_now_ms()";
        // Servers that have held no lease for an hour are gone.
        let instances = "DELETE FROM axes_instances AS i \
                         WHERE i.lease_until_ms < axes_now_ms() - 3600000 \
                         AND NOT EXISTS (SELECT 1 FROM axes_slots AS s WHERE s.instance = i.instance)";
        let mut tx = self.pool.begin().await.map_err(StoreError::backend)?;
        let removed = execute(sqlx::query(AssertSqlSafe(attempts)).bind(before), &mut *tx).await?;
        execute(sqlx::query(AssertSqlSafe(counters)).bind(before), &mut *tx).await?;
        execute(sqlx::query(instances), &mut *tx).await?;
        execute(sqlx::query(waiting), &mut *tx).await?;
        tx.commit().await.map_err(StoreError::backend)?;
        Ok(removed)
    }

    /// The rows of `table` that `filter` covers, newest first.
    async fn select_filtered(
        &self,
        columns: &str,
        table: &str,
        filter: &AttemptFilter,
    ) -> Result<Vec<PgRow>, StoreError> {
        let (condition, binds) = sql::filter_condition(filter, numbered(1));
        let statement = format!(
            "SELECT {columns} FROM {table} WHERE {condition} ORDER BY attempt_time_ms DESC, id DESC"
        );
        fetch(filtered(&statement, &binds), &self.pool).await
    }

    /// Deletes the rows of `table` that `filter` covers, locking them in
    /// `order`.
    async fn delete_filtered(
        &self,
        table: &str,
        order: &str,
        filter: &AttemptFilter,
    ) -> Result<u64, StoreError> {
        let (condition, binds) = sql::filter_condition(filter, numbered(1));
        let condition = locked(table, "id", &condition, order);
        let statement = format!("DELETE FROM {table} WHERE {condition}");
        execute(filtered(&statement, &binds), &self.pool).await
    }

    /// Deletes the rows of `table` logged before `before`, locking them in `order`.
    async fn delete_before(
        &self,
        table: &str,
        order: &str,
        before: SystemTime,
    ) -> Result<u64, StoreError> {
        let condition = locked(table, "id", "attempt_time_ms < $1", order);
        let statement = format!("DELETE FROM {table} WHERE {condition}");
        execute(
            sqlx::query(AssertSqlSafe(statement)).bind(to_millis(before)),
            &self.pool,
        )
        .await
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn counters(&self, keys: &[LockoutKey]) -> Result<Vec<Option<Counter>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let encoded = encode(keys);
        let statement = "SELECT lockout_key, failures, last_failure_ms, recent FROM axes_counters \
                         WHERE lockout_key = ANY($1)";
        let rows = fetch(sqlx::query(statement).bind(&encoded), &self.pool).await?;
        let mut found = HashMap::with_capacity(rows.len());
        for row in &rows {
            found.insert(get::<_, String>(row, 0)?, counter_from_row(row)?);
        }
        Ok(encoded.iter().map(|key| found.remove(key)).collect())
    }

    async fn record_failure(&self, failure: FailureRecord<'_>) -> Result<Vec<Counter>, StoreError> {
        self.failures.call(failures::Failure::of(&failure)).await
    }

    async fn reset(&self, reset: &Reset<'_>) -> Result<u64, StoreError> {
        retry_conflicts(|| self.reset_once(reset)).await
    }

    async fn delete_counters(&self, keys: &[LockoutKey]) -> Result<u64, StoreError> {
        retry_conflicts(|| self.delete_counters_once(keys)).await
    }

    async fn purge_expired(&self, before: SystemTime) -> Result<u64, StoreError> {
        retry_conflicts(|| self.purge_expired_once(before)).await
    }

    fn shared_slots(&self) -> Option<&dyn SharedSlots> {
        Some(self)
    }

    fn subscribe(&self) -> Option<broadcast::Receiver<StoreEvent>> {
        Some(self.notifications.subscribe())
    }

    async fn announce_reset(&self) -> Result<(), StoreError> {
        self.notifications.send(StoreEvent::Reset);
        execute(sqlx::query("SELECT axes_notify_reset()::TEXT"), &self.pool)
            .await
            .map(drop)
    }

    fn clock_offset_ms(&self) -> i64 {
        self.clock.offset_ms()
    }

    fn records(&self) -> Option<&dyn AttemptRecords> {
        Some(self)
    }

    fn access_log(&self) -> Option<&dyn AccessLogs> {
        Some(self)
    }

    fn failure_log(&self) -> Option<&dyn FailureLogs> {
        Some(self)
    }
}

#[async_trait]
impl AttemptRecords for PostgresStore {
    async fn attempts(&self, filter: &AttemptFilter) -> Result<Vec<AccessAttempt>, StoreError> {
        self.select_filtered(ATTEMPT_COLUMNS, "axes_attempts", filter)
            .await?
            .iter()
            .map(attempt_from_row)
            .collect()
    }
}

#[async_trait]
impl AccessLogs for PostgresStore {
    async fn record_login(&self, entry: &AccessLog) -> Result<(), StoreError> {
        self.insert_login(entry).await
    }

    async fn record_logout(
        &self,
        username: &str,
        session_hash: &str,
        at: SystemTime,
    ) -> Result<u64, StoreError> {
        self.close_sessions(username, session_hash, at).await
    }

    async fn access_logs(&self, filter: &AttemptFilter) -> Result<Vec<AccessLog>, StoreError> {
        self.read_access_logs(filter).await
    }

    async fn latest_login(
        &self,
        username: &str,
        ip: std::net::IpAddr,
        user_agent: &str,
    ) -> Result<Option<SystemTime>, StoreError> {
        self.read_latest_login(username, ip, user_agent).await
    }

    async fn purge_access_logs(&self, before: SystemTime) -> Result<u64, StoreError> {
        self.delete_before("axes_access_logs", "id", before).await
    }

    async fn erase_access_logs(&self, filter: &AttemptFilter) -> Result<u64, StoreError> {
        self.delete_filtered("axes_access_logs", "id", filter).await
    }
}

#[async_trait]
impl FailureLogs for PostgresStore {
    async fn record_failure_log(
        &self,
        entry: &AccessFailureLog,
        per_user_limit: u64,
    ) -> Result<(), StoreError> {
        self.insert_failure_log(entry, per_user_limit).await
    }

    async fn failure_logs(
        &self,
        filter: &AttemptFilter,
    ) -> Result<Vec<AccessFailureLog>, StoreError> {
        self.read_failure_logs(filter).await
    }

    async fn purge_failure_logs(&self, before: SystemTime) -> Result<u64, StoreError> {
        // Newest first, as the per-username cap locks them.
        self.delete_before("axes_failure_logs", "id DESC", before)
            .await
    }

    async fn erase_failure_logs(&self, filter: &AttemptFilter) -> Result<u64, StoreError> {
        self.delete_filtered("axes_failure_logs", "id DESC", filter)
            .await
    }
}

/// The database's clock, as the leases and the engine read it.
struct DatabaseTime(PgPool);

#[async_trait]
impl StoreTime for DatabaseTime {
    async fn store_time_ms(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT axes_now_ms()")
            .fetch_one(&self.0)
            .await
            .map_err(StoreError::backend)
    }
}
