//! The Redis store: the shared conformance suite, and one lockout state
//! shared by several instances. Needs `AXES_TEST_REDIS_URL`; without it
//! every test says it was skipped.

use axes::RedisStore;

/// A fresh key prefix per store, so tests run in parallel.
fn schema() -> String {
    format!("{}:", crate::common::stores::unique_name("axes-test"))
}

fn url() -> Option<String> {
    let url = std::env::var("AXES_TEST_REDIS_URL").ok();
    if url.is_none() {
        eprintln!("skipped: AXES_TEST_REDIS_URL is not set");
    }
    url
}

const DEFAULT_PORT: u16 = 6379;

async fn connect_scoped(url: &str, prefix: &str) -> RedisStore {
    RedisStore::connect_with_prefix(url, prefix)
        .await
        .expect("Redis at AXES_TEST_REDIS_URL")
}

async fn store_in(prefix: &str) -> Option<RedisStore> {
    Some(connect_scoped(&url()?, prefix).await)
}

axes::store_suite!(
    redis,
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

mod ttls {
    use std::time::{Duration, SystemTime};

    use axes::store::{FailureRecord, Window};
    use axes::{ClientInfo, LockoutGroup, LockoutParameter, Store};

    use super::{schema, store_in, url};

    #[tokio::test]
    async fn counter_keys_expire_with_their_window() {
        let prefix = schema();
        let Some(store) = store_in(&prefix).await else {
            return;
        };
        let client = ClientInfo::new("192.0.2.1".parse().unwrap());
        let key = client
            .lockout_key(&LockoutGroup::single(LockoutParameter::IpAddress))
            .unwrap();
        let hour = Window::fixed(Duration::from_secs(3600));
        store
            .record_failure(FailureRecord::new(
                std::slice::from_ref(&key),
                &client,
                SystemTime::now(),
                &hour,
            ))
            .await
            .unwrap();
        let redis = redis::Client::open(url().unwrap()).unwrap();
        let mut con = redis.get_multiplexed_async_connection().await.unwrap();
        let counter = format!("{prefix}c:{}", key.encode());
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&counter)
            .query_async(&mut con)
            .await
            .unwrap();
        assert!(ttl > 3_000_000 && ttl <= 3_660_000, "PTTL {ttl}");
        store
            .record_failure(FailureRecord::new(
                std::slice::from_ref(&key),
                &client,
                SystemTime::now(),
                &Window::forever(),
            ))
            .await
            .unwrap();
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&counter)
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(ttl, -1, "a counter that never expires has no TTL");
    }
}
