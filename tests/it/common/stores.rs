//! Every store the tests can reach, each empty: memory, SQLite, and
//! PostgreSQL and Redis when `AXES_TEST_POSTGRES_URL` / `AXES_TEST_REDIS_URL`
//! are set (otherwise they are skipped, and say so).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use axes::Store;

/// A name no other test run uses, for a schema or a key prefix.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}_{}_{nanos}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// An empty SQLite store in a temporary directory kept for the test run.
#[cfg(feature = "sqlite")]
pub async fn sqlite() -> Arc<dyn Store> {
    let dir = tempfile::tempdir().unwrap().keep();
    let url = format!("sqlite://{}", dir.join("axes.sqlite3").display());
    Arc::new(axes::SqliteStore::connect(&url).await.unwrap())
}

/// A fresh schema on the test PostgreSQL server, if one is configured.
#[cfg(feature = "postgres")]
pub async fn postgres() -> Option<Arc<dyn Store>> {
    let Ok(url) = std::env::var("AXES_TEST_POSTGRES_URL") else {
        eprintln!("skipped on PostgreSQL: AXES_TEST_POSTGRES_URL is not set");
        return None;
    };
    let store = axes::PostgresStore::connect_with_schema(&url, &unique_name("axes_test"))
        .await
        .expect("PostgreSQL at AXES_TEST_POSTGRES_URL");
    Some(Arc::new(store))
}

/// A fresh key prefix on the test Redis server, if one is configured.
#[cfg(feature = "redis")]
pub async fn redis() -> Option<Arc<dyn Store>> {
    let Ok(url) = std::env::var("AXES_TEST_REDIS_URL") else {
        eprintln!("skipped on Redis: AXES_TEST_REDIS_URL is not set");
        return None;
    };
    let prefix = format!("{}:", unique_name("axes-test"));
    let store = axes::RedisStore::connect_with_prefix(&url, &prefix)
        .await
        .expect("Redis at AXES_TEST_REDIS_URL");
    Some(Arc::new(store))
}

/// Each store by name, freshly made.
pub async fn all() -> Vec<(&'static str, Arc<dyn Store>)> {
    let mut stores: Vec<(&'static str, Arc<dyn Store>)> =
        vec![("memory", Arc::new(axes::MemoryStore::new()))];
    #[cfg(feature = "sqlite")]
    stores.push(("sqlite", sqlite().await));
    #[cfg(feature = "postgres")]
    if let Some(store) = postgres().await {
        stores.push(("postgres", store));
    }
    #[cfg(feature = "redis")]
    if let Some(store) = redis().await {
        stores.push(("redis", store));
    }
    stores
}

/// Handles on one state per store: one on the stores a process owns
/// (memory, SQLite), two connections to one schema or prefix on PostgreSQL
/// and Redis — the stores of two app servers.
pub async fn sharing() -> Vec<(&'static str, Vec<Arc<dyn Store>>)> {
    let memory: Arc<dyn Store> = Arc::new(axes::MemoryStore::new());
    let mut stores = vec![("memory", vec![memory])];
    #[cfg(feature = "sqlite")]
    stores.push(("sqlite", vec![sqlite().await]));
    #[cfg(feature = "postgres")]
    if let Ok(url) = std::env::var("AXES_TEST_POSTGRES_URL") {
        let schema = unique_name("axes_test");
        let mut handles: Vec<Arc<dyn Store>> = Vec::new();
        for _ in 0..2 {
            let store = axes::PostgresStore::connect_with_schema(&url, &schema)
                .await
                .expect("PostgreSQL at AXES_TEST_POSTGRES_URL");
            handles.push(Arc::new(store));
        }
        stores.push(("postgres", handles));
    } else {
        eprintln!("skipped on PostgreSQL: AXES_TEST_POSTGRES_URL is not set");
    }
    #[cfg(feature = "redis")]
    if let Ok(url) = std::env::var("AXES_TEST_REDIS_URL") {
        let prefix = format!("{}:", unique_name("axes-test"));
        let mut handles: Vec<Arc<dyn Store>> = Vec::new();
        for _ in 0..2 {
            let store = axes::RedisStore::connect_with_prefix(&url, &prefix)
                .await
                .expect("Redis at AXES_TEST_REDIS_URL");
            handles.push(Arc::new(store));
        }
        stores.push(("redis", handles));
    } else {
        eprintln!("skipped on Redis: AXES_TEST_REDIS_URL is not set");
    }
    stores
}

/// The app servers of each store: one on the stores a process owns, two
/// sharing one state on PostgreSQL and Redis.
pub async fn app_servers(policy: &str) -> Vec<(&'static str, Vec<super::App>)> {
    sharing()
        .await
        .into_iter()
        .map(|(name, handles)| {
            let apps = handles
                .into_iter()
                .map(|store| super::App::with_shared_store(policy, store))
                .collect();
            (name, apps)
        })
        .collect()
}

/// Each store wrapped so that its calls are counted: the store, and the
/// counters of its calls and of its access-log reads.
pub async fn counted() -> Vec<(&'static str, Arc<dyn Store>, super::FlakyCounts)> {
    fn wrap<S: Store>(
        name: &'static str,
        store: S,
    ) -> (&'static str, Arc<dyn Store>, super::FlakyCounts) {
        let flaky = super::FlakyStore::new(store);
        let counts = super::FlakyCounts {
            calls: flaky.calls.clone(),
            access_log_reads: flaky.access_log_reads.clone(),
        };
        (name, Arc::new(flaky), counts)
    }
    let mut stores = vec![wrap("memory", axes::MemoryStore::new())];
    #[cfg(feature = "sqlite")]
    {
        let dir = tempfile::tempdir().unwrap().keep();
        let url = format!("sqlite://{}", dir.join("axes.sqlite3").display());
        stores.push(wrap(
            "sqlite",
            axes::SqliteStore::connect(&url).await.unwrap(),
        ));
    }
    #[cfg(feature = "postgres")]
    if let Ok(url) = std::env::var("AXES_TEST_POSTGRES_URL") {
        let store = axes::PostgresStore::connect_with_schema(&url, &unique_name("axes_test"))
            .await
            .unwrap();
        stores.push(wrap("postgres", store));
    }
    #[cfg(feature = "redis")]
    if let Ok(url) = std::env::var("AXES_TEST_REDIS_URL") {
        let prefix = format!("{}:", unique_name("axes-test"));
        let store = axes::RedisStore::connect_with_prefix(&url, &prefix)
            .await
            .unwrap();
        stores.push(wrap("redis", store));
    }
    stores
}
