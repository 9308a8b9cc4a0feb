//! [`SqliteStore`]: the embedded default store.

mod known;
mod ops;
mod writer;

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use tokio::sync::broadcast;

use self::known::KnownKeys;
use self::writer::Writer;
use super::changes::{FailureRecord, Reset};
use super::contract::{AccessLogs, AttemptRecords, FailureLogs, Store};
use super::error::StoreError;
use super::records::{AccessAttempt, AccessFailureLog, AccessLog, AttemptFilter};
use super::slots::StoreEvent;
use crate::identity::{ClientInfo, LockoutKey};
use crate::policy::{Counter, Window};

/// How long a connection waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// A store in an SQLite database: the embedded default. Lockouts survive
/// restarts.
///
/// [`connect`](Self::connect) creates the file if needed, turns on WAL and
/// applies the migrations of `migrations/sqlite`. Every operation then runs
/// on one connection, on a thread of its own, and the writes that queue
/// while one batch runs are committed together (group commit): one commit
/// for many concurrent logins, each answered only once its write has
/// committed. The file is one process's store: another process (the `axes`
/// command line tool, say) may read it and reset, but attempts in flight are
/// counted in the process that serves the logins.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use axes::{Axes, AxesConfig, ClientInfo, Report, SqliteStore};
/// let dir = tempfile::tempdir()?;
/// let url = format!("sqlite://{}", dir.path().join("axes.sqlite3").display());
/// let axes = Axes::new(AxesConfig::default(), SqliteStore::connect(&url).await?);
/// let client = ClientInfo::new("192.0.2.1".parse()?);
/// axes.attempt(client).report(Report::failed("alice")).await?;
/// assert_eq!(axes.attempts(axes::AttemptFilter::All).await?.len(), 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// For the migrations, and for code of the application's own.
    pool: SqlitePool,
    writer: Arc<Writer>,
    /// The keys that may have a counter: a check of any other reads nothing.
    known: Arc<KnownKeys>,
    /// Writes by other connections (another process's reset), as they are
    /// noticed.
    events: broadcast::Sender<StoreEvent>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` (`sqlite://PATH`,
    /// or `sqlite::memory:`) and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(StoreError::backend)?
            .create_if_missing(true);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if !in_memory {
            let path = options.get_filename().to_owned();
            tokio::task::spawn_blocking(move || check_schema(&path))
                .await
                .map_err(StoreError::backend)??;
        }
        let options = options
            .journal_mode(if in_memory {
                SqliteJournalMode::Memory
            } else {
                SqliteJournalMode::Wal
            })
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(if in_memory { 1 } else { 2 })
            .connect_with(options.clone())
            .await
            .map_err(StoreError::backend)?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migration(Box::new(e)))?;
        let filename = options.get_filename().to_string_lossy().into_owned();
        let known = Arc::new(KnownKeys::default());
        let (events, _) = broadcast::channel(16);
        let writer = Writer::open(&filename, in_memory, known.clone(), events.clone())?;
        Ok(Self {
            pool,
            events,
            writer: Arc::new(writer),
            known,
        })
    }

    /// Applies the schema migrations; running it again changes nothing
    /// ([`connect`](Self::connect) runs them).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Migration(Box::new(e)))
    }

    /// A connection pool on the same database, for the application's own
    /// queries.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// The tables axes' migrations make.
const TABLES: [&str; 5] = [
    "axes_counters",
    "axes_attempts",
    "axes_access_logs",
    "axes_failure_logs",
    "axes_in_flight",
];

/// Whether the file at `path` can take axes' schema, read only, before
/// anything is written to it (not even the switch to WAL): it is new, or
/// its tables are axes' own — its migrations table names axes' migrations
/// alone, or, without one, no table bears an axes name. An application's
/// own tables beside them are fine.
fn check_schema(path: &std::path::Path) -> Result<(), StoreError> {
    use rusqlite::{Connection, OpenFlags};
    if std::fs::metadata(path).map_or(true, |meta| meta.len() == 0) {
        return Ok(());
    }
    let clash = |why: String| {
        let message = format!(
            "{} is not axes' own database: {why}; nothing was changed",
            path.display()
        );
        StoreError::Migration(message.into())
    };
    let db = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(StoreError::backend)?;
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .and_then(|mut query| query.query_map([], |row| row.get(0))?.collect())
        .map_err(StoreError::backend)?;
    if !tables.iter().any(|t| t == "_sqlx_migrations") {
        return match tables.iter().find(|t| TABLES.contains(&t.as_str())) {
            Some(table) => Err(clash(format!(
                "it has a table `{table}` no axes migration made"
            ))),
            None => Ok(()),
        };
    }
    let ours = sqlx::migrate!("./migrations/sqlite");
    let applied: Vec<(i64, Vec<u8>)> = db
        .prepare("SELECT version, checksum FROM _sqlx_migrations")
        .and_then(|mut query| {
            query
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })
        .map_err(StoreError::backend)?;
    for (version, checksum) in applied {
        let known = ours
            .iter()
            .any(|m| m.version == version && *m.checksum == *checksum);
        if !known {
            return Err(clash(format!(
                "its migration {version} is not one of axes'"
            )));
        }
    }
    Ok(())
}

fn encode(keys: &[LockoutKey]) -> Vec<String> {
    keys.iter().map(LockoutKey::encode).collect()
}

/// A failure to record, owned, for the writer's thread.
struct OwnedFailure {
    keys: Vec<LockoutKey>,
    encoded: Vec<String>,
    client: ClientInfo,
    at: SystemTime,
    window: Window,
    get_data: String,
    post_data: String,
    record_attempt: bool,
    lock_at: u64,
    lock_span: Option<Duration>,
}

impl OwnedFailure {
    fn of(failure: &FailureRecord<'_>) -> Self {
        Self {
            keys: failure.keys.to_vec(),
            encoded: encode(failure.keys),
            client: failure.client.clone(),
            at: failure.at,
            window: failure.window.clone(),
            get_data: failure.get_data.to_owned(),
            post_data: failure.post_data.to_owned(),
            record_attempt: failure.record_attempt,
            lock_at: failure.lock_at,
            lock_span: failure.lock_span,
        }
    }

    fn record(&self) -> FailureRecord<'_> {
        FailureRecord {
            keys: &self.keys,
            client: &self.client,
            at: self.at,
            window: &self.window,
            get_data: &self.get_data,
            post_data: &self.post_data,
            record_attempt: self.record_attempt,
            lock_at: self.lock_at,
            lock_span: self.lock_span,
            release: None,
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn subscribe(&self) -> Option<broadcast::Receiver<StoreEvent>> {
        Some(self.events.subscribe())
    }

    async fn announce_reset(&self) -> Result<(), StoreError> {
        // Other processes notice the write itself (`PRAGMA data_version`).
        let _ = self.events.send(StoreEvent::Reset);
        Ok(())
    }

    async fn counters(&self, keys: &[LockoutKey]) -> Result<Vec<Option<Counter>>, StoreError> {
        let encoded = encode(keys);
        // Only keys that may have a row are read; a client that never
        // failed reads nothing.
        let (maybe, positions): (Vec<String>, Vec<usize>) = encoded
            .into_iter()
            .enumerate()
            .filter(|(_, key)| self.known.may_exist(key))
            .map(|(i, key)| (key, i))
            .unzip();
        let mut counters = vec![None; keys.len()];
        if maybe.is_empty() {
            return Ok(counters);
        }
        let found = self.writer.read(move |c| ops::counters(c, &maybe)).await?;
        for (position, counter) in positions.into_iter().zip(found) {
            counters[position] = counter;
        }
        Ok(counters)
    }

    async fn record_failure(&self, failure: FailureRecord<'_>) -> Result<Vec<Counter>, StoreError> {
        let failure = OwnedFailure::of(&failure);
        let known = self.known.clone();
        self.writer
            .write(move |c| {
                for key in &failure.encoded {
                    known.add(key);
                }
                ops::record_failure(c, &failure.record(), &failure.encoded)
            })
            .await
    }

    async fn reset(&self, reset: &Reset<'_>) -> Result<u64, StoreError> {
        let filter = reset.filter.clone();
        let counters_of = reset.counters_rule();
        let known = self.known.clone();
        self.writer
            .write(move |c| {
                if filter == AttemptFilter::All {
                    known.mark_stale();
                }
                ops::reset(c, &filter, &*counters_of)
            })
            .await
    }

    async fn delete_counters(&self, keys: &[LockoutKey]) -> Result<u64, StoreError> {
        if keys.is_empty() {
            return Ok(0);
        }
        let keys = encode(keys);
        self.writer
            .write(move |c| ops::delete_counters(c, &keys))
            .await
    }

    async fn purge_expired(&self, before: SystemTime) -> Result<u64, StoreError> {
        let known = self.known.clone();
        self.writer
            .write(move |c| {
                let purged = ops::purge_expired(c, before)?;
                if purged > 0 {
                    known.mark_stale();
                }
                Ok(purged)
            })
            .await
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
impl AttemptRecords for SqliteStore {
    async fn attempts(&self, filter: &AttemptFilter) -> Result<Vec<AccessAttempt>, StoreError> {
        let filter = filter.clone();
        self.writer.read(move |c| ops::attempts(c, &filter)).await
    }
}

#[async_trait]
impl AccessLogs for SqliteStore {
    async fn record_login(&self, entry: &AccessLog) -> Result<(), StoreError> {
        let entry = entry.clone();
        self.writer
            .write(move |c| ops::insert_login(c, &entry))
            .await
    }

    async fn record_logout(
        &self,
        username: &str,
        session_hash: &str,
        at: SystemTime,
    ) -> Result<u64, StoreError> {
        let (username, session_hash) = (username.to_owned(), session_hash.to_owned());
        self.writer
            .write(move |c| ops::close_sessions(c, &username, &session_hash, at))
            .await
    }

    async fn access_logs(&self, filter: &AttemptFilter) -> Result<Vec<AccessLog>, StoreError> {
        let filter = filter.clone();
        self.writer
            .read(move |c| ops::access_logs(c, &filter))
            .await
    }

    async fn latest_login(
        &self,
        username: &str,
        ip: std::net::IpAddr,
        user_agent: &str,
    ) -> Result<Option<SystemTime>, StoreError> {
        let (username, user_agent) = (username.to_owned(), user_agent.to_owned());
        self.writer
            .read(move |c| ops::latest_login(c, &username, ip, &user_agent))
            .await
    }

    async fn purge_access_logs(&self, before: SystemTime) -> Result<u64, StoreError> {
        self.writer
            .write(move |c| ops::delete_before(c, "axes_access_logs", before))
            .await
    }
}

#[async_trait]
impl FailureLogs for SqliteStore {
    async fn record_failure_log(
        &self,
        entry: &AccessFailureLog,
        per_user_limit: u64,
    ) -> Result<(), StoreError> {
        let entry = entry.clone();
        self.writer
            .write(move |c| ops::insert_failure_log(c, &entry, per_user_limit))
            .await
    }

    async fn failure_logs(
        &self,
        filter: &AttemptFilter,
    ) -> Result<Vec<AccessFailureLog>, StoreError> {
        let filter = filter.clone();
        self.writer
            .read(move |c| ops::failure_logs(c, &filter))
            .await
    }

    async fn purge_failure_logs(&self, before: SystemTime) -> Result<u64, StoreError> {
        self.writer
            .write(move |c| ops::delete_before(c, "axes_failure_logs", before))
            .await
    }
}
