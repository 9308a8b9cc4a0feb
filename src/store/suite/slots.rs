//! The suite's tests of attempts in flight, for a store that shares them.

/// Part of [`store_suite!`](crate::store_suite).
#[doc(hidden)]
#[macro_export]
macro_rules! __axes_suite_slots {
    () => {
        #[tokio::test]
        async fn slots_in_flight_are_taken_counted_and_given_back() {
            use $crate::store::{SlotRequest, Slots};
            let Some(store) = store_or_skip().await else {
                return;
            };
            let alice = client("192.0.2.1", Some("alice"));
            let k = keys(&alice, &[by_ip(), by_username()]);
            let lease = Duration::from_secs(30);
            let admit = |keys: &[$crate::LockoutKey], id: u64, take: bool| {
                let store = &store;
                let keys = keys.to_vec();
                let read = k.clone();
                async move {
                    let request = SlotRequest::new(Slots { keys: &keys, id }, take, lease);
                    let admitted = store.admit(&read, Some(request)).await.unwrap();
                    assert_eq!(admitted.counters.len(), 2, "the counters are read too");
                    admitted.holders
                }
            };
            if !store.shares_in_flight() {
                // Counted by the engine in its own process.
                assert_eq!(admit(&k, 1, true).await, None);
                return;
            }
            assert_eq!(admit(&k, 1, true).await, Some(vec![1, 1]));
            assert_eq!(admit(&k[..1], 2, true).await, Some(vec![2]));
            assert_eq!(
                admit(&k, 3, false).await,
                Some(vec![2, 1]),
                "counted, not taken"
            );
            store.release(Slots { keys: &k, id: 1 }).await.unwrap();
            store.release(Slots { keys: &k, id: 1 }).await.unwrap();
            assert_eq!(
                admit(&k, 3, false).await,
                Some(vec![1, 0]),
                "given back once"
            );
            // A failure gives its slots back in the same write.
            let window = $crate::store::Window::forever();
            let held = &k[..1];
            store
                .record_failure(
                    FailureRecord::new(held, &alice, t(1.0), &window)
                        .releasing(Slots { keys: held, id: 2 }),
                )
                .await
                .unwrap();
            assert_eq!(admit(&k, 3, false).await, Some(vec![0, 0]));
            // So does a success.
            assert_eq!(admit(&k, 4, true).await, Some(vec![1, 1]));
            let entry = AccessLog::login(&alice, "alice", "", t(2.0));
            store
                .record_success(Some(&entry), Some(Slots { keys: &k, id: 4 }))
                .await
                .unwrap();
            assert_eq!(admit(&k, 5, false).await, Some(vec![0, 0]));
            assert_eq!(
                store.access_logs(&AttemptFilter::All).await.unwrap().len(),
                1
            );
            // A reset gives back the slots of the keys it resets.
            assert_eq!(admit(&k, 6, true).await, Some(vec![1, 1]));
            store
                .record_failure(FailureRecord::new(&k, &alice, t(3.0), &window))
                .await
                .unwrap();
            reset(
                &store,
                &AttemptFilter::Ip(ip("192.0.2.1")),
                &[by_ip(), by_username()],
            )
            .await
            .unwrap();
            assert_eq!(admit(&k, 7, false).await, Some(vec![0, 0]));
            assert_eq!(admit(&k, 8, true).await, Some(vec![1, 1]));
            reset(&store, &AttemptFilter::All, &[by_ip()])
                .await
                .unwrap();
            assert_eq!(admit(&k, 9, false).await, Some(vec![0, 0]));
            // Deleting counters outright deletes their slots too.
            assert_eq!(admit(&k, 10, true).await, Some(vec![1, 1]));
            store.delete_counters(&k[1..]).await.unwrap();
            assert_eq!(admit(&k, 11, false).await, Some(vec![1, 0]));
        }

        #[tokio::test]
        async fn slots_of_another_instance_count_until_given_back() {
            use $crate::store::{SlotRequest, Slots};
            let Some((store, other)) = twin_or_skip().await else {
                return;
            };
            if !store.shares_in_flight() {
                // Counted by each engine in its own process.
                return;
            }
            let k = keys(&client("192.0.2.1", Some("alice")), &[by_ip()]);
            let lease = Duration::from_secs(30);
            let take = |store: &Arc<dyn Store>, id: u64, take: bool| {
                let store = store.clone();
                let keys = k.clone();
                async move {
                    let request = SlotRequest::new(Slots { keys: &keys, id }, take, lease);
                    store.admit(&[], Some(request)).await.unwrap().holders
                }
            };
            assert_eq!(take(&store, 1, true).await, Some(vec![1]));
            assert_eq!(
                take(&other, 1, true).await,
                Some(vec![2]),
                "same id, another instance"
            );
            other.release(Slots { keys: &k, id: 1 }).await.unwrap();
            assert_eq!(take(&store, 2, false).await, Some(vec![1]));
        }
    };
}
