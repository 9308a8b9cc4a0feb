//! A second factor with a budget of its own, over HTTP on every store (two
//! app servers on the shared ones): the password's success resets nothing,
//! the second factor's failures count by the username alone whatever the
//! address, the lockout refuses every code alike until a reset, and a pass
//! forgets the count.

use axes::{AttemptFilter, LockoutReason};
use axum::http::StatusCode;
use serde_json::json;

use crate::common::{body_text, json_request, App};

async fn password(app: &App, ip: &str, password: &str) -> StatusCode {
    let body = json!({"username": "alice", "password": password});
    app.send(json_request(ip, "/mfa-login", body))
        .await
        .status()
}

async fn code(app: &App, ip: &str, code: &str) -> (StatusCode, String) {
    let body = json!({"username": "alice", "code": code});
    let response = app.send(json_request(ip, "/mfa-code", body)).await;
    (response.status(), body_text(response).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_factor_has_a_budget_of_its_own() {
    let policy = "failure_limit = 3\nsecond_factor_failure_limit = 3";
    for (name, apps) in crate::common::stores::app_servers(policy).await {
        let app = |i: usize| &apps[i % apps.len()];
        // Two wrong passwords, then the right one: the second factor is
        // asked for, and the password's failures stay counted.
        assert_eq!(password(app(0), "192.0.2.1", "guess").await, 403, "{name}");
        assert_eq!(password(app(1), "192.0.2.1", "guess").await, 403, "{name}");
        assert_eq!(
            password(app(0), "192.0.2.1", "wonderland").await,
            200,
            "{name}"
        );
        let records = app(0).axes.attempts(AttemptFilter::All).await.unwrap();
        assert_eq!(
            records[0].failures, 2,
            "{name}: nothing reset by the password"
        );

        // Wrong codes from ever new addresses: the username's budget.
        for (i, ip) in ["192.0.2.11", "192.0.2.12"].iter().enumerate() {
            assert_eq!(code(app(i), ip, "000000").await.0, 401, "{name}");
        }
        let (status, locked) = code(app(0), "192.0.2.13", "111111").await;
        assert_eq!(status, 429, "{name}: the third wrong code locks");
        // Every code, the right one too, from anywhere, on any server,
        // gets the same refusal; so does the password step.
        for (i, (ip, sent)) in [("192.0.2.14", "123456"), ("192.0.2.15", "222222")]
            .into_iter()
            .enumerate()
        {
            assert_eq!(
                code(app(i + 1), ip, sent).await,
                (status, locked.clone()),
                "{name}"
            );
        }
        assert_eq!(
            password(app(1), "192.0.2.16", "wonderland").await,
            429,
            "{name}"
        );
        let lockouts = app(0)
            .axes
            .lockouts(AttemptFilter::Username("alice".into()))
            .await
            .unwrap();
        assert!(
            lockouts
                .iter()
                .any(|l| l.lockout.reason == LockoutReason::SecondFactor),
            "{name}: {lockouts:?}"
        );

        // A reset of the username (the operator, on the last server) lifts
        // it; a pass then forgets the count.
        let last = apps.len() - 1;
        apps[last]
            .axes
            .reset(AttemptFilter::Username("alice".into()))
            .await
            .unwrap();
        assert_eq!(code(app(0), "192.0.2.17", "000000").await.0, 401, "{name}");
        assert_eq!(code(app(1), "192.0.2.17", "000000").await.0, 401, "{name}");
        assert_eq!(code(app(0), "192.0.2.17", "123456").await.0, 200, "{name}");
        assert_eq!(code(app(1), "192.0.2.18", "000000").await.0, 401, "{name}");
        assert_eq!(
            code(app(0), "192.0.2.18", "000000").await.0,
            401,
            "{name}: the pass forgot the two before"
        );
    }
}

/// The operator's listings and the events tell of a second-factor lockout;
/// `Axes::unlock` (a completed account recovery) lifts it.
#[tokio::test]
async fn a_second_factor_lockout_is_told_and_lifted_by_unlock() {
    let app = App::new("second_factor_failure_limit = 2");
    let mut events = app.axes.subscribe();
    for _ in 0..2 {
        code(&app, "192.0.2.1", "000000").await;
    }
    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        seen.push(event);
    }
    assert!(
        matches!(
            &seen[..],
            [
                axes::AxesEvent::SecondFactorFailed { failures: 1, .. },
                axes::AxesEvent::SecondFactorFailed { failures: 2, .. },
                axes::AxesEvent::LockedOut { lockout, .. },
            ] if lockout.reason == LockoutReason::SecondFactor
        ),
        "{seen:?}"
    );
    // Listed without a search: this server saw it.
    let listed = app.axes.lockouts(AttemptFilter::All).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].lockout.reason.as_str(), "second_factor");
    app.axes.unlock("alice").await.unwrap();
    assert_eq!(code(&app, "192.0.2.1", "123456").await.0, 200);
}
