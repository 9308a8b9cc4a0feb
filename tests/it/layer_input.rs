//! Bad input, missing wiring and store failures: each gets a clear answer,
//! never a panic, and loses no count.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::common::{body_text, json_request, raw_request, set_header, App};
use axes::{AttemptFilter, Axes, AxesConfig, AxesLayer, ClientInfo, ManualClock, MemoryStore};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use futures_util::{stream, StreamExt};
use serde_json::json;

const IP: &str = "192.0.2.10";

#[tokio::test]
async fn a_body_over_the_limit_is_413_and_records_nothing() {
    let app = App::new("max_body_bytes = 1024\nlockout_parameters = [\"username\"]");
    let big = json!({"username": "alice", "password": "x".repeat(2000)});
    let response = app.send(json_request(IP, "/login", big)).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body_text(response).await.contains("1024 bytes"));
    assert_eq!(app.calls(), 0);
    assert!(app
        .axes
        .attempts(AttemptFilter::All)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_streamed_body_over_the_limit_without_length_is_413() {
    let app = App::new("max_body_bytes = 1024");
    let chunks = (0..100).map(|_| Ok::<_, std::io::Error>(Bytes::from_static(&[b'a'; 100])));
    let body = Body::from_stream(stream::iter(chunks));
    let response = app
        .send(raw_request(IP, "POST", "/login", "application/json", body))
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_body_that_never_ends_times_out_with_408() {
    let app = App::new("body_read_timeout = \"5s\"\nlockout_parameters = [\"username\"]");
    let chunks = stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(
        b"{\"username\":",
    ))])
    .chain(stream::pending());
    let body = Body::from_stream(chunks);
    let started = tokio::time::Instant::now();
    let response = app
        .send(raw_request(IP, "POST", "/login", "application/json", body))
        .await;
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    assert!(started.elapsed() >= std::time::Duration::from_secs(5));
    assert_eq!(app.calls(), 0);
    assert!(app
        .axes
        .attempts(AttemptFilter::All)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_body_that_fails_mid_stream_is_400() {
    let app = App::new("");
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from_static(b"{\"username\":")),
        Err(std::io::Error::other("connection reset")),
    ];
    let body = Body::from_stream(stream::iter(chunks));
    let response = app
        .send(raw_request(IP, "POST", "/login", "application/json", body))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.calls(), 0);
}

#[tokio::test]
async fn invalid_json_reaches_the_handler_unchanged_and_counts() {
    let app = App::new("failure_limit = 5");
    for body in [
        "this is not json",
        "[\"alice\", \"wonderland\"]",
        "\"alice\"",
        "{\"username\":",
    ] {
        let echoed = app
            .send(raw_request(IP, "POST", "/echo", "application/json", body))
            .await;
        assert_eq!(
            body_text(echoed).await,
            body,
            "the handler sees the body as sent"
        );
    }
    // Four reported failures; the fifth reaches the limit.
    assert_eq!(app.login(IP, "alice", "x").await, 429);
}

#[tokio::test]
async fn json_of_the_wrong_shape_has_no_username() {
    let app = App::new("lockout_parameters = [\"username\"]\nfailure_limit = 1");
    for body in [
        json!({"username": 12}),
        json!({"username": null}),
        json!({"username": ["alice"]}),
    ] {
        let response = app.send(json_request(IP, "/login", body)).await;
        assert_eq!(response.status(), 400);
    }
    // None of them counted under a username.
    assert_eq!(app.login(IP, "alice", "wonderland").await, 200);
}

#[tokio::test]
async fn a_non_utf8_user_agent_is_counted_without_panic() {
    let app = App::new("lockout_parameters = [[\"ip_address\", \"user_agent\"]]");
    for expected in [403, 403, 429] {
        let mut request = json_request(IP, "/login", json!({"username": "alice", "password": "x"}));
        set_header(&mut request, "user-agent", b"agent-\xff\xfe");
        assert_eq!(app.send(request).await.status(), expected);
    }
    let attempts = app.axes.attempts(AttemptFilter::All).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert!(attempts[0].user_agent.starts_with("agent-"));
    assert_eq!(attempts[0].failures, 3);
}

#[tokio::test]
async fn long_and_odd_usernames_are_stored_truncated_and_counted_consistently() {
    let app = App::new("lockout_parameters = [\"username\"]");
    let long = format!("{}\0tail", "ü".repeat(10_000));
    // The form refuses it (400) but reports the failure; the layer counts it
    // under the username it read from the body.
    for expected in [400, 400, 429] {
        let response = app
            .send(json_request(
                IP,
                "/login",
                json!({"username": long, "password": "x"}),
            ))
            .await;
        assert_eq!(response.status(), expected);
    }
    let attempts = app.axes.attempts(AttemptFilter::All).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].username.as_ref().unwrap().chars().count(), 255);
    assert_eq!(attempts[0].failures, 3);
}

#[tokio::test]
async fn a_huge_accept_header_is_truncated() {
    let app = App::new("");
    let mut request = json_request(IP, "/login", json!({"username": "alice", "password": "x"}));
    set_header(&mut request, "accept", "a".repeat(100_000).as_bytes());
    assert_eq!(app.send(request).await.status(), 403);
    let attempts = app.axes.attempts(AttemptFilter::All).await.unwrap();
    assert_eq!(
        attempts[0].http_accept.len(),
        axes::identity::MAX_ACCEPT_CHARS
    );
}

#[tokio::test]
async fn the_report_extractor_without_the_layer_names_the_layer() {
    let app = App::new("");
    let response = app.send(json_request(IP, "/unguarded", json!({}))).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body_text(response).await.contains("AxesLayer::new(axes)"));
}

#[tokio::test]
async fn a_router_served_without_connect_info_says_so() {
    let app = App::new("");
    let request = Request::post("/login")
        .header("content-type", "application/json")
        .body(Body::from("{}"))
        .unwrap();
    let response = app.send(request).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body_text(response)
        .await
        .contains("into_make_service_with_connect_info"));
    assert_eq!(app.calls(), 0);
}

#[tokio::test]
async fn ipv4_mapped_peers_are_counted_as_ipv4() {
    let app = App::new("ip_blacklist = [\"192.0.2.66\"]");
    assert_eq!(
        app.login("::ffff:192.0.2.66", "alice", "wonderland").await,
        429
    );
    app.login("::ffff:192.0.2.10", "alice", "x").await;
    app.login("192.0.2.10", "alice", "x").await;
    assert_eq!(app.login("::ffff:192.0.2.10", "alice", "x").await, 429);
}

fn flaky_app(policy: &str) -> (App, Arc<AtomicBool>) {
    let store = crate::common::FlakyStore::new(MemoryStore::new());
    let broken = store.broken.clone();
    (App::with_store(policy, store), broken)
}

#[tokio::test]
async fn a_failing_store_fails_closed_by_default() {
    let (app, broken) = flaky_app("");
    app.login(IP, "alice", "x").await;
    broken.store(true, Ordering::SeqCst);
    let response = app
        .send(json_request(
            IP,
            "/login",
            json!({"username": "alice", "password": "wonderland"}),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(body_text(response)
        .await
        .contains("temporarily unavailable"));
    assert_eq!(app.calls(), 1, "the handler is not run");
    broken.store(false, Ordering::SeqCst);
    // After recovery, counts are intact: the earlier failure still counts.
    assert_eq!(app.login(IP, "alice", "x").await, 403);
    assert_eq!(app.login(IP, "alice", "x").await, 429);
}

#[tokio::test]
async fn a_failing_store_fails_open_when_configured() {
    let (app, broken) = flaky_app("on_store_error = \"fail_open\"");
    broken.store(true, Ordering::SeqCst);
    assert_eq!(app.login(IP, "alice", "wonderland").await, 200);
    assert_eq!(app.login(IP, "alice", "x").await, 403);
    assert_eq!(app.calls(), 2);
}

#[tokio::test]
async fn axes_is_usable_without_the_layer() {
    let config = AxesConfig::builder().failure_limit(2).build().unwrap();
    let clock = ManualClock::new();
    let axes = Axes::builder(config, MemoryStore::new())
        .clock(clock)
        .build();
    let client = ClientInfo::new(IP.parse().unwrap()).with_username("alice");
    assert!(crate::common::record_failure(&axes, &client)
        .await
        .lockout
        .is_none());
    let outcome = crate::common::record_failure(&axes, &client).await;
    assert_eq!(outcome.failures, 2);
    assert!(outcome.lockout.is_some());
    let removed = axes
        .reset(AttemptFilter::IpOrUsername(
            "198.51.100.1".parse().unwrap(),
            "alice".into(),
        ))
        .await
        .unwrap();
    assert_eq!(removed, 1);
    assert!(crate::common::check(&axes, &client)
        .await
        .lockout()
        .is_none());
}

#[tokio::test]
async fn the_layer_works_on_a_real_listener() {
    let axes = Axes::new(
        AxesConfig::builder().failure_limit(1).build().unwrap(),
        MemoryStore::new(),
    );
    let app = Router::new()
        .route(
            "/login",
            post(|report: axes::AxesReport| async move {
                report.failed("alice");
                "no"
            }),
        )
        .layer(AxesLayer::new(axes));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let status = |_: ()| async move {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream
            .write_all(b"POST /login HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer[9..12].to_owned()
    };
    assert_eq!(status(()).await, "429");
    assert_eq!(status(()).await, "429");
}

/// The attack: a form body of thousands of distinct fields, each failure
/// cleansed for the attempt record. The work per request must grow with
/// the body, not with its square: nine times the fields may cost about
/// nine times as much (a pairwise comparison of names cost 81 times).
/// Compared as a ratio of two sizes measured in the same run.
#[tokio::test]
async fn cleansing_a_body_of_many_fields_costs_linear_time() {
    let app = App::new("failure_limit = 1000000\nlockout_parameters = [\"username\"]");
    let body = |fields: usize| {
        let mut form = String::from("username=alice&password=x");
        for i in 0..fields {
            form.push_str(&format!("&f{i}=v"));
        }
        form
    };
    let time = |fields: usize| {
        let form = body(fields);
        let app = &app;
        async move {
            let mut best = std::time::Duration::MAX;
            for _ in 0..5 {
                let request = raw_request(
                    IP,
                    "POST",
                    "/echo",
                    "application/x-www-form-urlencoded",
                    form.clone(),
                );
                let started = std::time::Instant::now();
                assert_eq!(app.send(request).await.status(), StatusCode::OK);
                best = best.min(started.elapsed());
            }
            best
        }
    };
    let small = time(800).await;
    let large = time(7_200).await;
    assert!(body(7_200).len() <= 64 * 1024);
    let ratio = large.as_secs_f64() / small.as_secs_f64();
    assert!(
        ratio < 30.0,
        "9x the fields cost {ratio:.1}x the time ({small:?} vs {large:?})"
    );
}
