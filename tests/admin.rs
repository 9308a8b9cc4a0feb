//! The admin web UI over HTTP: listing, filtering, escaping, resetting, and
//! refusing cross-site resets.

mod common;

use axes::AttemptFilter;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use common::{body_text, App};
use tower::ServiceExt;

const IP: &str = "192.0.2.10";

fn admin(app: &App) -> Router {
    Router::new().nest("/admin/axes", axes::admin::router(app.axes.clone()))
}

async fn get(router: &Router, uri: &str) -> (StatusCode, String) {
    let response = router
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    (status, body_text(response).await)
}

fn reset_request() -> http::request::Builder {
    Request::post("/admin/axes/reset")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("host", "admin.example")
}

#[tokio::test]
async fn attempts_are_listed_escaped_and_filtered() {
    let app = App::new("failure_limit = 5\nenable_access_failure_log = true");
    app.login(IP, "<script>alert(1)</script>", "x").await;
    app.login("192.0.2.11", "bob", "x").await;
    let router = admin(&app);
    let (status, page) = get(&router, "/admin/axes").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script>alert"), "usernames are escaped");
    assert!(page.contains("192.0.2.11") && page.contains("2 found."));
    let (_, page) = get(&router, "/admin/axes?username=bob").await;
    assert!(page.contains("1 found.") && page.contains("192.0.2.11"));
    assert!(!page.contains(IP));
    let (status, page) = get(&router, "/admin/axes?ip=not-an-ip").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("is not an IP address"));
    let (_, page) = get(&router, "/admin/axes/failure-logs").await;
    assert!(page.contains("2 found.") && page.contains("Failure logs"));
}

#[tokio::test]
async fn access_logs_show_logins() {
    let app = App::new("");
    assert_eq!(app.login(IP, "alice", "wonderland").await, 200);
    let (status, page) = get(&admin(&app), "/admin/axes/access-logs?username=alice").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("1 found.") && page.contains("alice") && page.contains(IP));
}

#[tokio::test]
async fn a_reset_lifts_the_lockout_and_says_so() {
    let app = App::new("failure_limit = 2");
    app.fail_n(IP, "alice", 2).await;
    assert_eq!(app.login(IP, "alice", "wonderland").await, 429);
    let router = admin(&app);
    let (_, page) = get(&router, "/admin/axes").await;
    assert!(
        page.contains("action=\"/admin/axes/reset\""),
        "links follow the mount point"
    );
    let response = router
        .clone()
        .oneshot(
            reset_request()
                .header("origin", "https://admin.example")
                .header("sec-fetch-site", "same-origin")
                .body(Body::from(format!("ip={IP}&username=alice")))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()["location"],
        "/admin/axes?message=1+attempts+removed."
    );
    assert_eq!(app.login(IP, "alice", "wonderland").await, 200);
    let (_, page) = get(&router, "/admin/axes?message=1+attempts+removed.").await;
    assert!(page.contains("1 attempts removed."));
}

#[tokio::test]
async fn cross_site_and_empty_resets_are_refused() {
    let app = App::new("failure_limit = 2");
    app.fail_n(IP, "alice", 2).await;
    let router = admin(&app);
    for (name, value) in [
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
        ("origin", "https://evil.example"),
        ("origin", "null"),
    ] {
        let response = router
            .clone()
            .oneshot(
                reset_request()
                    .header(name, value)
                    .body(Body::from(format!("ip={IP}")))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{name}: {value}");
    }
    let response = router
        .clone()
        .oneshot(reset_request().body(Body::from("ip=&username=")).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(response.headers()["location"]
        .to_str()
        .unwrap()
        .contains("Name+an+IP+address"));
    assert_eq!(
        app.axes.attempts(AttemptFilter::All).await.unwrap().len(),
        1,
        "nothing was reset"
    );
    assert_eq!(app.login(IP, "alice", "wonderland").await, 429);
}

#[tokio::test]
async fn pages_carry_security_headers_and_work_at_the_root() {
    let app = App::new("");
    let router = axes::admin::router(app.axes.clone());
    let response = router
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    assert!(headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["cache-control"], "no-store");
    let page = body_text(response).await;
    assert!(page.contains("href=\"/access-logs\""), "{page}");
}
