//! The suite's attempt-record tests: records per (username, IP, user agent), filters, resets, purges, odd values.

/// Part of [`store_suite!`](crate::store_suite).
#[doc(hidden)]
#[macro_export]
macro_rules! __axes_suite_records {
    () => {
        #[tokio::test]
        async fn attempt_records_are_kept_per_username_ip_and_agent() {
            let Some(store) = store_or_skip().await else {
                return;
            };
            let Some(records) = records_of(&store) else {
                return;
            };
            let forever = Window::forever();
            let alice = client("192.0.2.1", Some("alice"));
            fail(&store, &alice, &[by_ip()], t(0.0), &forever).await;
            let later = alice
                .clone()
                .with_path("/other")
                .with_http_accept("text/html");
            let keys_ = keys(&later, &[by_ip()]);
            store
                .record_failure(
                    FailureRecord::new(&keys_, &later, t(5.0), &forever)
                        .with_data("next=/", "username=********************"),
                )
                .await
                .unwrap();
            fail(
                &store,
                &alice.clone().with_user_agent("other-agent"),
                &[by_ip()],
                t(1.0),
                &forever,
            )
            .await;
            fail(
                &store,
                &client("192.0.2.1", None),
                &[by_ip()],
                t(2.0),
                &forever,
            )
            .await;
            let attempts = records.attempts(&AttemptFilter::All).await.unwrap();
            assert_eq!(attempts.len(), 3);
            assert_eq!(attempts[0].attempt_time, t(5.0), "newest first");
            assert_eq!(attempts[0].failures, 2);
            assert_eq!(attempts[0].path_info, "/other");
            assert_eq!(attempts[0].http_accept, "text/html");
            assert_eq!(attempts[0].get_data, "next=/");
            assert_eq!(attempts[0].post_data, "username=********************");
            assert_eq!(attempts[0].username.as_deref(), Some("alice"));
            assert_eq!(attempts[0].ip_address, Some(ip("192.0.2.1")));
            assert_eq!(attempts[1].username, None);
            assert_eq!(attempts[2].user_agent, "other-agent");
        }

        /// django-axes' fixture: (V, 127.0.0.1), (F, a), (F, b), (B, a), (B, b).
        async fn fixture(store: &impl Store, groups: &[$crate::LockoutGroup]) {
            let forever = Window::forever();
            for (i, (user, addr)) in [
                ("V", "127.0.0.1"),
                ("F", "127.1.0.1"),
                ("F", "127.1.0.2"),
                ("B", "127.1.0.1"),
                ("B", "127.1.0.2"),
            ]
            .into_iter()
            .enumerate()
            {
                fail(
                    store,
                    &client(addr, Some(user)),
                    groups,
                    t(i as f64),
                    &forever,
                )
                .await;
            }
        }

        #[tokio::test]
        async fn filters_select_like_django_axes_reset() {
            let Some(store) = store_or_skip().await else {
                return;
            };
            let Some(records) = records_of(&store) else {
                return;
            };
            fixture(&store, &[by_ip()]).await;
            let a = ip("127.1.0.1");
            for (filter, expected) in [
                (AttemptFilter::All, 5),
                (AttemptFilter::Username("F".into()), 2),
                (AttemptFilter::Ip(a), 2),
                (AttemptFilter::IpAndUsername(a, "F".into()), 1),
                (AttemptFilter::IpOrUsername(a, "F".into()), 3),
                (AttemptFilter::Username("nobody".into()), 0),
            ] {
                assert_eq!(
                    records.attempts(&filter).await.unwrap().len(),
                    expected,
                    "{filter:?}"
                );
            }
        }

        #[tokio::test]
        async fn reset_deletes_records_and_takes_their_failures_off_counters() {
            let Some(store) = store_or_skip().await else {
                return;
            };
            let Some(records) = records_of(&store) else {
                return;
            };
            let groups = [by_ip(), by_username()];
            fixture(&store, &groups).await;
            let f_at_a = client("127.1.0.1", Some("F"));
            assert_eq!(
                reset(&store, &AttemptFilter::Username("F".into()), &groups)
                    .await
                    .unwrap(),
                2
            );
            let counters = store.counters(&keys(&f_at_a, &groups)).await.unwrap();
            assert_eq!(
                counters[0].as_ref().unwrap().failures,
                1,
                "B's failure from 127.1.0.1 stays"
            );
            assert_eq!(counters[1], None, "F's counter reached zero and is gone");
            assert_eq!(
                records.attempts(&AttemptFilter::All).await.unwrap().len(),
                3
            );
            assert_eq!(
                reset(&store, &AttemptFilter::Username("F".into()), &groups)
                    .await
                    .unwrap(),
                0
            );
            assert_eq!(
                reset(&store, &AttemptFilter::Ip(ip("127.1.0.2")), &groups)
                    .await
                    .unwrap(),
                1
            );
            assert_eq!(
                reset(&store, &AttemptFilter::All, &groups).await.unwrap(),
                2
            );
            let v = client("127.0.0.1", Some("V"));
            assert_eq!(
                store.counters(&keys(&v, &groups)).await.unwrap(),
                vec![None, None]
            );
        }

        #[tokio::test]
        async fn reset_by_pair_and_either() {
            let Some(store) = store_or_skip().await else {
                return;
            };
            let Some(records) = records_of(&store) else {
                return;
            };
            let groups = [by_pair()];
            fixture(&store, &groups).await;
            let a = ip("127.1.0.1");
            assert_eq!(
                reset(
                    &store,
                    &AttemptFilter::IpAndUsername(a, "B".into()),
                    &groups
                )
                .await
                .unwrap(),
                1
            );
            assert_eq!(
                store
                    .counters(&keys(&client("127.1.0.1", Some("B")), &groups))
                    .await
                    .unwrap(),
                vec![None]
            );
            assert!(store
                .counters(&keys(&client("127.1.0.2", Some("B")), &groups))
                .await
                .unwrap()[0]
                .is_some());
            assert_eq!(
                reset(&store, &AttemptFilter::IpOrUsername(a, "B".into()), &groups)
                    .await
                    .unwrap(),
                2
            );
            assert_eq!(
                records.attempts(&AttemptFilter::All).await.unwrap().len(),
                2
            );
        }

        #[tokio::test]
        async fn purge_deletes_only_old_entries() {
            let Some(store) = store_or_skip().await else {
                return;
            };
            let Some(records) = records_of(&store) else {
                return;
            };
            let forever = Window::forever();
            fail(
                &store,
                &client("192.0.2.1", None),
                &[by_ip()],
                t(0.0),
                &forever,
            )
            .await;
            fail(
                &store,
                &client("192.0.2.2", None),
                &[by_ip()],
                t(10.0),
                &forever,
            )
            .await;
            assert_eq!(store.purge_expired(t(5.0)).await.unwrap(), 1);
            let old = store
                .counters(&keys(&client("192.0.2.1", None), &[by_ip()]))
                .await
                .unwrap();
            assert_eq!(old, vec![None]);
            let new = store
                .counters(&keys(&client("192.0.2.2", None), &[by_ip()]))
                .await
                .unwrap();
            assert_eq!(new[0].as_ref().unwrap().failures, 1);
            assert_eq!(
                records.attempts(&AttemptFilter::All).await.unwrap().len(),
                1
            );
        }

        #[tokio::test]
        async fn odd_values_round_trip() {
            let Some(store) = store_or_skip().await else {
                return;
            };
            let Some(records) = records_of(&store) else {
                return;
            };
            let forever = Window::forever();
            let long = "ü".repeat(300);
            for (addr, user) in [
                ("2001:db8::1", "a&b=c"),
                ("::ffff:192.0.2.9", "nul\0byte"),
                ("192.0.2.10", "名前 😀"),
                ("192.0.2.11", long.as_str()),
                ("192.0.2.12", "'; DROP TABLE axes_attempts; --"),
            ] {
                let c = client(addr, Some(user));
                assert_eq!(fail(&store, &c, &[by_pair()], t(0.0), &forever).await, [1]);
                assert_eq!(fail(&store, &c, &[by_pair()], t(1.0), &forever).await, [2]);
                let found = records
                    .attempts(&AttemptFilter::IpAndUsername(
                        c.ip_address(),
                        c.username().unwrap().to_owned(),
                    ))
                    .await
                    .unwrap();
                assert_eq!(found.len(), 1, "{user:?}");
                assert_eq!(found[0].username.as_deref(), c.username());
                assert_eq!(found[0].ip_address, Some(c.ip_address()));
            }
            assert_eq!(
                records
                    .attempts(&AttemptFilter::Ip(ip("192.0.2.9")))
                    .await
                    .unwrap()
                    .len(),
                1
            );
        }
    };
}
