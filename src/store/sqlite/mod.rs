//! [`SqliteStore`]: the embedded default store.

mod known;
mod migrate;
mod ops;
mod writer;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
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
    /// The database's file name (a shared in-memory one's name).
    filename: Arc<str>,
    in_memory: bool,
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
        let (filename, in_memory) = database(url)?;
        if !in_memory {
            let path = std::path::PathBuf::from(&filename);
            tokio::task::spawn_blocking(move || migrate::check_schema(&path))
                .await
                .map_err(StoreError::backend)??;
        }
        let known = Arc::new(KnownKeys::default());
        let (events, _) = broadcast::channel(16);
        let opened = (filename.clone(), known.clone(), events.clone());
        let writer = tokio::task::spawn_blocking(move || {
            let (filename, known, events) = opened;
            Writer::open(&filename, in_memory, known, events)
        })
        .await
        .map_err(StoreError::backend)??;
        Ok(Self {
            filename: Arc::from(filename),
            in_memory,
            events,
            writer: Arc::new(writer),
            known,
        })
    }

    /// Applies the schema migrations; running it again changes nothing
    /// ([`connect`](Self::connect) runs them).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), axes::StoreError> {
    /// let store = axes::SqliteStore::connect("sqlite::memory:").await?;
    /// store.migrate().await?;
    /// # Ok(()) }
    /// ```
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.writer.write(migrate::migrate).await
    }

    /// A new connection to the same database, for the application's own
    /// queries (on a file; an in-memory store has no other connection).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let url = format!("sqlite://{}", dir.path().join("axes.sqlite3").display());
    /// let store = axes::SqliteStore::connect(&url).await?;
    /// let connection = store.connection()?;
    /// let counters: i64 = connection.query_row("SELECT count(*) FROM axes_counters", [], |row| row.get(0))?;
    /// assert_eq!(counters, 0);
    /// # Ok(()) }
    /// ```
    pub fn connection(&self) -> Result<rusqlite::Connection, StoreError> {
        if self.in_memory {
            return Err(StoreError::InvalidUrl(
                "an in-memory SQLite store has no other connection".to_owned(),
            ));
        }
        let connection =
            rusqlite::Connection::open(&*self.filename).map_err(StoreError::backend)?;
        connection
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(StoreError::backend)?;
        Ok(connection)
    }
}

/// The database `url` names (`sqlite://PATH`, `sqlite:PATH`,
/// `sqlite::memory:`, a `?mode=memory` one): its file name for SQLite (a
/// shared in-memory one's name), and whether it is in memory.
fn database(url: &str) -> Result<(String, bool), StoreError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static MEMORY: AtomicU64 = AtomicU64::new(0);
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| StoreError::InvalidUrl(format!("not a SQLite URL: {url}")))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let in_memory =
        path.is_empty() || path == ":memory:" || query.split('&').any(|pair| pair == "mode=memory");
    if in_memory {
        let n = MEMORY.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        return Ok((
            format!("file:axes-memory-{pid}-{n}?mode=memory&cache=shared"),
            true,
        ));
    }
    Ok((path.to_owned(), false))
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

    async fn erase_access_logs(&self, filter: &AttemptFilter) -> Result<u64, StoreError> {
        let filter = filter.clone();
        self.writer
            .write(move |c| ops::delete_filtered(c, "axes_access_logs", &filter))
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

    async fn erase_failure_logs(&self, filter: &AttemptFilter) -> Result<u64, StoreError> {
        let filter = filter.clone();
        self.writer
            .write(move |c| ops::delete_filtered(c, "axes_failure_logs", &filter))
            .await
    }
}
