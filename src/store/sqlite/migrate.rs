//! The SQLite schema: the migrations of `migrations/sqlite`, applied in
//! order, each in a transaction, and recorded in `_sqlx_migrations` as
//! sqlx records them (version, description, SHA-384 checksum), so a
//! database made by an earlier version that ran them through sqlx carries
//! on; and the read-only check that a file is axes' own before anything
//! is written to it.

use std::path::Path;
use std::time::Instant;

use rusqlite::{Connection, OpenFlags};
use sha2::{Digest, Sha384};

use crate::store::error::StoreError;

/// The migrations: version, description, SQL.
const MIGRATIONS: [(i64, &str, &str); 5] = [
    (
        1,
        "initial",
        include_str!("../../../migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        "in flight",
        include_str!("../../../migrations/sqlite/0002_in_flight.sql"),
    ),
    (
        3,
        "sliding window",
        include_str!("../../../migrations/sqlite/0003_sliding_window.sql"),
    ),
    (
        4,
        "in flight in memory",
        include_str!("../../../migrations/sqlite/0004_in_flight_in_memory.sql"),
    ),
    (
        5,
        "trusted client index",
        include_str!("../../../migrations/sqlite/0005_trusted_client_index.sql"),
    ),
];

/// The tables the migrations make.
const TABLES: [&str; 5] = [
    "axes_counters",
    "axes_attempts",
    "axes_access_logs",
    "axes_failure_logs",
    "axes_in_flight",
];

fn checksum(sql: &str) -> Vec<u8> {
    Sha384::digest(sql.as_bytes()).to_vec()
}

fn failed(error: impl std::fmt::Display) -> StoreError {
    StoreError::Migration(error.to_string().into())
}

/// The migrations `connection` has applied: version and checksum.
fn applied(connection: &Connection) -> rusqlite::Result<Vec<(i64, Vec<u8>, bool)>> {
    connection
        .prepare("SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
        .collect()
}

/// Whether every applied migration of `applied` is one of axes' own, as
/// it was written; why not.
fn foreign(applied: &[(i64, Vec<u8>, bool)]) -> Option<String> {
    applied.iter().find_map(|(version, sum, success)| {
        let ours = MIGRATIONS.iter().find(|(v, ..)| v == version);
        match ours {
            None => Some(format!("its migration {version} is not one of axes'")),
            Some((.., sql)) if checksum(sql) != *sum => {
                Some(format!("its migration {version} differs from axes'"))
            }
            Some(_) if !success => Some(format!("its migration {version} did not finish")),
            Some(_) => None,
        }
    })
}

/// Applies the migrations `connection` lacks, each in a savepoint (a
/// transaction of its own, or part of the one under way).
pub(super) fn migrate(connection: &Connection) -> Result<(), StoreError> {
    connection
        .execute_batch(
            "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
                version BIGINT PRIMARY KEY,
                description TEXT NOT NULL,
                installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
                success BOOLEAN NOT NULL,
                checksum BLOB NOT NULL,
                execution_time BIGINT NOT NULL
            );",
        )
        .map_err(failed)?;
    let done = applied(connection).map_err(failed)?;
    if let Some(why) = foreign(&done) {
        return Err(failed(why));
    }
    for (version, description, sql) in MIGRATIONS {
        if done.iter().any(|(v, ..)| *v == version) {
            continue;
        }
        let started = Instant::now();
        let apply = |connection: &Connection| -> rusqlite::Result<()> {
            connection.execute_batch("SAVEPOINT axes_migration")?;
            connection.execute_batch(sql)?;
            let nanos = i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX);
            connection.execute(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                 VALUES (?1, ?2, TRUE, ?3, ?4)",
                rusqlite::params![version, description, checksum(sql), nanos],
            )?;
            connection.execute_batch("RELEASE axes_migration")
        };
        if let Err(error) = apply(connection) {
            let _ = connection.execute_batch("ROLLBACK TO axes_migration; RELEASE axes_migration");
            return Err(failed(format!(
                "migration {version} ({description}): {error}"
            )));
        }
    }
    Ok(())
}

/// Whether the file at `path` can take axes' schema, read only, before
/// anything is written to it (not even the switch to WAL): it is new, or
/// its tables are axes' own — its migrations table names axes' migrations
/// alone, or, without one, no table bears an axes name. An application's
/// own tables beside them are fine.
pub(super) fn check_schema(path: &Path) -> Result<(), StoreError> {
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
    match foreign(&applied(&db).map_err(StoreError::backend)?) {
        Some(why) => Err(clash(why)),
        None => Ok(()),
    }
}
