//! The SQLite store's writer: one connection on a thread of its own that
//! runs every operation, committing together the writes that queued while
//! the previous batch ran (group commit).
//!
//! SQLite lets one transaction write at a time, and each commit costs a WAL
//! write: taking turns per request spends most of the time waiting and
//! committing. Here the operations queued when the writer is free run in one
//! `BEGIN IMMEDIATE` transaction, each write inside a savepoint (a failing
//! one is rolled back alone), and one `COMMIT` ends the batch. Each
//! operation is answered only after that commit: a failure is never
//! acknowledged before it is written. Reads run in the same order, so each
//! sees every write answered before it; a batch of reads only takes no
//! write lock.
//!
//! Each commit syncs the WAL (`synchronous = FULL`): an answered write
//! survives the process and the machine going down.
//!
//! The writer also keeps [`KnownKeys`] right: rebuilt after a purge
//! commits, and whenever another connection has written to the database
//! (checked before each batch, and every [`STALE_AFTER`] while idle). Such
//! a write (the `axes` tool's reset, say) is told to the store's
//! subscribers as [`StoreEvent::Reset`], so the engine forgets the
//! lockouts it cached.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{broadcast, oneshot};

use super::known::KnownKeys;
use crate::store::error::StoreError;
use crate::store::slots::StoreEvent;

/// How often an idle writer looks for another connection's writes.
pub(super) const STALE_AFTER: Duration = Duration::from_millis(50);

/// The most operations one transaction commits.
const MAX_BATCH: usize = 512;

/// How long the writer waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// How many prepared statements the writer keeps.
const STATEMENT_CACHE: usize = 128;

/// An operation queued for the writer.
type Job = Box<dyn Operation>;

/// What the writer runs, and answers once its batch has committed.
trait Operation: Send {
    /// Whether it writes (and so runs in a transaction, in a savepoint).
    fn writes(&self) -> bool;

    /// Runs inside the batch's transaction; whether it succeeded (else its
    /// savepoint is rolled back).
    fn run(&mut self, connection: &Connection) -> bool;

    /// Answers with the result, or with why the batch did not commit.
    fn answer(self: Box<Self>, failed: Option<&str>);
}

/// An operation and, once run, its result.
struct Pending<T, F> {
    writes: bool,
    operation: Option<F>,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Operation for Pending<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send,
{
    fn writes(&self) -> bool {
        self.writes
    }

    fn run(&mut self, connection: &Connection) -> bool {
        let Some(operation) = self.operation.take() else {
            return false;
        };
        let result = catch_unwind(AssertUnwindSafe(|| operation(connection)))
            .unwrap_or_else(|_| Err(stopped("an operation panicked")));
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn answer(self: Box<Self>, failed: Option<&str>) {
        let result = match (failed, self.result) {
            (Some(why), _) => Err(stopped(why)),
            (None, Some(result)) => result,
            (None, None) => Err(stopped("the operation did not run")),
        };
        let _ = self.reply.send(result);
    }
}

/// The handle operations are sent through; the thread ends when the last
/// handle is dropped.
#[derive(Debug)]
pub(super) struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Opens `filename` (a path, or an in-memory database's shared name),
    /// fills `known` and starts the writer's thread.
    pub fn open(
        filename: &str,
        in_memory: bool,
        known: Arc<KnownKeys>,
        events: broadcast::Sender<StoreEvent>,
    ) -> Result<Self, StoreError> {
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if in_memory {
            flags |= OpenFlags::SQLITE_OPEN_MEMORY | OpenFlags::SQLITE_OPEN_SHARED_CACHE;
        }
        let connection =
            Connection::open_with_flags(filename, flags).map_err(StoreError::backend)?;
        connection
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(StoreError::backend)?;
        if !in_memory {
            // WAL, synced at each commit: a batch is answered once it is
            // on disk.
            connection
                .pragma_update(None, "journal_mode", "WAL")
                .map_err(StoreError::backend)?;
            connection
                .pragma_update(None, "synchronous", "FULL")
                .map_err(StoreError::backend)?;
        }
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        super::migrate::migrate(&connection)?;
        known.rebuild(&connection)?;
        let version = data_version(&connection);
        let (jobs, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name("axes-sqlite-writer".to_owned())
            .spawn(move || {
                let mut thread = Thread {
                    connection,
                    known,
                    version,
                    events,
                };
                thread.run(&queue);
            })
            .map_err(StoreError::backend)?;
        Ok(Self { jobs })
    }

    /// Runs the read `operation` in turn; its result.
    pub async fn read<T, F>(&self, operation: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.call(false, operation).await
    }

    /// Runs the write `operation` in the next batch; its result once the
    /// batch has committed.
    pub async fn write<T, F>(&self, operation: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.call(true, operation).await
    }

    async fn call<T, F>(&self, writes: bool, operation: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(Pending {
            writes,
            operation: Some(operation),
            result: None,
            reply,
        });
        self.jobs
            .send(job)
            .map_err(|_| stopped("the writer has stopped"))?;
        answer
            .await
            .unwrap_or_else(|_| Err(stopped("the writer has stopped")))
    }
}

fn stopped(why: &str) -> StoreError {
    StoreError::backend(std::io::Error::other(format!("SQLite writer: {why}")))
}

/// `PRAGMA data_version`: changes when another connection commits.
fn data_version(connection: &Connection) -> Option<i64> {
    connection
        .query_row("PRAGMA data_version", [], |row| row.get(0))
        .ok()
}

/// The writer's thread and what it keeps.
struct Thread {
    connection: Connection,
    known: Arc<KnownKeys>,
    /// The `data_version` last seen.
    version: Option<i64>,
    /// Where another connection's writes are told.
    events: broadcast::Sender<StoreEvent>,
}

impl Thread {
    /// The writer's loop: a batch of whatever is queued, in one transaction.
    fn run(&mut self, queue: &mpsc::Receiver<Job>) {
        loop {
            let first = match queue.recv_timeout(STALE_AFTER) {
                Ok(job) => job,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    self.notice_other_writers();
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            };
            let mut batch = Vec::with_capacity(16);
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            self.notice_other_writers();
            self.run_batch(batch);
        }
    }

    /// Rebuilds the known keys if another connection wrote since last seen.
    fn notice_other_writers(&mut self) {
        let version = data_version(&self.connection);
        if version != self.version {
            self.version = version;
            let _ = self.events.send(StoreEvent::Reset);
            if let Err(error) = self.known.rebuild(&self.connection) {
                tracing::debug!(target: "axes", %error, "reading the SQLite counter keys failed; every check reads");
            }
        }
    }

    fn run_batch(&mut self, mut batch: Vec<Job>) {
        let connection = &self.connection;
        let writes = batch.iter().any(|job| job.writes());
        if !writes {
            for job in &mut batch {
                job.run(connection);
            }
            for job in batch {
                job.answer(None);
            }
            return;
        }
        if let Err(error) = execute(connection, "BEGIN IMMEDIATE") {
            let why = error.to_string();
            for job in batch {
                job.answer(Some(&why));
            }
            return;
        }
        for job in &mut batch {
            run_one(connection, job.as_mut());
        }
        let committed = execute(connection, "COMMIT");
        if committed.is_err() {
            let _ = execute(connection, "ROLLBACK");
        }
        let failed = committed.err().map(|e| e.to_string());
        if failed.is_none() && self.known.take_stale() {
            if let Err(error) = self.known.rebuild(connection) {
                tracing::debug!(target: "axes", %error, "reading the SQLite counter keys failed; every check reads");
            }
        }
        for job in batch {
            job.answer(failed.as_deref());
        }
    }
}

/// Runs one statement of transaction control, prepared once.
fn execute(connection: &Connection, sql: &str) -> rusqlite::Result<()> {
    connection.prepare_cached(sql)?.execute([]).map(drop)
}

/// Runs `job`: a write inside a savepoint, rolled back if it failed.
fn run_one(connection: &Connection, job: &mut dyn Operation) {
    if !job.writes() {
        job.run(connection);
        return;
    }
    if execute(connection, "SAVEPOINT operation").is_err() {
        // Not run: it answers that it did not.
        return;
    }
    if !job.run(connection) {
        let _ = execute(connection, "ROLLBACK TO operation");
    }
    let _ = execute(connection, "RELEASE operation");
}
