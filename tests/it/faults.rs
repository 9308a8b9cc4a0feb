//! Store faults: failing on every call, on every other call, or stalling
//! past the store timeout. `on_store_error` decides, nothing panics, and
//! after recovery the counts are right.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::common::{body_text, App, FlakyStore};
use axes::{AttemptFilter, MemoryStore};

const IP: &str = "192.0.2.10";

struct Switches {
    broken: Arc<AtomicBool>,
    alternate: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
}

fn flaky(policy: &str) -> (App, Switches) {
    let store = FlakyStore::new(MemoryStore::new());
    let switches = Switches {
        broken: store.broken.clone(),
        alternate: store.alternate.clone(),
        stalled: store.stalled.clone(),
    };
    (App::with_store(policy, store), switches)
}

#[tokio::test]
async fn failing_on_every_call_fails_closed_and_loses_nothing() {
    let (app, switches) = flaky("failure_limit = 3");
    assert_eq!(app.login(IP, "alice", "x").await, 403);
    assert_eq!(app.login(IP, "alice", "x").await, 403);
    switches.broken.store(true, Ordering::SeqCst);
    for _ in 0..5 {
        let response = app
            .send(crate::common::json_request(
                IP,
                "/login",
                serde_json::json!({"username": "alice", "password": "wonderland"}),
            ))
            .await;
        assert_eq!(response.status(), 503);
        assert!(body_text(response)
            .await
            .contains("temporarily unavailable"));
    }
    assert_eq!(app.calls(), 2, "no login ran while the store was down");
    switches.broken.store(false, Ordering::SeqCst);
    assert_eq!(
        app.login(IP, "alice", "x").await,
        429,
        "both earlier failures still count"
    );
}

#[tokio::test]
async fn failing_on_every_other_call_never_lets_a_locked_client_in() {
    let (app, switches) = flaky("failure_limit = 2");
    app.login(IP, "alice", "x").await;
    app.login(IP, "alice", "x").await;
    switches.alternate.store(true, Ordering::SeqCst);
    for _ in 0..20 {
        let status = app.login(IP, "alice", "wonderland").await;
        assert!(status == 429 || status == 503, "status {status}");
    }
    switches.alternate.store(false, Ordering::SeqCst);
    assert_eq!(app.login(IP, "alice", "wonderland").await, 429);
}

#[tokio::test]
async fn failing_on_every_other_call_fails_open_when_configured() {
    let (app, switches) = flaky("failure_limit = 5\non_store_error = \"fail_open\"");
    switches.alternate.store(true, Ordering::SeqCst);
    for _ in 0..10 {
        let status = app.login(IP, "alice", "wonderland").await;
        assert_eq!(status, 200, "the handler runs whatever the store does");
    }
}

#[tokio::test(start_paused = true)]
async fn a_stalled_store_times_out_into_on_store_error() {
    let (app, switches) = flaky("store_timeout = \"2s\"");
    app.login(IP, "alice", "x").await;
    switches.stalled.store(true, Ordering::SeqCst);
    let started = tokio::time::Instant::now();
    assert_eq!(app.login(IP, "alice", "wonderland").await, 503);
    assert!(started.elapsed() >= std::time::Duration::from_secs(2));
    assert_eq!(app.calls(), 1);
    switches.stalled.store(false, Ordering::SeqCst);
    assert_eq!(app.login(IP, "alice", "x").await, 403);
    let attempts = app.axes.attempts(AttemptFilter::All).await.unwrap();
    assert_eq!(attempts[0].failures, 2);
}

#[tokio::test(start_paused = true)]
async fn a_stalled_store_fails_open_when_configured() {
    let (app, switches) = flaky("store_timeout = \"1s\"\non_store_error = \"fail_open\"");
    switches.stalled.store(true, Ordering::SeqCst);
    assert_eq!(app.login(IP, "alice", "wonderland").await, 200);
    assert_eq!(app.login(IP, "alice", "x").await, 403);
}
