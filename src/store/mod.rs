//! Where attempts are kept: the [`Store`] contract, its record types, and
//! one module per backend.
//!
//! A store counts; the policy decides. A store never knows what "locked"
//! means: it keeps one [`Counter`] per [`LockoutKey`](crate::LockoutKey)
//! (failures, the time of the last one, and under a sliding window the
//! times of the recent ones) bumped by the one windowing rule
//! ([`Window`], [`FailureRecord::bump`]), and, optionally, attempt records,
//! logs and attempts in flight. Every built-in store passes the same
//! conformance suite, which a store of your own can run too (feature
//! `test-suite`).
//!
//! | store | for | attempts in flight |
//! |---|---|---|
//! | [`MemoryStore`] | one process, state lost on restart; bounded by bytes | counted by the engine |
//! | [`SqliteStore`] (feature `sqlite`, default) | one process, state kept in a file | counted by the engine |
//! | [`PostgresStore`] (feature `postgres`) | many app servers sharing one state | leased slots in the database |
//! | [`RedisStore`] (feature `redis`) | many app servers sharing one state | leased slots in Redis |

mod changes;
#[cfg(any(feature = "postgres", feature = "redis"))]
mod clock_sync;
pub mod codec;
mod connect;
mod contract;
mod error;
mod memory;
#[cfg(any(feature = "postgres", feature = "redis"))]
mod notice;
#[cfg(feature = "postgres")]
mod postgres;
mod records;
#[cfg(feature = "redis")]
mod redis;
mod shared;
mod slots;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(feature = "test-suite")]
pub mod suite;
mod timed;

pub(crate) use timed::TimedStore;

#[cfg(feature = "postgres")]
pub use self::postgres::PostgresStore;
#[cfg(feature = "redis")]
pub use self::redis::{RedisOptions, RedisStore};
#[cfg(feature = "sqlite")]
pub use self::sqlite::SqliteStore;
pub use crate::policy::{Counter, Window};
pub use changes::{FailureRecord, Reset};
pub use connect::connect;
pub use contract::{AccessLogs, AttemptRecords, FailureLogs, Store};
pub use error::StoreError;
pub use memory::{MemoryStore, DEFAULT_MAX_BYTES};
pub use records::{AccessAttempt, AccessFailureLog, AccessLog, AttemptFilter, FilterError};
pub use slots::{Admitted, SharedSlots, Slot, SlotRequest, Slots, StoreEvent};
