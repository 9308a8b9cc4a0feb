//! The attacks of the security review, performed over HTTP: each test
//! does what an attacker who read the code would do and checks that it
//! gets nothing.

use std::io::Write;
use std::sync::Arc;

use crate::common::{json_request, App};
use serde_json::json;

const IP: &str = "192.0.2.10";

thread_local! {
    static LOG: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Writes into the logging thread's own buffer.
struct ThreadLog;

impl Write for ThreadLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        LOG.with(|log| log.borrow_mut().extend_from_slice(bytes));
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The `axes` log lines at `level` or above written on this thread while
/// `run` runs. One global subscriber takes every level, so no callsite's
/// interest depends on which test ran first.
async fn log_lines<F: std::future::Future<Output = ()>>(
    level: tracing::Level,
    run: F,
) -> Vec<String> {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("axes=trace"))
            .with_writer(|| ThreadLog)
            .with_ansi(false)
            .init();
    });
    LOG.with(|log| log.borrow_mut().clear());
    run.await;
    let text = LOG.with(|log| String::from_utf8(log.borrow().clone()).unwrap());
    let shown = |line: &str| {
        [
            tracing::Level::ERROR,
            tracing::Level::WARN,
            tracing::Level::INFO,
            tracing::Level::DEBUG,
            tracing::Level::TRACE,
        ]
        .into_iter()
        .filter(|l| *l <= level)
        .any(|l| line.contains(&format!(" {l:>5} ")))
    };
    text.lines()
        .filter(|l| shown(l))
        .map(str::to_owned)
        .collect()
}

/// A flood of attempts from a locked-out client writes one line when the
/// lockout begins and a summary, never one line per request.
#[tokio::test(flavor = "current_thread")]
async fn a_refused_flood_does_not_write_a_line_per_request() {
    let app = App::new("");
    let lines = log_lines(tracing::Level::INFO, async {
        for _ in 0..500 {
            app.send(json_request(
                IP,
                "/login",
                json!({"username": "alice", "password": "guess"}),
            ))
            .await;
        }
    })
    .await;
    assert!(lines.len() <= 3, "{} lines: {lines:#?}", lines.len());
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("client locked out"))
            .count(),
        1,
        "{lines:#?}"
    );
    // Successful logins and failures below the limit write nothing either.
    let quiet = log_lines(tracing::Level::INFO, async {
        for i in 0..50 {
            app.login(&format!("192.0.2.{}", 100 + i % 50), "bob", "builder")
                .await;
            app.login(&format!("198.51.100.{}", i), "bob", "wrong")
                .await;
        }
    })
    .await;
    assert!(quiet.is_empty(), "{quiet:#?}");
    // At debug level every refusal is there.
    let verbose = log_lines(tracing::Level::DEBUG, async {
        for _ in 0..10 {
            app.login(IP, "alice", "guess").await;
        }
    })
    .await;
    assert!(
        verbose.iter().filter(|l| l.contains("refused")).count() >= 10,
        "{verbose:#?}"
    );
}

/// The attack: lock alice out, then flood the memory store with failures
/// of fresh usernames from the same address until her counter would be
/// the least recently used; then try her right password.
#[tokio::test]
async fn a_flood_of_fresh_keys_never_evicts_a_lockout() {
    let store = Arc::new(axes::MemoryStore::with_max_bytes(256 * 1024));
    let app = App::with_shared_store(
        "lockout_parameters = [[\"username\", \"ip_address\"]]",
        store.clone(),
    );
    assert_eq!(app.fail_n(IP, "alice", 3).await, [403, 403, 429]);
    for i in 0..5_000 {
        app.clock.advance(std::time::Duration::from_millis(10));
        app.login(IP, &format!("user-{i}"), "guess").await;
    }
    assert!(
        store.bytes_used() <= 256 * 1024,
        "{} bytes",
        store.bytes_used()
    );
    assert!(store.counter_count() < 5_000, "the flood was evicted");
    assert_eq!(app.login(IP, "alice", "wonderland").await, 429);
    // A reset still finds her record and lifts it.
    let filter = axes::AttemptFilter::IpAndUsername(IP.parse().unwrap(), "alice".into());
    assert_eq!(app.axes.reset(filter).await.unwrap(), 1);
    assert_eq!(app.login(IP, "alice", "wonderland").await, 200);
}

/// When the store holds nothing but lockouts, new keys are refused
/// (`on_store_error`, here failing closed) rather than a lockout forgotten.
#[tokio::test]
async fn a_store_full_of_lockouts_refuses_new_keys_and_keeps_them_all() {
    let store = Arc::new(axes::MemoryStore::with_max_bytes(64 * 1024));
    let app = App::with_shared_store("failure_limit = 1", store.clone());
    let mut locked = Vec::new();
    for i in 0..2_000u32 {
        let ip = format!("10.0.{}.{}", i / 250, i % 250 + 1);
        match app.login(&ip, "alice", "guess").await.as_u16() {
            429 => locked.push(ip),
            503 => break,
            other => panic!("{ip}: {other}"),
        }
    }
    assert!(
        !locked.is_empty() && locked.len() < 2_000,
        "{}",
        locked.len()
    );
    assert_eq!(app.login("10.200.0.1", "alice", "guess").await, 503);
    for ip in &locked {
        assert_eq!(app.login(ip, "alice", "wonderland").await, 429, "{ip}");
    }
    assert!(store.bytes_used() <= 64 * 1024);
}

/// The attack: distinct failures with the longest multi-byte fields a
/// request can carry. The memory store stays within its byte budget, and
/// every store keeps each record bounded by bytes.
#[tokio::test]
async fn long_multi_byte_fields_stay_within_the_bounds() {
    let wide = "\u{10FFFF}".repeat(16_000); // 4 bytes each, 64 000 bytes
    let query: String = form_urlencoded::byte_serialize(&wide.as_bytes()[..4000]).collect();
    let store = Arc::new(axes::MemoryStore::with_max_bytes(1024 * 1024));
    let app = App::with_shared_store("failure_limit = 1000000", store.clone());
    for i in 0..300 {
        let mut request = json_request(
            &format!("10.1.{}.{}", i / 250, i % 250 + 1),
            &format!("/login?next={query}"),
            json!({"username": format!("{i}{}", &wide[..3000]), "password": "x", "note": &wide[..8000]}),
        );
        crate::common::set_header(&mut request, "user-agent", &wide.as_bytes()[..4000]);
        crate::common::set_header(&mut request, "accept", &wide.as_bytes()[..8000]);
        app.send(request).await;
    }
    assert!(store.bytes_used() <= 1024 * 1024, "{}", store.bytes_used());

    for (name, store) in crate::common::stores::all().await {
        let app = App::with_shared_store("", store);
        let mut request = json_request(
            IP,
            &format!("/login?next={query}"),
            json!({"username": &wide[..3000], "password": "x", "note": &wide[..8000]}),
        );
        crate::common::set_header(&mut request, "user-agent", &wide.as_bytes()[..4000]);
        crate::common::set_header(&mut request, "accept", &wide.as_bytes()[..8000]);
        let status = app.send(request).await.status();
        assert!(matches!(status.as_u16(), 400 | 403), "{name}: {status}");
        let records = app.axes.attempts(axes::AttemptFilter::All).await.unwrap();
        let record = &records[0];
        assert!(record.username.as_ref().unwrap().len() <= 255 * 4, "{name}");
        assert!(record.user_agent.len() <= 255 * 4, "{name}");
        assert!(record.path_info.len() <= 255 * 4, "{name}");
        assert!(record.http_accept.len() <= 1025 * 4, "{name}");
        assert!(
            record.get_data.len() <= axes::policy::MAX_DATA_BYTES,
            "{name}"
        );
        assert!(
            record.get_data.len() > 1000,
            "{name}: the query was kept, cut"
        );
        assert!(
            record.post_data.len() <= axes::policy::MAX_DATA_BYTES,
            "{name}"
        );
    }
}

/// The response modes an answer can take, as policy lines.
const RESPONSE_MODES: [&str; 4] = [
    "",
    "lockout_url = \"/locked\"",
    "lockout_response = \"indistinguishable\"\nbad_credentials_status = 403\nbad_credentials_body = \"nope\"",
    "http_response_code = 403",
];

/// The attack of the review: after alice is locked out, guess her password
/// through a request the layer reads differently from the handler. Here
/// the handler reads the username from a field the layer does not know
/// (`user`); the review used `text/plain` and padded usernames, which
/// `bodies_the_layer_reads_like_the_handler` covers. The right and the
/// wrong password must get the same answer, byte for byte, and no guess
/// may be recorded.
#[tokio::test]
async fn a_locked_username_answers_alike_whatever_the_password() {
    for (name, store) in crate::common::stores::all().await {
        for mode in RESPONSE_MODES {
            let policy = format!(
                "lockout_parameters = [[\"username\", \"ip_address\"]]\ncooloff_time = \"10m\"\nenable_retry_after_header = true\n{mode}"
            );
            let app = App::with_shared_store(&policy, store.clone());
            let ip = format!(
                "192.0.2.{}",
                20 + RESPONSE_MODES.iter().position(|m| *m == mode).unwrap()
            );
            for _ in 0..3 {
                app.exchange(
                    &ip,
                    "/custom",
                    json!({"user": "alice", "password": "guess"}),
                )
                .await;
            }
            app.clock.advance(std::time::Duration::from_secs(7));
            let before = app.axes.attempts(axes::AttemptFilter::All).await.unwrap();
            let wrong = app
                .exchange(
                    &ip,
                    "/custom",
                    json!({"user": "alice", "password": "guess-2"}),
                )
                .await;
            let right = app
                .exchange(
                    &ip,
                    "/custom",
                    json!({"user": "alice", "password": "wonderland"}),
                )
                .await;
            let wrong_again = app
                .exchange(
                    &ip,
                    "/custom",
                    json!({"user": "alice", "password": "guess-3"}),
                )
                .await;
            assert_eq!(wrong, right, "{name} [{mode}]");
            assert_eq!(wrong_again, right, "{name} [{mode}]");
            assert_ne!(right.0, 200, "{name} [{mode}]");
            let after = app.axes.attempts(axes::AttemptFilter::All).await.unwrap();
            assert_eq!(before, after, "{name} [{mode}]: no guess recorded");
            // A refusal before dispatch looks the same.
            let refused = app
                .exchange(
                    &ip,
                    "/login",
                    json!({"username": "alice", "password": "wonderland"}),
                )
                .await;
            assert_eq!(refused, right, "{name} [{mode}]");
            app.axes.reset(axes::AttemptFilter::All).await.unwrap();
        }
    }
}

/// Bodies the layer used to read differently from the handler: a JSON
/// body sent as `text/plain` or with no content type, a padded username,
/// a `+json` media type in capitals, deep nesting before the username.
/// Each is refused before the handler runs once alice is locked out.
#[tokio::test]
async fn bodies_the_layer_reads_like_the_handler() {
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let cases: Vec<(&str, String)> = vec![
        (
            "text/plain",
            r#"{"username":"alice","password":"wonderland"}"#.to_owned(),
        ),
        (
            "",
            r#"{"username":"alice","password":"wonderland"}"#.to_owned(),
        ),
        (
            "application/json",
            r#"{"username":"  alice ","password":"wonderland"}"#.to_owned(),
        ),
        (
            "APPLICATION/VND.API+JSON; charset=utf-8",
            r#"{"username":"alice","password":"wonderland"}"#.to_owned(),
        ),
        (
            "application/json",
            format!(r#"{{"x":{deep},"username":"alice","password":"wonderland"}}"#),
        ),
        (
            "application/octet-stream",
            r#"{"username":"alice","password":"wonderland"}"#.to_owned(),
        ),
    ];
    for (name, store) in crate::common::stores::all().await {
        let app = App::with_shared_store(
            "lockout_parameters = [[\"username\", \"ip_address\"]]",
            store,
        );
        assert_eq!(app.fail_n(IP, "alice", 3).await, [403, 403, 429], "{name}");
        let calls = app.calls();
        for (content_type, body) in &cases {
            let mut request =
                crate::common::raw_request(IP, "POST", "/login", content_type, body.clone());
            if content_type.is_empty() {
                request.headers_mut().remove("content-type");
            }
            let status = app.send(request).await.status();
            assert_eq!(status, 429, "{name}: {content_type:?} {body:.60}");
        }
        assert_eq!(app.calls(), calls, "{name}: the handler never ran");
    }
}

/// `AxesReport::admit` checks the username the handler verifies before the
/// password is looked at, and takes part in the in-flight bound: 200
/// parallel guesses for a username the layer cannot read reach the
/// password check at most `failure_limit` times, and the right password
/// among the later ones is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_guesses_through_admit_are_bounded() {
    for (name, store) in crate::common::stores::all().await {
        let app = App::with_shared_store(
            "lockout_parameters = [\"username\"]\nfailure_limit = 3",
            store,
        );
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let router = app.router.clone();
                let password = if i == 150 { "wonderland" } else { "guess" };
                tokio::spawn(async move {
                    use tower::ServiceExt;
                    let body = json!({"user": "alice", "password": password});
                    let request = json_request(
                        &format!("10.9.{}.{}", i / 200, i % 200 + 1),
                        "/custom-admit",
                        body,
                    );
                    router.oneshot(request).await.unwrap().status().as_u16()
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for task in tasks {
            statuses.push(task.await.unwrap());
        }
        assert!(app.calls() <= 3, "{name}: {} password checks", app.calls());
        assert_ne!(statuses[150], 200, "{name}: the right password was refused");
        assert!(
            statuses.iter().all(|s| *s == 403 || *s == 429),
            "{name}: {statuses:?}"
        );
        // Without `admit`, the layer checks the reported username after the
        // handler: the right password's verdict does not show either.
        assert_eq!(
            app.exchange(
                "10.9.9.9",
                "/custom",
                json!({"user": "alice", "password": "wonderland"})
            )
            .await
            .0,
            429,
            "{name}"
        );
    }
}

/// The trusted-client check runs on every attempt a username lockout
/// refuses; it reads the client's own latest login, never the access log
/// (which a flood of logins makes as long as it likes).
#[tokio::test]
async fn the_trusted_client_check_never_reads_the_access_log() {
    for (name, store, counts) in crate::common::stores::counted().await {
        let app = App::with_shared_store(
            "lockout_parameters = [\"username\"]\ntrusted_client_window = \"30d\"",
            store,
        );
        for i in 0..50 {
            app.login(&format!("10.3.0.{}", i + 1), "bob", "builder")
                .await;
        }
        assert_eq!(
            app.login("192.0.2.50", "alice", "wonderland").await,
            200,
            "{name}"
        );
        app.fail_n("203.0.113.9", "alice", 3).await;
        assert_eq!(
            app.login("203.0.113.9", "alice", "wonderland").await,
            429,
            "{name}"
        );
        assert_eq!(
            app.login("192.0.2.50", "alice", "wonderland").await,
            200,
            "{name}: trusted"
        );
        assert_eq!(counts.access_log_reads(), 0, "{name}");
    }
}
