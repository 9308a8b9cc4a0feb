//! Every policy setting of the core, driven over HTTP through `AxesLayer`.

use std::time::Duration;

use crate::common::{body_text, json_request, raw_request, App};
use axes::{AttemptFilter, AxesEvent, LockoutReason};
use axum::http::StatusCode;
use serde_json::json;

const IP: &str = "192.0.2.10";
const OTHER_IP: &str = "192.0.2.20";

#[tokio::test]
async fn the_failure_that_reaches_the_limit_is_answered_with_the_lockout() {
    let app = App::new("failure_limit = 3");
    assert_eq!(app.fail_n(IP, "alice", 3).await, [403, 403, 429]);
    assert_eq!(app.calls(), 3);
    // Locked: refused before the handler runs, even with the right password.
    assert_eq!(app.login(IP, "alice", "wonderland").await, 429);
    assert_eq!(app.login(IP, "bob", "builder").await, 429);
    assert_eq!(app.calls(), 3, "the handler never ran for a locked client");
    // Other clients are untouched.
    assert_eq!(app.login(OTHER_IP, "alice", "wonderland").await, 200);
}

#[tokio::test]
async fn failure_limit_of_one_locks_on_the_first_failure() {
    let app = App::new("failure_limit = 1");
    assert_eq!(app.fail_n(IP, "alice", 1).await, [429]);
    assert_eq!(app.login(IP, "alice", "wonderland").await, 429);
}

#[tokio::test]
async fn defaults_lock_by_ip_after_three_failures_until_reset() {
    let app = App::new("");
    assert_eq!(app.fail_n(IP, "alice", 3).await, [403, 403, 429]);
    app.clock.advance(Duration::from_secs(365 * 24 * 3600));
    assert_eq!(
        app.login(IP, "alice", "wonderland").await,
        429,
        "no cool-off: permanent"
    );
    let response = app.send(json_request(IP, "/login", json!({}))).await;
    assert!(body_text(response).await.contains("Contact an admin"));
    assert_eq!(
        app.axes
            .reset(AttemptFilter::Ip(IP.parse().unwrap()))
            .await
            .unwrap(),
        1
    );
    assert_eq!(app.login(IP, "alice", "wonderland").await, 200);
}

#[tokio::test]
async fn lock_out_at_failure_false_records_but_never_locks() {
    let app = App::new("lock_out_at_failure = false");
    assert_eq!(app.fail_n(IP, "alice", 6).await, [403; 6]);
    assert_eq!(app.login(IP, "alice", "wonderland").await, 200);
    let attempts = app.axes.attempts(AttemptFilter::All).await.unwrap();
    assert_eq!(attempts[0].failures, 6);
}

#[tokio::test]
async fn cooloff_expires_the_lockout_and_the_count() {
    let app = App::new("failure_limit = 3\ncooloff_time = \"2s\"");
    assert_eq!(app.fail_n(IP, "alice", 3).await, [403, 403, 429]);
    app.clock.advance(Duration::from_secs(2));
    assert_eq!(
        app.login(IP, "alice", "wonderland").await,
        429,
        "the boundary still counts"
    );
    app.clock.advance(Duration::from_millis(1));
    assert_eq!(app.login(IP, "alice", "wonderland").await, 200);
    // The count starts again from zero.
    assert_eq!(app.fail_n(IP, "alice", 2).await, [403, 403]);
    let response = app
        .send(json_request(
            IP,
            "/login",
            json!({"username": "alice", "password": "x"}),
        ))
        .await;
    assert_eq!(response.status(), 429);
    assert!(body_text(response).await.contains("try again later"));
}

#[tokio::test]
async fn cooloff_also_expires_failures_below_the_limit() {
    let app = App::new("failure_limit = 3\ncooloff_time = \"1s\"");
    assert_eq!(app.fail_n(IP, "alice", 2).await, [403, 403]);
    app.clock.advance(Duration::from_millis(1400));
    assert_eq!(app.fail_n(IP, "alice", 3).await, [403, 403, 429]);
}

#[tokio::test]
async fn cooloff_is_an_inactivity_window() {
    // django-axes: failures 0.7 s apart with a 1 s cool-off keep counting.
    let app = App::new("failure_limit = 3\ncooloff_time = \"1s\"");
    assert_eq!(app.fail_n(IP, "alice", 1).await, [403]);
    app.clock.advance(Duration::from_millis(700));
    assert_eq!(app.fail_n(IP, "alice", 1).await, [403]);
    app.clock.advance(Duration::from_millis(700));
    assert_eq!(app.fail_n(IP, "alice", 1).await, [429]);
}

#[tokio::test]
async fn lockout_by_username_follows_the_user_across_ips() {
    let app = App::new("lockout_parameters = [\"username\"]");
    for ip in ["192.0.2.1", "192.0.2.2"] {
        assert_eq!(app.login(ip, "alice", "bad").await, 403);
    }
    assert_eq!(app.login("192.0.2.3", "alice", "bad").await, 429);
    assert_eq!(app.login("192.0.2.4", "alice", "wonderland").await, 429);
    assert_eq!(app.login("192.0.2.3", "bob", "builder").await, 200);
    // Usernames are compared exactly.
    assert_eq!(app.login("192.0.2.3", "Alice", "bad").await, 403);
}

#[tokio::test]
async fn lockout_by_username_and_ip_combination_locks_only_the_pair() {
    let app = App::new("lockout_parameters = [[\"username\", \"ip_address\"]]");
    assert_eq!(app.fail_n(IP, "alice", 3).await, [403, 403, 429]);
    assert_eq!(app.login(IP, "alice", "wonderland").await, 429);
    assert_eq!(app.login(OTHER_IP, "alice", "wonderland").await, 200);
    assert_eq!(app.login(IP, "bob", "builder").await, 200);
}

#[tokio::test]
async fn lockout_parameter_entries_are_alternatives() {
    let app = App::new("lockout_parameters = [\"username\", \"ip_address\"]");
    // Spread over IPs: the username locks.
    assert_eq!(app.login("192.0.2.2", "alice", "bad").await, 403);
    assert_eq!(app.login("192.0.2.3", "alice", "bad").await, 403);
    // Spread over usernames: the IP locks (its third failure).
    assert_eq!(app.login("192.0.2.4", "bob", "bad").await, 403);
    assert_eq!(app.login("192.0.2.4", "mallory", "bad").await, 403);
    assert_eq!(app.login("192.0.2.4", "carol", "bad").await, 429);
    assert_eq!(app.login("192.0.2.5", "bob", "builder").await, 200);
    assert_eq!(
        app.login("192.0.2.5", "alice", "bad").await,
        429,
        "alice's third"
    );
    assert_eq!(
        app.login("192.0.2.4", "bob", "builder").await,
        429,
        "IP locked"
    );
    assert_eq!(app.login("192.0.2.6", "bob", "builder").await, 200);
}

#[tokio::test]
async fn lockout_by_ip_and_user_agent() {
    let app = App::new("lockout_parameters = [[\"ip_address\", \"user_agent\"]]");
    let with_agent = |agent: &'static str, ip: &str, password: &str| {
        let mut request = json_request(
            ip,
            "/login",
            json!({"username": "alice", "password": password}),
        );
        crate::common::set_header(&mut request, "user-agent", agent.as_bytes());
        request
    };
    for expected in [403, 403, 429] {
        assert_eq!(
            app.send(with_agent("agent-A", IP, "bad")).await.status(),
            expected
        );
    }
    assert_eq!(
        app.send(with_agent("agent-B", IP, "wonderland"))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.send(with_agent("agent-A", OTHER_IP, "wonderland"))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.send(with_agent("agent-A", IP, "wonderland"))
            .await
            .status(),
        429
    );
}

#[tokio::test]
async fn a_failure_without_username_is_not_counted_under_username_groups() {
    let app = App::new("lockout_parameters = [[\"username\", \"ip_address\"]]");
    for ip in [
        "192.0.2.1",
        "192.0.2.2",
        "192.0.2.3",
        "192.0.2.1",
        "192.0.2.1",
    ] {
        let response = app
            .send(json_request(ip, "/login", json!({"password": "x"})))
            .await;
        assert_eq!(response.status(), 400);
    }
    assert_eq!(app.login("192.0.2.1", "alice", "wonderland").await, 200);
}

#[tokio::test]
async fn invalid_forms_count_with_the_username_they_carry() {
    let app = App::new("lockout_parameters = [\"username\"]");
    let missing_password = |ip: &str| json_request(ip, "/login", json!({"username": "alice"}));
    assert_eq!(app.send(missing_password("192.0.2.2")).await.status(), 400);
    assert_eq!(app.login("192.0.2.3", "alice", "bad").await, 403);
    assert_eq!(app.send(missing_password("192.0.2.4")).await.status(), 429);
    assert_eq!(app.send(missing_password("192.0.2.5")).await.status(), 429);
    assert_eq!(app.login("192.0.2.5", "bob", "builder").await, 200);
}

#[tokio::test]
async fn reset_on_success_clears_only_the_users_own_failures() {
    let app = App::new("failure_limit = 3\nreset_on_success = true");
    assert_eq!(app.login(IP, "mallory", "bad").await, 403);
    assert_eq!(app.login(IP, "alice", "bad").await, 403);
    assert_eq!(app.login(IP, "alice", "wonderland").await, 200);
    // alice's failure is gone, mallory's stays: two more lock the IP.
    assert_eq!(app.fail_n(IP, "bob", 2).await, [403, 429]);
    let attempts = app.axes.attempts(AttemptFilter::All).await.unwrap();
    assert!(attempts
        .iter()
        .all(|a| a.username.as_deref() != Some("alice")));
    assert!(attempts
        .iter()
        .any(|a| a.username.as_deref() == Some("mallory")));
}

#[tokio::test]
async fn success_keeps_failures_by_default() {
    let app = App::new("failure_limit = 3");
    assert_eq!(app.fail_n(IP, "alice", 2).await, [403, 403]);
    assert_eq!(app.login(IP, "alice", "wonderland").await, 200);
    assert_eq!(app.fail_n(IP, "alice", 1).await, [429]);
}

#[tokio::test]
async fn failures_during_lockout_extend_it_by_default() {
    // A failure reported while locked (here through the engine, as a
    // handler whose username the layer could not read would report it).
    let app = App::new("failure_limit = 2\ncooloff_time = \"1s\"");
    let fail = || async {
        let client = axes::ClientInfo::new(IP.parse().unwrap()).with_username("alice");
        crate::common::record_failure(&app.axes, &client).await
    };
    assert!(fail().await.lockout.is_none());
    assert!(fail().await.lockout.is_some());
    app.clock.advance(Duration::from_millis(500));
    let during = fail().await;
    assert!(during.recorded);
    assert_eq!(during.failures, 3);
    app.clock.advance(Duration::from_millis(700));
    assert_eq!(
        app.login(IP, "alice", "wonderland").await,
        429,
        "extended by the failure at 0.5 s"
    );
    app.clock.advance(Duration::from_millis(400));
    assert_eq!(app.login(IP, "alice", "wonderland").await, 200);
}

#[tokio::test]
async fn failures_during_lockout_are_not_recorded_when_disabled() {
    let app = App::new("failure_limit = 2\ncooloff_time = \"1s\"\nreset_cool_off_on_failure_during_lockout = false");
    let client = axes::ClientInfo::new(IP.parse().unwrap()).with_username("alice");
    crate::common::record_failure(&app.axes, &client).await;
    assert!(crate::common::record_failure(&app.axes, &client)
        .await
        .lockout
        .is_some());
    app.clock.advance(Duration::from_millis(500));
    let during = crate::common::record_failure(&app.axes, &client).await;
    assert!(!during.recorded);
    assert!(during.lockout.is_some());
    app.clock.advance(Duration::from_millis(501));
    assert_eq!(app.login(IP, "alice", "wonderland").await, 200);
}

#[tokio::test]
async fn use_attempt_expiration_expires_failures_one_by_one() {
    let app = App::new(
        "failure_limit = 3\ncooloff_time = \"10s\"\nuse_attempt_expiration = true\nenable_retry_after_header = true",
    );
    assert_eq!(app.fail_n(IP, "alice", 1).await, [403]);
    app.clock.advance(Duration::from_secs(4));
    assert_eq!(app.fail_n(IP, "alice", 1).await, [403]);
    app.clock.advance(Duration::from_secs(4));
    let third = app
        .send(json_request(
            IP,
            "/login",
            json!({"username": "alice", "password": "wrong-password"}),
        ))
        .await;
    assert_eq!(third.status(), 429, "three failures within 10 s");
    assert_eq!(
        third.headers()["retry-after"],
        "2",
        "until the first failure is 10 s old, not 10 s after the last"
    );
    app.clock.advance(Duration::from_millis(2001));
    // The failure at 0 s has expired; those at 4 s and 8 s still count.
    assert_eq!(app.fail_n(IP, "alice", 1).await, [429]);
    // Failures at 4 s, 8 s and 10 s: locked until the one at 4 s is 10 s old.
    app.clock.advance(Duration::from_millis(3900));
    assert_eq!(app.login(IP, "alice", "wonderland").await, 429);
    app.clock.advance(Duration::from_millis(200));
    assert_eq!(app.login(IP, "alice", "wonderland").await, 200);
}

#[tokio::test]
async fn use_attempt_expiration_allows_a_steady_trickle_below_the_rate() {
    let sliding =
        App::new("failure_limit = 3\ncooloff_time = \"10s\"\nuse_attempt_expiration = true");
    let inactivity = App::new("failure_limit = 3\ncooloff_time = \"10s\"");
    let mut sliding_statuses = Vec::new();
    let mut inactivity_statuses = Vec::new();
    for _ in 0..6 {
        sliding_statuses.extend(sliding.fail_n(IP, "alice", 1).await);
        inactivity_statuses.extend(inactivity.fail_n(IP, "alice", 1).await);
        sliding.clock.advance(Duration::from_secs(6));
        inactivity.clock.advance(Duration::from_secs(6));
    }
    assert_eq!(
        sliding_statuses, [403; 6],
        "never three failures within 10 s"
    );
    assert_eq!(inactivity_statuses[..3], [403, 403, 429]);
}

#[tokio::test]
async fn use_attempt_expiration_slides_each_tier_by_its_own_cooloff() {
    let app = App::new(
        "use_attempt_expiration = true\nlockout_tiers = [{ failures = 2, cooloff = \"10s\" }, { failures = 4, cooloff = \"100s\" }]",
    );
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.extend(app.fail_n(IP, "alice", 1).await);
        app.clock.advance(Duration::from_secs(20));
    }
    assert_eq!(
        statuses,
        [403, 403, 403, 429],
        "never two within 10 s, but four within 100 s"
    );
    // The fourth failure was at 60 s; four lie within 100 s until the
    // first (0 s) is 100 s old.
    app.clock.advance(Duration::from_secs(19)); // 99 s
    assert_eq!(app.login(IP, "alice", "wonderland").await, 429);
    app.clock.advance(Duration::from_millis(1001));
    assert_eq!(app.login(IP, "alice", "wonderland").await, 200);
}

#[tokio::test]
async fn use_attempt_expiration_needs_a_cooloff() {
    let err = axes::AxesConfig::from_toml_str("use_attempt_expiration = true").unwrap_err();
    assert_eq!(err.key, "use_attempt_expiration");
}

#[tokio::test]
async fn refusals_are_not_recorded_by_default() {
    let app = App::new("failure_limit = 2\ncooloff_time = \"1s\"");
    assert_eq!(app.fail_n(IP, "alice", 2).await, [403, 429]);
    app.clock.advance(Duration::from_millis(700));
    assert_eq!(app.login(IP, "alice", "wonderland").await, 429);
    app.clock.advance(Duration::from_millis(400));
    assert_eq!(
        app.login(IP, "alice", "wonderland").await,
        200,
        "the refusal at 0.7 s did not extend the cool-off"
    );
}

#[tokio::test]
async fn refusals_restart_the_cooloff_when_reset_cool_off_is_true() {
    let app = App::new(
        "failure_limit = 2\ncooloff_time = \"1s\"\nreset_cool_off_on_failure_during_lockout = true\nenable_retry_after_header = true",
    );
    assert_eq!(app.fail_n(IP, "alice", 2).await, [403, 429]);
    app.clock.advance(Duration::from_millis(700));
    let refused = app
        .send(json_request(
            IP,
            "/login",
            json!({"username": "alice", "password": "wonderland"}),
        ))
        .await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "1", "a fresh cool-off");
    app.clock.advance(Duration::from_millis(400));
    assert_eq!(
        app.login(IP, "alice", "wonderland").await,
        429,
        "the refusal at 0.7 s was recorded and restarted the cool-off"
    );
    assert_eq!(app.calls(), 2, "refused attempts never reach the handler");
    let attempts = app.axes.attempts(AttemptFilter::All).await.unwrap();
    assert_eq!(attempts[0].failures, 4);
    app.clock.advance(Duration::from_millis(1001));
    assert_eq!(app.login(IP, "alice", "wonderland").await, 200);
}

#[tokio::test]
async fn refusals_escalate_tiers_when_reset_cool_off_is_true() {
    let app = App::new(
        "lockout_tiers = [{ failures = 2, cooloff = \"1s\" }, { failures = 4, cooloff = \"1m\" }]\nreset_cool_off_on_failure_during_lockout = true",
    );
    assert_eq!(app.fail_n(IP, "alice", 2).await, [403, 429]);
    // Two more tries while locked reach the second tier.
    assert_eq!(app.login(IP, "alice", "wonderland").await, 429);
    assert_eq!(app.login(IP, "alice", "wonderland").await, 429);
    app.clock.advance(Duration::from_secs(30));
    assert_eq!(app.login(IP, "alice", "wonderland").await, 429);
    app.clock.advance(Duration::from_secs(61));
    assert_eq!(app.login(IP, "alice", "wonderland").await, 200);
}

#[tokio::test]
async fn refusals_are_not_recorded_when_reset_cool_off_is_false() {
    let app = App::new(
        "failure_limit = 2\ncooloff_time = \"1s\"\nreset_cool_off_on_failure_during_lockout = false",
    );
    assert_eq!(app.fail_n(IP, "alice", 2).await, [403, 429]);
    app.clock.advance(Duration::from_millis(700));
    assert_eq!(app.login(IP, "alice", "wonderland").await, 429);
    let attempts = app.axes.attempts(AttemptFilter::All).await.unwrap();
    assert_eq!(attempts[0].failures, 2);
    app.clock.advance(Duration::from_millis(400));
    assert_eq!(app.login(IP, "alice", "wonderland").await, 200);
}

#[tokio::test]
async fn http_response_code_sets_the_lockout_status() {
    let app = App::new("http_response_code = 403");
    assert_eq!(app.fail_n(IP, "alice", 3).await, [403, 403, 403]);
    assert_eq!(app.login(IP, "alice", "wonderland").await, 403);
    assert_eq!(app.calls(), 3);
}

#[tokio::test]
async fn username_form_field_names_the_body_field() {
    let app = App::new("lockout_parameters = [\"username\"]\nusername_form_field = \"email\"");
    for (ip, expected) in [("192.0.2.2", 403), ("192.0.2.3", 403), ("192.0.2.4", 429)] {
        let response = app
            .send(json_request(
                ip,
                "/login",
                json!({"email": "alice", "password": "x"}),
            ))
            .await;
        assert_eq!(response.status(), expected);
    }
    // Pre-checked by the email field: refused before the handler.
    let calls = app.calls();
    let response = app
        .send(json_request(
            "192.0.2.5",
            "/login",
            json!({"email": "alice", "password": "wonderland"}),
        ))
        .await;
    assert_eq!(response.status(), 429);
    assert_eq!(app.calls(), calls);
    let wrong_field = json_request(
        IP,
        "/login",
        json!({"username": "bob", "password": "builder"}),
    );
    assert_eq!(app.send(wrong_field).await.status(), 400);
}

#[tokio::test]
async fn password_form_field_names_the_password_field() {
    let app = App::new("password_form_field = \"passphrase\"");
    let ok = json_request(
        IP,
        "/login",
        json!({"username": "alice", "passphrase": "wonderland"}),
    );
    assert_eq!(app.send(ok).await.status(), 200);
    let wrong = json_request(
        IP,
        "/login",
        json!({"username": "alice", "password": "wonderland"}),
    );
    assert_eq!(app.send(wrong).await.status(), 400);
}

#[tokio::test]
async fn form_bodies_are_read_for_the_username() {
    let app = App::new("lockout_parameters = [\"username\"]\nfailure_limit = 1");
    assert_eq!(app.login(IP, "alice", "bad").await, 429);
    let calls = app.calls();
    let form = raw_request(
        OTHER_IP,
        "POST",
        "/login",
        "application/x-www-form-urlencoded",
        "username=alice&password=wonderland",
    );
    assert_eq!(app.send(form).await.status(), 429);
    assert_eq!(
        app.calls(),
        calls,
        "refused before dispatch from the form body"
    );
}

#[tokio::test]
async fn blacklist_refuses_before_dispatch_and_accepts_networks() {
    let app = App::new("ip_blacklist = [\"198.51.100.0/24\", \"192.0.2.66\"]");
    for ip in ["198.51.100.7", "192.0.2.66"] {
        assert_eq!(app.login(ip, "alice", "wonderland").await, 429);
        let get = crate::common::raw_request(ip, "GET", "/login", "text/plain", "");
        assert_eq!(app.send(get).await.status(), 429);
    }
    assert_eq!(app.calls(), 0);
    assert!(app
        .axes
        .attempts(AttemptFilter::All)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(app.login("192.0.2.67", "alice", "wonderland").await, 200);
}

#[tokio::test]
async fn blacklist_beats_whitelist() {
    let app = App::new("ip_whitelist = [\"192.0.2.9\"]\nip_blacklist = [\"192.0.2.9\"]\nnever_lockout_whitelist = true");
    assert_eq!(app.login("192.0.2.9", "alice", "wonderland").await, 429);
}

#[tokio::test]
async fn whitelisted_networks_are_never_locked_with_never_lockout_whitelist() {
    let app = App::new("ip_whitelist = [\"10.0.0.0/8\"]\nnever_lockout_whitelist = true");
    assert_eq!(app.fail_n("10.1.2.3", "alice", 5).await, [403; 5]);
    assert_eq!(app.login("10.1.2.3", "alice", "wonderland").await, 200);
    assert!(app
        .axes
        .attempts(AttemptFilter::All)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(app.fail_n(IP, "alice", 3).await, [403, 403, 429]);
}

#[tokio::test]
async fn whitelist_alone_has_no_effect() {
    let app = App::new("ip_whitelist = [\"192.0.2.9\"]");
    assert_eq!(app.fail_n("192.0.2.9", "alice", 3).await, [403, 403, 429]);
}

#[tokio::test]
async fn only_whitelist_refuses_everyone_else() {
    let app = App::new("ip_whitelist = [\"192.0.2.9\"]\nonly_whitelist = true");
    assert_eq!(app.login(IP, "alice", "wonderland").await, 429);
    assert_eq!(app.fail_n("192.0.2.9", "alice", 4).await, [403; 4]);
    assert_eq!(app.login("192.0.2.9", "alice", "wonderland").await, 200);
}

#[tokio::test]
async fn never_lockout_get_exempts_get_only() {
    let app = App::new("never_lockout_get = true");
    assert_eq!(app.fail_n(IP, "alice", 3).await, [403, 403, 429]);
    let get = || crate::common::raw_request(IP, "GET", "/login", "text/plain", "");
    assert_eq!(app.send(get()).await.status(), 200);
    assert_eq!(app.login(IP, "alice", "wonderland").await, 429);
    let head = crate::common::raw_request(IP, "HEAD", "/login", "text/plain", "");
    assert_eq!(app.send(head).await.status(), 429, "only GET is exempt");
}

#[tokio::test]
async fn get_of_a_locked_client_is_refused_by_default() {
    let app = App::new("");
    app.fail_n(IP, "alice", 3).await;
    let get = crate::common::raw_request(IP, "GET", "/login", "text/plain", "");
    assert_eq!(app.send(get).await.status(), 429);
    let get = crate::common::raw_request(OTHER_IP, "GET", "/login", "text/plain", "");
    assert_eq!(app.send(get).await.status(), 200);
}

#[tokio::test]
async fn disabled_axes_records_nothing_and_refuses_nobody() {
    let app = App::new("enabled = false\nip_blacklist = [\"192.0.2.10\"]");
    assert_eq!(app.fail_n(IP, "alice", 5).await, [403; 5]);
    assert_eq!(app.login(IP, "alice", "wonderland").await, 200);
    assert!(app
        .axes
        .attempts(AttemptFilter::All)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn logout_is_not_refused_and_does_not_reset() {
    let app = App::new("");
    let mut events = app.axes.subscribe();
    app.fail_n(IP, "alice", 2).await;
    let logout = || json_request(IP, "/logout", json!({"username": "alice"}));
    assert_eq!(app.send(logout()).await.status(), 200);
    assert_eq!(app.fail_n(IP, "alice", 1).await, [429]);
    assert_eq!(app.send(logout()).await.status(), 200);
    let mut logged_out = 0;
    while let Ok(event) = events.try_recv() {
        if let AxesEvent::LoggedOut { username, .. } = event {
            assert_eq!(username.as_deref(), Some("alice"));
            logged_out += 1;
        }
    }
    assert_eq!(logged_out, 2);
}

#[tokio::test]
async fn locked_out_event_fires_once_at_the_flip() {
    let app = App::new("failure_limit = 2");
    let mut events = app.axes.subscribe();
    app.fail_n(IP, "alice", 2).await;
    assert_eq!(app.login(IP, "alice", "bad").await, 429);
    let mut locked = Vec::new();
    let mut failed = 0;
    while let Ok(event) = events.try_recv() {
        match event {
            AxesEvent::LockedOut {
                username,
                ip_address,
                lockout,
                ..
            } => {
                locked.push((username, ip_address));
                assert_eq!(lockout.reason, LockoutReason::TooManyFailures);
                assert_eq!(lockout.failures, 2);
            }
            AxesEvent::LoginFailed { recorded: true, .. } => failed += 1,
            _ => {}
        }
    }
    assert_eq!(failed, 2);
    assert_eq!(locked, [(Some("alice".to_owned()), IP.parse().unwrap())]);
}

#[tokio::test]
async fn retry_after_gives_the_seconds_remaining() {
    let app = App::new("cooloff_time = \"10s\"\nenable_retry_after_header = true");
    app.fail_n(IP, "alice", 2).await;
    let third = app
        .send(json_request(
            IP,
            "/login",
            json!({"username": "alice", "password": "x"}),
        ))
        .await;
    assert_eq!(third.headers()["retry-after"], "10");
    app.clock.advance(Duration::from_millis(3500));
    let later = app
        .send(json_request(
            IP,
            "/login",
            json!({"username": "alice", "password": "x"}),
        ))
        .await;
    assert_eq!(later.headers()["retry-after"], "7");
    let ok = app
        .send(json_request(
            OTHER_IP,
            "/login",
            json!({"username": "alice", "password": "wonderland"}),
        ))
        .await;
    assert!(ok.headers().get("retry-after").is_none());
}

#[tokio::test]
async fn retry_after_is_off_by_default_and_absent_for_permanent_lockouts() {
    for config in ["cooloff_time = \"10s\"", "enable_retry_after_header = true"] {
        let app = App::new(config);
        app.fail_n(IP, "alice", 3).await;
        let response = app.send(json_request(IP, "/login", json!({}))).await;
        assert_eq!(response.status(), 429);
        assert!(response.headers().get("retry-after").is_none(), "{config}");
    }
}

#[tokio::test]
async fn json_clients_get_a_json_lockout() {
    let app = App::new("cooloff_time = \"30m\"");
    app.fail_n(IP, "alice", 2).await;
    let response = app
        .send(json_request(
            IP,
            "/login",
            json!({"username": "alice", "password": "x"}),
        ))
        .await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: serde_json::Value = serde_json::from_str(&body_text(response).await).unwrap();
    assert_eq!(body["failure_limit"], 3);
    assert_eq!(body["failure_count"], 3);
    assert_eq!(body["username"], "alice");
    assert_eq!(body["cooloff_time"], "PT30M");
}

#[tokio::test]
async fn a_success_for_a_locked_username_the_body_did_not_name_is_refused() {
    // The handler strips the username; the body carried " alice ".
    let app = App::new("lockout_parameters = [\"username\"]");
    app.fail_n("192.0.2.1", "alice", 3).await;
    let padded = json_request(
        OTHER_IP,
        "/login",
        json!({"username": " alice ", "password": "wonderland"}),
    );
    let response = app.send(padded).await;
    assert_eq!(response.status(), 429);
    assert!(!body_text(response).await.contains("success"));
}

#[tokio::test]
async fn reset_by_username_lifts_a_username_lockout() {
    let app = App::new("lockout_parameters = [\"username\"]");
    app.fail_n("192.0.2.1", "alice", 2).await;
    app.fail_n("192.0.2.2", "alice", 1).await;
    assert_eq!(app.login("192.0.2.3", "alice", "wonderland").await, 429);
    let removed = app
        .axes
        .reset(AttemptFilter::Username("alice".into()))
        .await
        .unwrap();
    assert_eq!(removed, 2, "one record per (username, IP, user agent)");
    assert_eq!(app.login("192.0.2.3", "alice", "wonderland").await, 200);
}

#[tokio::test]
async fn a_success_passes_the_handlers_response_through() {
    let app = App::new("");
    let response = app
        .send(json_request(
            IP,
            "/login",
            json!({"username": "alice", "password": "wonderland"}),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_text(response).await, r#"{"message":"success!"}"#);
}
