//! The suite's tests of the shared-slots capability, for a store that has
//! it ([`Store::shared_slots`](crate::Store::shared_slots)).

/// Part of [`store_suite!`](crate::store_suite).
#[doc(hidden)]
#[macro_export]
macro_rules! __axes_suite_slots {
    () => {
        /// The slots `(key, id)` of `keys`, one id each from `first`.
        fn slots_of(keys: &[$crate::LockoutKey], first: u64) -> Vec<$crate::store::Slot> {
            keys.iter()
                .zip(first..)
                .map(|(key, id)| $crate::store::Slot {
                    key: key.clone(),
                    id,
                })
                .collect()
        }

        #[tokio::test]
        async fn slots_in_flight_are_taken_counted_and_given_back() {
            use $crate::store::{SlotRequest, Slots};
            let Some(store) = store_or_skip().await else {
                return;
            };
            let Some(shared) = store.shared_slots() else {
                // Counted by the engine in its own process.
                return;
            };
            let alice = client("192.0.2.1", Some("alice"));
            let k = keys(&alice, &[by_ip(), by_username()]);
            let lease = Duration::from_secs(30);
            let owner = "suite-owner";
            let admit = |take: Vec<$crate::store::Slot>, count: Vec<$crate::LockoutKey>| {
                let read = k.clone();
                async move {
                    let request = SlotRequest::new(owner, &take, &count, lease);
                    let admitted = shared.admit(&read, request).await.unwrap();
                    assert_eq!(admitted.counters.len(), 2, "the counters are read too");
                    admitted.holders
                }
            };
            let first = slots_of(&k, 1);
            assert_eq!(admit(first.clone(), k.clone()).await, vec![1, 1]);
            let second = slots_of(&k[..1], 3);
            assert_eq!(admit(second.clone(), k[..1].to_vec()).await, vec![2]);
            assert_eq!(
                admit(Vec::new(), k.clone()).await,
                vec![2, 1],
                "counted, not taken"
            );
            shared.release(Slots::new(owner, &first)).await.unwrap();
            shared.release(Slots::new(owner, &first)).await.unwrap();
            assert_eq!(
                admit(Vec::new(), k.clone()).await,
                vec![1, 0],
                "given back once"
            );
            // A failure gives its slots back in the same write.
            let window = $crate::store::Window::forever();
            let held = &k[..1];
            store
                .record_failure(
                    FailureRecord::new(held, &alice, t(1.0), &window)
                        .releasing(Slots::new(owner, &second)),
                )
                .await
                .unwrap();
            assert_eq!(admit(Vec::new(), k.clone()).await, vec![0, 0]);
            // So does a success.
            let fourth = slots_of(&k, 4);
            assert_eq!(admit(fourth.clone(), k.clone()).await, vec![1, 1]);
            let entry = AccessLog::login(&alice, "alice", "", t(2.0));
            shared
                .record_success(Slots::new(owner, &fourth), Some(&entry))
                .await
                .unwrap();
            assert_eq!(admit(Vec::new(), k.clone()).await, vec![0, 0]);
            if let Some(log) = store.access_log() {
                assert_eq!(log.access_logs(&AttemptFilter::All).await.unwrap().len(), 1);
            }
            // A reset gives back the slots of the keys it resets.
            assert_eq!(admit(slots_of(&k, 6), k.clone()).await, vec![1, 1]);
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
            assert_eq!(admit(Vec::new(), k.clone()).await, vec![0, 0]);
            assert_eq!(admit(slots_of(&k, 8), k.clone()).await, vec![1, 1]);
            reset(&store, &AttemptFilter::All, &[by_ip()])
                .await
                .unwrap();
            assert_eq!(admit(Vec::new(), k.clone()).await, vec![0, 0]);
            // Deleting counters outright deletes their slots too.
            assert_eq!(admit(slots_of(&k, 10), k.clone()).await, vec![1, 1]);
            store.delete_counters(&k[1..]).await.unwrap();
            assert_eq!(admit(Vec::new(), k.clone()).await, vec![1, 0]);
        }

        #[tokio::test]
        async fn a_sweep_gives_back_the_slots_its_owner_does_not_keep() {
            use $crate::store::SlotRequest;
            let Some(store) = store_or_skip().await else {
                return;
            };
            let Some(shared) = store.shared_slots() else {
                return;
            };
            let k = keys(&client("192.0.2.1", Some("alice")), &[by_ip()]);
            let lease = Duration::from_secs(30);
            let owner = "suite-sweeper";
            let take = |ids: std::ops::Range<u64>| {
                let slots: Vec<_> = ids
                    .map(|id| $crate::store::Slot {
                        key: k[0].clone(),
                        id,
                    })
                    .collect();
                let k = k.clone();
                async move {
                    let request = SlotRequest::new(owner, &slots, &k, lease);
                    shared.admit(&[], request).await.unwrap().holders
                }
            };
            assert_eq!(take(1..6).await, vec![5]);
            // Ids 2 and 4 are kept; 6 was taken after the sweep's bound.
            assert_eq!(take(6..7).await, vec![6]);
            assert_eq!(shared.sweep(owner, &[2, 4], 5).await.unwrap(), 3);
            assert_eq!(take(7..7).await, vec![3], "2, 4 and 6 are left");
            assert_eq!(shared.sweep(owner, &[2, 4], 5).await.unwrap(), 0);
        }

        #[tokio::test]
        async fn slots_of_another_owner_count_until_given_back() {
            use $crate::store::{SlotRequest, Slots};
            let Some((store, other)) = twin_or_skip().await else {
                return;
            };
            let (Some(shared), Some(twin)) = (store.shared_slots(), other.shared_slots()) else {
                // Counted by each engine in its own process.
                return;
            };
            let k = keys(&client("192.0.2.1", Some("alice")), &[by_ip()]);
            let lease = Duration::from_secs(30);
            let one = slots_of(&k, 1);
            let request = SlotRequest::new("one", &one, &k, lease);
            assert_eq!(shared.admit(&[], request).await.unwrap().holders, vec![1]);
            let request = SlotRequest::new("two", &one, &k, lease);
            assert_eq!(
                twin.admit(&[], request).await.unwrap().holders,
                vec![2],
                "the same id, another owner"
            );
            twin.release(Slots::new("two", &one)).await.unwrap();
            let request = SlotRequest::new("one", &[], &k, lease);
            assert_eq!(shared.admit(&[], request).await.unwrap().holders, vec![1]);
        }

        #[tokio::test]
        async fn a_slot_given_back_under_a_key_waited_on_is_notified() {
            use $crate::store::{SlotRequest, Slots, StoreEvent};
            let Some((store, other)) = twin_or_skip().await else {
                return;
            };
            let (Some(shared), Some(twin)) = (store.shared_slots(), other.shared_slots()) else {
                return;
            };
            let Some(mut events) = other.subscribe() else {
                panic!("a store that shares slots notifies their release");
            };
            let k = keys(&client("192.0.2.77", Some("carol")), &[by_ip()]);
            let lease = Duration::from_secs(30);
            let held = slots_of(&k, 1);
            let request = SlotRequest::new("holder", &held, &k, lease);
            shared.admit(&[], request).await.unwrap();
            twin.wait_for("waiter", &k, Duration::from_secs(10))
                .await
                .unwrap();
            let request = SlotRequest::new("holder", &[], &k, lease);
            assert_eq!(
                shared.admit(&[], request).await.unwrap().waited,
                vec![true],
                "the holder learns that another owner waits"
            );
            let request = SlotRequest::new("waiter", &[], &k, lease);
            assert_eq!(
                shared.admit(&[], request).await.unwrap().waited,
                vec![false],
                "nobody else waits, for the waiter"
            );
            // The subscription may still be connecting: give it a moment.
            tokio::time::sleep(Duration::from_millis(300)).await;
            shared.release(Slots::new("holder", &held)).await.unwrap();
            let tag = k[0].wake_tag();
            let heard = tokio::time::timeout(Duration::from_secs(5), async {
                loop {
                    match events.recv().await {
                        Ok(StoreEvent::SlotsFreed(tags)) if tags.contains(&tag) => return,
                        Ok(_) => {}
                        Err(error) => panic!("{error}"),
                    }
                }
            })
            .await;
            assert!(heard.is_ok(), "the release was notified");
        }
    };
}
