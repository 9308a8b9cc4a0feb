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

/// A Redis that evicts keys under memory pressure forgets lockouts: the
/// store refuses it at connect, naming the setting, unless told to accept
/// the risk; the demo server refuses to start on it.
mod eviction {
    use std::process::{Child, Command, Stdio};
    use std::time::Duration;

    use axes::store::RedisOptions;
    use axes::{RedisStore, StoreError};

    /// A throwaway Redis server with `policy`, killed when dropped.
    struct Server(Child, u16);

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// Starts one, if the tests run against Redis (which needs the server
    /// binary on this machine).
    async fn server(policy: &str) -> Option<Server> {
        super::url()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--save",
                "",
            ])
            .args(["--appendonly", "no", "--maxmemory", "64mb"])
            .args(["--maxmemory-policy", policy])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (from Debian's redis-server package)");
        let server = Server(child, port);
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Some(server);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("redis-server did not start");
    }

    #[tokio::test]
    async fn an_evicting_redis_is_refused_unless_the_risk_is_accepted() {
        for policy in ["allkeys-lru", "volatile-ttl"] {
            let Some(server) = server(policy).await else {
                return;
            };
            let url = format!("redis://127.0.0.1:{}", server.1);
            let refused = RedisStore::connect(&url).await.expect_err("refused");
            assert!(matches!(refused, StoreError::Misconfigured(_)), "{refused}");
            let message = refused.to_string();
            assert!(
                message.contains(&format!("maxmemory-policy = {policy}"))
                    && message.contains("noeviction")
                    && message.contains("allow_eviction"),
                "{message}"
            );
            let accepted =
                RedisStore::connect_with(&url, RedisOptions::default().allow_eviction(true)).await;
            assert!(accepted.is_ok(), "{policy}: accepted when allowed");
            let by_url = axes::store::connect(&format!("{url}?allow_eviction=true")).await;
            assert!(by_url.is_ok(), "{policy}: accepted when the URL allows it");
        }
        let Some(server) = server("noeviction").await else {
            return;
        };
        let url = format!("redis://127.0.0.1:{}", server.1);
        assert!(
            RedisStore::connect(&url).await.is_ok(),
            "noeviction is safe"
        );
    }

    #[tokio::test]
    async fn the_demo_refuses_to_start_on_an_evicting_redis() {
        let Some(server) = server("allkeys-lru").await else {
            return;
        };
        let output = Command::new(crate::common::process::example_binary("json_login"))
            .env(
                "AXES_DATABASE_URL",
                format!("redis://127.0.0.1:{}", server.1),
            )
            .env("AXES_BIND", "127.0.0.1:0")
            .output()
            .expect("the demo runs");
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("maxmemory-policy"), "{stderr}");
    }
}

/// A reset of everything deletes its records, counters and indexes a
/// batch at a time: with more than a batch of each, nothing of them is
/// left behind.
mod reset_all {
    use std::time::SystemTime;

    use axes::store::{FailureRecord, Window};
    use axes::{AttemptFilter, Axes, AxesConfig, ClientInfo, LockoutGroup, LockoutParameter};

    use super::{schema, store_in, url};

    #[tokio::test]
    async fn a_reset_of_everything_leaves_no_record_counter_or_index() {
        let prefix = schema();
        let Some(store) = store_in(&prefix).await else {
            return;
        };
        let groups = [
            LockoutGroup::single(LockoutParameter::IpAddress),
            LockoutGroup::single(LockoutParameter::Username),
        ];
        let clients = 2_500;
        let forever = Window::forever();
        for i in 0..clients {
            let client = ClientInfo::new(std::net::Ipv4Addr::from(0xc000_0000_u32 + i).into())
                .with_username(format!("user{i}"));
            let keys: Vec<_> = groups
                .iter()
                .filter_map(|g| client.lockout_key(g))
                .collect();
            let failure = FailureRecord::new(&keys, &client, SystemTime::now(), &forever);
            axes::Store::record_failure(&store, failure).await.unwrap();
        }
        let axes = Axes::new(AxesConfig::default(), store);
        let removed = axes.reset(AttemptFilter::All).await.unwrap();
        assert_eq!(removed, u64::from(clients));

        let redis = redis::Client::open(url().unwrap()).unwrap();
        let mut con = redis.get_multiplexed_async_connection().await.unwrap();
        let mut left: Vec<String> = Vec::new();
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{prefix}*"))
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut con)
                .await
                .unwrap();
            left.extend(keys);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        let kept: Vec<&String> = left
            .iter()
            .filter(|key| {
                let name = &key[prefix.len()..];
                [
                    "a:",
                    "c:",
                    "ip:",
                    "user:",
                    "attempts:",
                    "counters:",
                    "i:",
                    "inflight:",
                ]
                .iter()
                .any(|kind| name.starts_with(kind))
            })
            .collect();
        assert!(
            kept.is_empty(),
            "{} left, such as {:?}",
            kept.len(),
            kept.first()
        );
    }
}
