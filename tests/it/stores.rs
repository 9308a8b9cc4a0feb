//! The store-conformance suite on the in-process stores: memory and SQLite.

axes::store_suite!(memory, async { Some(axes::MemoryStore::new()) });

#[cfg(feature = "sqlite")]
axes::store_suite!(sqlite, async {
    let dir = tempfile::tempdir().expect("temporary directory").keep();
    let url = format!("sqlite://{}", dir.join("axes.sqlite3").display());
    Some(
        axes::SqliteStore::connect(&url)
            .await
            .expect("SQLite store"),
    )
});

mod memory_bounds {
    use axes::store::{FailureRecord, Window};
    use axes::{AttemptFilter, MemoryStore, Store};

    use axes::store::suite::{by_ip, client, keys, t};

    #[tokio::test]
    async fn a_flood_of_distinct_clients_stays_within_the_bound() {
        let store = MemoryStore::with_max_keys(100);
        let window = Window::forever();
        let victim = client("198.51.100.1", None);
        for i in 0..10_000u32 {
            let addr = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
            let flooder = client(&addr, None);
            let k = keys(&flooder, &[by_ip()]);
            let at = t(f64::from(i) / 100.0);
            store
                .record_failure(FailureRecord::new(&k, &flooder, at, &window))
                .await
                .unwrap();
            if i % 50 == 0 {
                // A client that keeps failing is among the most recent and survives.
                let k = keys(&victim, &[by_ip()]);
                store
                    .record_failure(FailureRecord::new(&k, &victim, at, &window))
                    .await
                    .unwrap();
            }
            assert!(store.counter_count() <= 100);
        }
        let counters = store.counters(&keys(&victim, &[by_ip()])).await.unwrap();
        assert_eq!(counters[0].as_ref().unwrap().failures, 200);
        assert!(
            store
                .records()
                .unwrap()
                .attempts(&AttemptFilter::All)
                .await
                .unwrap()
                .len()
                <= 100
        );
    }

    #[tokio::test]
    async fn expired_entries_are_evicted_first() {
        let store = MemoryStore::with_max_keys(10);
        let window = Window::fixed(std::time::Duration::from_secs(1));
        let old = client("198.51.100.1", None);
        let k = keys(&old, &[by_ip()]);
        store
            .record_failure(FailureRecord::new(&k, &old, t(0.0), &window))
            .await
            .unwrap();
        for i in 0..9u8 {
            let c = client(&format!("10.0.0.{i}"), None);
            let k = keys(&c, &[by_ip()]);
            store
                .record_failure(FailureRecord::new(&k, &c, t(100.0), &window))
                .await
                .unwrap();
        }
        let newcomer = client("10.0.1.1", None);
        let k = keys(&newcomer, &[by_ip()]);
        store
            .record_failure(FailureRecord::new(&k, &newcomer, t(100.0), &window))
            .await
            .unwrap();
        assert_eq!(
            store.counter_count(),
            10,
            "only the expired entry made room"
        );
        assert_eq!(
            store.counters(&keys(&old, &[by_ip()])).await.unwrap(),
            vec![None]
        );
    }
}

#[cfg(feature = "sqlite")]
mod sqlite_persistence {
    use axes::store::{FailureRecord, Window};
    use axes::{AttemptFilter, SqliteStore, Store};

    use axes::store::suite::{by_ip, client, keys, t};

    #[tokio::test]
    async fn data_survives_reopening_and_migrate_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("axes.sqlite3").display());
        let alice = client("192.0.2.1", Some("alice"));
        let k = keys(&alice, &[by_ip()]);
        {
            let store = SqliteStore::connect(&url).await.unwrap();
            store.migrate().await.unwrap();
            store
                .record_failure(FailureRecord::new(&k, &alice, t(0.0), &Window::forever()))
                .await
                .unwrap();
            drop(store);
        }
        let store = SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        assert_eq!(
            store.counters(&k).await.unwrap()[0]
                .as_ref()
                .unwrap()
                .failures,
            1
        );
        assert_eq!(
            store
                .records()
                .unwrap()
                .attempts(&AttemptFilter::All)
                .await
                .unwrap()
                .len(),
            1
        );
    }

    #[tokio::test]
    async fn a_bad_url_is_an_error_not_a_panic() {
        let err = SqliteStore::connect("sqlite:///nonexistent-dir/sub/axes.sqlite3").await;
        assert!(err.is_err());
    }
}

// Two handles on one memory store: the suite's shared-state tests.
axes::store_suite!(
    memory_pair,
    async { Some(axes::MemoryStore::new()) },
    async {
        let one = std::sync::Arc::new(axes::MemoryStore::new());
        Some((one.clone(), one))
    }
);
