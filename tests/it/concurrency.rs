//! Concurrency over HTTP, as a busy site sees it: legitimate users behind
//! one address wait their turn instead of being refused, parallel guesses
//! stay bounded, and no slot in flight outlives its attempt — on every
//! store, with two app servers sharing PostgreSQL or Redis.

use std::time::Duration;

use crate::common::{json_request, App};
use axes::{ClientInfo, LockoutGroup, LockoutParameter, LockoutReason};
use serde_json::json;
use tower::ServiceExt;

const OFFICE: &str = "198.51.100.77";

/// `n` POSTs of `body` to `path` from `ip`, `at_once` at a time, spread
/// over `apps` (round robin); their statuses, in order.
async fn burst(
    apps: &[App],
    path: &str,
    ip: &str,
    bodies: Vec<serde_json::Value>,
    at_once: usize,
) -> Vec<u16> {
    let mut statuses = Vec::with_capacity(bodies.len());
    for (round, chunk) in bodies.chunks(at_once).enumerate() {
        let tasks: Vec<_> = chunk
            .iter()
            .enumerate()
            .map(|(i, body)| {
                let router = apps[(round + i) % apps.len()].router.clone();
                let request = json_request(ip, path, body.clone());
                tokio::spawn(
                    async move { router.oneshot(request).await.unwrap().status().as_u16() },
                )
            })
            .collect();
        for task in tasks {
            statuses.push(task.await.unwrap());
        }
    }
    statuses
}

fn ip_key(ip: &str) -> axes::LockoutKey {
    ClientInfo::new(ip.parse().unwrap())
        .lockout_key(&LockoutGroup::single(LockoutParameter::IpAddress))
        .unwrap()
}

/// The slots held under `key`, by every app server.
async fn held(apps: &[App], key: &axes::LockoutKey) -> u64 {
    let mut held = 0;
    for app in apps {
        held = held.max(app.axes.in_flight(key).await.unwrap());
    }
    held
}

/// The office behind one NAT: 640 correct logins for one user, 32 at a
/// time, with the default policy (three failures lock the address). Every
/// one succeeds, and no slot is left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_correct_logins_from_one_address_all_succeeds() {
    for (name, apps) in crate::common::stores::app_servers("").await {
        let bodies = vec![json!({"username": "alice", "password": "wonderland"}); 640];
        let statuses = burst(&apps, "/slow-login", OFFICE, bodies, 32).await;
        let refused: Vec<_> = statuses.iter().filter(|s| **s != 200).collect();
        assert!(
            refused.is_empty(),
            "{name}: {} refused: {refused:?}",
            refused.len()
        );
        assert_eq!(
            held(&apps, &ip_key(OFFICE)).await,
            0,
            "{name}: a slot was left behind"
        );
    }
}

/// 200 parallel wrong passwords from one address reach the handler at most
/// `failure_limit` times, and the right password hidden among the later
/// ones is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_guesses_reach_the_handler_at_most_the_limit() {
    for (name, apps) in crate::common::stores::app_servers("failure_limit = 3").await {
        let mut bodies = vec![json!({"username": "alice", "password": "guess"}); 200];
        bodies[170] = json!({"username": "alice", "password": "wonderland"});
        let statuses = burst(&apps, "/slow-login", "192.0.2.44", bodies, 200).await;
        let calls: usize = apps.iter().map(App::calls).sum();
        assert!(calls <= 3, "{name}: {calls} attempts reached the handler");
        assert_eq!(statuses[170], 429, "{name}: the right password was refused");
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 0, "{name}");
        assert_eq!(held(&apps, &ip_key("192.0.2.44")).await, 0, "{name}");
    }
}

/// An attempt refused for attempts in flight says so: it is not "Account
/// locked", reports the real failures, not the slots, and carries
/// `Retry-After`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_busy_refusal_says_what_it_is() {
    let policy = "failure_limit = 2\nin_flight_wait = \"5ms\"";
    for (name, apps) in crate::common::stores::app_servers(policy).await {
        let app = &apps[0];
        assert_eq!(app.login("192.0.2.45", "alice", "wrong").await, 403);
        // One slot left: an attempt in flight holds it, the next finds none.
        let client = ClientInfo::new("192.0.2.45".parse().unwrap());
        let (holding, decision) = crate::common::admit(&app.axes, &client).await;
        assert!(decision.lockout().is_none(), "{name}");
        let (status, headers, body) = app
            .exchange(
                "192.0.2.45",
                "/login",
                json!({"username": "alice", "password": "wonderland"}),
            )
            .await;
        holding.finish().await;
        assert_eq!(status, 429, "{name}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["message"], axes::config::BUSY_MESSAGE, "{name}");
        assert_eq!(
            body["failure_count"], 1,
            "{name}: the failure, not the slots"
        );
        assert!(
            headers
                .iter()
                .any(|(k, v)| k == "retry-after" && v.parse::<u64>().unwrap() >= 1),
            "{name}: {headers:?}"
        );
    }
}

/// At most `in_flight_queue` attempts wait per key: one more is refused at
/// once, so a flood cannot pile up waiting requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_queue_of_waiting_attempts_is_bounded() {
    let policy = "failure_limit = 1\nin_flight_queue = 2\nin_flight_wait = \"5s\"";
    let app = App::new(policy);
    let bodies = vec![json!({"username": "alice", "password": "wonderland"}); 8];
    let started = std::time::Instant::now();
    let statuses = burst(
        std::slice::from_ref(&app),
        "/slow-login",
        "192.0.2.46",
        bodies,
        8,
    )
    .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        5,
        "{statuses:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the refused ones did not wait"
    );
}

/// Slots go back on every path: a success, a failure, a handler that
/// reports nothing, a client that goes away mid-request, a handler that
/// panics, and a store that fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slots_go_back_on_every_path() {
    for (name, apps) in crate::common::stores::app_servers("failure_limit = 100").await {
        let app = &apps[0];
        let ip = "192.0.2.47";
        let key = ip_key(ip);
        app.login(ip, "alice", "wonderland").await;
        assert_eq!(held(&apps, &key).await, 0, "{name}: success");
        app.login(ip, "alice", "wrong").await;
        assert_eq!(held(&apps, &key).await, 0, "{name}: failure");
        app.send(json_request(ip, "/unguarded", json!({}))).await;
        let router = app.router.clone();
        let gone = tokio::spawn(async move {
            router
                .oneshot(json_request(
                    ip,
                    "/slow-login",
                    json!({"username": "alice"}),
                ))
                .await
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(held(&apps, &key).await, 1, "{name}: held while in flight");
        gone.abort();
        let _ = gone.await;
        let router = app.router.clone();
        let panicked =
            tokio::spawn(
                async move { router.oneshot(json_request(ip, "/panic", json!({}))).await },
            );
        assert!(panicked.await.is_err(), "{name}: the handler panicked");
        // A release after a dropped request runs in the background.
        for _ in 0..100 {
            if held(&apps, &key).await == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            held(&apps, &key).await,
            0,
            "{name}: client gone, handler panicked"
        );
    }
}

/// A reset gives back the slots of the keys it resets: nothing a reset
/// lifts stays blocked by attempts in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reset_clears_the_slots_of_what_it_resets() {
    for (name, apps) in
        crate::common::stores::app_servers("failure_limit = 1\nin_flight_wait = \"5ms\"").await
    {
        let app = &apps[0];
        let client = ClientInfo::new("192.0.2.48".parse().unwrap());
        let (stuck, decision) = crate::common::admit(&app.axes, &client).await;
        assert!(decision.lockout().is_none());
        let (_busy, busy) = crate::common::admit(&app.axes, &client).await;
        assert_eq!(
            busy.lockout().unwrap().reason,
            LockoutReason::TooManyInFlight,
            "{name}"
        );
        app.axes
            .reset(axes::AttemptFilter::Ip(client.ip_address()))
            .await
            .unwrap();
        assert_eq!(held(&apps, &ip_key("192.0.2.48")).await, 0, "{name}");
        let (_next, next) = crate::common::admit(&apps[apps.len() - 1].axes, &client).await;
        assert!(next.lockout().is_none(), "{name}");
        drop(stuck);
    }
}

/// One round trip each way: taking the slots and reading the counters is
/// one store call; recording the outcome and giving the slots back is one
/// more — for a failure and for a success, counted at the store. A
/// refusal of a client found locked out costs none: the lockout is
/// remembered until it ends or a reset.
#[tokio::test]
async fn an_attempt_costs_one_store_call_each_way() {
    for (name, store, counts) in crate::common::stores::counted().await {
        let app = App::with_shared_store("", store);
        for (password, status) in [("wonderland", 200), ("wrong", 403)] {
            let before = counts.calls();
            assert_eq!(
                app.login("192.0.2.49", "alice", password).await,
                status,
                "{name}"
            );
            assert_eq!(counts.calls() - before, 2, "{name}: {password}");
        }
        // The failure that locks is remembered: a refusal costs nothing.
        app.fail_n("192.0.2.49", "alice", 2).await;
        let before = counts.calls();
        for _ in 0..5 {
            assert_eq!(
                app.login("192.0.2.49", "alice", "wonderland").await,
                429,
                "{name}"
            );
        }
        assert_eq!(counts.calls() - before, 0, "{name}: refusals");
        // A reset forgets it: the next attempt reads again.
        app.axes
            .reset(axes::AttemptFilter::Ip("192.0.2.49".parse().unwrap()))
            .await
            .unwrap();
        let before = counts.calls();
        assert_eq!(
            app.login("192.0.2.49", "alice", "wonderland").await,
            200,
            "{name}"
        );
        assert_eq!(counts.calls() - before, 2, "{name}: after the reset");
    }
}
