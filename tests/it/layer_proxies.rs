//! The client IP behind proxies, over HTTP: spoofed headers are ignored by
//! default, and configured proxies resolve exactly as configured.

use crate::common::{json_request, set_header, App};
use axes::AttemptFilter;
use serde_json::json;

async fn fail_with_xff(app: &App, peer: &str, xff: &str) -> u16 {
    let mut request = json_request(
        peer,
        "/login",
        json!({"username": "alice", "password": "x"}),
    );
    set_header(&mut request, "x-forwarded-for", xff.as_bytes());
    app.send(request).await.status().as_u16()
}

async fn recorded_ips(app: &App) -> Vec<String> {
    let mut ips: Vec<String> = app
        .axes
        .attempts(AttemptFilter::All)
        .await
        .unwrap()
        .iter()
        .map(|a| a.ip_address.unwrap().to_string())
        .collect();
    ips.sort();
    ips
}

#[tokio::test]
async fn a_spoofed_forwarded_for_is_ignored_by_default() {
    let app = App::new("");
    let statuses = [
        fail_with_xff(&app, "192.0.2.10", "198.51.100.1").await,
        fail_with_xff(&app, "192.0.2.10", "198.51.100.2").await,
        fail_with_xff(&app, "192.0.2.10", "198.51.100.3").await,
    ];
    assert_eq!(
        statuses,
        [403, 403, 429],
        "rotating the header does not escape"
    );
    assert_eq!(recorded_ips(&app).await, ["192.0.2.10"]);
    // Copying a locked client's address into the header does not lock you.
    assert_eq!(fail_with_xff(&app, "192.0.2.11", "192.0.2.10").await, 403);
}

#[tokio::test]
async fn a_configured_header_identifies_clients_behind_one_proxy() {
    let app = App::new("ipware_meta_precedence_order = [\"HTTP_X_FORWARDED_FOR\", \"REMOTE_ADDR\"]\nipware_proxy_count = 0");
    for _ in 0..2 {
        assert_eq!(fail_with_xff(&app, "10.0.0.1", "198.51.100.1").await, 403);
    }
    assert_eq!(fail_with_xff(&app, "10.0.0.1", "198.51.100.1").await, 429);
    // Another client behind the same proxy is not affected.
    assert_eq!(fail_with_xff(&app, "10.0.0.1", "198.51.100.2").await, 403);
    // Without the header the proxy itself is the client.
    assert_eq!(app.login("10.0.0.1", "alice", "wonderland").await, 200);
    assert_eq!(recorded_ips(&app).await, ["198.51.100.1", "198.51.100.2"]);
}

#[tokio::test]
async fn proxy_count_resists_prepended_entries() {
    let app =
        App::new("ipware_meta_precedence_order = [\"X-Forwarded-For\"]\nipware_proxy_count = 1");
    // Two proxies: the nearest appends the address it saw after the client's.
    for spoof in ["6.6.6.1", "6.6.6.2"] {
        let xff = format!("{spoof}, 198.51.100.1, 10.0.0.2");
        assert_eq!(fail_with_xff(&app, "10.0.0.1", &xff).await, 403);
    }
    assert_eq!(
        fail_with_xff(&app, "10.0.0.1", "198.51.100.1, 10.0.0.2").await,
        429
    );
    assert_eq!(recorded_ips(&app).await, ["198.51.100.1"]);
}

#[tokio::test]
async fn trusted_proxies_are_believed_only_when_they_are_the_peer() {
    let app = App::new("ipware_meta_precedence_order = [\"X-Forwarded-For\", \"REMOTE_ADDR\"]\nipware_proxy_trusted_ips = [\"10.0.0.0/8\"]");
    assert_eq!(
        fail_with_xff(&app, "10.0.0.1", "198.51.100.1, 10.0.0.5").await,
        403
    );
    // A direct client claiming to be forwarded is counted by its own address.
    assert_eq!(fail_with_xff(&app, "192.0.2.50", "198.51.100.9").await, 403);
    assert_eq!(recorded_ips(&app).await, ["192.0.2.50", "198.51.100.1"]);
}

#[tokio::test]
async fn malformed_forwarded_headers_fall_back_to_the_peer() {
    let app = App::new("ipware_meta_precedence_order = [\"X-Forwarded-For\", \"REMOTE_ADDR\"]");
    for bad in [
        "garbage",
        "nonsense, 1.2.3.4.5",
        "1.2.3.4.5",
        &"9".repeat(10_000),
    ] {
        assert_eq!(
            fail_with_xff(&app, "192.0.2.60", bad).await,
            403,
            "{bad:.20}"
        );
        app.axes.reset(AttemptFilter::All).await.unwrap();
    }
    let mut request = json_request(
        "192.0.2.60",
        "/login",
        json!({"username": "alice", "password": "x"}),
    );
    set_header(&mut request, "x-forwarded-for", b"\xff\xfe");
    assert_eq!(app.send(request).await.status(), 403);
    assert_eq!(recorded_ips(&app).await, ["192.0.2.60"]);
}

/// The attack: behind a trusted proxy that appends the address it saw, a
/// client spoils the forwarding header so that a naive reader throws the
/// chain away, and offers an address of its choosing in the next header of
/// the precedence order. Rotating that address would reset its count.
#[tokio::test]
async fn a_spoiled_forwarding_header_does_not_let_the_client_pick_its_address() {
    let app = App::new(
        r#"ipware_meta_precedence_order = ["X-Forwarded-For", "X-Real-IP", "REMOTE_ADDR"]
           ipware_proxy_trusted_ips = ["10.0.0.0/8"]"#,
    );
    let mut statuses = Vec::new();
    for (n, forged) in ["garbage", "999.1.1.1", "[::1", "\"", "unknown"]
        .iter()
        .enumerate()
    {
        let mut request = json_request(
            "10.0.0.1",
            "/login",
            json!({"username": "alice", "password": "x"}),
        );
        let chain = format!("{forged}, 198.51.100.7");
        set_header(&mut request, "x-forwarded-for", chain.as_bytes());
        set_header(&mut request, "x-real-ip", format!("6.6.6.{n}").as_bytes());
        statuses.push(app.send(request).await.status().as_u16());
    }
    assert_eq!(statuses, [403, 403, 429, 429, 429]);
    assert_eq!(recorded_ips(&app).await, ["198.51.100.7"]);
}

/// RFC 7239 obfuscated nodes where the client should be: the hop that
/// reported it stands in, never a header the client controls.
#[tokio::test]
async fn a_hidden_forwarded_client_is_counted_by_its_reporting_proxy() {
    let app = App::new(
        r#"ipware_meta_precedence_order = ["Forwarded", "X-Real-IP", "REMOTE_ADDR"]
           ipware_proxy_trusted_ips = ["10.0.0.0/8"]"#,
    );
    for n in 0..3 {
        let mut request = json_request(
            "10.0.0.1",
            "/login",
            json!({"username": "alice", "password": "x"}),
        );
        set_header(
            &mut request,
            "forwarded",
            b"for=\"6.6.6.6\", for=_hidden;proto=https, for=10.0.0.5",
        );
        set_header(&mut request, "x-real-ip", format!("6.6.6.{n}").as_bytes());
        app.send(request).await;
    }
    assert_eq!(recorded_ips(&app).await, ["10.0.0.5"]);
}
