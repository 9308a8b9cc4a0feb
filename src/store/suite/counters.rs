//! The suite's counter tests: reads, bumps, windows, exact counts under concurrency, and the one windowing rule.

/// Part of [`store_suite!`](crate::store_suite).
#[doc(hidden)]
#[macro_export]
macro_rules! __axes_suite_counters {
    () => {
        #[tokio::test]
        async fn unknown_keys_have_no_counter_and_order_is_kept() {
            let Some(store) = store_or_skip().await else {
                return;
            };
            let alice = client("192.0.2.1", Some("alice"));
            let groups = [by_ip(), by_username(), by_pair()];
            assert_eq!(
                store.counters(&keys(&alice, &groups)).await.unwrap(),
                vec![None; 3]
            );
            assert!(store.counters(&[]).await.unwrap().is_empty());
            fail(&store, &alice, &[by_username()], t(0.0), &Window::forever()).await;
            let counters = store.counters(&keys(&alice, &groups)).await.unwrap();
            assert_eq!(counters[0], None);
            assert_eq!(counters[1].as_ref().unwrap().failures, 1);
            assert_eq!(counters[1].as_ref().unwrap().last_failure, t(0.0));
            assert_eq!(counters[2], None);
        }

        #[tokio::test]
        async fn failures_increment_every_given_key() {
            let Some(store) = store_or_skip().await else {
                return;
            };
            let groups = [by_ip(), by_username()];
            let forever = Window::forever();
            assert_eq!(
                fail(
                    &store,
                    &client("192.0.2.1", Some("alice")),
                    &groups,
                    t(0.0),
                    &forever
                )
                .await,
                [1, 1]
            );
            assert_eq!(
                fail(
                    &store,
                    &client("192.0.2.1", Some("bob")),
                    &groups,
                    t(1.0),
                    &forever
                )
                .await,
                [2, 1]
            );
            assert_eq!(
                fail(
                    &store,
                    &client("192.0.2.2", Some("alice")),
                    &groups,
                    t(2.0),
                    &forever
                )
                .await,
                [1, 2]
            );
            let read = store
                .counters(&keys(&client("192.0.2.1", Some("alice")), &groups))
                .await
                .unwrap();
            assert_eq!(
                read.iter()
                    .map(|c| c.as_ref().unwrap().failures)
                    .collect::<Vec<_>>(),
                [2, 2]
            );
            assert_eq!(read[1].as_ref().unwrap().last_failure, t(2.0));
        }

        #[tokio::test]
        async fn a_window_restarts_counts_after_inactivity_inclusively() {
            let Some(store) = store_or_skip().await else {
                return;
            };
            let alice = client("192.0.2.1", Some("alice"));
            let window = Window::fixed(Duration::from_secs(1));
            assert_eq!(fail(&store, &alice, &[by_ip()], t(0.0), &window).await, [1]);
            assert_eq!(
                fail(&store, &alice, &[by_ip()], t(1.0), &window).await,
                [2],
                "boundary continues"
            );
            assert_eq!(
                fail(&store, &alice, &[by_ip()], t(2.001), &window).await,
                [1]
            );
            if let Some(records) = store.records() {
                let attempts = records.attempts(&AttemptFilter::All).await.unwrap();
                assert_eq!(attempts[0].failures, 1, "the attempt record restarts too");
            }
        }

        #[tokio::test]
        async fn sliding_windows_keep_each_failure_time() {
            let Some(store) = store_or_skip().await else {
                return;
            };
            let alice = client("192.0.2.1", Some("alice"));
            let window = Window::fixed(Duration::from_secs(10)).sliding(3);
            let mut counts = Vec::new();
            for at in [0.0, 4.0, 8.0, 12.0, 30.0] {
                counts.extend(fail(&store, &alice, &[by_ip()], t(at), &window).await);
            }
            // 12 s drops the failure at 0 s (older than 10 s); 30 s
            // finds none of the earlier ones within 10 s.
            assert_eq!(counts, [1, 2, 3, 3, 1]);
            let read = store.counters(&keys(&alice, &[by_ip()])).await.unwrap();
            let counter = read[0].as_ref().unwrap();
            assert_eq!(counter.recent, [t(30.0)]);
            assert_eq!(counter.last_failure, t(30.0));

            let bob = client("192.0.2.2", Some("bob"));
            for at in [0.0, 1.0, 2.0, 3.0, 4.0] {
                fail(&store, &bob, &[by_ip()], t(at), &window).await;
            }
            let read = store.counters(&keys(&bob, &[by_ip()])).await.unwrap();
            let counter = read[0].as_ref().unwrap();
            assert_eq!(counter.failures, 3, "at most `keep` times are kept");
            assert_eq!(counter.recent, [t(2.0), t(3.0), t(4.0)]);
        }

        #[tokio::test]
        async fn a_partial_reset_takes_the_oldest_failure_times_off() {
            let Some(store) = store_or_skip().await else {
                return;
            };
            let window = Window::fixed(Duration::from_secs(10)).sliding(5);
            let alice = client("192.0.2.1", Some("alice"));
            let bob = client("192.0.2.1", Some("bob"));
            fail(&store, &alice, &[by_ip()], t(0.0), &window).await;
            fail(&store, &bob, &[by_ip()], t(1.0), &window).await;
            fail(&store, &alice, &[by_ip()], t(2.0), &window).await;
            reset(&store, &AttemptFilter::Username("alice".into()), &[by_ip()])
                .await
                .unwrap();
            let read = store.counters(&keys(&bob, &[by_ip()])).await.unwrap();
            let counter = read[0].as_ref().unwrap();
            assert_eq!(counter.failures, 1);
            assert_eq!(counter.counted_times(), [t(2.0)]);
            assert_eq!(
                fail(&store, &bob, &[by_ip()], t(3.0), &window).await,
                [2],
                "the next failure continues from what the reset left"
            );
        }

        #[tokio::test]
        async fn delete_counters_removes_only_the_given_counters() {
            let Some(store) = store_or_skip().await else {
                return;
            };
            let alice = client("192.0.2.1", Some("alice"));
            let groups = [by_ip(), by_username()];
            for at in [0.0, 1.0, 2.0] {
                fail(&store, &alice, &groups, t(at), &Window::forever()).await;
            }
            let k = keys(&alice, &groups);
            assert_eq!(store.delete_counters(&k[..1]).await.unwrap(), 1);
            assert_eq!(store.delete_counters(&k[..1]).await.unwrap(), 0);
            assert_eq!(store.delete_counters(&[]).await.unwrap(), 0);
            let read = store.counters(&k).await.unwrap();
            assert!(read[0].is_none());
            assert_eq!(read[1].as_ref().unwrap().failures, 3);
            assert_eq!(
                fail(&store, &alice, &groups, t(3.0), &Window::forever()).await,
                [1, 4]
            );
        }

        #[tokio::test]
        async fn counters_only_records_leave_attempt_records_alone() {
            let Some(store) = store_or_skip().await else {
                return;
            };
            let alice = client("192.0.2.1", Some("alice"));
            let k = keys(&alice, &[by_ip()]);
            let forever = Window::forever();
            let counters = store
                .record_failure(FailureRecord::new(&k, &alice, t(0.0), &forever).counters_only())
                .await
                .unwrap();
            assert_eq!(counters[0].failures, 1);
            if let Some(records) = store.records() {
                assert!(records
                    .attempts(&AttemptFilter::All)
                    .await
                    .unwrap()
                    .is_empty());
            }
            assert_eq!(
                fail(&store, &alice, &[by_ip()], t(1.0), &forever).await,
                [2]
            );
            if let Some(records) = store.records() {
                let attempts = records.attempts(&AttemptFilter::All).await.unwrap();
                assert_eq!(attempts.len(), 1);
                assert_eq!(attempts[0].failures, 1);
            }
        }

        #[tokio::test]
        async fn tiered_windows_depend_on_the_count() {
            let Some(store) = store_or_skip().await else {
                return;
            };
            let alice = client("192.0.2.1", Some("alice"));
            let window =
                Window::tiered([(2, Duration::from_secs(1)), (3, Duration::from_secs(10))]);
            assert_eq!(fail(&store, &alice, &[by_ip()], t(0.0), &window).await, [1]);
            assert_eq!(fail(&store, &alice, &[by_ip()], t(0.5), &window).await, [2]);
            assert_eq!(fail(&store, &alice, &[by_ip()], t(1.0), &window).await, [3]);
            // A count of 3 keeps counting for 10 s.
            assert_eq!(fail(&store, &alice, &[by_ip()], t(9.0), &window).await, [4]);
            assert_eq!(
                fail(&store, &alice, &[by_ip()], t(19.5), &window).await,
                [1]
            );
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn concurrent_failures_count_exactly() {
            let Some(store) = store_or_skip().await else {
                return;
            };
            let store = Arc::new(store);
            let alice = client("192.0.2.1", Some("alice"));
            let groups = [by_ip(), by_pair()];
            let window = Window::fixed(Duration::from_secs(3600));
            let tasks: Vec<_> = (0..1000)
                .map(|i| {
                    let store = store.clone();
                    let alice = alice.clone();
                    let groups = groups.clone();
                    let window = window.clone();
                    tokio::spawn(async move {
                        let keys = keys(&alice, &groups);
                        let at = t(f64::from(i) / 1000.0);
                        store
                            .record_failure(FailureRecord::new(&keys, &alice, at, &window))
                            .await
                    })
                })
                .collect();
            let mut seen = Vec::new();
            for task in tasks {
                seen.push(
                    task.await
                        .unwrap()
                        .expect("no store error under concurrency")[0]
                        .failures,
                );
            }
            seen.sort_unstable();
            assert_eq!(
                seen,
                (1..=1000).collect::<Vec<u64>>(),
                "every failure saw its own count"
            );
            let counters = store.counters(&keys(&alice, &groups)).await.unwrap();
            assert_eq!(counters[0].as_ref().unwrap().failures, 1000);
            assert_eq!(counters[1].as_ref().unwrap().failures, 1000);
            if let Some(records) = store.records() {
                let attempts = records.attempts(&AttemptFilter::All).await.unwrap();
                assert_eq!(attempts[0].failures, 1000);
            }
        }

        /// The one windowing rule, held against every store: random
        /// windows (forever, fixed, tiered, sliding) and random failure
        /// times, recorded through the store, give exactly the counts
        /// `FailureRecord::bump` gives in Rust.
        #[tokio::test]
        async fn counts_follow_the_one_windowing_rule() {
            let Some(store) = store_or_skip().await else {
                return;
            };
            let mut rng = Xorshift(0x9e37_79b9_7f4a_7c15);
            for case in 0..48u64 {
                let window = random_window(&mut rng);
                let who = client(
                    &format!(
                        "10.{}.{}.{}",
                        case / 65536,
                        (case / 256) % 256,
                        case % 256 + 1
                    ),
                    None,
                );
                let k = keys(&who, &[by_ip()]);
                let mut model: Option<$crate::store::Counter> = None;
                let mut at = 0.0;
                for step in 0..(3 + rng.below(10)) {
                    at += [0.0, 0.2, 1.0, 3.0, 9.0, 30.0][rng.below(6) as usize];
                    let record = FailureRecord::new(&k, &who, t(at), &window);
                    let stored = store.record_failure(record).await.unwrap();
                    let counter =
                        model.get_or_insert_with(|| $crate::store::Counter::new(0, t(at)));
                    record.bump(counter);
                    assert_eq!(
                        (
                            stored[0].failures,
                            stored[0].last_failure,
                            stored[0].counted_times()
                        ),
                        (
                            counter.failures,
                            counter.last_failure,
                            counter.counted_times()
                        ),
                        "case {case}, step {step}: {window:?} at {at}"
                    );
                }
                let read = store.counters(&k).await.unwrap();
                assert_eq!(
                    read[0].as_ref().map(|c| c.failures),
                    model.map(|c| c.failures),
                    "case {case}"
                );
            }
        }
    };
}
