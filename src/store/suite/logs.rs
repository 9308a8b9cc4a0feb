//! The suite's log tests: access log sessions, latest logins, failure log caps.

/// Part of [`store_suite!`](crate::store_suite).
#[doc(hidden)]
#[macro_export]
macro_rules! __axes_suite_logs {
    () => {
        #[tokio::test]
        async fn access_logs_open_and_close_by_session() {
            let Some(store) = store_or_skip().await else {
                return;
            };
            let Some(log) = access_log_of(&store) else {
                return;
            };
            let alice = client("192.0.2.1", Some("alice"));
            log.record_login(&AccessLog::login(&alice, "alice", "hash-1", t(0.0)))
                .await
                .unwrap();
            log.record_login(&AccessLog::login(&alice, "alice", "hash-2", t(1.0)))
                .await
                .unwrap();
            log.record_login(&AccessLog::login(
                &client("192.0.2.2", None),
                "bob",
                "",
                t(2.0),
            ))
            .await
            .unwrap();
            assert_eq!(
                log.record_logout("alice", "hash-1", t(3.0)).await.unwrap(),
                1
            );
            assert_eq!(
                log.record_logout("alice", "hash-1", t(4.0)).await.unwrap(),
                0,
                "already closed"
            );
            let logs = log
                .access_logs(&AttemptFilter::Username("alice".into()))
                .await
                .unwrap();
            assert_eq!(logs.len(), 2);
            assert_eq!(logs[0].session_hash, "hash-2");
            assert_eq!(logs[0].logout_time, None);
            assert_eq!(logs[1].logout_time, Some(t(3.0)));
            assert_eq!(logs[1].user_agent, "suite-agent/1.0");
            assert_eq!(
                log.access_logs(&AttemptFilter::Ip(ip("192.0.2.2")))
                    .await
                    .unwrap()
                    .len(),
                1
            );
            assert_eq!(log.purge_access_logs(t(1.5)).await.unwrap(), 2);
            assert_eq!(log.access_logs(&AttemptFilter::All).await.unwrap().len(), 1);
        }

        #[tokio::test]
        async fn latest_login_is_the_clients_newest_entry_until_purged() {
            let Some(store) = store_or_skip().await else {
                return;
            };
            let Some(log) = access_log_of(&store) else {
                return;
            };
            let here = client("192.0.2.1", Some("alice"));
            let phone = client("192.0.2.1", Some("alice")).with_user_agent("phone/2.0");
            for (who, at) in [(&here, 1.0), (&here, 5.0), (&phone, 3.0)] {
                log.record_login(&AccessLog::login(who, "alice", "", t(at)))
                    .await
                    .unwrap();
            }
            let latest = |ip_text: &'static str, agent: &'static str, user: &'static str| {
                let store = &store;
                async move { log.latest_login(user, ip(ip_text), agent).await.unwrap() }
            };
            assert_eq!(
                latest("192.0.2.1", "suite-agent/1.0", "alice").await,
                Some(t(5.0))
            );
            assert_eq!(
                latest("192.0.2.1", "phone/2.0", "alice").await,
                Some(t(3.0))
            );
            assert_eq!(latest("192.0.2.2", "suite-agent/1.0", "alice").await, None);
            assert_eq!(latest("192.0.2.1", "suite-agent/1.0", "bob").await, None);
            assert_eq!(log.purge_access_logs(t(4.0)).await.unwrap(), 2);
            assert_eq!(
                latest("192.0.2.1", "suite-agent/1.0", "alice").await,
                Some(t(5.0))
            );
            assert_eq!(latest("192.0.2.1", "phone/2.0", "alice").await, None);
            assert_eq!(log.purge_access_logs(t(6.0)).await.unwrap(), 1);
            assert_eq!(latest("192.0.2.1", "suite-agent/1.0", "alice").await, None);
        }

        #[tokio::test]
        async fn an_erasure_leaves_no_trace_of_the_client() {
            let Some(store) = store_or_skip().await else {
                return;
            };
            if let Some(log) = access_log_of(&store) {
                let alice = client("192.0.2.1", Some("alice"));
                let agent = "suite-agent/1.0";
                log.record_login(&AccessLog::login(&alice, "alice", "hash-1", t(0.0)))
                    .await
                    .unwrap();
                log.record_login(&AccessLog::login(
                    &client("192.0.2.2", Some("bob")),
                    "bob",
                    "",
                    t(1.0),
                ))
                .await
                .unwrap();
                assert!(log
                    .latest_login("alice", ip("192.0.2.1"), agent)
                    .await
                    .unwrap()
                    .is_some());
                let alices = AttemptFilter::Username("alice".into());
                assert_eq!(log.erase_access_logs(&alices).await.unwrap(), 1);
                assert_eq!(
                    log.latest_login("alice", ip("192.0.2.1"), agent)
                        .await
                        .unwrap(),
                    None,
                    "no longer a trusted client"
                );
                // Her session is gone with her entry: a logout finds none,
                // and leaves nothing behind.
                assert_eq!(
                    log.record_logout("alice", "hash-1", t(2.0)).await.unwrap(),
                    0
                );
                let left = log.access_logs(&AttemptFilter::All).await.unwrap();
                assert_eq!(left.len(), 1);
                assert_eq!(left[0].username, "bob");
                let bobs = AttemptFilter::Ip(ip("192.0.2.2"));
                assert_eq!(log.erase_access_logs(&bobs).await.unwrap(), 1);
                assert!(log
                    .access_logs(&AttemptFilter::All)
                    .await
                    .unwrap()
                    .is_empty());
            }
            if let Some(log) = failure_log_of(&store) {
                let alice = client("192.0.2.1", Some("alice"));
                for i in 0..2 {
                    let entry = AccessFailureLog::failure(&alice, t(f64::from(i)), false);
                    log.record_failure_log(&entry, 3).await.unwrap();
                }
                let bob =
                    AccessFailureLog::failure(&client("192.0.2.2", Some("bob")), t(3.0), false);
                log.record_failure_log(&bob, 3).await.unwrap();
                let alices = AttemptFilter::IpOrUsername(ip("192.0.2.1"), "alice".into());
                assert_eq!(log.erase_failure_logs(&alices).await.unwrap(), 2);
                let left = log.failure_logs(&AttemptFilter::All).await.unwrap();
                assert_eq!(left.len(), 1);
                assert_eq!(left[0].username.as_deref(), Some("bob"));
                // Her cap starts afresh: no erased entry still counts.
                for i in 0..3 {
                    let entry = AccessFailureLog::failure(&alice, t(10.0 + f64::from(i)), false);
                    log.record_failure_log(&entry, 3).await.unwrap();
                }
                let alices = AttemptFilter::Username("alice".into());
                assert_eq!(log.failure_logs(&alices).await.unwrap().len(), 3);
            }
        }

        #[tokio::test]
        async fn failure_logs_are_capped_per_username() {
            let Some(store) = store_or_skip().await else {
                return;
            };
            let Some(log) = failure_log_of(&store) else {
                return;
            };
            let alice = client("192.0.2.1", Some("alice"));
            for i in 0..5 {
                let entry = AccessFailureLog::failure(&alice, t(i as f64), i == 4);
                log.record_failure_log(&entry, 3).await.unwrap();
            }
            log.record_failure_log(
                &AccessFailureLog::failure(&client("192.0.2.2", None), t(9.0), false),
                3,
            )
            .await
            .unwrap();
            let logs = log
                .failure_logs(&AttemptFilter::Username("alice".into()))
                .await
                .unwrap();
            assert_eq!(
                logs.iter().map(|l| l.attempt_time).collect::<Vec<_>>(),
                [t(4.0), t(3.0), t(2.0)],
                "the oldest go"
            );
            assert!(logs[0].locked_out);
            assert!(!logs[1].locked_out);
            assert_eq!(
                log.failure_logs(&AttemptFilter::All).await.unwrap().len(),
                4
            );
            assert_eq!(log.purge_failure_logs(t(3.5)).await.unwrap(), 2);
            assert_eq!(
                log.failure_logs(&AttemptFilter::All).await.unwrap().len(),
                2
            );
        }
    };
}
