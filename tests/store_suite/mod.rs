//! The store-conformance suite: one set of tests every `axes::Store` must
//! pass. A test file instantiates it once per store:
//!
//! ```ignore
//! mod store_suite;
//! store_conformance!(memory, async { Some(axes::MemoryStore::new()) });
//! ```
//!
//! The expression gives `Option<impl Store>`: `None` skips every test of
//! the suite (a server store whose `AXES_TEST_*_URL` is unset), and the test
//! says so. Each evaluation must give an empty store of its own (a fresh
//! database, schema or key prefix), as the tests run in parallel. A store
//! shared by app servers passes a third expression giving two instances on
//! one fresh state: `Option<(impl Store, impl Store)>`.
#![allow(dead_code)]

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axes::{ClientInfo, LockoutGroup, LockoutKey, LockoutParameter::*};

/// A fixed time in whole milliseconds (SQL stores keep milliseconds).
pub fn t(seconds: f64) -> SystemTime {
    UNIX_EPOCH
        + Duration::from_secs(1_700_000_000)
        + Duration::from_millis((seconds * 1000.0) as u64)
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub fn client(ip_address: &str, username: Option<&str>) -> ClientInfo {
    let client = ClientInfo::new(ip(ip_address))
        .with_user_agent("suite-agent/1.0")
        .with_path("/login")
        .with_http_accept("application/json");
    match username {
        Some(u) => client.with_username(u),
        None => client,
    }
}

pub fn by_ip() -> LockoutGroup {
    LockoutGroup::single(IpAddress)
}

pub fn by_username() -> LockoutGroup {
    LockoutGroup::single(Username)
}

pub fn by_pair() -> LockoutGroup {
    LockoutGroup::combination([Username, IpAddress])
}

pub fn keys(client: &ClientInfo, groups: &[LockoutGroup]) -> Vec<LockoutKey> {
    groups
        .iter()
        .filter_map(|g| client.lockout_key(g))
        .collect()
}

#[macro_export]
macro_rules! store_conformance {
    ($name:ident, $make:expr) => {
        $crate::store_conformance!($name, $make, async {
            None::<(axes::MemoryStore, axes::MemoryStore)>
        });
    };
    ($name:ident, $make:expr, $pair:expr) => {
        mod $name {
            use std::sync::Arc;
            use std::time::Duration;

            use axes::{AccessFailureLog, AccessLog, AttemptFilter, FailureRecord, Store, Window};

            use super::store_suite::*;

            /// Two instances of the store under test sharing one state (two app
            /// servers), or `None` when it is not a shared store.
            async fn twin_or_skip() -> Option<(Arc<dyn Store>, Arc<dyn Store>)> {
                let (first, second) = $pair.await?;
                Some((Arc::new(first), Arc::new(second)))
            }

            /// The store under test, or `None` to skip.
            async fn store_or_skip() -> Option<impl Store> {
                let store = $make.await;
                if store.is_none() {
                    eprintln!("skipped: {} store not configured", stringify!($name));
                }
                store
            }

            async fn fail(
                store: &impl Store,
                client: &axes::ClientInfo,
                groups: &[axes::LockoutGroup],
                at: std::time::SystemTime,
                window: &Window,
            ) -> Vec<u64> {
                let keys = keys(client, groups);
                store
                    .record_failure(FailureRecord::new(&keys, client, at, window))
                    .await
                    .unwrap()
                    .iter()
                    .map(|c| c.failures)
                    .collect()
            }

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
                let attempts = store.attempts(&AttemptFilter::All).await.unwrap();
                assert_eq!(attempts[0].failures, 1, "the attempt record restarts too");
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
                store
                    .reset(&AttemptFilter::Username("alice".into()), &[by_ip()])
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
                    .record_failure(
                        FailureRecord::new(&k, &alice, t(0.0), &forever).counters_only(),
                    )
                    .await
                    .unwrap();
                assert_eq!(counters[0].failures, 1);
                assert!(store
                    .attempts(&AttemptFilter::All)
                    .await
                    .unwrap()
                    .is_empty());
                assert_eq!(
                    fail(&store, &alice, &[by_ip()], t(1.0), &forever).await,
                    [2]
                );
                let attempts = store.attempts(&AttemptFilter::All).await.unwrap();
                assert_eq!(attempts.len(), 1);
                assert_eq!(attempts[0].failures, 1);
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

            #[tokio::test]
            async fn attempt_records_are_kept_per_username_ip_and_agent() {
                let Some(store) = store_or_skip().await else {
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
                let attempts = store.attempts(&AttemptFilter::All).await.unwrap();
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
            async fn fixture(store: &impl Store, groups: &[axes::LockoutGroup]) {
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
                        store.attempts(&filter).await.unwrap().len(),
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
                let groups = [by_ip(), by_username()];
                fixture(&store, &groups).await;
                let f_at_a = client("127.1.0.1", Some("F"));
                assert_eq!(
                    store
                        .reset(&AttemptFilter::Username("F".into()), &groups)
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
                assert_eq!(store.attempts(&AttemptFilter::All).await.unwrap().len(), 3);
                assert_eq!(
                    store
                        .reset(&AttemptFilter::Username("F".into()), &groups)
                        .await
                        .unwrap(),
                    0
                );
                assert_eq!(
                    store
                        .reset(&AttemptFilter::Ip(ip("127.1.0.2")), &groups)
                        .await
                        .unwrap(),
                    1
                );
                assert_eq!(store.reset(&AttemptFilter::All, &groups).await.unwrap(), 2);
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
                let groups = [by_pair()];
                fixture(&store, &groups).await;
                let a = ip("127.1.0.1");
                assert_eq!(
                    store
                        .reset(&AttemptFilter::IpAndUsername(a, "B".into()), &groups)
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
                    store
                        .reset(&AttemptFilter::IpOrUsername(a, "B".into()), &groups)
                        .await
                        .unwrap(),
                    2
                );
                assert_eq!(store.attempts(&AttemptFilter::All).await.unwrap().len(), 2);
            }

            #[tokio::test]
            async fn purge_deletes_only_old_entries() {
                let Some(store) = store_or_skip().await else {
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
                assert_eq!(store.attempts(&AttemptFilter::All).await.unwrap().len(), 1);
            }

            #[tokio::test]
            async fn odd_values_round_trip() {
                let Some(store) = store_or_skip().await else {
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
                    let found = store
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
                    store
                        .attempts(&AttemptFilter::Ip(ip("192.0.2.9")))
                        .await
                        .unwrap()
                        .len(),
                    1
                );
            }

            #[tokio::test]
            async fn access_logs_open_and_close_by_session() {
                let Some(store) = store_or_skip().await else {
                    return;
                };
                let alice = client("192.0.2.1", Some("alice"));
                store
                    .record_login(&AccessLog::login(&alice, "alice", "hash-1", t(0.0)))
                    .await
                    .unwrap();
                store
                    .record_login(&AccessLog::login(&alice, "alice", "hash-2", t(1.0)))
                    .await
                    .unwrap();
                store
                    .record_login(&AccessLog::login(
                        &client("192.0.2.2", None),
                        "bob",
                        "",
                        t(2.0),
                    ))
                    .await
                    .unwrap();
                assert_eq!(
                    store
                        .record_logout("alice", "hash-1", t(3.0))
                        .await
                        .unwrap(),
                    1
                );
                assert_eq!(
                    store
                        .record_logout("alice", "hash-1", t(4.0))
                        .await
                        .unwrap(),
                    0,
                    "already closed"
                );
                let logs = store
                    .access_logs(&AttemptFilter::Username("alice".into()))
                    .await
                    .unwrap();
                assert_eq!(logs.len(), 2);
                assert_eq!(logs[0].session_hash, "hash-2");
                assert_eq!(logs[0].logout_time, None);
                assert_eq!(logs[1].logout_time, Some(t(3.0)));
                assert_eq!(logs[1].user_agent, "suite-agent/1.0");
                assert_eq!(
                    store
                        .access_logs(&AttemptFilter::Ip(ip("192.0.2.2")))
                        .await
                        .unwrap()
                        .len(),
                    1
                );
                assert_eq!(store.purge_access_logs(t(1.5)).await.unwrap(), 2);
                assert_eq!(
                    store.access_logs(&AttemptFilter::All).await.unwrap().len(),
                    1
                );
            }

            #[tokio::test]
            async fn latest_login_is_the_clients_newest_entry_until_purged() {
                let Some(store) = store_or_skip().await else {
                    return;
                };
                let here = client("192.0.2.1", Some("alice"));
                let phone = client("192.0.2.1", Some("alice")).with_user_agent("phone/2.0");
                for (who, at) in [(&here, 1.0), (&here, 5.0), (&phone, 3.0)] {
                    store
                        .record_login(&AccessLog::login(who, "alice", "", t(at)))
                        .await
                        .unwrap();
                }
                let latest = |ip_text: &'static str, agent: &'static str, user: &'static str| {
                    let store = &store;
                    async move { store.latest_login(user, ip(ip_text), agent).await.unwrap() }
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
                assert_eq!(store.purge_access_logs(t(4.0)).await.unwrap(), 2);
                assert_eq!(
                    latest("192.0.2.1", "suite-agent/1.0", "alice").await,
                    Some(t(5.0))
                );
                assert_eq!(latest("192.0.2.1", "phone/2.0", "alice").await, None);
                assert_eq!(store.purge_access_logs(t(6.0)).await.unwrap(), 1);
                assert_eq!(latest("192.0.2.1", "suite-agent/1.0", "alice").await, None);
            }

            #[tokio::test]
            async fn failure_logs_are_capped_per_username() {
                let Some(store) = store_or_skip().await else {
                    return;
                };
                let alice = client("192.0.2.1", Some("alice"));
                for i in 0..5 {
                    let entry = AccessFailureLog::failure(&alice, t(i as f64), i == 4);
                    store.record_failure_log(&entry, 3).await.unwrap();
                }
                store
                    .record_failure_log(
                        &AccessFailureLog::failure(&client("192.0.2.2", None), t(9.0), false),
                        3,
                    )
                    .await
                    .unwrap();
                let logs = store
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
                    store.failure_logs(&AttemptFilter::All).await.unwrap().len(),
                    4
                );
                assert_eq!(store.purge_failure_logs(t(3.5)).await.unwrap(), 2);
                assert_eq!(
                    store.failure_logs(&AttemptFilter::All).await.unwrap().len(),
                    2
                );
            }

            #[tokio::test]
            async fn slots_in_flight_are_taken_counted_and_given_back() {
                use axes::{SlotRequest, Slots};
                let Some(store) = store_or_skip().await else {
                    return;
                };
                let alice = client("192.0.2.1", Some("alice"));
                let k = keys(&alice, &[by_ip(), by_username()]);
                let lease = Duration::from_secs(30);
                let admit = |keys: &[axes::LockoutKey], id: u64, take: bool| {
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
                let window = axes::Window::forever();
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
                store
                    .reset(
                        &AttemptFilter::Ip(ip("192.0.2.1")),
                        &[by_ip(), by_username()],
                    )
                    .await
                    .unwrap();
                assert_eq!(admit(&k, 7, false).await, Some(vec![0, 0]));
                assert_eq!(admit(&k, 8, true).await, Some(vec![1, 1]));
                store.reset(&AttemptFilter::All, &[by_ip()]).await.unwrap();
                assert_eq!(admit(&k, 9, false).await, Some(vec![0, 0]));
                // Deleting counters outright deletes their slots too.
                assert_eq!(admit(&k, 10, true).await, Some(vec![1, 1]));
                store.delete_counters(&k[1..]).await.unwrap();
                assert_eq!(admit(&k, 11, false).await, Some(vec![1, 0]));
            }

            #[tokio::test]
            async fn slots_of_another_instance_count_until_given_back() {
                use axes::{SlotRequest, Slots};
                let Some((store, other)) = twin_or_skip().await else {
                    return;
                };
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
                assert_eq!(
                    store.attempts(&AttemptFilter::All).await.unwrap()[0].failures,
                    1000
                );
            }
        }
    };
}
