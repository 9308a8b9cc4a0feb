//! Defenses beyond django-axes, over HTTP: each test shows the attack it
//! answers failing.

use std::sync::Arc;
use std::time::Duration;

use crate::common::{body_text, json_request, App};
use axes::{AttemptFilter, AxesConfig};
use serde_json::json;

#[tokio::test]
async fn addresses_rotated_inside_one_ipv6_64_are_locked_as_one() {
    let app = App::new("ipv6_prefix_length = 64\nfailure_limit = 300");
    let mut statuses = Vec::new();
    for i in 0..300u32 {
        let ip = format!("2001:db8:1:2:{:x}:{:x}::1", i >> 8, i & 0xff);
        statuses.push(app.login(&ip, "alice", "wrong").await.as_u16());
    }
    assert!(statuses[..299].iter().all(|s| *s == 403));
    assert_eq!(
        statuses[299], 429,
        "the 300th address of the /64 reaches the limit"
    );
    assert_eq!(
        app.login("2001:db8:1:2:ffff::9", "alice", "wonderland")
            .await,
        429
    );
    assert_eq!(
        app.login("2001:db8:1:3::9", "alice", "wonderland").await,
        200,
        "the next /64 is another client"
    );
    // Reset by any address of the prefix lifts it.
    app.axes
        .reset(AttemptFilter::Ip("2001:db8:1:2::77".parse().unwrap()))
        .await
        .unwrap();
    assert_eq!(
        app.login("2001:db8:1:2:ffff::9", "alice", "wonderland")
            .await,
        200
    );
}

#[tokio::test]
async fn without_prefix_grouping_each_ipv6_address_counts_alone() {
    let app = App::new("failure_limit = 2\nipv6_prefix_length = 128");
    for i in 0..5u32 {
        let ip = format!("2001:db8:1:2::{i:x}");
        assert_eq!(app.login(&ip, "alice", "wrong").await, 403);
    }
}

#[tokio::test]
async fn ipv4_mapped_clients_are_never_masked_into_one_bucket() {
    let app = App::new("ipv6_prefix_length = 64\nfailure_limit = 2");
    assert_eq!(app.login("::ffff:192.0.2.1", "alice", "wrong").await, 403);
    assert_eq!(app.login("::ffff:192.0.2.2", "alice", "wrong").await, 403);
    assert_eq!(
        app.login("::ffff:192.0.2.3", "alice", "wonderland").await,
        200
    );
}

#[tokio::test]
async fn username_variants_count_as_one_account_with_normalization() {
    let app = App::new("lockout_parameters = [\"username\"]\nusername_normalization = \"nfkc_casefold\"\nfailure_limit = 3");
    for (ip, variant) in [
        ("192.0.2.1", "Alice"),
        ("192.0.2.2", " alice "),
        ("192.0.2.3", "ａｌｉｃｅ"),
    ] {
        let response = app
            .send(json_request(
                ip,
                "/login",
                json!({"username": variant, "password": "x"}),
            ))
            .await;
        assert_ne!(response.status(), 200, "{variant:?}");
    }
    // Every variant is now refused before the handler runs.
    let calls = app.calls();
    for variant in ["ALICE", "alice", "ＡＬＩＣＥ"] {
        let response = app
            .send(json_request(
                "192.0.2.9",
                "/login",
                json!({"username": variant, "password": "wonderland"}),
            ))
            .await;
        assert_eq!(response.status(), 429, "{variant:?}");
    }
    assert_eq!(app.calls(), calls);
    assert_eq!(
        app.axes
            .attempts(AttemptFilter::Username("ALICE".into()))
            .await
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn without_normalization_variants_escape_the_username_count() {
    let app = App::new("lockout_parameters = [\"username\"]\nfailure_limit = 2");
    for variant in ["Alice", "ALICE", "aLiCe"] {
        let response = app
            .send(json_request(
                "192.0.2.1",
                "/login",
                json!({"username": variant, "password": "x"}),
            ))
            .await;
        assert_eq!(response.status(), 403);
    }
}

#[tokio::test]
async fn indistinguishable_lockouts_look_like_a_wrong_password() {
    let app = App::new("lockout_parameters = [\"username\"]\nfailure_limit = 2\ncooloff_time = \"1h\"\nenable_retry_after_header = true\nlockout_response = \"indistinguishable\"\nbad_credentials_status = 403");
    let attempt = |user: &'static str, password: &'static str| {
        app.send(json_request(
            "192.0.2.1",
            "/login",
            json!({"username": user, "password": password}),
        ))
    };
    let wrong = attempt("alice", "wrong").await;
    let (status, headers) = (wrong.status(), wrong.headers().clone());
    let wrong_body = body_text(wrong).await;
    attempt("alice", "wrong").await;
    // Locked now: the right password gets the wrong-password answer.
    let locked = attempt("alice", "wonderland").await;
    assert_eq!(locked.status(), status);
    assert_eq!(
        locked.headers().get("content-type"),
        headers.get("content-type")
    );
    assert!(locked.headers().get("retry-after").is_none());
    assert_eq!(body_text(locked).await, wrong_body);
    // Existing and missing users look the same once locked.
    attempt("nobody", "wrong").await;
    attempt("nobody", "wrong").await;
    let missing = attempt("nobody", "x").await;
    let existing = attempt("alice", "x").await;
    assert_eq!(missing.status(), existing.status());
    assert_eq!(body_text(missing).await, body_text(existing).await);
}

#[tokio::test]
async fn the_default_lockout_answer_is_the_same_for_existing_and_missing_users() {
    let app = App::new("lockout_parameters = [\"username\"]\nfailure_limit = 1");
    let form = |user: &str| {
        crate::common::raw_request(
            "192.0.2.1",
            "POST",
            "/login",
            "application/x-www-form-urlencoded",
            format!("username={user}&password=x"),
        )
    };
    let existing = app.send(form("alice")).await;
    let missing = app.send(form("nobody")).await;
    assert_eq!(existing.status(), missing.status());
    assert_eq!(existing.headers(), missing.headers());
    assert_eq!(body_text(existing).await, body_text(missing).await);
}

#[test]
fn contradictory_settings_are_errors_naming_the_keys() {
    let err = AxesConfig::from_toml_str("ipware_proxy_count = 1").unwrap_err();
    assert_eq!(err.key, "ipware_proxy_count");
    let err = AxesConfig::from_toml_str("only_whitelist = true").unwrap_err();
    assert_eq!(err.key, "only_whitelist");
}

#[test]
fn dangerous_settings_are_warned_about() {
    let config = AxesConfig::from_toml_str(
        r#"
        ip_whitelist = ["0.0.0.0/0"]
        never_lockout_whitelist = true
        ipware_meta_precedence_order = ["X-Forwarded-For"]
        lockout_tiers = [{ failures = 6, cooloff = "1m" }, { failures = 3, cooloff = "1h" }]
        "#,
    )
    .unwrap();
    let warnings = axes::config::config_warnings(&config);
    let keys: Vec<_> = warnings.iter().flat_map(|w| w.keys.clone()).collect();
    for key in [
        "ip_whitelist",
        "ipware_meta_precedence_order",
        "lockout_tiers",
    ] {
        assert!(keys.contains(&key), "{key}: {warnings:?}");
    }
    // django-axes' default counts by address only: nothing caps the
    // failures on one account, as NIST SP 800-63B-4 asks.
    let default = axes::config::config_warnings(&AxesConfig::default());
    assert_eq!(default.len(), 1, "{default:?}");
    assert_eq!(default[0].keys, ["lockout_parameters"]);
    assert!(default[0].message.contains("NIST SP 800-63B-4"));
    let capped = |toml: &str| {
        axes::config::config_warnings(&AxesConfig::from_toml_str(toml).unwrap())
            .into_iter()
            .filter(|w| w.message.contains("NIST"))
            .count()
    };
    // An account's failures are capped: permanently at the limit, or after
    // a bounded number of temporary lockouts.
    assert_eq!(
        capped(r#"lockout_parameters = ["ip_address", "username"]"#),
        0
    );
    assert_eq!(
        capped("lockout_parameters = [\"ip_address\", [\"username\", \"ip_address\"]]\ncooloff_time = \"15m\"\nmax_temporary_lockouts = 9\nfailure_limit = 10"),
        0
    );
    // Cool-offs that forgive without end, or a cap above 100.
    assert_eq!(
        capped("lockout_parameters = [\"ip_address\", \"username\"]\ncooloff_time = \"15m\""),
        1
    );
    assert_eq!(
        capped("lockout_parameters = [\"ip_address\", \"username\"]\nfailure_limit = 101"),
        1
    );
}

#[tokio::test]
async fn a_password_spray_is_locked_at_the_spray_limit() {
    // 50 usernames, one wrong password each, from one address: counted by
    // username, none reaches the limit of 3, but the spray limit of 10
    // distinct usernames in 10 minutes catches it.
    let app = App::new("failure_limit = 3\nlockout_parameters = [\"username\"]\nspray_limit = { distinct_usernames = 10, window = \"10m\" }");
    let mut statuses = Vec::new();
    for i in 0..50 {
        statuses.push(
            app.login("192.0.2.1", &format!("user{i}"), "wrong")
                .await
                .as_u16(),
        );
    }
    assert!(statuses[..10].iter().all(|s| *s == 403), "{statuses:?}");
    assert_eq!(
        statuses[10], 429,
        "the 11th distinct username trips the spray limit"
    );
    assert!(statuses[11..].iter().all(|s| *s == 429));
    assert_eq!(app.calls(), 11, "the rest never reached the handler");
    assert_eq!(
        app.login("192.0.2.2", "user5", "wrong").await,
        403,
        "another address is not affected"
    );
    app.clock.advance(std::time::Duration::from_secs(601));
    assert_eq!(
        app.login("192.0.2.1", "alice", "wonderland").await,
        200,
        "the spray lock ends with its window"
    );
}

#[tokio::test]
async fn without_a_spray_limit_the_spray_goes_through() {
    let app = App::new("failure_limit = 3\nlockout_parameters = [\"username\"]");
    for i in 0..50 {
        assert_eq!(
            app.login("192.0.2.1", &format!("user{i}"), "wrong").await,
            403
        );
    }
    assert_eq!(app.calls(), 50, "every guess reached the handler");
}

#[tokio::test]
async fn failures_in_quick_succession_lock_at_once_for_a_short_wait() {
    let app = App::new(
        "failure_limit = 10\nmin_interval_between_failures = \"1s\"\nquick_failure_wait = \"30s\"",
    );
    assert_eq!(app.login("192.0.2.1", "alice", "wrong").await, 403);
    app.clock.advance(std::time::Duration::from_millis(1500));
    assert_eq!(
        app.login("192.0.2.1", "alice", "wrong").await,
        403,
        "1.5 s apart: a human"
    );
    app.clock.advance(std::time::Duration::from_millis(200));
    assert_eq!(
        app.login("192.0.2.1", "alice", "wrong").await,
        429,
        "0.2 s apart: a script"
    );
    app.clock.advance(std::time::Duration::from_secs(29));
    assert_eq!(
        app.login("192.0.2.1", "alice", "wonderland").await,
        429,
        "the wait is 30 s"
    );
    app.clock.advance(std::time::Duration::from_secs(2));
    assert_eq!(app.login("192.0.2.1", "alice", "wonderland").await, 200);
    // A reset lifts it too.
    app.login("192.0.2.1", "alice", "wrong").await;
    app.login("192.0.2.1", "alice", "wrong").await;
    assert_eq!(app.login("192.0.2.1", "alice", "wonderland").await, 429);
    app.axes
        .reset(AttemptFilter::Ip("192.0.2.1".parse().unwrap()))
        .await
        .unwrap();
    assert_eq!(app.login("192.0.2.1", "alice", "wonderland").await, 200);
}

#[tokio::test]
async fn a_trusted_client_logs_in_while_its_username_is_locked() {
    let app = App::new(
        "lockout_parameters = [\"username\"]\nfailure_limit = 3\ntrusted_client_window = \"30d\"",
    );
    // Alice logs in from her laptop.
    assert_eq!(app.login("192.0.2.50", "alice", "wonderland").await, 200);
    app.clock.advance(std::time::Duration::from_secs(86_400));
    // An attacker locks her username from elsewhere.
    for ip in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        app.login(ip, "alice", "guess").await;
    }
    assert_eq!(
        app.login("203.0.113.4", "alice", "wonderland").await,
        429,
        "untrusted: refused"
    );
    // Her laptop (same IP and user agent) still gets in.
    assert_eq!(app.login("192.0.2.50", "alice", "wonderland").await, 200);
    // A typo on the trusted laptop is an ordinary wrong password.
    assert_eq!(app.login("192.0.2.50", "alice", "typo").await, 403);
    // The same address with another user agent is not trusted.
    let mut request = json_request(
        "192.0.2.50",
        "/login",
        json!({"username": "alice", "password": "wonderland"}),
    );
    crate::common::set_header(&mut request, "user-agent", b"other-browser/2.0");
    assert_eq!(app.send(request).await.status(), 429);
    // Trust expires with the window.
    app.clock
        .advance(std::time::Duration::from_secs(31 * 86_400));
    for ip in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        app.login(ip, "alice", "guess").await;
    }
    assert_eq!(app.login("192.0.2.50", "alice", "wonderland").await, 429);
}

/// One app server of several sharing `store` and `clock`, with its own
/// engine keyed by `secret`.
fn app_server(
    toml: &str,
    store: &Arc<dyn axes::Store>,
    clock: &axes::ManualClock,
    secret: &str,
) -> App {
    let axes = axes::Axes::builder(AxesConfig::from_toml_str(toml).unwrap(), store.clone())
        .secret(secret)
        .clock(clock.clone())
        .build();
    App::with_axes(axes, clock.clone())
}

/// Alice logs in from `ip` with `cookie` (if any); the response's status and
/// the device cookie it sets (the `name=value` part).
async fn login_with_cookie(
    app: &App,
    ip: &str,
    password: &str,
    cookie: Option<&str>,
) -> (u16, Option<String>) {
    let mut request = json_request(
        ip,
        "/login",
        json!({"username": "alice", "password": password}),
    );
    if let Some(cookie) = cookie {
        crate::common::set_header(&mut request, "cookie", cookie.as_bytes());
    }
    let response = app.send(request).await;
    let set = response
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
    (response.status().as_u16(), set)
}

#[tokio::test]
async fn a_device_cookie_lets_the_device_through_a_username_lockout_from_anywhere() {
    let app = App::new(
        "lockout_parameters = [\"username\"]\nfailure_limit = 3\ntrusted_client_window = \"30d\"\ndevice_cookie = \"axes_device\"",
    );
    let (status, cookie) = login_with_cookie(&app, "192.0.2.50", "wonderland", None).await;
    assert_eq!(status, 200);
    let cookie = cookie.expect("a success sets the device cookie");
    assert!(cookie.starts_with("axes_device="));
    assert!(!cookie.contains("alice"), "the token names no username");
    // An attacker locks her username.
    for ip in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        app.login(ip, "alice", "guess").await;
    }
    // Her phone, on a new network and another user agent, has the cookie.
    let (status, renewed) =
        login_with_cookie(&app, "198.51.100.7", "wonderland", Some(&cookie)).await;
    assert_eq!(status, 200, "the trusted device gets in from anywhere");
    assert!(renewed.is_some(), "and its cookie is renewed");
    // Without it, or with a forged one, the lockout holds (from an address
    // whose own logins would not make it trusted either).
    assert_eq!(
        login_with_cookie(&app, "198.51.100.8", "wonderland", None)
            .await
            .0,
        429
    );
    let last = if cookie.ends_with('0') { "1" } else { "0" };
    let forged = format!("{}{last}", &cookie[..cookie.len() - 1]);
    assert_eq!(
        login_with_cookie(&app, "198.51.100.8", "wonderland", Some(&forged))
            .await
            .0,
        429
    );
    // The cookie vouches for alice only: bob's lockout is not lifted by it.
    for ip in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        app.login(ip, "bob", "guess").await;
    }
    let mut request = json_request(
        "198.51.100.7",
        "/login",
        json!({"username": "bob", "password": "builder"}),
    );
    crate::common::set_header(&mut request, "cookie", cookie.as_bytes());
    assert_eq!(app.send(request).await.status(), 429);
    // Trust ends with the window.
    app.clock
        .advance(std::time::Duration::from_secs(31 * 86_400));
    for ip in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        app.login(ip, "alice", "guess").await;
    }
    assert_eq!(
        login_with_cookie(&app, "198.51.100.7", "wonderland", Some(&cookie))
            .await
            .0,
        429
    );
}

#[tokio::test]
async fn device_cookies_from_another_engine_are_not_trusted_unless_it_shares_the_key() {
    let toml = "lockout_parameters = [\"username\"]\nfailure_limit = 1\ntrusted_client_window = \"30d\"\ndevice_cookie = \"axes_device\"";
    let store: Arc<dyn axes::Store> = Arc::new(axes::MemoryStore::new());
    let clock = axes::ManualClock::new();
    let app = |secret: &str| app_server(toml, &store, &clock, secret);
    let (first, same_key, other_key) = (app("key one"), app("key one"), app("key two"));
    let (_, cookie) = login_with_cookie(&first, "192.0.2.50", "wonderland", None).await;
    let cookie = cookie.unwrap();
    first.login("203.0.113.1", "alice", "guess").await;
    assert_eq!(
        login_with_cookie(&same_key, "198.51.100.7", "wonderland", Some(&cookie))
            .await
            .0,
        200
    );
    assert_eq!(
        login_with_cookie(&other_key, "198.51.100.8", "wonderland", Some(&cookie))
            .await
            .0,
        429
    );
}

#[tokio::test]
async fn device_cookie_needs_a_trust_window_and_a_valid_name() {
    let err = AxesConfig::from_toml_str("device_cookie = \"axes_device\"").unwrap_err();
    assert_eq!(err.key, "device_cookie");
    let err =
        AxesConfig::from_toml_str("trusted_client_window = \"30d\"\ndevice_cookie = \"bad name;\"")
            .unwrap_err();
    assert_eq!(err.key, "device_cookie");
}

#[tokio::test]
async fn trust_does_not_lift_an_ip_lockout() {
    let app = App::new("lockout_parameters = [\"username\", \"ip_address\"]\nfailure_limit = 2\ntrusted_client_window = \"30d\"");
    assert_eq!(app.login("192.0.2.50", "alice", "wonderland").await, 200);
    app.login("192.0.2.50", "bob", "wrong").await;
    app.login("192.0.2.50", "carol", "wrong").await;
    assert_eq!(
        app.login("192.0.2.50", "alice", "wonderland").await,
        429,
        "the IP itself is locked"
    );
}

/// The `Retry-After` of a wrong-password attempt by `ip`, or `None` if it
/// was not refused.
async fn retry_after_of_failure(app: &App, ip: &str) -> Option<u64> {
    let response = app
        .send(json_request(
            ip,
            "/login",
            json!({"username": "alice", "password": "wrong"}),
        ))
        .await;
    (response.status() == 429).then(|| {
        response
            .headers()
            .get("retry-after")
            .map_or(0, |v| v.to_str().unwrap().parse().unwrap())
    })
}

#[tokio::test]
async fn repeated_lockouts_back_off_exponentially_up_to_the_cap() {
    let app = App::new(
        "failure_limit = 2\ncooloff_time = \"10s\"\ncooloff_backoff = { factor = 2.0, max = \"35s\" }\nenable_retry_after_header = true",
    );
    let ip = "192.0.2.40";
    let mut lockouts = Vec::new();
    for _ in 0..4 {
        assert_eq!(retry_after_of_failure(&app, ip).await, None);
        let retry_after = retry_after_of_failure(&app, ip).await.expect("locked");
        lockouts.push(retry_after);
        app.clock
            .advance(Duration::from_secs(retry_after) - Duration::from_millis(1));
        assert_eq!(
            app.login(ip, "alice", "wonderland").await,
            429,
            "still locked just before the end"
        );
        app.clock.advance(Duration::from_millis(2));
    }
    assert_eq!(lockouts, [10, 20, 35, 35], "10 s, doubled, then capped");
}

#[tokio::test]
async fn lockout_history_is_forgotten_after_the_history_window() {
    let app = App::new(
        "failure_limit = 1\ncooloff_time = \"10s\"\ncooloff_backoff = { factor = 3.0, max = \"1h\" }\nlockout_history = \"1h\"\nenable_retry_after_header = true",
    );
    let ip = "192.0.2.41";
    assert_eq!(retry_after_of_failure(&app, ip).await, Some(10));
    app.clock.advance(Duration::from_secs(11));
    assert_eq!(retry_after_of_failure(&app, ip).await, Some(30));
    app.clock.advance(Duration::from_secs(3601));
    assert_eq!(
        retry_after_of_failure(&app, ip).await,
        Some(10),
        "an hour after the last lockout began, the count starts over"
    );
}

#[tokio::test]
async fn after_max_temporary_lockouts_the_next_lasts_until_reset() {
    permanent_after_temporary_lockouts(App::new(
        "failure_limit = 2\ncooloff_time = \"10s\"\nmax_temporary_lockouts = 2\nenable_retry_after_header = true",
    ))
    .await;
}

#[tokio::test]
async fn permanent_lockouts_hold_in_the_sqlite_store_too() {
    let store = axes::SqliteStore::connect("sqlite::memory:").await.unwrap();
    permanent_after_temporary_lockouts(App::with_store(
        "failure_limit = 2\ncooloff_time = \"10s\"\nmax_temporary_lockouts = 2\nenable_retry_after_header = true",
        store,
    ))
    .await;
}

async fn permanent_after_temporary_lockouts(app: App) {
    let ip = "192.0.2.42";
    for _ in 0..2 {
        assert_eq!(retry_after_of_failure(&app, ip).await, None);
        assert_eq!(retry_after_of_failure(&app, ip).await, Some(10));
        app.clock.advance(Duration::from_secs(11));
        assert_eq!(app.login(ip, "alice", "wonderland").await, 200);
    }
    assert_eq!(retry_after_of_failure(&app, ip).await, None);
    assert_eq!(
        retry_after_of_failure(&app, ip).await,
        Some(0),
        "the third lockout is permanent: no Retry-After"
    );
    let response = app
        .send(json_request(
            ip,
            "/login",
            json!({"username": "alice", "password": "wonderland"}),
        ))
        .await;
    assert_eq!(response.status(), 429);
    assert!(body_text(response).await.contains("Contact an admin"));
    // Days pass; other clients' failures trigger purges of expired entries.
    for day in 0..3 {
        app.clock.advance(Duration::from_secs(24 * 3600));
        app.login(&format!("192.0.2.{}", 100 + day), "bob", "wrong")
            .await;
    }
    assert_eq!(
        app.login(ip, "alice", "wonderland").await,
        429,
        "no purge forgets it"
    );
    app.axes
        .reset(AttemptFilter::Ip(ip.parse().unwrap()))
        .await
        .unwrap();
    assert_eq!(
        app.login(ip, "alice", "wonderland").await,
        200,
        "a reset lifts it"
    );
    assert_eq!(retry_after_of_failure(&app, ip).await, None);
    assert_eq!(
        retry_after_of_failure(&app, ip).await,
        Some(10),
        "and forgets the history"
    );
}

#[tokio::test]
async fn jitter_spreads_unlock_times_but_keeps_each_one_stable() {
    let app = App::new(
        "failure_limit = 1\ncooloff_time = \"10s\"\ncooloff_jitter = \"20s\"\nenable_retry_after_header = true",
    );
    let mut ends = Vec::new();
    for i in 0..20 {
        let ip = format!("192.0.2.{}", 50 + i);
        let first = retry_after_of_failure(&app, &ip).await.expect("locked");
        assert!(
            (10..=30).contains(&first),
            "{first} s is within cool-off + jitter"
        );
        let again = app
            .send(json_request(
                &ip,
                "/login",
                json!({"username": "alice", "password": "wonderland"}),
            ))
            .await;
        assert_eq!(
            again.headers()["retry-after"].to_str().unwrap(),
            first.to_string(),
            "the same lockout keeps its end"
        );
        ends.push(first);
    }
    ends.sort();
    ends.dedup();
    assert!(ends.len() >= 5, "unlock times spread: {ends:?}");
}

#[tokio::test]
async fn escalation_works_with_tiers() {
    let app = App::new(
        "lockout_tiers = [{ failures = 2, cooloff = \"10s\" }, { failures = 4, cooloff = \"100s\" }]\ncooloff_backoff = { factor = 3.0, max = \"1h\" }\nreset_cool_off_on_failure_during_lockout = true\nenable_retry_after_header = true",
    );
    let ip = "192.0.2.43";
    assert_eq!(retry_after_of_failure(&app, ip).await, None);
    assert_eq!(retry_after_of_failure(&app, ip).await, Some(10), "tier 1");
    // Two more attempts while locked are recorded: the second tier begins,
    // its own lockout, backed off from the base cool-off (10 s × 3) but
    // no shorter than its tier (100 s).
    assert_eq!(retry_after_of_failure(&app, ip).await, Some(10));
    assert_eq!(retry_after_of_failure(&app, ip).await, Some(100), "tier 2");
    app.clock.advance(Duration::from_secs(101));
    assert_eq!(retry_after_of_failure(&app, ip).await, None);
    assert_eq!(
        retry_after_of_failure(&app, ip).await,
        Some(90),
        "the third lockout: 10 s × 3²"
    );
}

#[tokio::test]
async fn escalation_settings_need_a_cooloff() {
    for key in [
        "cooloff_backoff = { factor = 2.0, max = \"1h\" }",
        "cooloff_jitter = \"1s\"",
        "max_temporary_lockouts = 3",
    ] {
        let err = AxesConfig::from_toml_str(key).unwrap_err();
        assert_eq!(err.key, key.split(' ').next().unwrap());
    }
    let err = AxesConfig::from_toml_str(
        "cooloff_time = \"1m\"\ncooloff_backoff = { factor = 0.5, max = \"1h\" }",
    )
    .unwrap_err();
    assert_eq!(err.key, "cooloff_backoff");
    let err = AxesConfig::from_toml_str(
        "cooloff_time = \"1m\"\ncooloff_backoff = { factor = 2.0, max = \"2d\" }",
    )
    .unwrap_err();
    assert_eq!(err.key, "lockout_history");
}

#[tokio::test]
async fn engines_with_one_secret_agree_on_every_jittered_unlock_time() {
    let toml = "failure_limit = 1\ncooloff_time = \"10s\"\ncooloff_jitter = \"20s\"\nenable_retry_after_header = true";
    let store: Arc<dyn axes::Store> = Arc::new(axes::MemoryStore::new());
    let clock = axes::ManualClock::new();
    let engine = |secret: &str| app_server(toml, &store, &clock, secret);
    let (first, same, other) = (engine("fleet key"), engine("fleet key"), engine("another"));
    let retry_after = |app: &App, ip: String| {
        let app = app.router.clone();
        async move {
            let request =
                json_request(&ip, "/login", json!({"username": "alice", "password": "x"}));
            let response = tower::ServiceExt::oneshot(app, request).await.unwrap();
            response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .to_owned()
        }
    };
    let mut differs = false;
    for i in 0..10 {
        let ip = format!("192.0.2.{}", 200 + i);
        let locked = retry_after(&first, ip.clone()).await;
        assert_eq!(
            retry_after(&same, ip.clone()).await,
            locked,
            "same secret, same end"
        );
        differs |= retry_after(&other, ip).await != locked;
    }
    assert!(differs, "another secret draws other delays");
}

/// With `lockout_response = "indistinguishable"`, no request a client can
/// send to a wrapped route tells a locked username from an open one —
/// served over TCP, the layer on the whole method router (its 405 fallback
/// included): every method, bodies that are malformed, partial or too
/// long, missing and empty fields, and the wrong password. Each probe is
/// sent for alice (locked) and for a username never tried (open); status,
/// headers (but `date`) and body must be the same.
#[tokio::test]
async fn indistinguishable_mode_answers_every_probe_alike() {
    let app = App::new(
        "lockout_parameters = [\"username\"]\nfailure_limit = 3\nlockout_response = \"indistinguishable\"",
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app.router.clone();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
    });
    let send = |method: &str, content_type: &str, body: String| {
        let request = format!(
            "{method} /login HTTP/1.1\r\nhost: probe\r\ncontent-type: {content_type}\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        async move {
            let answer = crate::common::process::exchange(addr, Some("127.0.0.7"), &request)
                .await
                .expect("an answer");
            let head: Vec<String> = answer
                .head
                .lines()
                .filter(|line| !line.to_ascii_lowercase().starts_with("date:"))
                .map(str::to_owned)
                .collect();
            (head, answer.body)
        }
    };
    let json = "application/json";
    let wrong = |user: &str| json!({"username": user, "password": "wrong"}).to_string();
    for _ in 0..3 {
        send("POST", json, wrong("alice")).await;
    }
    assert_eq!(
        app.login("192.0.2.99", "alice", "wonderland").await,
        403,
        "alice is locked: the right password is a wrong one"
    );
    let long = "p".repeat(4000);
    /// A probe: its method, its content type, its body for a username.
    type Probe<'a> = (&'a str, &'a str, Box<dyn Fn(&str) -> String>);
    let probes: Vec<Probe> = vec![
        ("POST", json, Box::new(wrong)),
        (
            "POST",
            json,
            Box::new(|u| json!({"username": u}).to_string()),
        ),
        (
            "POST",
            json,
            Box::new(|u| json!({"username": u, "password": ""}).to_string()),
        ),
        (
            "POST",
            json,
            Box::new(move |u| json!({"username": u, "password": long}).to_string()),
        ),
        (
            "POST",
            json,
            Box::new(|u| format!(r#"{{"username": "{u}", "password": "#)),
        ),
        ("POST", json, Box::new(|u| json!([u]).to_string())),
        (
            "POST",
            "application/x-www-form-urlencoded",
            Box::new(|u| format!("username={u}&password=x")),
        ),
        ("POST", "text/plain", Box::new(|u| format!("username={u}"))),
        ("GET", json, Box::new(wrong)),
        ("HEAD", json, Box::new(wrong)),
        ("PUT", json, Box::new(wrong)),
        ("OPTIONS", json, Box::new(wrong)),
        (
            "DELETE",
            json,
            Box::new(|u| json!({"username": u}).to_string()),
        ),
        ("PATCH", json, Box::new(wrong)),
    ];
    for (n, (method, content_type, body)) in probes.iter().enumerate() {
        let open = format!("carol{n}");
        let locked = send(method, content_type, body("alice")).await;
        let unlocked = send(method, content_type, body(&open)).await;
        assert_eq!(locked, unlocked, "probe {n}: {method} {content_type}");
    }
}

/// Log lines name no client by default: the usernames and addresses
/// `sensitive_parameters` names are stable pseudonyms (`~` and a keyed
/// hash), the same client the same one; `log_in_clear = true` names them.
#[test]
fn log_lines_mask_clients_unless_asked_not_to() {
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let logged = |policy: &str| {
        let lines = Lines::default();
        let sink = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("axes=debug")
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish();
        let app = App::new(policy);
        tracing::subscriber::with_default(subscriber, || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                for _ in 0..3 {
                    app.login("198.51.100.77", "alice", "wrong").await;
                }
                app.login("198.51.100.77", "alice", "wonderland").await;
            });
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        text
    };
    let masked = logged("failure_limit = 3");
    assert!(masked.contains("client locked out"), "{masked}");
    assert!(
        !masked.contains("alice") && !masked.contains("198.51.100.77"),
        "{masked}"
    );
    let pseudonyms: std::collections::BTreeSet<&str> = masked
        .split_whitespace()
        .filter_map(|word| word.strip_prefix("username="))
        .collect();
    assert_eq!(
        pseudonyms.len(),
        1,
        "one client, one pseudonym: {pseudonyms:?}"
    );
    assert!(pseudonyms
        .iter()
        .all(|p| p.starts_with('~') && p.len() == 9));
    let clear = logged("failure_limit = 3\nlog_in_clear = true");
    assert!(
        clear.contains("\"alice\"") && clear.contains("198.51.100.77"),
        "{clear}"
    );
}
