//! The Postgres store: the shared conformance suite, and one lockout state
//! shared by several instances. Needs `AXES_TEST_POSTGRES_URL`; without it
//! every test says it was skipped.
#![cfg(feature = "postgres")]

mod common;
mod shared_store;
mod store_suite;

use std::sync::atomic::{AtomicU32, Ordering};

use axes::PostgresStore;

/// A fresh schema per store, so tests run in parallel.
fn schema() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "axes_test_{}_{nanos}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

fn url() -> Option<String> {
    let url = std::env::var("AXES_TEST_POSTGRES_URL").ok();
    if url.is_none() {
        eprintln!("skipped: AXES_TEST_POSTGRES_URL is not set");
    }
    url
}

const DEFAULT_PORT: u16 = 5432;

async fn connect_scoped(url: &str, schema: &str) -> PostgresStore {
    PostgresStore::connect_with_schema(url, schema)
        .await
        .expect("PostgreSQL at AXES_TEST_POSTGRES_URL")
}

async fn store_in(schema: &str) -> Option<PostgresStore> {
    Some(connect_scoped(&url()?, schema).await)
}

store_conformance!(postgres, async { crate::store_in(&crate::schema()).await });

shared_store_tests!();
