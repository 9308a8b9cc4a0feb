//! Tests every store shared by several app servers must pass: one lockout
//! state across instances, exact counts under concurrency, resets seen
//! everywhere, and a real connection that breaks and heals.
//!
//! A test file defines `DEFAULT_PORT`, `schema()` (a fresh schema or prefix),
//! `url()` (the server, or `None` to skip), `connect_scoped(url, scope)` and
//! `store_in(scope)`, then calls `shared_store_tests!()`.

#[macro_export]
macro_rules! shared_store_tests {
    () => {
        mod shared {
            use std::sync::Arc;

            use axes::{AttemptFilter, Axes, AxesConfig, ClientInfo};
            use serde_json::json;

            use $crate::common::{json_request, App};
            use super::{schema, store_in};

            /// Two app servers, each with its own store instance and pool, on one
            /// schema.
            async fn two_apps(policy: &str) -> Option<(App, App)> {
                let schema = schema();
                let first = store_in(&schema).await?;
                let second = store_in(&schema).await?;
                Some((
                    App::with_store(policy, first),
                    App::with_store(policy, second),
                ))
            }

            #[tokio::test]
            async fn escalated_and_permanent_lockouts_hold_across_instances_until_reset() {
                let policy = "failure_limit = 1\ncooloff_time = \"10s\"\ncooloff_backoff = { factor = 2.0, max = \"1h\" }\nmax_temporary_lockouts = 2";
                let Some((a, b)) = two_apps(policy).await else {
                    return;
                };
                let ip = "192.0.2.9";
                assert_eq!(a.login(ip, "alice", "wrong").await, 429);
                for app in [&a, &b] {
                    app.clock.advance(std::time::Duration::from_secs(11));
                }
                assert_eq!(b.login(ip, "alice", "wrong").await, 429, "the second lockout");
                for app in [&a, &b] {
                    app.clock.advance(std::time::Duration::from_secs(15));
                }
                assert_eq!(
                    a.login(ip, "alice", "wonderland").await,
                    429,
                    "backed off to 20 s on the other instance too"
                );
                for app in [&a, &b] {
                    app.clock.advance(std::time::Duration::from_secs(6));
                }
                assert_eq!(a.login(ip, "alice", "wrong").await, 429, "the third: permanent");
                for app in [&a, &b] {
                    app.clock.advance(std::time::Duration::from_secs(3 * 24 * 3600));
                }
                b.login("192.0.2.10", "bob", "wrong").await;
                assert_eq!(b.login(ip, "alice", "wonderland").await, 429);
                a.axes
                    .reset(AttemptFilter::Ip(ip.parse().unwrap()))
                    .await
                    .unwrap();
                assert_eq!(b.login_after_reset(ip, "alice", "wonderland").await, 200);
            }

            #[tokio::test]
            async fn the_lockout_falls_at_the_limit_across_instances() {
                let Some((a, b)) = two_apps("failure_limit = 5").await else {
                    return;
                };
                let apps = [&a, &b];
                for i in 0..4 {
                    assert_eq!(
                        apps[i % 2].login("192.0.2.1", "alice", "wrong").await,
                        403,
                        "failure {}",
                        i + 1
                    );
                }
                assert_eq!(
                    b.login("192.0.2.1", "alice", "wrong").await,
                    429,
                    "the fifth, wherever it lands"
                );
                assert_eq!(a.login("192.0.2.1", "alice", "wonderland").await, 429);
                assert_eq!(b.login("192.0.2.1", "alice", "wonderland").await, 429);
            }

            #[tokio::test]
            async fn a_reset_through_one_instance_lifts_the_lockout_on_the_other() {
                let Some((a, b)) = two_apps("failure_limit = 2").await else {
                    return;
                };
                a.login("192.0.2.1", "alice", "wrong").await;
                b.login("192.0.2.1", "alice", "wrong").await;
                assert_eq!(b.login("192.0.2.1", "alice", "wonderland").await, 429);
                let removed = a
                    .axes
                    .reset(AttemptFilter::Ip("192.0.2.1".parse().unwrap()))
                    .await
                    .unwrap();
                assert_eq!(removed, 1);
                assert_eq!(
                    b.login_after_reset("192.0.2.1", "alice", "wonderland").await,
                    200
                );
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn concurrent_failures_over_two_instances_count_exactly() {
                let schema = schema();
                let (Some(first), Some(second)) = (store_in(&schema).await, store_in(&schema).await) else {
                    return;
                };
                let config = AxesConfig::builder()
                    .lock_out_at_failure(false)
                    .build()
                    .unwrap();
                let engines = [Axes::new(config.clone(), first), Axes::new(config, second)];
                let client = Arc::new(ClientInfo::new("192.0.2.1".parse().unwrap()).with_username("alice"));
                let tasks: Vec<_> = (0..1000)
                    .map(|i| {
                        let axes = engines[i % 2].clone();
                        let client = client.clone();
                        tokio::spawn(async move { axes.attempt((*client).clone()).report(axes::Report::failed(axes::Credentials::default())).await })
                    })
                    .collect();
                for task in tasks {
                    task.await
                        .unwrap()
                        .expect("no store error under concurrency");
                }
                let attempts = engines[0].attempts(AttemptFilter::All).await.unwrap();
                assert_eq!(attempts[0].failures, 1000);
                let outcome = engines[1].attempt((*client).clone()).report(axes::Report::failed(axes::Credentials::default())).await.unwrap().failure().cloned().unwrap();
                assert_eq!(outcome.failures, 1001);
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn concurrent_attempts_over_two_instances_reach_the_handler_at_most_limit_times() {
                let Some((a, b)) = two_apps("failure_limit = 3").await else {
                    return;
                };
                let routers = [a.router.clone(), b.router.clone()];
                let tasks: Vec<_> = (0..100)
                    .map(|i| {
                        let router = routers[i % 2].clone();
                        tokio::spawn(async move {
                            use tower::ServiceExt;
                            let request = json_request(
                                "192.0.2.9",
                                "/slow",
                                json!({"username": "alice", "password": "x"}),
                            );
                            router.oneshot(request).await.unwrap().status().as_u16()
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
                let reached = a.calls() + b.calls();
                assert!(
                    (1..=3).contains(&reached),
                    "{reached} attempts reached the handlers"
                );
            }
        }

        mod faults {
            use std::time::Duration;

            use $crate::common::fault_proxy::FaultProxy;
            use $crate::common::App;
            use super::{schema, url};

            async fn through_proxy() -> Option<(FaultProxy, impl axes::Store)> {
                let url = url()?;
                let target: url_parts::Target = url_parts::parse(&url);
                let proxy = FaultProxy::start(target.addr).await;
                let proxied = target.with_addr(proxy.addr());
                let store = super::connect_scoped(&proxied, &schema()).await;
                Some((proxy, store))
            }

            #[tokio::test]
            async fn a_cut_connection_fails_closed_and_heals_without_losing_failures() {
                let Some((proxy, store)) = through_proxy().await else {
                    return;
                };
                let app = App::with_store("failure_limit = 3\nstore_timeout = \"3s\"", store);
                assert_eq!(app.login("192.0.2.1", "alice", "wrong").await, 403);
                assert_eq!(app.login("192.0.2.1", "alice", "wrong").await, 403);
                proxy.cut();
                assert_eq!(app.login("192.0.2.1", "alice", "wonderland").await, 503);
                assert_eq!(app.calls(), 2, "the handler did not run");
                proxy.heal();
                let mut status = 503;
                for _ in 0..20 {
                    status = app.login("192.0.2.1", "alice", "wrong").await.as_u16();
                    if status != 503 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                assert_eq!(
                    status, 429,
                    "both acknowledged failures were kept: the third locks"
                );
            }

            #[tokio::test]
            async fn a_cut_connection_fails_open_when_configured() {
                let Some((proxy, store)) = through_proxy().await else {
                    return;
                };
                let app = App::with_store(
                    "on_store_error = \"fail_open\"\nstore_timeout = \"3s\"",
                    store,
                );
                proxy.cut();
                assert_eq!(app.login("192.0.2.1", "alice", "wonderland").await, 200);
                assert_eq!(app.login("192.0.2.1", "alice", "wrong").await, 403);
            }

            #[tokio::test]
            async fn a_stalled_connection_becomes_an_error_in_bounded_time() {
                let Some((proxy, store)) = through_proxy().await else {
                    return;
                };
                let app = App::with_store("store_timeout = \"1s\"", store);
                app.login("192.0.2.1", "alice", "wrong").await;
                proxy.stall();
                let status = tokio::time::timeout(
                    Duration::from_secs(15),
                    app.login("192.0.2.1", "alice", "wonderland"),
                )
                .await
                .expect("the store timeout bounds the wait");
                assert_eq!(status, 503);
            }

            /// Just enough URL handling to swap the host and port of a test URL.
            mod url_parts {
                use std::net::{SocketAddr, ToSocketAddrs};

                pub struct Target {
                    prefix: String,
                    suffix: String,
                    pub addr: SocketAddr,
                }

                impl Target {
                    pub fn with_addr(&self, addr: SocketAddr) -> String {
                        format!("{}{}{}", self.prefix, addr, self.suffix)
                    }
                }

                /// `scheme://[user@]host:port/rest`.
                pub fn parse(url: &str) -> Target {
                    let (scheme, rest) = url.split_once("://").expect("a URL");
                    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                    let (user, host) = match authority.rsplit_once('@') {
                        Some((user, host)) => (format!("{user}@"), host),
                        None => (String::new(), authority),
                    };
                    let host = if host.contains(':') {
                        host.to_owned()
                    } else {
                        format!("{host}:{}", super::super::DEFAULT_PORT)
                    };
                    let addr = host
                        .to_socket_addrs()
                        .expect("a reachable host")
                        .next()
                        .expect("an address");
                    Target {
                        prefix: format!("{scheme}://{user}"),
                        suffix: path.to_owned(),
                        addr,
                    }
                }
            }
        }
    };
}
