//! The defenses beyond django-axes, over HTTP: self-service unlock tokens,
//! the warning before the limit (event, report, `RateLimit` headers), and
//! the challenge before the wall — each with the attacks it must withstand.

use std::sync::Arc;
use std::time::Duration;

use axes::{AttemptFilter, Axes, AxesConfig, AxesEvent, Store};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::common::App;

const OWNER: &str = "198.51.100.1";
const ATTACKER: &str = "203.0.113.9";
const SECRET: &[u8] = b"a secret the app servers share, 32+ bytes";

/// An app server on `store` with the shared secret.
fn server(toml: &str, store: Arc<dyn Store>) -> App {
    App::with_secret(toml, store, Some(SECRET))
}

/// Two app servers sharing one store's state and the secret, on every
/// store.
async fn server_pairs(toml: &str) -> Vec<(&'static str, App, App)> {
    let mut pairs = Vec::new();
    for (name, handles) in crate::common::stores::sharing().await {
        let (first, last) = (handles[0].clone(), handles[handles.len() - 1].clone());
        pairs.push((name, server(toml, first), server(toml, last)));
    }
    pairs
}

async fn redeem(app: &App, token: &str) -> (u16, Value) {
    let (status, _, body) = app
        .exchange(OWNER, "/unlock", json!({"token": token}))
        .await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

const UNLOCK_POLICY: &str =
    "lockout_parameters = [\"username\", \"ip_address\"]\nfailure_limit = 3\ncooloff_time = \"1h\"";

#[tokio::test]
async fn an_unlock_token_lifts_the_username_and_never_the_attackers_address() {
    for (store, a, b) in server_pairs(UNLOCK_POLICY).await {
        assert_eq!(
            a.fail_n(ATTACKER, "alice", 3).await,
            [403, 403, 429],
            "{store}"
        );
        assert_eq!(
            a.login(OWNER, "alice", "wonderland").await,
            429,
            "{store}: the owner is locked out too"
        );

        let token = a.axes.unlock_token("alice").await.unwrap();
        // Mailed to the owner, clicked, served by the other app server.
        let (status, body) = redeem(&b, &token).await;
        assert_eq!(
            (status, &body["unlocked"]),
            (200, &json!("alice")),
            "{store}: {body}"
        );
        assert_eq!(
            a.login_after_reset(OWNER, "alice", "wonderland").await,
            200,
            "{store}: the owner logs in"
        );
        assert_eq!(
            b.login(ATTACKER, "bob", "builder").await,
            429,
            "{store}: the attacker's address stays locked"
        );
        assert_eq!(
            b.login(ATTACKER, "alice", "wonderland").await,
            429,
            "{store}"
        );

        let (status, body) = redeem(&a, &token).await;
        assert_eq!(status, 400, "{store}: a second use is refused ({body})");
    }
}

#[tokio::test]
async fn redeeming_restarts_the_usernames_count() {
    let app = server(UNLOCK_POLICY, Arc::new(axes::MemoryStore::new()));
    app.fail_n("192.0.2.1", "alice", 1).await;
    app.fail_n("192.0.2.2", "alice", 1).await;
    app.fail_n("192.0.2.3", "alice", 1).await;
    assert_eq!(app.login(OWNER, "alice", "wonderland").await, 429);
    let token = app.axes.unlock_token("alice").await.unwrap();
    assert_eq!(redeem(&app, &token).await.0, 200);
    // Two more failures do not lock the owner out again: the count restarted.
    assert_eq!(app.fail_n(OWNER, "alice", 2).await, [403, 403]);
    assert_eq!(app.login(OWNER, "alice", "wonderland").await, 200);
}

#[tokio::test]
async fn a_token_lifts_the_combinations_of_its_username_only() {
    let policy =
        "lockout_parameters = [[\"username\", \"ip_address\"], \"ip_address\"]\nfailure_limit = 3";
    let app = server(policy, Arc::new(axes::MemoryStore::new()));
    assert_eq!(app.fail_n(OWNER, "alice", 3).await, [403, 403, 429]);
    let token = app.axes.unlock_token("alice").await.unwrap();
    assert_eq!(redeem(&app, &token).await.0, 200);
    assert_eq!(
        app.login(OWNER, "alice", "wonderland").await,
        429,
        "the address's own key still counts its 3 failures"
    );
    app.axes
        .reset(AttemptFilter::Ip(OWNER.parse().unwrap()))
        .await
        .unwrap();
    assert_eq!(app.login(OWNER, "alice", "wonderland").await, 200);
}

#[tokio::test]
async fn tokens_carry_no_username_and_cannot_be_altered_or_forged() {
    let app = server(UNLOCK_POLICY, Arc::new(axes::MemoryStore::new()));
    app.fail_n(ATTACKER, "alice", 3).await;
    let token = app.axes.unlock_token("alice").await.unwrap();
    let bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
    assert!(
        !bytes.windows(5).any(|w| w == b"alice"),
        "the username is sealed"
    );
    assert!(!token.contains("alice"));

    // Every single-character change is refused.
    let alphabet = ['A', 'b', '0', '-', '_'];
    for i in (0..token.len()).step_by(7) {
        let mut altered: Vec<char> = token.chars().collect();
        altered[i] = alphabet.iter().copied().find(|c| *c != altered[i]).unwrap();
        let altered: String = altered.into_iter().collect();
        let (status, body) = redeem(&app, &altered).await;
        assert_eq!(status, 400, "altered at {i}: {body}");
    }
    for junk in [
        "",
        "x",
        &"A".repeat(100_000),
        "not base64 at all!",
        &format!("{token}AA"),
    ] {
        assert_eq!(redeem(&app, junk).await.0, 400);
    }
    // Sealed under another secret: refused.
    let other = Axes::builder(
        AxesConfig::from_toml_str(UNLOCK_POLICY).unwrap(),
        axes::MemoryStore::new(),
    )
    .secret(b"another secret entirely, 32 bytes long")
    .build();
    let forged = other.unlock_token("alice").await.unwrap();
    assert_eq!(redeem(&app, &forged).await.0, 400);
    assert_eq!(
        app.login(OWNER, "alice", "wonderland").await,
        429,
        "nothing was lifted"
    );
    // The genuine token still works.
    assert_eq!(redeem(&app, &token).await.0, 200);
}

#[tokio::test]
async fn expired_superseded_and_reset_tokens_are_refused() {
    let app = server(UNLOCK_POLICY, Arc::new(axes::MemoryStore::new()));
    app.fail_n(ATTACKER, "alice", 3).await;

    let expired = app.axes.unlock_token("alice").await.unwrap();
    app.clock.advance(Duration::from_secs(3601));
    let (status, body) = redeem(&app, &expired).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "the unlock token has expired");

    app.fail_n(ATTACKER, "alice", 3).await;
    let older = app.axes.unlock_token("alice").await.unwrap();
    app.clock.advance(Duration::from_secs(1));
    let newer = app.axes.unlock_token("alice").await.unwrap();
    let (status, body) = redeem(&app, &older).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (
            400,
            Some("the unlock token was revoked by a reset or a newer token")
        )
    );

    // A reset of the username after the token revokes it.
    app.axes
        .reset(AttemptFilter::Username("alice".into()))
        .await
        .unwrap();
    app.fail_n(ATTACKER, "alice", 3).await;
    let (status, _) = redeem(&app, &newer).await;
    assert_eq!(status, 400, "issued before the reset");
    assert_eq!(app.login(OWNER, "alice", "wonderland").await, 429);
    // So does a reset of everything.
    let token = app.axes.unlock_token("alice").await.unwrap();
    app.axes.reset(AttemptFilter::All).await.unwrap();
    app.fail_n(ATTACKER, "alice", 3).await;
    assert_eq!(redeem(&app, &token).await.0, 400);
}

#[tokio::test]
async fn a_token_outlives_the_purge_of_expired_failures() {
    // Failures expire after 15 minutes, and are purged; the token holds an hour.
    let policy = "lockout_parameters = [\"username\", \"ip_address\"]\nfailure_limit = 3\ncooloff_time = \"15m\"";
    for (store, a, b) in server_pairs(policy).await {
        a.fail_n(ATTACKER, "alice", 3).await;
        let token = a.axes.unlock_token("alice").await.unwrap();
        for app in [&a, &b] {
            app.clock.advance(Duration::from_secs(40 * 60));
        }
        // A failure runs the purge of what expired 15 minutes ago.
        b.fail_n("192.0.2.200", "carol", 1).await;
        let (status, body) = redeem(&b, &token).await;
        assert_eq!(status, 200, "{store}: {body}");
    }
}

#[tokio::test]
async fn a_token_redeemed_by_racing_requests_is_redeemed_once() {
    for (store, a, b) in server_pairs(UNLOCK_POLICY).await {
        a.fail_n(ATTACKER, "alice", 3).await;
        let token = a.axes.unlock_token("alice").await.unwrap();
        let mut racing = Vec::new();
        for i in 0..16 {
            let app = if i % 2 == 0 { &a } else { &b };
            racing.push(redeem(app, &token));
        }
        let statuses: Vec<u16> = futures_util::future::join_all(racing)
            .await
            .into_iter()
            .map(|(status, _)| status)
            .collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "{store}: {statuses:?}"
        );
    }
}

#[tokio::test]
async fn a_failure_one_attempt_from_the_lockout_warns() {
    let app = App::new("failure_limit = 4\nwarn_attempts_left = 1");
    let mut events = app.axes.subscribe();
    app.fail_n(ATTACKER, "alice", 3).await;
    let mut warnings = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let AxesEvent::ApproachingLimit {
            username,
            attempts_left,
            failures,
            ..
        } = event
        {
            warnings.push((username, attempts_left, failures));
        }
    }
    assert_eq!(
        warnings,
        [(Some("alice".to_owned()), 1, 3)],
        "only the third failure leaves one attempt"
    );

    let earlier = App::new("failure_limit = 4\nwarn_attempts_left = 2");
    let mut events = earlier.axes.subscribe();
    earlier.fail_n(ATTACKER, "alice", 4).await;
    let mut left = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let AxesEvent::ApproachingLimit { attempts_left, .. } = event {
            left.push(attempts_left);
        }
    }
    assert_eq!(
        left,
        [2, 1],
        "two attempts left, then one; none on the lockout"
    );

    let quiet = App::new("failure_limit = 4");
    let mut events = quiet.axes.subscribe();
    quiet.fail_n(ATTACKER, "alice", 3).await;
    while let Ok(event) = events.try_recv() {
        assert!(
            !matches!(event, AxesEvent::ApproachingLimit { .. }),
            "off by default"
        );
    }
}

#[tokio::test]
async fn the_handler_reads_the_attempts_left_through_the_report() {
    let app = App::new("failure_limit = 4");
    let mut left = Vec::new();
    for _ in 0..3 {
        let (_, _, body) = app
            .exchange(
                ATTACKER,
                "/challenge-login",
                json!({"username": "alice", "password": "x"}),
            )
            .await;
        left.push(
            serde_json::from_str::<Value>(&body)
                .map(|v| v["attempts_left"].clone())
                .unwrap_or(Value::Null),
        );
    }
    assert_eq!(
        left,
        [json!(4), json!(3), json!(2)],
        "counting each attempt itself"
    );

    let hidden = App::new("failure_limit = 3\nlockout_response = \"indistinguishable\"");
    let (_, _, body) = hidden
        .exchange(
            ATTACKER,
            "/challenge-login",
            json!({"username": "alice", "password": "x"}),
        )
        .await;
    // The report tells the handler nothing of the count, and the failure is
    // answered with the configured wrong-password answer, which tells the
    // client nothing either.
    assert_eq!(body, axes::AxesConfig::default().bad_credentials_body);
    assert!(!body.contains("attempts_left"));
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A `RateLimit` or `RateLimit-Policy` value without its partition key,
/// and the key, checked to be a Structured Fields Byte Sequence of 8 bytes.
fn partitioned(value: Option<&str>) -> (String, String) {
    let value = value.expect("the header");
    let (rest, key) = value.split_once(";pk=").expect("a partition key");
    let bytes = key
        .strip_prefix(':')
        .and_then(|k| k.strip_suffix(':'))
        .expect("a Byte Sequence");
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(bytes)
        .unwrap();
    assert_eq!(decoded.len(), 8, "{value}");
    (rest.to_owned(), key.to_owned())
}

#[tokio::test]
async fn ratelimit_headers_follow_the_ietf_draft_when_asked_for() {
    let app = App::new("failure_limit = 3\ncooloff_time = \"15m\"\nratelimit_headers = true");
    let login = json!({"username": "alice", "password": "x"});
    let (status, headers, _) = app.exchange(ATTACKER, "/login", login.clone()).await;
    assert_eq!(status, 403);
    let (policy, pk) = partitioned(header(&headers, "ratelimit-policy"));
    assert_eq!(policy, "\"axes\";q=3;w=900");
    assert_eq!(
        partitioned(header(&headers, "ratelimit")),
        ("\"axes\";r=2;t=900".to_owned(), pk.clone())
    );
    app.exchange(ATTACKER, "/login", login.clone()).await;
    let (status, headers, _) = app.exchange(ATTACKER, "/login", login.clone()).await;
    assert_eq!(status, 429);
    assert_eq!(
        partitioned(header(&headers, "ratelimit")),
        ("\"axes\";r=0;t=900".to_owned(), pk.clone())
    );
    app.clock.advance(Duration::from_secs(300));
    let (status, headers, _) = app.exchange(ATTACKER, "/login", login.clone()).await;
    assert_eq!(status, 429);
    assert_eq!(
        partitioned(header(&headers, "ratelimit")),
        ("\"axes\";r=0;t=600".to_owned(), pk.clone()),
        "the time left, in the same partition"
    );
    let (status, headers, _) = app
        .exchange(
            OWNER,
            "/login",
            json!({"username": "alice", "password": "wonderland"}),
        )
        .await;
    assert_eq!(status, 200);
    let (state, owner) = partitioned(header(&headers, "ratelimit"));
    assert_eq!(state, "\"axes\";r=3");
    assert_ne!(owner, pk, "another address is another partition");

    for policy in [
        "failure_limit = 3\ncooloff_time = \"15m\"",
        "failure_limit = 3\ncooloff_time = \"15m\"\nratelimit_headers = true\nlockout_response = \"indistinguishable\"",
    ] {
        let app = App::new(policy);
        for _ in 0..4 {
            let (_, headers, _) = app.exchange(ATTACKER, "/login", login.clone()).await;
            assert_eq!(header(&headers, "ratelimit"), None, "{policy}");
            assert_eq!(header(&headers, "ratelimit-policy"), None, "{policy}");
        }
    }
}

const CHALLENGE_POLICY: &str = "failure_limit = 6\nchallenge_after = 2\nchallenge_attempts = 3";

async fn challenge_login(
    app: &App,
    ip: &str,
    username: &str,
    password: &str,
    captcha: bool,
) -> (u16, Value) {
    let mut body = json!({"username": username, "password": password});
    if captcha {
        body["captcha"] = json!("solved");
    }
    let (status, _, text) = app.exchange(ip, "/challenge-login", body).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn from_challenge_after_failures_the_handler_must_show_a_challenge() {
    for (store, apps) in crate::common::stores::app_servers(CHALLENGE_POLICY).await {
        let app = &apps[0];
        assert_eq!(
            challenge_login(app, ATTACKER, "alice", "x", false).await.0,
            403,
            "{store}"
        );
        assert_eq!(
            challenge_login(app, ATTACKER, "alice", "x", false).await.0,
            403,
            "{store}"
        );
        let calls = app.calls();
        let (status, body) = challenge_login(
            &apps[apps.len() - 1],
            ATTACKER,
            "alice",
            "wonderland",
            false,
        )
        .await;
        assert_eq!(
            (status, &body["captcha"]),
            (401, &json!("required")),
            "{store}: {body}"
        );
        assert_eq!(app.calls(), calls, "{store}: no password was tried");
        // Failed challenges are failures: the lockout comes at the limit.
        let statuses: Vec<u16> = futures_util::future::join_all(
            (0..3).map(|_| challenge_login(app, ATTACKER, "alice", "x", false)),
        )
        .await
        .into_iter()
        .map(|(s, _)| s)
        .collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 429).count(),
            1,
            "{store}: {statuses:?}"
        );
        assert_eq!(
            challenge_login(app, ATTACKER, "alice", "wonderland", true)
                .await
                .0,
            429,
            "{store}"
        );
    }
}

#[tokio::test]
async fn a_passed_challenge_buys_further_attempts_before_the_lockout() {
    for (store, apps) in crate::common::stores::app_servers(CHALLENGE_POLICY).await {
        let app = &apps[0];
        let other = &apps[apps.len() - 1];
        app.fail_n(ATTACKER, "alice", 2).await;
        // Passed, then the wrong password: the pass forgives 3 failures.
        assert_eq!(
            challenge_login(other, ATTACKER, "alice", "x", true).await.0,
            403,
            "{store}"
        );
        assert_eq!(
            challenge_login(app, ATTACKER, "alice", "x", false).await.0,
            403,
            "{store}: no challenge"
        );
        assert_eq!(
            challenge_login(app, ATTACKER, "alice", "x", false).await.0,
            403,
            "{store}: no challenge"
        );
        assert_eq!(
            challenge_login(app, ATTACKER, "alice", "x", false).await.0,
            401,
            "{store}: the next challenge"
        );
        // Six failures so far: without the pass, the sixth locked; with
        // it, the ninth does.
        assert_eq!(
            app.fail_n(ATTACKER, "alice", 3).await,
            [403, 403, 429],
            "{store}"
        );
        assert_eq!(
            app.login(ATTACKER, "alice", "wonderland").await,
            429,
            "{store}"
        );
    }
}

#[tokio::test]
async fn skipping_the_challenge_counts_as_failing_it_whatever_the_password() {
    // `/login` never looks at the challenge: a client posting straight to
    // it skips the CAPTCHA the login page would show.
    let app = App::new(CHALLENGE_POLICY);
    app.fail_n(ATTACKER, "alice", 2).await;
    let wrong = post_login(&app, "/login", "username", "x").await;
    let right = post_login(&app, "/login", "username", "wonderland").await;
    assert_eq!(wrong.0, 403);
    assert_eq!(wrong, right, "the answer does not depend on the password");
    assert!(right.2.contains("Challenge required"), "{}", right.2);
    // Each skip was a failure: two more reach the limit of 6.
    assert_eq!(app.fail_n(ATTACKER, "alice", 2).await, [403, 429]);

    // A route whose username the layer cannot read: checked after the
    // handler, before its verdict shows.
    let app = App::new(CHALLENGE_POLICY);
    for _ in 0..2 {
        assert_eq!(post_login(&app, "/custom", "user", "x").await.0, 403);
    }
    let wrong = post_login(&app, "/custom", "user", "x").await;
    let right = post_login(&app, "/custom", "user", "wonderland").await;
    assert_eq!(wrong, right);
    assert!(right.2.contains("Challenge required"), "{}", right.2);

    // In indistinguishable mode the skip is answered as a wrong password.
    let app = App::new(&format!(
        "{CHALLENGE_POLICY}\nlockout_response = \"indistinguishable\"\nbad_credentials_status = 403"
    ));
    app.fail_n(ATTACKER, "alice", 2).await;
    let right = post_login(&app, "/login", "username", "wonderland").await;
    let wrong = post_login(&app, "/login", "username", "x").await;
    assert_eq!(right, wrong);
}

/// alice's login with `password` from the attacker's address, her name in
/// `field`, to `path`: status, headers and body.
async fn post_login(
    app: &App,
    path: &str,
    field: &str,
    password: &str,
) -> (u16, Vec<(String, String)>, String) {
    app.exchange(
        ATTACKER,
        path,
        json!({field: "alice", "password": password}),
    )
    .await
}

#[tokio::test]
async fn a_flood_of_skipped_challenges_gets_no_password_through() {
    for (store, apps) in crate::common::stores::app_servers(CHALLENGE_POLICY).await {
        apps[0].fail_n(ATTACKER, "alice", 2).await;
        // 24 at once straight to the password check, the right password
        // among them, over both app servers.
        let flood = (0..24).map(|i| {
            let password = if i % 3 == 0 { "wonderland" } else { "x" };
            apps[i % apps.len()].login(ATTACKER, "alice", password)
        });
        let statuses: Vec<u16> = futures_util::future::join_all(flood)
            .await
            .into_iter()
            .map(|s| s.as_u16())
            .collect();
        assert!(!statuses.contains(&200), "{store}: {statuses:?}");
        assert!(
            statuses.iter().all(|s| *s == 403 || *s == 429),
            "{store}: {statuses:?}"
        );
        assert_eq!(
            apps[0].login(ATTACKER, "alice", "wonderland").await,
            429,
            "{store}: the skips were failures, and reached the limit"
        );
    }
}

#[tokio::test]
async fn a_trusted_device_is_not_challenged_for_others_failing_its_username() {
    let app = App::new(&format!(
        "lockout_parameters = [\"username\"]\ntrusted_client_window = \"30d\"\n{CHALLENGE_POLICY}"
    ));
    assert_eq!(app.login(OWNER, "alice", "wonderland").await, 200);
    app.fail_n(ATTACKER, "alice", 2).await;
    assert_eq!(
        challenge_login(&app, ATTACKER, "alice", "wonderland", false)
            .await
            .0,
        401,
        "the attacker is challenged"
    );
    assert_eq!(
        challenge_login(&app, OWNER, "alice", "wonderland", false)
            .await
            .0,
        200,
        "the owner's own device is not"
    );
}

#[tokio::test]
async fn a_challenge_cannot_be_banked_before_it_is_asked_for() {
    let app = App::new(CHALLENGE_POLICY);
    // Solved CAPTCHAs on the first attempts, when none was asked for.
    for _ in 0..2 {
        assert_eq!(
            challenge_login(&app, ATTACKER, "alice", "x", true).await.0,
            403
        );
    }
    assert_eq!(
        challenge_login(&app, ATTACKER, "alice", "x", false).await.0,
        401,
        "asked for at 2, as without them"
    );
}

#[tokio::test]
async fn a_passed_challenge_does_not_carry_to_other_usernames_or_addresses() {
    let policy = format!("lockout_parameters = [\"username\", \"ip_address\"]\n{CHALLENGE_POLICY}");
    let app = App::new(&policy);
    app.fail_n(ATTACKER, "alice", 2).await;
    assert_eq!(
        challenge_login(&app, ATTACKER, "alice", "x", true).await.0,
        403,
        "passed for alice here"
    );
    assert_eq!(
        challenge_login(&app, ATTACKER, "alice", "x", false).await.0,
        403,
        "bought attempts"
    );
    // The address's failures count for bob too, and bob passed nothing.
    assert_eq!(
        challenge_login(&app, ATTACKER, "bob", "x", false).await.0,
        401,
        "another username"
    );
    // alice's failures count from another address, which passed nothing.
    assert_eq!(
        challenge_login(&app, "192.0.2.77", "alice", "x", false)
            .await
            .0,
        401,
        "another address"
    );
}

#[tokio::test]
async fn unlock_tokens_need_the_secret_the_servers_share() {
    let store: Arc<dyn Store> = Arc::new(axes::MemoryStore::new());
    let a = server(UNLOCK_POLICY, store.clone());
    let b = App::with_store(UNLOCK_POLICY, axes::MemoryStore::new());
    a.fail_n(ATTACKER, "alice", 3).await;
    let token = a.axes.unlock_token("alice").await.unwrap();
    // A server with its own random secret cannot open it.
    assert_eq!(redeem(&b, &token).await.0, 400);
}

#[test]
fn settings_that_make_no_sense_name_their_key() {
    for (toml, key) in [
        ("failure_limit = 3\nchallenge_after = 3", "challenge_after"),
        ("challenge_after = 0", "challenge_after"),
        (
            "lockout_tiers = [{ failures = 2, cooloff = \"1m\" }]\nchallenge_after = 2",
            "challenge_after",
        ),
        (
            "lock_out_at_failure = false\nchallenge_after = 1",
            "challenge_after",
        ),
        ("challenge_attempts = 0", "challenge_attempts"),
        ("warn_attempts_left = 0", "warn_attempts_left"),
        ("unlock_token_lifetime = \"0s\"", "unlock_token_lifetime"),
    ] {
        let error = AxesConfig::from_toml_str(toml).unwrap_err();
        assert_eq!(error.key, key, "{toml}: {error}");
    }
    assert!(AxesConfig::from_toml_str("failure_limit = 5\nchallenge_after = 4").is_ok());
}

/// `lockout_response = "problem"`: the lockout is an RFC 9457 problem
/// document of the RateLimit draft's `quota-exceeded` type, naming the
/// policy it violated, for every client (a form post too), with
/// `Retry-After` when enabled.
#[tokio::test]
async fn the_lockout_can_be_a_problem_document() {
    let app = App::new(
        "failure_limit = 2\ncooloff_time = \"15m\"\nenable_retry_after_header = true\nlockout_response = \"problem\"",
    );
    let login = json!({"username": "alice", "password": "x"});
    assert_eq!(app.exchange(ATTACKER, "/login", login.clone()).await.0, 403);
    let (status, headers, body) = app.exchange(ATTACKER, "/login", login.clone()).await;
    assert_eq!(status, 429);
    assert_eq!(
        header(&headers, "content-type"),
        Some("application/problem+json")
    );
    assert_eq!(header(&headers, "retry-after"), Some("900"));
    let problem: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        problem["type"],
        "https://iana.org/assignments/http-problem-types#quota-exceeded"
    );
    assert_eq!(problem["status"], 429);
    assert_eq!(problem["violated-policies"], json!(["axes"]));
    assert_eq!(problem["failure_count"], 2);
    assert_eq!(problem["retry-after"], 900);
    assert!(problem["title"].as_str().unwrap().contains("quota"));
    let form = crate::common::raw_request(
        ATTACKER,
        "POST",
        "/login",
        "application/x-www-form-urlencoded",
        "username=alice&password=x",
    );
    let answer = app.send(form).await;
    assert_eq!(answer.status(), 429);
    assert_eq!(answer.headers()["content-type"], "application/problem+json");
}

/// The lockout callable gets the handler's own response when the lockout
/// answers an attempt the handler ran (django-axes 8.1): here it keeps the
/// site's cookie and header; an attempt refused before the handler gets
/// none.
#[tokio::test]
async fn the_lockout_callable_receives_the_handlers_response() {
    use axum::response::IntoResponse;
    async fn login(report: axes::AxesReport) -> axum::response::Response {
        report.failed("alice");
        let mut response = (axum::http::StatusCode::FORBIDDEN, "wrong password").into_response();
        let headers = response.headers_mut();
        headers.insert("set-cookie", "site=kept; Path=/".parse().unwrap());
        headers.insert("x-site", "handler".parse().unwrap());
        response
    }
    let config = AxesConfig::from_toml_str("failure_limit = 1").unwrap();
    let layer = axes::AxesLayer::new(axes::Axes::new(config, axes::MemoryStore::new()))
        .lockout_callable(|ctx| {
            let mut response = (ctx.status, "locked").into_response();
            match ctx.handler_response {
                Some(handler) => {
                    for name in ["set-cookie", "x-site"] {
                        if let Some(value) = handler.headers().get(name) {
                            response.headers_mut().insert(name, value.clone());
                        }
                    }
                }
                None => {
                    response
                        .headers_mut()
                        .insert("x-site", "before the handler".parse().unwrap());
                }
            }
            response
        });
    let app = axum::Router::new()
        .route("/login", axum::routing::post(login))
        .layer(layer)
        .layer(axum::extract::connect_info::MockConnectInfo(
            std::net::SocketAddr::from(([192, 0, 2, 1], 4000)),
        ));
    let request = || {
        axum::http::Request::post("/login")
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let locked = tower::ServiceExt::oneshot(app.clone(), request())
        .await
        .unwrap();
    assert_eq!(locked.status(), 429);
    assert_eq!(locked.headers()["set-cookie"], "site=kept; Path=/");
    assert_eq!(locked.headers()["x-site"], "handler");
    let refused = tower::ServiceExt::oneshot(app, request()).await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["x-site"], "before the handler");
}

/// After a password reset, the owner is let back in: the application calls
/// `Axes::unlock` for the username, which lifts the username's lockouts on
/// every app server sharing the store, and not the attacker's address —
/// over HTTP, on every store.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_completed_password_reset_lets_the_owner_back_in() {
    let policy = "lockout_parameters = [\"ip_address\", \"username\"]\nfailure_limit = 3";
    for (name, apps) in crate::common::stores::app_servers(policy).await {
        for _ in 0..3 {
            apps[0].login(ATTACKER, "alice", "guess").await;
        }
        assert_eq!(
            apps[0].login(OWNER, "alice", "wonderland").await,
            429,
            "{name}"
        );
        // The owner resets the password by mail; the application lifts the
        // username's lockout (on the last app server).
        apps[apps.len() - 1].axes.unlock("alice").await.unwrap();
        assert_eq!(
            apps[0]
                .login_after_reset(OWNER, "alice", "wonderland")
                .await,
            200,
            "{name}: the owner is let back in"
        );
        assert_eq!(
            apps[0].login(ATTACKER, "bob", "builder").await,
            429,
            "{name}: the attacker's address stays locked"
        );
    }
}
