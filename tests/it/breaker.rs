//! The site-wide credential-stuffing breaker, over HTTP on every store (two
//! app servers on the shared ones): a flood of failures across many
//! usernames and addresses trips it on every server; then a client without
//! trust must pass the challenge — never locked out by it — while a device
//! with its cookie logs in as before; it clears by itself.

use axes::{AttemptFilter, AxesEvent};
use axum::http::StatusCode;
use serde_json::json;

use crate::common::{body_text, json_request, set_header, App};

const POLICY: &str = "failure_limit = 50
site_breaker = { failures_per_minute = 10 }
device_cookie = \"axes_device\"
trusted_client_window = \"30d\"";

/// `username` logs in with `password` from `ip` (with `cookie`): the
/// status, the body, and the device cookie set.
async fn login(
    app: &App,
    ip: &str,
    (username, password): (&str, &str),
    cookie: Option<&str>,
) -> (StatusCode, String, Option<String>) {
    let mut request = json_request(
        ip,
        "/login",
        json!({"username": username, "password": password}),
    );
    if let Some(cookie) = cookie {
        set_header(&mut request, "cookie", cookie.as_bytes());
    }
    let response = app.send(request).await;
    let set = response
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
    (response.status(), body_text(response).await, set)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_trips_the_breaker_everywhere_and_it_clears_by_itself() {
    for (name, stores) in crate::common::stores::sharing().await {
        // App servers sharing a store share its secret (AXES_SECRET).
        let apps: Vec<App> = stores
            .into_iter()
            .map(|store| App::with_secret(POLICY, store, Some(b"one secret for the site")))
            .collect();
        let app = |i: usize| &apps[i % apps.len()];
        let mut events = app(0).axes.subscribe();
        let (status, _, cookie) =
            login(app(0), "198.51.100.1", ("alice", "wonderland"), None).await;
        assert_eq!(status, 200, "{name}");
        let cookie = cookie.expect("a device cookie");

        // Before the flood, a new client logs in with its password alone.
        let (status, _, _) = login(app(1), "192.0.2.40", ("bob", "builder"), None).await;
        assert_eq!(status, 200, "{name}: no challenge before the flood");

        // Credential stuffing: one guess each for many usernames, from
        // many addresses, on every server. No one is locked out.
        for i in 0..15 {
            let (status, _, _) = login(
                app(i),
                &format!("203.0.113.{i}"),
                (&format!("user{i}"), "guess"),
                None,
            )
            .await;
            assert_ne!(status, StatusCode::TOO_MANY_REQUESTS, "{name}");
        }
        for app in &apps {
            app.clock.advance(std::time::Duration::from_millis(1100));
        }

        // On every server, a client without trust must pass the challenge,
        // however right its password; skipping it is not counted.
        for i in 0..apps.len() {
            let ip = format!("192.0.2.{}", 50 + i);
            let (status, body, _) = login(app(i), &ip, ("bob", "builder"), None).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{name}: server {i}");
            assert!(body.contains("Challenge required"), "{name}: {body}");
        }
        let bobs = AttemptFilter::Username("bob".into());
        assert!(
            app(0).axes.attempts(bobs).await.unwrap().is_empty(),
            "{name}: the breaker locks no one out"
        );
        let solved = json_request(
            "192.0.2.50",
            "/challenge-login",
            json!({"username": "bob", "password": "builder", "captcha": "solved"}),
        );
        assert_eq!(
            app(0).send(solved).await.status(),
            200,
            "{name}: the challenge passed"
        );

        // Alice's device, from a new address, on any server: as before.
        for i in 0..apps.len() {
            let ip = format!("198.51.100.{}", 10 + i);
            let (status, _, _) = login(app(i), &ip, ("alice", "wonderland"), Some(&cookie)).await;
            assert_eq!(status, 200, "{name}: the trusted device, server {i}");
        }

        // The rate falls back: cleared, by itself.
        for app in &apps {
            app.clock.advance(std::time::Duration::from_secs(180));
        }
        let (status, _, _) = login(app(0), "192.0.2.70", ("bob", "builder"), None).await;
        assert_eq!(status, 200, "{name}: cleared");
        let mut told = Vec::new();
        while let Ok(event) = events.try_recv() {
            match event {
                AxesEvent::BreakerTripped { .. } => told.push("tripped"),
                AxesEvent::BreakerCleared { .. } => told.push("cleared"),
                _ => {}
            }
        }
        assert_eq!(told, ["tripped", "cleared"], "{name}");
    }
}

#[test]
fn a_breaker_names_one_budget() {
    for bad in [
        "site_breaker = { }",
        "site_breaker = { failures_per_minute = 0 }",
        "site_breaker = { baseline_multiple = 0.5 }",
        "site_breaker = { failures_per_minute = 10, baseline_multiple = 3.0 }",
    ] {
        let error = axes::AxesConfig::from_toml_str(bad).unwrap_err();
        assert!(error.to_string().contains("site_breaker"), "{bad}: {error}");
    }
    let config =
        axes::AxesConfig::from_toml_str("site_breaker = { baseline_multiple = 5.0 }").unwrap();
    assert_eq!(config.site_breaker.unwrap().budget(1200), 100);
}
