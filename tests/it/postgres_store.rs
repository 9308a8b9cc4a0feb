//! The Postgres store: the shared conformance suite, and one lockout state
//! shared by several instances. Needs `AXES_TEST_POSTGRES_URL`; without it
//! every test says it was skipped.

use std::sync::atomic::{AtomicBool, Ordering};

use axes::PostgresStore;
use sqlx::Connection;

fn nanos_now() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// A fresh schema per store, so tests run in parallel.
fn schema() -> String {
    crate::common::stores::unique_name("axes_test")
}

fn url() -> Option<String> {
    let url = std::env::var("AXES_TEST_POSTGRES_URL").ok();
    if url.is_none() {
        eprintln!("skipped: AXES_TEST_POSTGRES_URL is not set");
    }
    url
}

const DEFAULT_PORT: u16 = 5432;

/// Drops the schemas of test runs over an hour old, once per process: a
/// suite's store has no teardown in which to drop its own.
async fn sweep_old_schemas(url: &str) {
    static SWEPT: AtomicBool = AtomicBool::new(false);
    if SWEPT.swap(true, Ordering::SeqCst) {
        return;
    }
    let Ok(mut conn) = sqlx::PgConnection::connect(url).await else {
        return;
    };
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'axes\\_test\\_%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap_or_default();
    let cutoff = nanos_now().saturating_sub(3600 * 1_000_000_000);
    for name in names {
        // axes_test_{pid}_{nanos}_{n}
        let started = name.split('_').nth(3).and_then(|n| n.parse::<u128>().ok());
        if started.is_some_and(|started| started < cutoff) {
            let drop = format!("DROP SCHEMA IF EXISTS {name} CASCADE");
            let _ = sqlx::query(sqlx::AssertSqlSafe(drop))
                .execute(&mut conn)
                .await;
        }
    }
    let _ = conn.close().await;
}

async fn connect_scoped(url: &str, schema: &str) -> PostgresStore {
    sweep_old_schemas(url).await;
    PostgresStore::connect_with_schema(url, schema)
        .await
        .expect("PostgreSQL at AXES_TEST_POSTGRES_URL")
}

async fn store_in(schema: &str) -> Option<PostgresStore> {
    Some(connect_scoped(&url()?, schema).await)
}

axes::store_suite!(
    postgres,
    async { super::store_in(&super::schema()).await },
    async {
        let schema = super::schema();
        Some((
            super::store_in(&schema).await?,
            super::store_in(&schema).await?,
        ))
    }
);

shared_store_tests!();

/// Writes that lock several rows, run together over overlapping keys: none
/// may fail (a deadlock aborts one of them with an error).
mod lock_order {
    use std::sync::Arc;
    use std::time::{Duration, UNIX_EPOCH};

    use axes::store::{AccessFailureLog, AccessLog, FailureRecord, Window};
    use axes::store::{AccessLogs, FailureLogs};
    use axes::{AttemptFilter, Store};

    use axes::store::suite::{by_ip, by_pair, by_username, client, ip, keys, t};

    #[tokio::test(flavor = "multi_thread", worker_threads = 8)]
    async fn failures_resets_purges_logs_and_in_flight_never_deadlock() {
        let Some(store) = super::store_in(&super::schema()).await else {
            return;
        };
        let store = Arc::new(store);
        let groups = [by_ip(), by_username(), by_pair()];
        let tasks: Vec<_> = (0..80u32)
            .map(|task| {
                let store = store.clone();
                let groups = groups.clone();
                tokio::spawn(async move {
                    for round in 0..40u32 {
                        let n = task + round;
                        let addr = format!("192.0.2.{}", n % 3);
                        let user = ["alice", "bob", "carol"][(n as usize / 3) % 3];
                        let who = client(&addr, Some(user));
                        let at = t(f64::from(round));
                        let mut k = keys(&who, &groups);
                        if n % 2 == 0 {
                            k.reverse();
                        }
                        let log = AccessFailureLog::failure(&who, at, false);
                        let entry = AccessLog::login(&who, user, "", at);
                        let result = match task % 10 {
                            0 => axes::store::suite::reset(
                                &*store,
                                &AttemptFilter::Ip(ip(&addr)),
                                &groups,
                            )
                            .await
                            .map(drop),
                            1 => axes::store::suite::reset(
                                &*store,
                                &AttemptFilter::Username(user.into()),
                                &groups,
                            )
                            .await
                            .map(drop),
                            2 => store
                                .purge_expired(t(f64::from(round) - 2.0))
                                .await
                                .map(drop),
                            3 => {
                                use axes::store::SharedSlots;
                                let taken: Vec<_> = k
                                    .iter()
                                    .map(|key| axes::store::Slot {
                                        key: key.clone(),
                                        id: u64::from(n),
                                    })
                                    .collect();
                                let request = axes::store::SlotRequest::new(
                                    "hammer",
                                    &taken,
                                    &k,
                                    Duration::from_secs(60),
                                );
                                match store.admit(&k, request).await {
                                    Ok(_) => {
                                        store
                                            .release(axes::store::Slots::new("hammer", &taken))
                                            .await
                                    }
                                    Err(e) => Err(e),
                                }
                            }
                            4 => match store.record_failure_log(&log, 5).await {
                                Ok(()) => store
                                    .purge_failure_logs(t(f64::from(round) - 1.0))
                                    .await
                                    .map(drop),
                                Err(e) => Err(e),
                            },
                            5 => match store.record_login(&entry).await {
                                Ok(()) => match store.record_logout(user, "", at).await {
                                    Ok(_) => store.purge_access_logs(UNIX_EPOCH).await.map(drop),
                                    Err(e) => Err(e),
                                },
                                Err(e) => Err(e),
                            },
                            6 if round % 10 == 0 => {
                                axes::store::suite::reset(&*store, &AttemptFilter::All, &groups)
                                    .await
                                    .map(drop)
                            }
                            _ => store
                                .record_failure(FailureRecord::new(
                                    &k,
                                    &who,
                                    at,
                                    &Window::forever(),
                                ))
                                .await
                                .map(drop),
                        };
                        result.map_err(|e| format!("task {task} round {round}: {e}"))?;
                    }
                    Ok::<(), String>(())
                })
            })
            .collect();
        let mut errors = Vec::new();
        for task in tasks {
            if let Err(e) = task.await.unwrap() {
                errors.push(e);
            }
        }
        assert!(errors.is_empty(), "{} failed: {errors:#?}", errors.len());
    }
}

/// Several processes starting at once on a new schema all come up.
#[tokio::test]
async fn concurrent_first_connects_to_one_schema_succeed() {
    let Some(url) = url() else {
        return;
    };
    let schema = schema();
    let connects: Vec<_> = (0..12)
        .map(|_| {
            let (url, schema) = (url.clone(), schema.clone());
            tokio::spawn(async move { PostgresStore::connect_with_schema(&url, &schema).await })
        })
        .collect();
    for connect in connects {
        connect
            .await
            .unwrap()
            .expect("a concurrent connect and migration");
    }
}

/// An instance that vanishes inside a transaction (a partition, a frozen
/// process) must not hold its row locks until TCP notices.
mod vanished_instance {
    use std::net::{SocketAddr, ToSocketAddrs};
    use std::time::{Duration, Instant};

    use axes::store::{FailureRecord, Window};
    use axes::Store;

    use crate::common::fault_proxy::FaultProxy;
    use axes::store::suite::{by_ip, client, keys, t};

    /// The server address of a `scheme://[user@]host[:port]/…` URL, and the
    /// URL with that address replaced.
    fn redirect(url: &str, to: impl FnOnce(SocketAddr) -> SocketAddr) -> (SocketAddr, String) {
        let (scheme, rest) = url.split_once("://").expect("a URL");
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (user, host) = match authority.rsplit_once('@') {
            Some((user, host)) => (format!("{user}@"), host),
            None => (String::new(), authority),
        };
        let host = if host.contains(':') {
            host.to_owned()
        } else {
            format!("{host}:{}", super::DEFAULT_PORT)
        };
        let upstream = host
            .to_socket_addrs()
            .expect("host")
            .next()
            .expect("address");
        (upstream, format!("{scheme}://{user}{}{path}", to(upstream)))
    }

    #[tokio::test]
    async fn its_row_locks_are_released_by_the_server() {
        let Some(url) = super::url() else {
            return;
        };
        let schema = super::schema();
        let (upstream, _) = redirect(&url, |addr| addr);
        let proxy = FaultProxy::start(upstream).await;
        let (_, proxied) = redirect(&url, |_| proxy.addr());
        let healthy = super::connect_scoped(&url, &schema).await;
        let vanishing = super::connect_scoped(&proxied, &schema).await;

        let alice = client("192.0.2.1", Some("alice"));
        let k = keys(&alice, &[by_ip()]);
        let window = Window::forever();
        healthy
            .record_failure(FailureRecord::new(&k, &alice, t(0.0), &window))
            .await
            .unwrap();
        let mut tx = vanishing.pool().begin().await.unwrap();
        sqlx::query("SELECT failures FROM axes_counters FOR UPDATE")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        proxy.stall();

        let started = Instant::now();
        let counters = tokio::time::timeout(
            Duration::from_secs(30),
            healthy.record_failure(FailureRecord::new(&k, &alice, t(1.0), &window)),
        )
        .await
        .expect("the server releases the vanished instance's lock")
        .unwrap();
        assert_eq!(counters[0].failures, 2);
        eprintln!(
            "waited {:?} for the vanished instance's lock",
            started.elapsed()
        );
        drop(tx);
    }
}

/// A schema with a table bearing an axes name that no axes migration made
/// is refused, and nothing is added to it (no migrations table, no axes
/// table); a schema with only an application's own tables takes axes'.
#[tokio::test]
async fn a_schema_that_is_not_axes_own_is_refused_unchanged() {
    let Some(url) = url() else {
        return;
    };
    let schema = schema();
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    for statement in [
        format!("CREATE SCHEMA {schema}"),
        format!("CREATE TABLE {schema}.axes_attempts (id BIGINT PRIMARY KEY, note TEXT)"),
        format!("CREATE TABLE {schema}.users (name TEXT)"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let tables = |schema: String| async move {
        let mut conn = sqlx::PgConnection::connect(&self::url()?).await.ok()?;
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT tablename::TEXT FROM pg_tables WHERE schemaname = $1 ORDER BY 1",
        )
        .bind(schema)
        .fetch_all(&mut conn)
        .await
        .ok()?;
        Some(names)
    };
    let error = PostgresStore::connect_with_schema(&url, &schema)
        .await
        .expect_err("refused");
    assert!(error.to_string().contains("axes_attempts"), "{error}");
    assert_eq!(
        tables(schema.clone()).await.unwrap(),
        ["axes_attempts", "users"]
    );

    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP TABLE {schema}.axes_attempts"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    PostgresStore::connect_with_schema(&url, &schema)
        .await
        .expect("an application's own tables are fine");
    let after = tables(schema.clone()).await.unwrap();
    assert!(after.contains(&"users".to_owned()) && after.contains(&"axes_attempts".to_owned()));
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&mut conn)
        .await
        .unwrap();
}

/// The sessions `connect` opens end an idle transaction within 5 s (a
/// frozen app server holds no lock for long) and plan the store's
/// statements once, on the indexes: with custom plans PostgreSQL would plan
/// the array-taking statements of its functions anew on every call, and a
/// generic plan made while a table was nearly empty would scan it whole
/// for the session's life.
#[tokio::test]
async fn the_store_sessions_are_set_for_the_store() {
    let Some(store) = store_in(&schema()).await else {
        return;
    };
    let setting = |name: &'static str| {
        let pool = store.pool().clone();
        async move {
            sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!("SHOW {name}")))
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(setting("plan_cache_mode").await, "force_generic_plan");
    assert_eq!(setting("enable_seqscan").await, "off");
    assert_eq!(setting("idle_in_transaction_session_timeout").await, "5s");
}
