//! The demo server as app servers share a store in production, over real
//! sockets on every store: load whose clients hang up mid-request, a store
//! cut and restored, app servers whose clocks are wrong, and resets that
//! must reach every server's cache.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::common::fault_proxy::FaultProxy;
use crate::common::load::{hammer, login_request, timed};
use crate::common::process::{exchange, post_request, Demo};

const RIGHT: &str = r#"{"username": "alice", "password": "wonderland"}"#;

/// A loopback address no other test of this run sends from.
fn fresh_address() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::SeqCst) + std::process::id() % 1_000 * 20;
    format!(
        "127.{}.{}.{}",
        60 + (n >> 16) % 60,
        (n >> 8) % 256,
        n % 250 + 2
    )
}

/// The store URLs to run on: SQLite in `dir`, and PostgreSQL and Redis
/// when their test URLs are set.
fn urls(dir: &std::path::Path) -> Vec<(&'static str, String)> {
    let mut urls = vec![
        ("memory", "memory:".to_owned()),
        (
            "sqlite",
            format!("sqlite://{}", dir.join("axes.sqlite3").display()),
        ),
    ];
    urls.extend(shared_urls());
    urls
}

/// The shared stores' URLs that are configured.
fn shared_urls() -> Vec<(&'static str, String)> {
    let mut urls = Vec::new();
    match std::env::var("AXES_TEST_POSTGRES_URL") {
        Ok(url) => urls.push(("postgres", url)),
        Err(_) => eprintln!("skipped on PostgreSQL: AXES_TEST_POSTGRES_URL is not set"),
    }
    match std::env::var("AXES_TEST_REDIS_URL") {
        Ok(url) => urls.push(("redis", url)),
        Err(_) => eprintln!("skipped on Redis: AXES_TEST_REDIS_URL is not set"),
    }
    urls
}

/// The slots held under `ip`'s key in the shared store at `url`, by every
/// app server; `None` for a store that keeps none.
async fn slots_in_store(url: &str, ip: &str) -> Option<u64> {
    if !(url.starts_with("postgres") || url.starts_with("redis")) {
        return None;
    }
    let store = axes::store::connect(url).await.expect("the store");
    let probe = axes::Axes::new(axes::AxesConfig::default(), store);
    let key = axes::ClientInfo::new(ip.parse().unwrap())
        .lockout_key(&axes::LockoutGroup::single(
            axes::LockoutParameter::IpAddress,
        ))
        .unwrap();
    Some(probe.in_flight(&key).await.expect("a count"))
}

/// Waits until no slot is held under `ip` in the store at `url` (a slot
/// whose call was cut short goes back within a second or two).
async fn no_slot_left(name: &str, url: &str, ip: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match slots_in_store(url, ip).await {
            None | Some(0) => return,
            Some(held) => {
                assert!(
                    Instant::now() < deadline,
                    "{name}: {held} slots outlived their attempts"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Three rounds of three seconds of correct logins from one address on 64
/// keep-alive connections, one request in ten cut half-way or left
/// unanswered, and every connection hanging up mid-request when a round
/// ends — then one login: it is answered 200 at once. Every login of the
/// load is answered 200 too: the office behind one address is slowed,
/// never refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_cut_mid_request_leave_no_slot_behind_on_any_store() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("axes.toml");
    std::fs::write(&config, "").unwrap();
    let request = login_request(RIGHT);
    for (name, url) in urls(dir.path()) {
        let from = fresh_address();
        let demo = Demo::start(&url, &config);
        for round in 1..=3 {
            let load = hammer(demo.addr, &from, &request, 64, Duration::from_secs(3), 10).await;
            assert!(
                load.answered() > 0,
                "{name}, round {round}: nothing answered"
            );
            assert_eq!(
                load.statuses.keys().copied().collect::<Vec<_>>(),
                [200],
                "{name}, round {round}: {:?}",
                load.statuses
            );
        }
        let answer = timed(demo.addr, &from, &request, Duration::from_secs(2)).await;
        let (status, took) = answer.unwrap_or_else(|| panic!("{name}: the next login waits"));
        assert_eq!(status, 200, "{name}");
        assert!(
            took < Duration::from_secs(1),
            "{name}: answered in {took:?}"
        );
        no_slot_left(name, &url, &from).await;
    }
}

/// A request's fate under load: when it was sent and answered (`None`:
/// never), and its status.
struct Timed {
    sent: Instant,
    answered: Option<(Instant, u16)>,
}

/// `connections` clients from `from` sending logins one after another, each
/// on a connection of its own, until `until`.
async fn steady(addr: SocketAddr, from: &str, connections: usize, until: Instant) -> Vec<Timed> {
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let from = from.to_owned();
            tokio::spawn(async move {
                let mut log = Vec::new();
                let request = post_request("/login", "application/json", RIGHT);
                while Instant::now() < until {
                    let sent = Instant::now();
                    let answer = tokio::time::timeout(
                        Duration::from_secs(30),
                        exchange(addr, Some(&from), &request),
                    )
                    .await
                    .ok()
                    .flatten();
                    log.push(Timed {
                        sent,
                        answered: answer.map(|a| (Instant::now(), a.status)),
                    });
                }
                log
            })
        })
        .collect();
    let mut log = Vec::new();
    for task in tasks {
        log.extend(task.await.expect("a client"));
    }
    log
}

/// The store behind a TCP proxy, cut for five seconds under load and
/// restored: every attempt waiting meanwhile is answered (`503`, or its
/// login) within a second of the store's return, logins succeed again
/// after it, and no slot is left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_cut_and_restored_answers_every_waiter_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("axes.toml");
    std::fs::write(&config, "").unwrap();
    for (name, url) in shared_urls() {
        let (upstream, proxied) = through_proxy(&url);
        let proxy = FaultProxy::start(upstream).await;
        let proxied = proxied.replace("PROXY", &proxy.addr().to_string());
        let from = fresh_address();
        let demo = Demo::start(&proxied, &config);
        assert_eq!(demo.post(&from, "/login", RIGHT).await, 200, "{name}");
        let start = Instant::now();
        let (cut_at, healed_at) = (
            start + Duration::from_secs(1),
            start + Duration::from_secs(6),
        );
        let load = tokio::spawn({
            let (addr, from) = (demo.addr, from.clone());
            async move { steady(addr, &from, 32, start + Duration::from_secs(9)).await }
        });
        tokio::time::sleep_until(cut_at.into()).await;
        proxy.cut();
        tokio::time::sleep_until(healed_at.into()).await;
        proxy.heal();
        let log = load.await.unwrap();
        let mut late = Vec::new();
        for request in &log {
            let Some((at, status)) = request.answered else {
                panic!(
                    "{name}: a request sent {:?} in was never answered",
                    request.sent - start
                );
            };
            if request.sent < healed_at && at > healed_at + Duration::from_secs(1) {
                late.push((request.sent - start, at - healed_at, status));
            }
        }
        assert!(
            late.is_empty(),
            "{name}: answered late after the store returned: {late:?}"
        );
        let after: Vec<u16> = log
            .iter()
            .filter(|r| r.sent > healed_at + Duration::from_secs(1))
            .filter_map(|r| r.answered.map(|(_, status)| status))
            .collect();
        assert!(
            !after.is_empty(),
            "{name}: nothing sent after the store returned"
        );
        assert!(
            after.iter().all(|s| *s == 200),
            "{name}: after the return: {after:?}"
        );
        no_slot_left(name, &url, &from).await;
    }
}

/// The upstream address of a store URL, and the URL with `PROXY` in place
/// of its host and port.
fn through_proxy(url: &str) -> (SocketAddr, String) {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let (user, host) = authority
        .rsplit_once('@')
        .map_or(("", authority), |(u, h)| (u, h));
    let upstream = host.parse().expect("a host:port address");
    let user = if user.is_empty() {
        String::new()
    } else {
        format!("{user}@")
    };
    (upstream, format!("{scheme}://{user}PROXY/{path}"))
}

/// `faketime` (libfaketime), to run an app server with a wrong clock; the
/// test fails without it when `AXES_TEST_FAKETIME=1` (as in CI), and is
/// skipped otherwise.
fn faketime() -> Option<&'static str> {
    let found = std::process::Command::new("faketime")
        .args(["-f", "+0", "true"])
        .status()
        .is_ok_and(|status| status.success());
    if found {
        return Some("faketime");
    }
    assert!(
        std::env::var("AXES_TEST_FAKETIME").is_err(),
        "AXES_TEST_FAKETIME is set but faketime is missing (apt-get install faketime)"
    );
    eprintln!("skipped: faketime is not installed");
    None
}

/// Two app servers on one store, one with its clock ten minutes ahead and
/// one ten minutes behind.
fn skewed_pair(url: &str, config: &std::path::Path, secret: &str) -> (Demo, Demo) {
    let env = [("AXES_SECRET", secret), ("AXES_DEMO_ADMIN", "1")];
    let ahead = Demo::start_in(&["faketime", "-m", "-f", "+10m"], url, config, &env);
    let behind = Demo::start_in(&["faketime", "-m", "-f", "-10m"], url, config, &env);
    (ahead, behind)
}

/// A JSON POST from `from`: the status, the `Retry-After` seconds, and the body.
async fn post(addr: SocketAddr, from: &str, path: &str, body: &str) -> (u16, Option<u64>, String) {
    let answer = exchange(
        addr,
        Some(from),
        &post_request(path, "application/json", body),
    )
    .await
    .expect("the demo answers");
    let retry_after = answer.head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("retry-after")
            .then(|| value.trim().parse().ok())
            .flatten()
    });
    (answer.status, retry_after, answer.body)
}

fn login_body(username: &str, password: &str) -> String {
    serde_json::json!({"username": username, "password": password}).to_string()
}

/// One clock decides. With one app server ten minutes ahead and one ten
/// minutes behind: failures through both count in one window and lock
/// the client on both, with the same `Retry-After`; a reset through one
/// lifts the lockout on the other; a self-service unlock token with a
/// five-minute lifetime, issued by the `axes` tool, is good on the server
/// ahead.
#[cfg(feature = "cli")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_servers_with_skewed_clocks_decide_by_the_stores_clock() {
    if faketime().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("axes.toml");
    std::fs::write(
        &config,
        "failure_limit = 3\ncooloff_time = \"5m\"\nenable_retry_after_header = true\n\
         lockout_parameters = [[\"username\", \"ip_address\"]]\nunlock_token_lifetime = \"5m\"\n",
    )
    .unwrap();
    let secret = "a secret the app servers share";
    for (name, url) in shared_urls() {
        let (ahead, behind) = skewed_pair(&url, &config, secret);
        let (a, b) = (ahead.addr, behind.addr);

        // Failures through both servers count in one window.
        let from = fresh_address();
        let wrong = login_body("alice", "wrong");
        assert_eq!(post(a, &from, "/login", &wrong).await.0, 403, "{name}");
        assert_eq!(post(b, &from, "/login", &wrong).await.0, 403, "{name}");
        let (status, ahead_retry, _) = post(a, &from, "/login", &wrong).await;
        assert_eq!(status, 429, "{name}: the third failure locks");
        let right = login_body("alice", "wonderland");
        let (status, behind_retry, _) = post(b, &from, "/login", &right).await;
        assert_eq!(status, 429, "{name}: locked on the other server too");
        let (ahead_retry, behind_retry) = (ahead_retry.unwrap(), behind_retry.unwrap());
        assert!(
            ahead_retry.abs_diff(behind_retry) <= 2 && (295..=300).contains(&behind_retry),
            "{name}: Retry-After {ahead_retry} s ahead, {behind_retry} s behind"
        );

        // A reset through one server lifts the lockout on the other.
        let reset = serde_json::json!({"ip": from}).to_string();
        let (status, _, body) = post(a, "127.0.0.1", "/admin/api/reset", &reset).await;
        assert_eq!(status, 200, "{name}: {body}");
        let lifted = crate::common::within(Duration::from_secs(1), || async {
            post(b, &from, "/login", &right).await.0 == 200
        })
        .await;
        assert!(
            lifted.is_some(),
            "{name}: the reset reached the other server"
        );

        // An unlock token the tool issued holds its five minutes on both.
        let victim = fresh_address();
        for _ in 0..3 {
            post(b, &victim, "/login", &login_body("bob", "wrong")).await;
        }
        let bob = login_body("bob", "builder");
        assert_eq!(post(a, &victim, "/login", &bob).await.0, 429, "{name}");
        let token = unlock_token(&url, &config, secret, "bob");
        let (status, _, body) = post(
            a,
            "127.0.0.1",
            "/unlock",
            &format!(r#"{{"token": "{token}"}}"#),
        )
        .await;
        assert_eq!(status, 200, "{name}: {body}");
        let lifted = crate::common::within(Duration::from_secs(1), || async {
            post(b, &victim, "/login", &bob).await.0 == 200
        })
        .await;
        assert!(
            lifted.is_some(),
            "{name}: the unlock reached the other server"
        );
    }
}

/// An unlock token for `username`, printed by the `axes` tool.
#[cfg(feature = "cli")]
fn unlock_token(url: &str, config: &std::path::Path, secret: &str, username: &str) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_axes"))
        .args(["unlock-token", username])
        .env("AXES_DATABASE_URL", url)
        .env("AXES_CONFIG", config)
        .env("AXES_SECRET", secret)
        .output()
        .expect("the axes tool runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// One clock decides the challenge too: a challenge passed through the
/// server behind buys its attempts on the server ahead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_challenge_passed_on_one_skewed_server_holds_on_the_other() {
    if faketime().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("axes.toml");
    std::fs::write(
        &config,
        "failure_limit = 6\ncooloff_time = \"5m\"\nchallenge_after = 2\nchallenge_attempts = 3\n",
    )
    .unwrap();
    for (name, url) in shared_urls() {
        let (ahead, behind) = skewed_pair(&url, &config, "secret");
        let (a, b) = (ahead.addr, behind.addr);
        let from = fresh_address();
        let wrong = login_body("alice", "wrong");
        assert_eq!(post(a, &from, "/login", &wrong).await.0, 403, "{name}");
        assert_eq!(post(b, &from, "/login", &wrong).await.0, 403, "{name}");
        // The server ahead asks for the challenge now (skipping it is a
        // failure: three).
        let skipped = login_body("alice", "wonderland");
        let (status, _, body) = post(a, &from, "/login", &skipped).await;
        assert_eq!(status, 401, "{name}: {body}");
        // Passed through the server behind (which asks for it too, or the
        // pass would buy nothing), it buys three attempts on the one ahead:
        // four failures, less three, are below `challenge_after`.
        let passed =
            serde_json::json!({"username": "alice", "password": "wrong", "challenge": "human"});
        assert_eq!(
            post(b, &from, "/login", &passed.to_string()).await.0,
            403,
            "{name}"
        );
        let (status, _, body) = post(a, &from, "/login", &wrong).await;
        assert_eq!(status, 403, "{name}: no challenge asked: {body}");
    }
}

/// A reset through the `axes` tool (another process), on SQLite, lifts
/// the lockout the serving process cached: within 100 ms.
#[cfg(feature = "cli")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_by_the_tool_lifts_a_cached_lockout_within_100_ms() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("axes.toml");
    std::fs::write(&config, "failure_limit = 2\n").unwrap();
    let mut urls = vec![(
        "sqlite",
        format!("sqlite://{}", dir.path().join("axes.sqlite3").display()),
    )];
    urls.extend(shared_urls());
    for (name, url) in urls {
        let demo = Demo::start(&url, &config);
        let from = fresh_address();
        let wrong = login_body("alice", "wrong");
        post(demo.addr, &from, "/login", &wrong).await;
        assert_eq!(
            post(demo.addr, &from, "/login", &wrong).await.0,
            429,
            "{name}"
        );
        // Refused from the server's memory now.
        assert_eq!(
            post(demo.addr, &from, "/login", RIGHT).await.0,
            429,
            "{name}"
        );
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_axes"))
            .args(["reset-ip", &from])
            .env("AXES_DATABASE_URL", &url)
            .env("AXES_CONFIG", &config)
            .output()
            .expect("the axes tool runs");
        assert!(
            output.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let lifted = crate::common::within(Duration::from_secs(2), || async {
            post(demo.addr, &from, "/login", RIGHT).await.0 == 200
        })
        .await
        .unwrap_or_else(|| panic!("{name}: the reset never reached the server"));
        assert!(
            lifted <= Duration::from_millis(100),
            "{name}: lifted after {lifted:?}"
        );
    }
}
