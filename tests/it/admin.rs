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
        page.contains("action=\"/admin/axes/reset-selected\""),
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
        .split("name=\"csrf\" value=\"")
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

#[tokio::test]
async fn the_lockouts_page_shows_who_is_locked_out_and_until_when() {
    let app =
        App::new("failure_limit = 2\ncooloff_time = \"1h\"\nenable_access_failure_log = true");
    app.fail_n(IP, "alice", 2).await;
    app.fail_n("192.0.2.11", "bob", 1).await; // one failure: not locked
    app.clock.advance(std::time::Duration::from_secs(60));
    let router = admin(&app);
    let (status, page) = get(&router, "/admin/axes/lockouts").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("1 found."), "{page}");
    assert!(page.contains(IP) && page.contains("alice"));
    assert!(!page.contains("bob"), "bob is not locked out");
    assert!(page.contains("too_many_failures"));
    assert!(page.contains("59m"), "about an hour left: {page}");
    // The chart: inline SVG of the failures (3) and the lockout (1).
    assert!(page.contains("<svg"), "{page}");
    assert!(
        page.contains("The last hour: 3 failures, 1 lockouts"),
        "{page}"
    );
    assert!(page.contains("id=\"reset-all\""), "a bulk reset");
}

#[tokio::test]
async fn a_bulk_reset_lifts_every_lockout_the_search_finds() {
    let app = App::new("failure_limit = 1");
    for i in 1..=3 {
        app.fail_n(&format!("192.0.2.{i}"), "alice", 1).await;
    }
    app.fail_n("192.0.2.9", "carol", 1).await;
    let router = admin(&app);
    let response = router
        .clone()
        .oneshot(
            Request::post("/admin/axes/reset-lockouts")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("host", "admin.example")
                .header("sec-fetch-site", "same-origin")
                .body(Body::from("ip=&username=alice"))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("/admin/axes/lockouts?message=3+lockouts+lifted"),
        "{location}"
    );
    for i in 1..=3 {
        assert_eq!(
            app.login(&format!("192.0.2.{i}"), "alice", "wonderland")
                .await,
            200
        );
    }
    assert_eq!(
        app.login("192.0.2.9", "carol", "x").await,
        429,
        "outside the search: still locked"
    );
    // A cross-site bulk reset is refused like any other.
    let response = router
        .oneshot(
            Request::post("/admin/axes/reset-lockouts")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("sec-fetch-site", "cross-site")
                .body(Body::from("ip=&username="))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.login("192.0.2.9", "carol", "x").await, 429);
}

#[tokio::test]
async fn listings_page_newest_first() {
    let app = App::new("failure_limit = 1");
    let total = axes::admin::PAGE_ROWS + 5;
    for i in 0..total {
        let ip = format!("10.1.{}.{}", i / 200, i % 200 + 1);
        app.fail_n(&ip, &format!("user{i}"), 1).await;
        app.clock.advance(std::time::Duration::from_millis(10));
    }
    let router = admin(&app);
    let (_, first) = get(&router, "/admin/axes/lockouts").await;
    assert!(
        first.contains(&format!("{total} found, newest first: page 1 of 2")),
        "{first}"
    );
    assert!(
        first.contains(&format!(">user{}<", total - 1)),
        "the newest first"
    );
    assert!(!first.contains(">user0<"));
    assert!(first.contains("rel=\"next\""));
    let (_, second) = get(&router, "/admin/axes/lockouts?page=2").await;
    assert!(second.contains(">user0<") && second.contains("rel=\"prev\""));
    assert_eq!(
        second.matches("<tr>").count(),
        1 + 5,
        "a header row and five"
    );
    let (status, json) = get(&router, "/admin/axes/api/lockouts?page=2").await;
    assert_eq!(status, StatusCode::OK);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn the_json_api_lists_and_resets() {
    let app = App::new("failure_limit = 2\ncooloff_time = \"10m\"");
    app.fail_n(IP, "alice", 2).await;
    app.fail_n("192.0.2.11", "bob", 1).await;
    let router = admin(&app);
    let (_, json) = get(&router, "/admin/axes/api/lockouts").await;
    let lockouts: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(lockouts.as_array().unwrap().len(), 1, "{json}");
    assert_eq!(lockouts[0]["ip_address"], IP);
    assert_eq!(lockouts[0]["username"], "alice");
    assert_eq!(lockouts[0]["reason"], "too_many_failures");
    assert_eq!(lockouts[0]["failures"], 2);
    assert!(lockouts[0]["seconds_left"].as_u64().unwrap() > 590);
    let (_, json) = get(&router, "/admin/axes/api/attempts?username=bob").await;
    let attempts: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(attempts[0]["failures"], 1);
    let (status, _) = get(&router, "/admin/axes/api/lockouts?ip=nope").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let api_reset = |content_type: &'static str, body: &'static str| {
        Request::post("/admin/axes/api/reset")
            .header("content-type", content_type)
            .body(Body::from(body))
            .unwrap()
    };
    // Form-encoded or text/plain (what a cross-site form can send): refused.
    for content_type in ["application/x-www-form-urlencoded", "text/plain"] {
        let response = router
            .clone()
            .oneshot(api_reset(content_type, r#"{"ip": "192.0.2.10"}"#))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    let response = router
        .clone()
        .oneshot(api_reset("application/json", "{}"))
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "no reset of everything by omission"
    );
    let mut cross = api_reset("application/json", r#"{"ip": "192.0.2.10"}"#);
    cross
        .headers_mut()
        .insert("sec-fetch-site", "cross-site".parse().unwrap());
    assert_eq!(
        router.clone().oneshot(cross).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.login(IP, "alice", "wonderland").await, 429);

    let response = router
        .clone()
        .oneshot(api_reset(
            "application/json; charset=utf-8",
            r#"{"ip": "192.0.2.10", "username": "alice"}"#,
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_text(response).await, r#"{"removed":1}"#);
    assert_eq!(app.login(IP, "alice", "wonderland").await, 200);
}

/// What Chromium sends with the admin's own reset form: `Sec-Fetch-Site:
/// same-origin` and, because the pages ask for no referrer, `Origin: null`.
#[tokio::test]
async fn a_browsers_own_form_with_origin_null_is_same_origin() {
    let app = App::new("failure_limit = 2");
    app.fail_n(IP, "alice", 2).await;
    let router = admin(&app);
    let response = router
        .clone()
        .oneshot(
            reset_request()
                .header("sec-fetch-site", "same-origin")
                .header("origin", "null")
                .body(Body::from(format!("ip={IP}")))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.login(IP, "alice", "wonderland").await, 200);
    // Without Sec-Fetch-Site, `Origin: null` is refused (the older test).
}

/// The order of `names` as they first appear on `page`.
fn order_of<'a>(page: &str, names: &[&'a str]) -> Vec<&'a str> {
    let mut found: Vec<(usize, &str)> = names
        .iter()
        .filter_map(|name| page.find(&format!(">{name}<")).map(|at| (at, *name)))
        .collect();
    found.sort();
    found.into_iter().map(|(_, name)| name).collect()
}

#[tokio::test]
async fn listings_sort_by_a_column_either_way() {
    let app = App::new("failure_limit = 10");
    let second = std::time::Duration::from_secs(1);
    app.fail_n("192.0.2.1", "alice", 3).await;
    app.clock.advance(second);
    app.fail_n("192.0.2.2", "bob", 1).await;
    app.clock.advance(second);
    app.fail_n("192.0.2.3", "carol", 2).await;
    let router = admin(&app);
    let names = ["alice", "bob", "carol"];
    let (_, page) = get(&router, "/admin/axes?sort=failures&dir=desc").await;
    assert_eq!(order_of(&page, &names), ["alice", "carol", "bob"]);
    assert!(page.contains("aria-sort=\"descending\""), "{page}");
    // The sorted column's header now sorts the other way.
    assert!(
        page.contains("href=\"?sort=failures&amp;dir=asc\""),
        "{page}"
    );
    let (_, page) = get(&router, "/admin/axes?sort=failures&dir=asc").await;
    assert_eq!(order_of(&page, &names), ["bob", "carol", "alice"]);
    let (_, page) = get(&router, "/admin/axes?sort=username&dir=asc").await;
    assert_eq!(order_of(&page, &names), ["alice", "bob", "carol"]);
    // A column that does not sort keeps the store's order, newest first.
    let (status, page) = get(&router, "/admin/axes?sort=password&dir=asc").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(order_of(&page, &names), ["carol", "bob", "alice"]);
}

#[tokio::test]
async fn filters_find_who_is_locked_now_by_reason_and_by_day() {
    let app = App::new("failure_limit = 2");
    app.fail_n(IP, "alice", 2).await;
    app.fail_n("192.0.2.11", "bob", 1).await;
    let router = admin(&app);
    let (_, page) = get(&router, "/admin/axes?locked=yes").await;
    assert!(
        page.contains("1 found.") && page.contains(">alice<"),
        "{page}"
    );
    let (_, page) = get(&router, "/admin/axes?locked=no").await;
    assert!(
        page.contains("1 found.") && page.contains(">bob<"),
        "{page}"
    );
    let (_, page) = get(&router, "/admin/axes?reason=too_many_failures").await;
    assert!(
        page.contains("1 found.") && page.contains(">alice<"),
        "{page}"
    );
    let (_, page) = get(&router, "/admin/axes/lockouts?reason=password_spray").await;
    assert!(page.contains("0 found."), "{page}");

    let day = |days_ahead: u64| {
        let at = app.axes.now() + std::time::Duration::from_secs(days_ahead * 86_400);
        humantime::format_rfc3339_seconds(at).to_string()[..10].to_owned()
    };
    let (today, tomorrow) = (day(0), day(1));
    let (_, page) = get(&router, &format!("/admin/axes?from={today}&to={today}")).await;
    assert!(page.contains("2 found."), "{page}");
    let (_, page) = get(&router, &format!("/admin/axes/lockouts?from={tomorrow}")).await;
    assert!(page.contains("0 found."), "{page}");
    let (status, page) = get(&router, "/admin/axes/access-logs?to=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("`to`"), "{page}");
}

#[tokio::test]
async fn times_read_relative_with_the_exact_time_on_hover() {
    let app = App::new("failure_limit = 2");
    app.fail_n(IP, "alice", 1).await;
    let at = humantime::format_rfc3339_seconds(app.axes.now()).to_string();
    app.clock.advance(std::time::Duration::from_secs(150));
    let (_, page) = get(&admin(&app), "/admin/axes").await;
    assert!(
        page.contains(&format!(
            "<time datetime=\"{at}\" title=\"{at}\">2 minutes ago</time>"
        )),
        "{page}"
    );
}

#[tokio::test]
async fn a_clients_page_shows_its_lockout_counters_history_and_logs() {
    for toml in [
        "failure_limit = 2",
        "failure_limit = 2\nenable_access_failure_log = true",
    ] {
        let app = App::new(toml);
        app.fail_n(IP, "alice", 2).await;
        app.fail_n("192.0.2.11", "bob", 1).await;
        let router = admin(&app);
        let (status, page) = get(&router, "/admin/axes/client?username=alice").await;
        assert_eq!(status, StatusCode::OK, "{toml}");
        assert!(page.contains("<h1>Client alice</h1>"), "{page}");
        let section = |id: &str| {
            let start = page
                .find(&format!("id=\"{id}\""))
                .unwrap_or_else(|| panic!("{id}: {page}"));
            let end = page[start..].find("</table>").unwrap() + start;
            page[start..end].to_owned()
        };
        assert!(section("locked").contains("too_many_failures"));
        assert!(section("counters").contains("<td class=\"n\">2</td>"));
        assert!(
            section("history").contains(">alice<"),
            "lockout history in any configuration"
        );
        assert!(!page.contains(">bob<"), "only alice's records");
        if toml.contains("failure_log") {
            assert_eq!(section("failures").matches("<tr>").count(), 1 + 2);
        } else {
            assert!(page.contains("The failure log is off"), "{page}");
        }
        // Its reset button lifts the lockout, and the page says so.
        let only = page
            .split("id=\"reset-client\" name=\"only\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap()
            .replace("&amp;", "&");
        let response = router
            .clone()
            .oneshot(
                Request::post("/admin/axes/reset-selected")
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("sec-fetch-site", "same-origin")
                    .body(Body::from(
                        form_urlencoded::Serializer::new(String::new())
                            .append_pair("only", &only)
                            .finish(),
                    ))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(app.login(IP, "alice", "wonderland").await, 200, "{toml}");
        let (_, page) = get(&router, "/admin/axes/client?username=alice").await;
        assert!(page.contains("id=\"not-locked\""), "{page}");
    }
    let app = App::new("");
    let (status, page) = get(&admin(&app), "/admin/axes/client").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("Name an IP address or a username"), "{page}");
}

fn selected(ip: &str, username: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("ip", ip)
        .append_pair("username", username)
        .finish()
}

async fn reset_selected(router: &Router, pairs: &[(&str, String)]) -> http::Response<Body> {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    router
        .clone()
        .oneshot(
            Request::post("/admin/axes/reset-selected")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("origin", "https://admin.example")
                .header("host", "admin.example")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn the_selected_rows_are_reset_together_and_only_they() {
    let app = App::new("failure_limit = 1");
    for (ip, name) in [
        ("192.0.2.1", "alice"),
        ("192.0.2.2", "bob"),
        ("192.0.2.3", "carol"),
    ] {
        app.fail_n(ip, name, 1).await;
    }
    let router = admin(&app);
    let (_, page) = get(&router, "/admin/axes/lockouts").await;
    assert_eq!(page.matches("type=\"checkbox\" name=\"select\"").count(), 3);
    assert!(page.contains("id=\"reset-selected\""));

    let response = reset_selected(
        &router,
        &[
            ("select", selected("192.0.2.1", "alice")),
            ("select", selected("192.0.2.2", "bob")),
            ("back", "lockouts".to_owned()),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()["location"],
        "/admin/axes/lockouts?message=2+reset%3A+2+attempts+removed."
    );
    assert_eq!(app.login("192.0.2.1", "alice", "wonderland").await, 200);
    assert_eq!(app.login("192.0.2.2", "bob", "builder").await, 200);
    assert_eq!(
        app.login("192.0.2.3", "carol", "x").await,
        429,
        "not selected"
    );

    // A row's own button resets that row only, whatever else is ticked;
    // a `back` that is not the admin's own page goes home instead.
    let response = reset_selected(
        &router,
        &[
            ("select", selected("192.0.2.9", "mallory")),
            ("only", selected("192.0.2.3", "carol")),
            ("back", "https://evil.example/".to_owned()),
        ],
    )
    .await;
    assert_eq!(
        response.headers()["location"],
        "/admin/axes?message=1+reset%3A+1+attempts+removed."
    );
    // A row of neither IP nor username never resets everything.
    app.fail_n("192.0.2.4", "dave", 1).await;
    let response = reset_selected(&router, &[("select", selected("", ""))]).await;
    assert_eq!(
        response.headers()["location"],
        "/admin/axes?message=Select+the+rows+to+reset."
    );
    assert!(!app
        .axes
        .attempts(AttemptFilter::All)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn the_chart_needs_no_failure_log() {
    let app = App::new("failure_limit = 2");
    app.fail_n(IP, "alice", 2).await;
    let (_, page) = get(&admin(&app), "/admin/axes/lockouts").await;
    assert!(
        page.contains("The last hour: 2 failures, 1 lockouts"),
        "{page}"
    );
    assert!(
        page.contains("The last day: 2 failures, 1 lockouts"),
        "{page}"
    );
    assert!(page.contains("Seen by this server"), "{page}");
}
