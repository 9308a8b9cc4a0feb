//! Racing: many concurrent wrong-password attempts from one client. With
//! `bound_in_flight` (the default) at most `failure_limit` reach the handler;
//! without it, every attempt that passed the check before the first failure
//! was recorded gets a guess, as in django-axes.

use crate::common::{json_request, App};
use axes::AttemptFilter;
use serde_json::json;

async fn race(app: &App, attempts: usize) -> Vec<u16> {
    let tasks: Vec<_> = (0..attempts)
        .map(|_| {
            let router = app.router.clone();
            tokio::spawn(async move {
                use tower::ServiceExt;
                let request = json_request(
                    "192.0.2.10",
                    "/slow",
                    json!({"username": "alice", "password": "x"}),
                );
                router.oneshot(request).await.unwrap().status().as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses
}

async fn at_most_the_limit_reach_the_handler(app: App) {
    let statuses = race(&app, 200).await;
    assert!(
        app.calls() <= 3,
        "{} attempts reached the handler",
        app.calls()
    );
    assert!(app.calls() >= 1);
    assert_eq!(
        statuses.iter().filter(|s| **s == 403).count()
            + statuses.iter().filter(|s| **s == 429).count(),
        200
    );
    // Slots were all given back: the recorded failures alone decide.
    let failures: u64 = app
        .axes
        .attempts(AttemptFilter::All)
        .await
        .unwrap()
        .iter()
        .map(|a| a.failures)
        .sum();
    assert_eq!(
        failures,
        app.calls() as u64,
        "every attempt that reached the handler was recorded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_admits_at_most_the_limit() {
    at_most_the_limit_reach_the_handler(App::new("failure_limit = 3")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store_admits_at_most_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("axes.sqlite3").display());
    let store = axes::SqliteStore::connect(&url).await.unwrap();
    at_most_the_limit_reach_the_handler(App::with_store("failure_limit = 3", store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_the_bound_concurrent_attempts_all_get_a_guess() {
    let app = App::new("failure_limit = 3\nbound_in_flight = false");
    race(&app, 50).await;
    assert!(app.calls() > 3, "only {} reached the handler", app.calls());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slots_are_released_after_each_attempt() {
    let app = App::new("failure_limit = 3");
    for expected in [403, 403, 429] {
        let status = app
            .send(json_request("192.0.2.10", "/slow", json!({})))
            .await
            .status();
        assert_eq!(status, expected);
    }
    // A success in between gives its slot back too.
    let other = App::new("failure_limit = 2\nin_flight_wait = \"1ms\"");
    for _ in 0..5 {
        assert_eq!(other.login("192.0.2.11", "alice", "wonderland").await, 200);
    }
    // No slot was left behind: two fit, and a third does not.
    let client = axes::ClientInfo::new("192.0.2.11".parse().unwrap());
    let (_first, first) = crate::common::admit(&other.axes, &client).await;
    let (_second, second) = crate::common::admit(&other.axes, &client).await;
    let (_third, third) = crate::common::admit(&other.axes, &client).await;
    assert!(first.lockout().is_none());
    assert!(second.lockout().is_none());
    assert_eq!(
        third.lockout().unwrap().reason,
        axes::LockoutReason::TooManyInFlight
    );
}
