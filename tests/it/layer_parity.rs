//! django-axes parity over HTTP: lockout tiers, callables, the lockout
//! response, and the access, failure and attempt records.

use std::time::Duration;

use crate::common::{body_text, json_request, raw_request, set_header, App};
use axes::{
    AttemptFilter, Axes, AxesConfig, ClientInfo, LockoutGroup, LockoutParameter, ManualClock,
    MemoryStore,
};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

const IP: &str = "192.0.2.10";
const OTHER_IP: &str = "192.0.2.20";

fn app_with(toml: &str, build: impl FnOnce(axes::AxesBuilder) -> axes::AxesBuilder) -> App {
    let clock = ManualClock::new();
    let config = AxesConfig::from_toml_str(toml).unwrap();
    let axes = build(Axes::builder(config, MemoryStore::new()).clock(clock.clone())).build();
    App::with_axes(axes, clock)
}

/// An app whose layers `shape` makes.
fn layered(toml: &str, shape: impl Fn(axes::AxesLayer) -> axes::AxesLayer) -> App {
    let clock = ManualClock::new();
    let config = AxesConfig::from_toml_str(toml).unwrap();
    let axes = Axes::builder(config, MemoryStore::new())
        .clock(clock.clone())
        .build();
    App::with_layers(axes, clock, shape)
}

async fn fail(app: &App, ip: &str, username: &str) -> u16 {
    app.login(ip, username, "wrong-password").await.as_u16()
}

const TIERS: &str = r#"
cooloff_time = "1h"
lockout_tiers = [ { failures = 3, cooloff = "1s" }, { failures = 5, cooloff = "10s" } ]
enable_retry_after_header = true
"#;

#[tokio::test]
async fn tiers_lock_at_the_first_threshold_and_expire_after_their_cooloff() {
    let app = App::new(TIERS);
    assert_eq!(app.fail_n(IP, "alice", 3).await, [403, 403, 429]);
    let response = app
        .send(json_request(
            IP,
            "/login",
            json!({"username": "alice", "password": "wonderland"}),
        ))
        .await;
    assert_eq!(
        response.headers()["retry-after"],
        "1",
        "the tier's cool-off, not cooloff_time"
    );
    app.clock.advance(Duration::from_millis(1001));
    assert_eq!(
        app.login(IP, "alice", "wonderland").await,
        200,
        "tier 1 expired"
    );
}

#[tokio::test]
async fn tiers_escalate_while_failures_keep_coming() {
    let app = App::new(TIERS);
    for _ in 0..2 {
        fail(&app, IP, "alice").await;
    }
    assert_eq!(fail(&app, IP, "alice").await, 429);
    // Failures reported during the lockout (here through the engine) escalate.
    let client = ClientInfo::new(IP.parse().unwrap()).with_username("alice");
    app.clock.advance(Duration::from_millis(500));
    crate::common::record_failure(&app.axes, &client).await;
    let outcome = crate::common::record_failure(&app.axes, &client).await;
    assert_eq!(outcome.failures, 5);
    assert_eq!(
        outcome.lockout.unwrap().cooloff,
        Some(Duration::from_secs(10))
    );
    app.clock.advance(Duration::from_secs(9));
    assert_eq!(
        app.login(IP, "alice", "wonderland").await,
        429,
        "tier 2 lasts 10 s"
    );
    app.clock.advance(Duration::from_millis(1001));
    assert_eq!(app.login(IP, "alice", "wonderland").await, 200);
}

#[tokio::test]
async fn tiers_in_json_give_the_tier_cooloff() {
    let app = App::new(TIERS);
    for _ in 0..3 {
        fail(&app, IP, "alice").await;
    }
    let response = app
        .send(json_request(
            IP,
            "/login",
            json!({"username": "alice", "password": "x"}),
        ))
        .await;
    let body: serde_json::Value = serde_json::from_str(&body_text(response).await).unwrap();
    assert_eq!(body["cooloff_time"], "PT1S");
    assert_eq!(body["failure_limit"], 3);
}

#[tokio::test]
async fn username_callable_expresses_the_namespace_example() {
    let app = app_with(
        "lockout_parameters = [\"username\"]\nfailure_limit = 2",
        |b| {
            b.username_callable(|attempt| {
                let request = attempt.request()?;
                let username = attempt
                    .credentials()
                    .and_then(|c| c.username())
                    .or_else(|| request.field("username"))?;
                let namespace = request.field("namespace")?;
                Some(format!("{namespace}-{}", username.get(9..).unwrap_or("")))
            })
        },
    );
    for ip in [IP, OTHER_IP] {
        let body = json!({"username": "prefixed-alice", "namespace": "acme", "password": "x"});
        app.send(json_request(ip, "/login", body)).await;
    }
    let attempts = app.axes.attempts(AttemptFilter::All).await.unwrap();
    assert!(attempts
        .iter()
        .all(|a| a.username.as_deref() == Some("acme-alice")));
    // Pre-checked under the altered name: refused before the handler runs.
    let calls = app.calls();
    let body = json!({"username": "prefixed-alice", "namespace": "acme", "password": "wonderland"});
    assert_eq!(
        app.send(json_request("192.0.2.99", "/login", body))
            .await
            .status(),
        429
    );
    assert_eq!(app.calls(), calls);
    let other_namespace =
        json!({"username": "prefixed-alice", "namespace": "other", "password": "x"});
    assert_eq!(
        app.send(json_request(IP, "/login", other_namespace))
            .await
            .status(),
        403
    );
}

#[tokio::test]
async fn whitelist_callable_exempts_clients() {
    let app = app_with("failure_limit = 2", |b| {
        b.whitelist_callable(|attempt| attempt.client().user_agent().starts_with("monitor/"))
    });
    for _ in 0..4 {
        let mut request = json_request(IP, "/login", json!({"username": "alice", "password": "x"}));
        set_header(&mut request, "user-agent", b"monitor/1.0");
        assert_eq!(app.send(request).await.status(), 403);
    }
    assert!(app
        .axes
        .attempts(AttemptFilter::All)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(app.fail_n(IP, "alice", 2).await, [403, 429]);
}

#[tokio::test]
async fn client_ip_callable_replaces_ip_resolution() {
    let app = app_with("failure_limit = 2", |b| {
        b.client_ip_callable(|request| {
            request
                .headers()
                .get("cf-connecting-ip")?
                .to_str()
                .ok()?
                .parse()
                .ok()
        })
    });
    for peer in ["10.0.0.1", "10.0.0.2"] {
        let mut request = json_request(
            peer,
            "/login",
            json!({"username": "alice", "password": "x"}),
        );
        set_header(&mut request, "cf-connecting-ip", b"203.0.113.5");
        app.send(request).await;
    }
    let ips: Vec<_> = app
        .axes
        .attempts(AttemptFilter::All)
        .await
        .unwrap()
        .iter()
        .map(|a| a.ip_address.unwrap().to_string())
        .collect();
    assert_eq!(ips, ["203.0.113.5"]);
    // Without the header, the callable says None: the peer counts.
    assert_eq!(fail(&app, "10.0.0.1", "alice").await, 403);
}

#[tokio::test]
async fn per_request_limit_cooloff_and_parameters() {
    let app = app_with("failure_limit = 5", |b| {
        b.failure_limit_callable(|attempt| {
            if attempt.client().username() == Some("admin") {
                1
            } else {
                5
            }
        })
        .cooloff_callable(|attempt| {
            Some(Duration::from_secs(
                if attempt.client().username() == Some("admin") {
                    60
                } else {
                    1
                },
            ))
        })
        .lockout_parameters_callable(|attempt| match attempt.client().username() {
            Some("admin") => vec![LockoutGroup::single(LockoutParameter::Username)],
            _ => vec![LockoutGroup::single(LockoutParameter::IpAddress)],
        })
    });
    assert_eq!(fail(&app, IP, "admin").await, 429, "admin locks at 1");
    assert_eq!(
        app.login(OTHER_IP, "admin", "x").await,
        429,
        "by username, from any IP"
    );
    assert_eq!(
        fail(&app, IP, "alice").await,
        403,
        "alice counts by IP up to 5"
    );
    app.clock.advance(Duration::from_secs(30));
    assert_eq!(
        app.login("192.0.2.77", "admin", "x").await,
        429,
        "admin's cool-off is 60 s"
    );
    let calls = app.calls();
    app.clock.advance(Duration::from_secs(31));
    // Free again: the attempt reaches the handler (and, failing, locks anew).
    app.login("192.0.2.77", "admin", "x").await;
    assert_eq!(app.calls(), calls + 1);
}

#[tokio::test]
async fn lockout_url_redirects_with_the_username() {
    let app = App::new("failure_limit = 1\nlockout_url = \"/locked/\"\ncooloff_time = \"2m\"\nenable_retry_after_header = true");
    let request = raw_request(
        IP,
        "POST",
        "/login",
        "application/x-www-form-urlencoded",
        "username=bob+smith&password=x",
    );
    let response = app.send(request).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(
        response.headers()["location"],
        "/locked/?username=bob+smith"
    );
    assert_eq!(response.headers()["retry-after"], "120");
}

#[tokio::test]
async fn html_clients_get_the_configured_messages() {
    let app = App::new("failure_limit = 1\npermalock_message = \"Locked <for good>.\"");
    let form = || {
        raw_request(
            IP,
            "POST",
            "/login",
            "application/x-www-form-urlencoded",
            "username=alice&password=x",
        )
    };
    let response = app.send(form()).await;
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    assert_eq!(body_text(response).await, "Locked &lt;for good&gt;.");
    let app =
        App::new("failure_limit = 1\ncooloff_time = \"5m\"\ncooloff_message = \"Wait a bit.\"");
    assert_eq!(body_text(app.send(form()).await).await, "Wait a bit.");
}

#[tokio::test]
async fn template_and_callable_shape_the_response() {
    let app = layered("failure_limit = 1\nhttp_response_code = 403", |layer| {
        layer.lockout_template(|ctx| {
            format!(
                "<p>{} after {} failures</p>",
                ctx.message, ctx.lockout.failures
            )
        })
    });
    let form = || {
        raw_request(
            IP,
            "POST",
            "/login",
            "application/x-www-form-urlencoded",
            "username=alice&password=x",
        )
    };
    let response = app.send(form()).await;
    assert_eq!(response.status(), 403);
    assert!(body_text(response).await.ends_with("after 1 failures</p>"));
    // JSON clients still get JSON.
    let json_answer = app.send(json_request(IP, "/login", json!({}))).await;
    assert_eq!(json_answer.headers()["content-type"], "application/json");

    let app = layered(
        "failure_limit = 1\nenable_retry_after_header = true\ncooloff_time = \"1m\"",
        |layer| {
            layer.lockout_callable(|ctx| {
                (StatusCode::IM_A_TEAPOT, format!("{:?}", ctx.lockout.reason)).into_response()
            })
        },
    );
    let response = app.send(form()).await;
    assert_eq!(response.status(), StatusCode::IM_A_TEAPOT);
    assert!(
        response.headers().get("retry-after").is_none(),
        "the callable's response is used as is"
    );
    assert_eq!(body_text(response).await, "TooManyFailures");
}

#[tokio::test]
async fn access_log_records_logins_and_closes_the_session_on_logout() {
    let app = App::new("");
    for session in ["s-1", "s-2"] {
        let mut request = json_request(
            IP,
            "/login",
            json!({"username": "alice", "password": "wonderland"}),
        );
        set_header(&mut request, "x-session-id", session.as_bytes());
        assert_eq!(app.send(request).await.status(), 200);
    }
    let mut logout = json_request(IP, "/logout", json!({"username": "alice"}));
    set_header(&mut logout, "x-session-id", b"s-1");
    app.send(logout).await;
    let logs = app
        .axes
        .access_logs(AttemptFilter::Username("alice".into()))
        .await
        .unwrap();
    assert_eq!(logs.len(), 2);
    let s1 = axes::identity::session_hash(Some("s-1"));
    let closed: Vec<_> = logs.iter().filter(|l| l.logout_time.is_some()).collect();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].session_hash, s1);
    assert!(
        !logs.iter().any(|l| l.session_hash.contains("s-")),
        "ids are hashed"
    );
    assert_eq!(logs[0].path_info, "/login");
}

#[tokio::test]
async fn disable_access_log_keeps_no_login_entries() {
    let app = App::new("disable_access_log = true");
    assert_eq!(app.login(IP, "alice", "wonderland").await, 200);
    assert_eq!(fail(&app, IP, "alice").await, 403);
    assert!(app
        .axes
        .access_logs(AttemptFilter::All)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        app.axes.attempts(AttemptFilter::All).await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn failure_log_flags_the_lockout_and_is_capped_per_user() {
    let app = App::new("enable_access_failure_log = true\naccess_failure_log_per_user_limit = 2\nfailure_limit = 3\nreset_cool_off_on_failure_during_lockout = false");
    for _ in 0..3 {
        fail(&app, IP, "alice").await;
    }
    let logs = app.axes.failure_logs(AttemptFilter::All).await.unwrap();
    assert_eq!(logs.len(), 2, "capped at 2 for alice");
    assert_eq!(logs.iter().filter(|l| l.locked_out).count(), 1);
    assert!(App::new("")
        .axes
        .failure_logs(AttemptFilter::All)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn stored_request_data_is_cleansed_and_bounded() {
    let app = App::new("sensitive_parameters = [\"otp\"]");
    let request = raw_request(
        IP,
        "POST",
        "/login?next=/home&token=abc",
        "application/json",
        json!({"username": "alice", "password": "hunter2", "otp": "123456", "note": "a\u{0}b", "zz_big": "x".repeat(5000)}).to_string(),
    );
    app.send(request).await;
    let attempt = &app.axes.attempts(AttemptFilter::All).await.unwrap()[0];
    assert_eq!(attempt.get_data, "next=/home\ntoken=abc");
    assert!(attempt.post_data.contains("password=********************"));
    assert!(attempt.post_data.contains("otp=********************"));
    assert!(attempt.post_data.contains("username=alice"));
    assert!(attempt.post_data.contains("note=a0x00b"));
    assert!(!attempt.post_data.contains("hunter2"));
    assert!(attempt.post_data.chars().count() <= 1024 + 3);
    // Another failure replaces the data rather than appending to it.
    app.send(json_request(
        IP,
        "/login",
        json!({"username": "alice", "password": "x"}),
    ))
    .await;
    let attempt = &app.axes.attempts(AttemptFilter::All).await.unwrap()[0];
    assert_eq!(attempt.failures, 2);
    assert!(attempt.post_data.len() < 100);
}

#[tokio::test]
async fn reset_of_an_empty_username_is_refused() {
    let app = App::new("");
    fail(&app, IP, "alice").await;
    assert!(app
        .axes
        .reset(AttemptFilter::Username(String::new()))
        .await
        .is_err());
    assert_eq!(
        app.axes.attempts(AttemptFilter::All).await.unwrap().len(),
        1
    );
}
