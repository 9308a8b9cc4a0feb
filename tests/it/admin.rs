//! The admin web UI over HTTP: listing, filtering, escaping, resetting, and
//! refusing cross-site resets.

use crate::common::{body_text, App};
use axes::AttemptFilter;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
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
        .oneshot(
            reset_request()
                .header("origin", "https://admin.example")
                .body(Body::from("ip=&username="))
                .unwrap(),
        )
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

/// The reset form of a page, and the cookie the page set: what a browser
/// holding the page would post.
async fn form_and_cookie(router: &Router, uri: &str) -> (String, String) {
    let response = router
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = body_text(response).await;
    let token = page
        .split("name=csrf value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the reset form carries a CSRF token")
        .to_owned();
    (token, cookie)
}

async fn post_reset(router: &Router, body: &str, cookie: Option<&str>) -> http::Response<Body> {
    let mut request = reset_request();
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    router
        .clone()
        .oneshot(request.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap()
}

/// The attack: a forged form post from an old browser or a plugin that
/// sends neither `Origin` nor `Sec-Fetch-Site`. Without the token the page
/// embeds (bound to the page's cookie) it is refused.
#[tokio::test]
async fn a_reset_without_origin_headers_needs_the_pages_csrf_token() {
    let app = App::new("failure_limit = 2");
    app.fail_n(IP, "alice", 2).await;
    let router = admin(&app);
    let (token, cookie) = form_and_cookie(&router, "/admin/axes").await;
    assert!(cookie.starts_with("axes_admin_csrf="), "{cookie}");
    let body = |token: &str| format!("ip={IP}&username=alice&csrf={token}");

    for (body, cookie) in [
        (format!("ip={IP}&username=alice"), Some(cookie.as_str())),
        (body(&token), None),
        (body(&token), Some("axes_admin_csrf=00")),
        (body(&"0".repeat(64)), Some(cookie.as_str())),
        (body(""), Some(cookie.as_str())),
    ] {
        let response = post_reset(&router, &body, cookie).await;
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "{body} {cookie:?}"
        );
        assert!(body_text(response).await.contains("CSRF"));
    }
    assert_eq!(
        app.login(IP, "alice", "wonderland").await,
        429,
        "nothing was reset"
    );

    let response = post_reset(&router, &body(&token), Some(&cookie)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.login(IP, "alice", "wonderland").await, 200);
}

/// A reset names a username exactly: ` alice` is not `alice`, and a
/// username of spaces is an error, never "any username".
#[tokio::test]
async fn a_reset_never_widens_by_white_space() {
    let app = App::new("failure_limit = 2\nlockout_parameters = [\"username\", \"ip_address\"]");
    app.fail_n(IP, "alice", 2).await;
    app.fail_n("192.0.2.11", "bob", 1).await;
    let router = admin(&app);
    let (token, cookie) = form_and_cookie(&router, "/admin/axes").await;
    for (ip, username) in [
        ("", "+alice"),
        ("", "alice+"),
        ("", "+++"),
        ("192.0.2.11", "+++"),
        (IP, "%09"),
    ] {
        let body = format!("ip={ip}&username={username}&csrf={token}");
        let response = post_reset(&router, &body, Some(&cookie)).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.contains("white+space"), "{body}: {location}");
    }
    assert_eq!(
        app.axes.attempts(AttemptFilter::All).await.unwrap().len(),
        2
    );
    assert_eq!(app.login(IP, "alice", "wonderland").await, 429);
    let (status, page) = get(&router, "/admin/axes?username=%20alice").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("white space"), "{page}");
}
