//! The store conformance suite (feature `test-suite`): the tests every
//! built-in store passes, for a store of your own. A test file
//! instantiates it once per store with [`store_suite!`](crate::store_suite):
//!
//! ```
//! // tests/my_store.rs; here on the memory store, with yours in its place.
//! axes::store_suite!(my_store, async { Some(axes::MemoryStore::new()) });
//! # fn main() {}
//! ```
//!
//! The test crate needs `tokio` (with the `macros` and `rt-multi-thread`
//! features) among its dev-dependencies.
//!
//! The expression gives `Option<impl Store>`: `None` skips every test of
//! the suite (a server store whose `AXES_TEST_*_URL` is unset), and the test
//! says so. Each evaluation must give an empty store of its own (a fresh
//! database, schema or key prefix), as the tests run in parallel. A store
//! shared by app servers passes a third expression giving two instances on
//! one fresh state: `Option<(impl Store, impl Store)>`.
//!
//! The tests of a capability ([`AttemptRecords`], [`AccessLogs`],
//! [`FailureLogs`], [`SharedSlots`](crate::store::SharedSlots)) run on a
//! store that has it, and say they were skipped on one that does not.

mod counters;
mod logs;
mod records;
mod slots;

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::identity::{ClientInfo, LockoutGroup, LockoutKey, LockoutParameter::*};
use crate::store::changes::Reset;
use crate::store::contract::{AccessLogs, AttemptRecords, FailureLogs, Store};
use crate::store::error::StoreError;
use crate::store::records::{AccessAttempt, AttemptFilter};

/// A fixed time in whole milliseconds (SQL stores keep milliseconds).
pub fn t(seconds: f64) -> SystemTime {
    UNIX_EPOCH
        + Duration::from_secs(1_700_000_000)
        + Duration::from_millis((seconds * 1000.0) as u64)
}

/// An address from text.
pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A client of the suite: fixed user agent, path and `Accept`.
pub fn client(ip_address: &str, username: Option<&str>) -> ClientInfo {
    let client = ClientInfo::new(ip(ip_address))
        .with_user_agent("suite-agent/1.0")
        .with_path("/login")
        .with_http_accept("application/json");
    match username {
        Some(u) => client.with_username(u),
        None => client,
    }
}

/// `["ip_address"]`.
pub fn by_ip() -> LockoutGroup {
    LockoutGroup::single(IpAddress)
}

/// `["username"]`.
pub fn by_username() -> LockoutGroup {
    LockoutGroup::single(Username)
}

/// `[["username", "ip_address"]]`.
pub fn by_pair() -> LockoutGroup {
    LockoutGroup::combination([Username, IpAddress])
}

/// The keys of `client` under `groups`.
pub fn keys(client: &ClientInfo, groups: &[LockoutGroup]) -> Vec<LockoutKey> {
    groups
        .iter()
        .filter_map(|g| client.lockout_key(g))
        .collect()
}

/// The store's attempt records, or `None` when it keeps none (a test of
/// them then says it was skipped).
pub fn records_of(store: &impl Store) -> Option<&dyn AttemptRecords> {
    let records = store.records();
    if records.is_none() {
        eprintln!("skipped: the store keeps no attempt records");
    }
    records
}

/// The store's access log, or `None` when it keeps none.
pub fn access_log_of(store: &impl Store) -> Option<&dyn AccessLogs> {
    let log = store.access_log();
    if log.is_none() {
        eprintln!("skipped: the store keeps no access log");
    }
    log
}

/// The store's failure log, or `None` when it keeps none.
pub fn failure_log_of(store: &impl Store) -> Option<&dyn FailureLogs> {
    let log = store.failure_log();
    if log.is_none() {
        eprintln!("skipped: the store keeps no failure log");
    }
    log
}

/// Resets what `filter` covers, each record's failures taken off the keys
/// of `groups` it counted toward.
pub async fn reset(
    store: &impl Store,
    filter: &AttemptFilter,
    groups: &[LockoutGroup],
) -> Result<u64, StoreError> {
    let groups = groups.to_vec();
    let counters_of = move |record: &AccessAttempt| -> Vec<LockoutKey> {
        groups
            .iter()
            .filter_map(|group| {
                LockoutKey::for_group(
                    group,
                    record.ip_address,
                    record.username.as_deref(),
                    Some(&record.user_agent),
                )
            })
            .collect()
    };
    store.reset(&Reset::new(filter, counters_of)).await
}

/// The store conformance suite (feature `test-suite`): one `#[tokio::test]`
/// per property every store must have, in a module named `$name`, on the
/// stores `$make` gives (`Option<impl Store>`, each evaluation an empty store
/// of its own; `None` skips, and says so). A store shared by app servers
/// passes a third expression giving two instances on one fresh state.
///
/// ```
/// axes::store_suite!(memory, async { Some(axes::MemoryStore::new()) });
/// // A shared store: the third expression gives two handles on one state
/// // (here two `Arc`s of one memory store; a server store connects twice).
/// axes::store_suite!(
///     shared,
///     async { Some(axes::MemoryStore::new()) },
///     async {
///         let one = std::sync::Arc::new(axes::MemoryStore::new());
///         Some((one.clone(), one))
///     }
/// );
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! store_suite {
    ($name:ident, $make:expr) => {
        $crate::store_suite!($name, $make, async {
            None::<($crate::MemoryStore, $crate::MemoryStore)>
        });
    };
    ($name:ident, $make:expr, $pair:expr) => {
        mod $name {
            use std::sync::Arc;
            use std::time::Duration;

            use $crate::store::{
                AccessFailureLog, AccessLog, AttemptFilter, FailureRecord, Store, Window,
            };

            use $crate::store::suite::*;

            /// Two instances of the store under test sharing one state (two app
            /// servers), or `None` when it is not a shared store.
            async fn twin_or_skip() -> Option<(Arc<dyn Store>, Arc<dyn Store>)> {
                let (first, second) = $pair.await?;
                Some((Arc::new(first), Arc::new(second)))
            }

            /// The store under test, or `None` to skip.
            async fn store_or_skip() -> Option<impl Store> {
                let store = $make.await;
                if store.is_none() {
                    eprintln!("skipped: {} store not configured", stringify!($name));
                }
                store
            }

            async fn fail(
                store: &impl Store,
                client: &$crate::ClientInfo,
                groups: &[$crate::LockoutGroup],
                at: std::time::SystemTime,
                window: &Window,
            ) -> Vec<u64> {
                let keys = keys(client, groups);
                store
                    .record_failure(FailureRecord::new(&keys, client, at, window))
                    .await
                    .unwrap()
                    .iter()
                    .map(|c| c.failures)
                    .collect()
            }

            $crate::__axes_suite_counters!();
            $crate::__axes_suite_records!();
            $crate::__axes_suite_logs!();
            $crate::__axes_suite_slots!();
        }
    };
}

/// A small deterministic random source for the suite's generated cases.
#[derive(Debug, Clone)]
pub struct Xorshift(pub u64);

impl Xorshift {
    /// The next number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// A random window: for ever, fixed, tiered, or sliding.
pub fn random_window(rng: &mut Xorshift) -> crate::store::Window {
    use crate::policy::Window;
    let seconds = |rng: &mut Xorshift| Duration::from_secs(1 + rng.below(20));
    match rng.below(4) {
        0 => Window::forever(),
        1 => Window::fixed(seconds(rng)),
        2 => Window::tiered([
            (2 + rng.below(3), seconds(rng)),
            (6 + rng.below(3), seconds(rng)),
        ]),
        _ => Window::fixed(seconds(rng)).sliding(1 + rng.below(6) as usize),
    }
}
