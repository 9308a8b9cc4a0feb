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

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions, PgRow, Postgres};
use sqlx::query::Query;
use sqlx::{PgConnection, PgExecutor, PgPool};

use super::lease::{Leases, Renew};
use super::sql::{
    self, attempt_from_row, counter_from_row, db_count, get, numbered, ATTEMPT_COLUMNS,
};
use super::{
    from_millis, to_millis, AccessAttempt, AccessFailureLog, AccessLog, Admitted, AttemptFilter,
    Counter, FailureRecord, SlotRequest, Slots, Store, StoreError,
};
use crate::client::LockoutKey;
use crate::config::LockoutGroup;

/// How long a call waits for a pooled connection before it fails: a stalled
/// server turns into an error instead of hanging logins.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the server lets a session sit idle inside a transaction before
/// ending it, so that an app server that vanishes mid-transaction releases
/// its row locks then rather than when TCP notices. The store's transactions
/// never wait between their statements.
const IDLE_IN_TRANSACTION_TIMEOUT: &str = "5s";

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
    leases: Arc<Leases>,
}

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
            .test_before_acquire(true)
            .connect_with(options.options([timeout]))
            .await
            .map_err(StoreError::backend)?;
        if let Some(schema) = schema {
            create_schema(&pool, schema).await?;
        }
        let store = Self::new(pool);
        store.migrate().await?;
        Ok(store)
    }

    /// A store on an existing pool; call [`migrate`](Self::migrate) once.
    /// [`connect`](Self::connect) also sets an `acquire_timeout`, and
    /// `idle_in_transaction_session_timeout` so that a vanished app server
    /// cannot hold row locks for long; consider both.
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
        Self {
            pool,
            leases: Leases::new(),
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

/// Creates `schema` unless it exists (then no `CREATE` privilege is needed).
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
    match sqlx::query(&create).execute(pool).await {
        // `IF NOT EXISTS` is not atomic: a process creating the schema at the
        // same moment makes this one fail on the catalog's unique index.
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(()),
        Err(e) => Err(StoreError::backend(e)),
        Ok(_) => Ok(()),
    }
}

/// `column IN (…)` over the rows of `table` that match `condition`, locked
/// first in `order` (which may end in `OFFSET`): for statements that change
/// many rows.
fn locked(table: &str, column: &str, condition: &str, order: &str) -> String {
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
async fn retry_conflicts<T, F, Fut>(mut transaction: F) -> Result<T, StoreError>
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
fn is_conflict(error: &StoreError) -> bool {
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
async fn execute<'c>(query: PgQuery<'_>, on: impl PgExecutor<'c>) -> Result<u64, StoreError> {
    let done = query.execute(on).await.map_err(StoreError::backend)?;
    Ok(done.rows_affected())
}

async fn fetch<'c>(query: PgQuery<'_>, on: impl PgExecutor<'c>) -> Result<Vec<PgRow>, StoreError> {
    query.fetch_all(on).await.map_err(StoreError::backend)
}

/// `statement` with the values of a filter condition bound.
fn filtered<'q>(statement: &'q str, binds: &'q [String]) -> PgQuery<'q> {
    binds
        .iter()
        .fold(sqlx::query(statement), |query, value| query.bind(value))
}

fn encode(keys: &[LockoutKey]) -> Vec<String> {
    keys.iter().map(LockoutKey::encode).collect()
}

/// The `(key, value)` rows of an upsert, in the order of `keys`.
fn in_key_order<T: Clone>(
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
async fn take_off_counters(
    conn: &mut PgConnection,
    rows: &[PgRow],
    groups: &[LockoutGroup],
) -> Result<(), StoreError> {
    // Summed per key, in lock order.
    let mut taken = BTreeMap::<String, i64>::new();
    for row in rows {
        let attempt = attempt_from_row(row)?;
        for key in attempt.lockout_keys(groups) {
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
    execute(sqlx::query(&lock).bind(&keys), &mut *conn).await?;
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

impl PostgresStore {
    async fn record_failure_once(
        &self,
        failure: FailureRecord<'_>,
    ) -> Result<Vec<Counter>, StoreError> {
        let window = failure.window;
        let (steps_from, steps_window): (Vec<i64>, Vec<i64>) = window
            .steps()
            .iter()
            .map(|(from, length)| (db_count(*from), millis(*length)))
            .unzip();
        let client = failure.client;
        let attempt = failure
            .record_attempt
            .then(|| client.attempt_key().encode());
        let (release, slot) = match failure.release {
            Some(slots) => (encode(slots.keys), db_count(slots.id)),
            None => (Vec::new(), 0),
        };
        let encoded = encode(failure.keys);
        let query = sqlx::query(
            "SELECT * FROM axes_record_failure($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
             $12, $13, $14, $15, $16, $17)",
        )
        .bind(&encoded)
        .bind(to_millis(failure.at))
        .bind(steps_from)
        .bind(steps_window)
        .bind(window.longest().map(millis))
        .bind(
            window
                .keep()
                .map_or(0, |keep| i32::try_from(keep).unwrap_or(i32::MAX)),
        )
        .bind(attempt)
        .bind(client.username())
        .bind(client.ip_address().to_string())
        .bind(client.user_agent())
        .bind(client.path())
        .bind(client.http_accept())
        .bind(failure.get_data)
        .bind(failure.post_data)
        .bind(release)
        .bind(self.leases.instance())
        .bind(slot);
        let rows = fetch(query, &self.pool).await?;
        if let Some(slots) = failure.release {
            self.leases.given_back(slots.id);
        }
        in_key_order(&encoded, &rows, counter_from_row)
    }

    async fn reset_once(
        &self,
        filter: &AttemptFilter,
        groups: &[LockoutGroup],
    ) -> Result<u64, StoreError> {
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
            execute(sqlx::query(&statement), &mut *tx).await?;
            execute(sqlx::query("DELETE FROM axes_slots"), &mut *tx).await?;
        } else {
            take_off_counters(&mut tx, &rows, groups).await?;
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
        let deleted = execute(sqlx::query(&statement).bind(&encoded), &mut *tx).await?;
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
        // Servers that have held no lease for an hour are gone.
        let instances = "DELETE FROM axes_instances AS i \
                         WHERE i.lease_until_ms < axes_now_ms() - 3600000 \
                         AND NOT EXISTS (SELECT 1 FROM axes_slots AS s WHERE s.instance = i.instance)";
        let mut tx = self.pool.begin().await.map_err(StoreError::backend)?;
        let removed = execute(sqlx::query(&attempts).bind(before), &mut *tx).await?;
        execute(sqlx::query(&counters).bind(before), &mut *tx).await?;
        execute(sqlx::query(instances), &mut *tx).await?;
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

    /// Deletes the rows of `table` logged before `before`, locking them in `order`.
    async fn delete_before(
        &self,
        table: &str,
        order: &str,
        before: SystemTime,
    ) -> Result<u64, StoreError> {
        let condition = locked(table, "id", "attempt_time_ms < $1", order);
        let statement = format!("DELETE FROM {table} WHERE {condition}");
        execute(sqlx::query(&statement).bind(to_millis(before)), &self.pool).await
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
        retry_conflicts(|| self.record_failure_once(failure)).await
    }

    async fn reset(
        &self,
        filter: &AttemptFilter,
        groups: &[LockoutGroup],
    ) -> Result<u64, StoreError> {
        retry_conflicts(|| self.reset_once(filter, groups)).await
    }

    async fn attempts(&self, filter: &AttemptFilter) -> Result<Vec<AccessAttempt>, StoreError> {
        self.select_filtered(ATTEMPT_COLUMNS, "axes_attempts", filter)
            .await?
            .iter()
            .map(attempt_from_row)
            .collect()
    }

    async fn delete_counters(&self, keys: &[LockoutKey]) -> Result<u64, StoreError> {
        retry_conflicts(|| self.delete_counters_once(keys)).await
    }

    async fn purge_expired(&self, before: SystemTime) -> Result<u64, StoreError> {
        retry_conflicts(|| self.purge_expired_once(before)).await
    }

    async fn record_login(&self, entry: &AccessLog) -> Result<(), StoreError> {
        let query = sqlx::query(
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
        .bind(entry.logout_time.map(to_millis));
        execute(query, &self.pool).await.map(drop)
    }

    async fn record_logout(
        &self,
        username: &str,
        session_hash: &str,
        at: SystemTime,
    ) -> Result<u64, StoreError> {
        let open = "username = $2 AND session_hash = $3 AND logout_time_ms IS NULL";
        let statement = format!(
            "UPDATE axes_access_logs SET logout_time_ms = $1 WHERE {}",
            locked("axes_access_logs", "id", open, "id")
        );
        let query = sqlx::query(&statement)
            .bind(to_millis(at))
            .bind(username)
            .bind(session_hash);
        execute(query, &self.pool).await
    }

    async fn access_logs(&self, filter: &AttemptFilter) -> Result<Vec<AccessLog>, StoreError> {
        let rows = self
            .select_filtered(sql::ACCESS_LOG_COLUMNS, "axes_access_logs", filter)
            .await?;
        rows.iter().map(sql::access_log_from_row).collect()
    }

    async fn latest_login(
        &self,
        username: &str,
        ip: std::net::IpAddr,
        user_agent: &str,
    ) -> Result<Option<SystemTime>, StoreError> {
        let latest: Option<i64> = sqlx::query_scalar("SELECT MAX(attempt_time_ms) FROM axes_access_logs WHERE username = $1 AND ip_address = $2 AND user_agent = $3")
            .bind(username)
            .bind(ip.to_string())
            .bind(user_agent)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        Ok(latest.map(from_millis))
    }

    async fn purge_access_logs(&self, before: SystemTime) -> Result<u64, StoreError> {
        self.delete_before("axes_access_logs", "id", before).await
    }

    async fn record_failure_log(
        &self,
        entry: &AccessFailureLog,
        per_user_limit: u64,
    ) -> Result<(), StoreError> {
        // `username IS NOT DISTINCT FROM $1`, in a form the index serves.
        let same_user = match entry.username {
            Some(_) => "username = $1",
            None => "username IS NULL",
        };
        let cap = format!(
            "DELETE FROM axes_failure_logs WHERE {}",
            locked("axes_failure_logs", "id", same_user, "id DESC OFFSET $2")
        );
        let insert = sqlx::query(
            "INSERT INTO axes_failure_logs (username, ip_address, user_agent, path_info, \
             http_accept, attempt_time_ms, locked_out) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&entry.username)
        .bind(entry.ip_address.map(|ip| ip.to_string()))
        .bind(&entry.user_agent)
        .bind(&entry.path_info)
        .bind(&entry.http_accept)
        .bind(to_millis(entry.attempt_time))
        .bind(entry.locked_out);
        let mut tx = self.pool.begin().await.map_err(StoreError::backend)?;
        execute(insert, &mut *tx).await?;
        let query = sqlx::query(&cap)
            .bind(&entry.username)
            .bind(db_count(per_user_limit));
        execute(query, &mut *tx).await?;
        tx.commit().await.map_err(StoreError::backend)
    }

    async fn failure_logs(
        &self,
        filter: &AttemptFilter,
    ) -> Result<Vec<AccessFailureLog>, StoreError> {
        let rows = self
            .select_filtered(sql::FAILURE_LOG_COLUMNS, "axes_failure_logs", filter)
            .await?;
        rows.iter().map(sql::failure_log_from_row).collect()
    }

    async fn purge_failure_logs(&self, before: SystemTime) -> Result<u64, StoreError> {
        // Newest first, as the per-username cap locks them.
        self.delete_before("axes_failure_logs", "id DESC", before)
            .await
    }

    fn shares_in_flight(&self) -> bool {
        true
    }

    async fn admit(
        &self,
        read: &[LockoutKey],
        slots: Option<SlotRequest<'_>>,
    ) -> Result<Admitted, StoreError> {
        let read_keys = encode(read);
        let (hold, slot, take, lease) = match slots {
            Some(request) => (
                encode(request.slots.keys),
                request.slots.id,
                request.take,
                request.lease,
            ),
            None => (Vec::new(), 0, false, Duration::ZERO),
        };
        let rows = retry_conflicts(|| {
            let query = sqlx::query("SELECT * FROM axes_admit($1, $2, $3, $4, $5, $6)")
                .bind(&read_keys)
                .bind(&hold)
                .bind(self.leases.instance())
                .bind(db_count(slot))
                .bind(take)
                .bind(millis(lease));
            fetch(query, &self.pool)
        })
        .await?;
        let mut counters = HashMap::with_capacity(read.len());
        let mut holders = HashMap::with_capacity(hold.len());
        for row in &rows {
            let key: String = get(row, 0)?;
            match get::<_, Option<i64>>(row, 4)? {
                Some(count) => {
                    holders.insert(key, count_of(count));
                }
                None => {
                    counters.insert(key, counter_from_row(row)?);
                }
            }
        }
        if take && !hold.is_empty() {
            self.leases.taken(slot, lease, &self.lease_renewer());
        }
        Ok(Admitted::new(
            read_keys.iter().map(|key| counters.remove(key)).collect(),
            slots.map(|_| {
                hold.iter()
                    .map(|key| holders.get(key).copied().unwrap_or(0))
                    .collect()
            }),
        ))
    }

    async fn release(&self, slots: Slots<'_>) -> Result<(), StoreError> {
        let keys = encode(slots.keys);
        self.leases.given_back(slots.id);
        let renewer = self.lease_renewer();
        if let Err(error) = renewer
            .release(self.leases.instance(), &keys, slots.id)
            .await
        {
            self.leases.retry_later(keys, slots.id);
            return Err(error);
        }
        Ok(())
    }

    async fn record_success(
        &self,
        entry: Option<&AccessLog>,
        release: Option<Slots<'_>>,
    ) -> Result<(), StoreError> {
        let (keys, slot) = match release {
            Some(slots) => (encode(slots.keys), db_count(slots.id)),
            None => (Vec::new(), 0),
        };
        let released =
            "DELETE FROM axes_slots WHERE lockout_key = ANY($1) AND instance = $2 AND slot = $3";
        let result = match entry {
            Some(entry) => {
                let statement = format!(
                    "WITH released AS ({released}) \
                     INSERT INTO axes_access_logs (username, ip_address, user_agent, path_info, \
                     http_accept, session_hash, attempt_time_ms, logout_time_ms) \
                     VALUES ($4, $5, $6, $7, $8, $9, $10, $11)"
                );
                let query = sqlx::query(&statement)
                    .bind(&keys)
                    .bind(self.leases.instance())
                    .bind(slot)
                    .bind(&entry.username)
                    .bind(entry.ip_address.map(|ip| ip.to_string()))
                    .bind(&entry.user_agent)
                    .bind(&entry.path_info)
                    .bind(&entry.http_accept)
                    .bind(&entry.session_hash)
                    .bind(to_millis(entry.attempt_time))
                    .bind(entry.logout_time.map(to_millis));
                execute(query, &self.pool).await
            }
            None if release.is_some() => {
                let query = sqlx::query(released)
                    .bind(&keys)
                    .bind(self.leases.instance())
                    .bind(slot);
                execute(query, &self.pool).await
            }
            None => return Ok(()),
        };
        result?;
        if let Some(slots) = release {
            self.leases.given_back(slots.id);
        }
        Ok(())
    }
}

/// Renews this store's lease and retries its releases, on the pool.
#[derive(Clone)]
struct PgLeases {
    pool: PgPool,
}

#[async_trait]
impl Renew for PgLeases {
    async fn renew(&self, instance: &str, lease: Duration) -> Result<(), StoreError> {
        let query = sqlx::query(
            "UPDATE axes_instances SET lease_until_ms = GREATEST(lease_until_ms, axes_now_ms() + $2) \
             WHERE instance = $1",
        )
        .bind(instance)
        .bind(millis(lease));
        execute(query, &self.pool).await.map(|_| ())
    }

    async fn release(&self, instance: &str, keys: &[String], slot: u64) -> Result<(), StoreError> {
        let query = sqlx::query(
            "DELETE FROM axes_slots WHERE lockout_key = ANY($1) AND instance = $2 AND slot = $3",
        )
        .bind(keys)
        .bind(instance)
        .bind(db_count(slot));
        execute(query, &self.pool).await.map(|_| ())
    }
}

impl PostgresStore {
    fn lease_renewer(&self) -> PgLeases {
        PgLeases {
            pool: self.pool.clone(),
        }
    }
}

/// A duration in whole milliseconds, as the SQL functions take it.
fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// A count read back from the database.
fn count_of(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}
