//! The attacks of the security review, performed over HTTP: each test
//! does what an attacker who read the code would do and checks that it
//! gets nothing.

mod common;

use std::io::Write;
use std::sync::Arc;

use common::{json_request, App};
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
        common::set_header(&mut request, "user-agent", &wide.as_bytes()[..4000]);
        common::set_header(&mut request, "accept", &wide.as_bytes()[..8000]);
        app.send(request).await;
    }
    assert!(store.bytes_used() <= 1024 * 1024, "{}", store.bytes_used());

    for (name, store) in common::stores::all().await {
        let app = App::with_shared_store("", store);
        let mut request = json_request(
            IP,
            &format!("/login?next={query}"),
            json!({"username": &wide[..3000], "password": "x", "note": &wide[..8000]}),
        );
        common::set_header(&mut request, "user-agent", &wide.as_bytes()[..4000]);
        common::set_header(&mut request, "accept", &wide.as_bytes()[..8000]);
        let status = app.send(request).await.status();
        assert!(matches!(status.as_u16(), 400 | 403), "{name}: {status}");
        let records = app.axes.attempts(axes::AttemptFilter::All).await.unwrap();
        let record = &records[0];
        assert!(record.username.as_ref().unwrap().len() <= 255 * 4, "{name}");
        assert!(record.user_agent.len() <= 255 * 4, "{name}");
        assert!(record.path_info.len() <= 255 * 4, "{name}");
        assert!(record.http_accept.len() <= 1025 * 4, "{name}");
        assert!(record.get_data.len() <= axes::MAX_DATA_BYTES, "{name}");
        assert!(
            record.get_data.len() > 1000,
            "{name}: the query was kept, cut"
        );
        assert!(record.post_data.len() <= axes::MAX_DATA_BYTES, "{name}");
    }
}
