//! The `metrics` feature: what an attempt, a refusal, a lockout and a store
//! failure count, read from a recorder, over HTTP.

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::MetricKind;

use crate::common::App;

/// One series of a recorder's snapshot.
type SnapshotEntry = (
    metrics_util::CompositeKey,
    Option<metrics::Unit>,
    Option<metrics::SharedString>,
    DebugValue,
);

/// A recorder's snapshot, as a list.
type Snapshot = [SnapshotEntry];

/// What `run` recorded, run on a runtime of its own under a local recorder.
fn recorded(run: impl std::future::Future<Output = ()>) -> Vec<SnapshotEntry> {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(run);
    });
    snapshotter.snapshot().into_vec()
}

/// The sum of the counter `name` over its series with the label `label`
/// (`(name, value)`), or over all of them.
fn counter(snapshot: &Snapshot, name: &str, label: Option<(&str, &str)>) -> u64 {
    snapshot
        .iter()
        .filter(|(key, ..)| key.kind() == MetricKind::Counter && key.key().name() == name)
        .filter(|(key, ..)| {
            label.is_none_or(|(k, v)| key.key().labels().any(|l| l.key() == k && l.value() == v))
        })
        .map(|(.., value)| match value {
            DebugValue::Counter(n) => *n,
            _ => 0,
        })
        .sum()
}

#[test]
fn attempts_refusals_lockouts_and_store_calls_are_counted() {
    let snapshot = recorded(async {
        let app = App::new("failure_limit = 2");
        assert_eq!(app.login("192.0.2.60", "alice", "wonderland").await, 200);
        app.fail_n("192.0.2.61", "alice", 2).await; // the second locks
        assert_eq!(app.login("192.0.2.61", "alice", "wonderland").await, 429);
        assert_eq!(app.login("192.0.2.61", "alice", "wrong").await, 429);
    });
    assert_eq!(
        counter(
            &snapshot,
            axes::metrics::ATTEMPTS,
            Some(("outcome", "success"))
        ),
        1
    );
    assert_eq!(
        counter(
            &snapshot,
            axes::metrics::ATTEMPTS,
            Some(("outcome", "failure"))
        ),
        2
    );
    assert_eq!(
        counter(
            &snapshot,
            axes::metrics::LOCKOUTS,
            Some(("reason", "too_many_failures"))
        ),
        1
    );
    // The failure that locked is answered with the lockout, and so are the
    // two attempts after it.
    assert_eq!(
        counter(
            &snapshot,
            axes::metrics::REFUSALS,
            Some(("reason", "too_many_failures"))
        ),
        3
    );
    assert_eq!(
        counter(
            &snapshot,
            axes::metrics::STORE_ERRORS,
            Some(("operation", "admit"))
        ),
        0
    );
    let histograms: Vec<String> = snapshot
        .iter()
        .filter(|(key, ..)| key.key().name() == axes::metrics::STORE_CALL_SECONDS)
        .flat_map(|(key, ..)| {
            key.key()
                .labels()
                .map(|l| l.value().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        histograms.iter().any(|op| op == "record_failure"),
        "{histograms:?}"
    );
    // No series is labelled by what a client chooses.
    for (key, ..) in &snapshot {
        for label in key.key().labels() {
            assert!(
                !label.value().contains("192.0.2") && !label.value().contains("alice"),
                "{key:?}"
            );
        }
    }
}

#[test]
fn a_failing_store_call_is_counted() {
    let snapshot = recorded(async {
        let store = crate::common::FlakyStore::new(axes::MemoryStore::new());
        store
            .broken
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let app = App::with_store("", store);
        app.login("192.0.2.62", "alice", "wonderland").await;
    });
    let errors = counter(&snapshot, axes::metrics::STORE_ERRORS, None);
    assert!(errors >= 1, "{snapshot:?}");
}

#[test]
fn challenges_and_unlocks_are_counted() {
    let snapshot = recorded(async {
        let app = App::new("failure_limit = 5\nchallenge_after = 1");
        let form = |captcha: &str| serde_json::json!({"username": "alice", "password": "x", "captcha": captcha});
        app.fail_n("192.0.2.62", "alice", 1).await;
        // Skipped (straight to the password check), failed, passed.
        app.fail_n("192.0.2.62", "alice", 1).await;
        app.exchange("192.0.2.62", "/challenge-login", form("wrong"))
            .await;
        app.exchange("192.0.2.62", "/challenge-login", form("solved"))
            .await;
        let token = app.axes.unlock_token("alice").await.unwrap();
        for _ in 0..2 {
            app.exchange("192.0.2.62", "/unlock", serde_json::json!({"token": token}))
                .await;
        }
    });
    for outcome in ["skipped", "failed", "passed"] {
        assert_eq!(
            counter(
                &snapshot,
                axes::metrics::CHALLENGES,
                Some(("outcome", outcome))
            ),
            1,
            "{outcome}"
        );
    }
    assert_eq!(
        counter(
            &snapshot,
            axes::metrics::UNLOCKS,
            Some(("outcome", "redeemed"))
        ),
        1
    );
    assert_eq!(
        counter(
            &snapshot,
            axes::metrics::UNLOCKS,
            Some(("outcome", "revoked"))
        ),
        1,
        "the second use"
    );
}

/// The site-wide breaker's gauge: 1 once it trips, 0 once it clears.
#[test]
fn the_breaker_gauge_follows_trips_and_clears() {
    let gauge = |snapshot: &Snapshot| {
        snapshot.iter().find_map(|(key, .., value)| match value {
            DebugValue::Gauge(v) if key.key().name() == axes::metrics::BREAKER_TRIPPED => {
                Some(v.into_inner())
            }
            _ => None,
        })
    };
    // A flood past the budget, seen once the breaker's reads are stale;
    // then, with `clear`, three minutes of quiet.
    let run = |clear: bool| {
        recorded(async move {
            let app = App::new("failure_limit = 50\nsite_breaker = { failures_per_minute = 3 }");
            for i in 0..5 {
                app.login(&format!("203.0.113.{i}"), &format!("user{i}"), "guess")
                    .await;
            }
            app.clock.advance(std::time::Duration::from_millis(1100));
            app.login("192.0.2.1", "bob", "builder").await;
            if clear {
                app.clock.advance(std::time::Duration::from_secs(180));
                app.login("192.0.2.2", "bob", "builder").await;
            }
        })
    };
    assert_eq!(gauge(&run(false)), Some(1.0));
    assert_eq!(gauge(&run(true)), Some(0.0));
}
