//! The demo server (`examples/json_login.rs`) as a process: it follows the
//! conformance contract, and a lockout kept in SQLite survives a restart.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::process::{example_binary, exchange, post_to, Demo};

#[tokio::test]
async fn a_sqlite_lockout_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("axes.toml");
    std::fs::write(&config, "failure_limit = 2\n").unwrap();
    let url = format!("sqlite://{}", dir.path().join("axes.sqlite3").display());
    let wrong = r#"{"username": "alice", "password": "wrong"}"#;
    let right = r#"{"username": "alice", "password": "wonderland"}"#;

    let demo = Demo::start(&url, &config);
    assert_eq!(demo.post("127.0.0.2", "/login", wrong).await, 403);
    assert_eq!(demo.post("127.0.0.2", "/login", wrong).await, 429);
    drop(demo); // killed, not shut down gracefully

    let demo = Demo::start(&url, &config);
    assert_eq!(demo.post("127.0.0.2", "/login", right).await, 429);
    assert_eq!(demo.post("127.0.0.3", "/login", right).await, 200);
    assert_eq!(
        demo.post("127.0.0.2", "/logout", r#"{"username": "alice"}"#)
            .await,
        200
    );
}

/// Kill and restart the demo server on a shared store: the lockout stays.
async fn survives_a_restart(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("axes.toml");
    // A fresh client address per run keeps runs on one database apart.
    let ip = format!(
        "127.0.{}.{}",
        std::process::id() % 200 + 20,
        2 + std::process::id() % 250
    );
    std::fs::write(&config, "failure_limit = 2\n").unwrap();
    let wrong = r#"{"username": "alice", "password": "wrong"}"#;
    let right = r#"{"username": "alice", "password": "wonderland"}"#;
    let demo = Demo::start(url, &config);
    demo.post(&ip, "/login", wrong).await;
    assert_eq!(demo.post(&ip, "/login", wrong).await, 429);
    drop(demo);
    let demo = Demo::start(url, &config);
    assert_eq!(demo.post(&ip, "/login", right).await, 429);
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn a_postgres_lockout_survives_a_restart() {
    match std::env::var("AXES_TEST_POSTGRES_URL") {
        Ok(url) => survives_a_restart(&url).await,
        Err(_) => eprintln!("skipped: AXES_TEST_POSTGRES_URL is not set"),
    }
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn a_redis_lockout_survives_a_restart() {
    match std::env::var("AXES_TEST_REDIS_URL") {
        Ok(url) => survives_a_restart(&url).await,
        Err(_) => eprintln!("skipped: AXES_TEST_REDIS_URL is not set"),
    }
}

#[tokio::test]
async fn the_memory_store_starts_empty_on_each_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("axes.toml");
    std::fs::write(&config, "failure_limit = 1\n").unwrap();
    let wrong = r#"{"username": "alice", "password": "wrong"}"#;
    let demo = Demo::start("memory:", &config);
    assert_eq!(demo.post("127.0.0.2", "/login", wrong).await, 429);
    drop(demo);
    let demo = Demo::start("memory:", &config);
    assert_eq!(
        demo.post("127.0.0.2", "/login", "{}").await,
        429,
        "a 400 that reaches the limit"
    );
}

#[test]
fn an_invalid_setting_stops_the_server_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("axes.toml");
    std::fs::write(&config, "failure_limit = 3\nfailure_limmit = 4\n").unwrap();
    let output = Command::new(example_binary("json_login"))
        .env("AXES_BIND", "127.0.0.1:0")
        .env("AXES_DATABASE_URL", "memory:")
        .env("AXES_CONFIG", &config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("failure_limmit"), "{stderr}");
    assert!(
        String::from_utf8_lossy(&output.stdout).is_empty(),
        "never ready"
    );
}

/// `count` correct logins from `from`, `at_once` at a time, each on a
/// connection of its own; how many were not answered 200.
async fn correct_logins(demo_addr: SocketAddr, from: &str, count: usize, at_once: usize) -> usize {
    let right = r#"{"username": "alice", "password": "wonderland"}"#;
    let mut refused = 0;
    let mut left = count;
    while left > 0 {
        let n = left.min(at_once);
        left -= n;
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let from = from.to_owned();
                tokio::spawn(async move { post_to(demo_addr, &from, "/login", right).await })
            })
            .collect();
        for task in tasks {
            if task.await.unwrap() != Some(200) {
                refused += 1;
            }
        }
    }
    refused
}

/// The attack on availability: an app server killed mid-load leaves its
/// slots in the shared store. Once its lease has lapsed, the surviving
/// server refuses nobody for them, and no slot is left behind.
async fn a_killed_server_blocks_nobody_once_its_lease_lapsed(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("axes.toml");
    std::fs::write(&config, "in_flight_lease = \"1s\"\n").unwrap();
    let from = format!(
        "127.0.{}.{}",
        100 + std::process::id() % 100,
        2 + std::process::id() % 250
    );
    let doomed = Demo::start(url, &config);
    let survivor = Demo::start(url, &config);
    // Load on the doomed server, killed in the middle of it.
    let addr = doomed.addr;
    let load = {
        let from = from.clone();
        tokio::spawn(async move { correct_logins(addr, &from, 2_000, 48).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    drop(doomed); // SIGKILL: no slot is given back
    let _ = load.await;
    // The slots in the store, as any app server counts them.
    let store = axes::store::connect(url).await.unwrap();
    let probe = axes::Axes::builder(axes::AxesConfig::default(), store).build();
    let key = axes::ClientInfo::new(from.parse().unwrap())
        .lockout_key(&axes::LockoutGroup::single(
            axes::LockoutParameter::IpAddress,
        ))
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    assert_eq!(probe.in_flight(&key).await.unwrap(), 0, "{url}: lapsed");
    let refused = correct_logins(survivor.addr, &from, 640, 32).await;
    assert_eq!(refused, 0, "{url}: {refused} correct logins refused");
    assert_eq!(
        probe.in_flight(&key).await.unwrap(),
        0,
        "{url}: none left behind"
    );
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_postgres_app_server_blocks_nobody() {
    match std::env::var("AXES_TEST_POSTGRES_URL") {
        Ok(url) => a_killed_server_blocks_nobody_once_its_lease_lapsed(&url).await,
        Err(_) => eprintln!("skipped: AXES_TEST_POSTGRES_URL is not set"),
    }
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_redis_app_server_blocks_nobody() {
    match std::env::var("AXES_TEST_REDIS_URL") {
        Ok(url) => a_killed_server_blocks_nobody_once_its_lease_lapsed(&url).await,
        Err(_) => eprintln!("skipped: AXES_TEST_REDIS_URL is not set"),
    }
}

/// On SQLite the slots are the process's own: a killed server takes them
/// with it, and the restarted one refuses nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_sqlite_app_server_blocks_nobody_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("axes.toml");
    std::fs::write(&config, "").unwrap();
    let url = format!("sqlite://{}", dir.path().join("axes.sqlite3").display());
    let doomed = Demo::start(&url, &config);
    let addr = doomed.addr;
    let load = tokio::spawn(async move { correct_logins(addr, "127.0.0.9", 2_000, 48).await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    drop(doomed);
    let _ = load.await;
    let restarted = Demo::start(&url, &config);
    assert_eq!(
        correct_logins(restarted.addr, "127.0.0.9", 640, 32).await,
        0
    );
}

/// `count` wrong logins, each for a username of its own, `at_once` at a
/// time from `from`; how many were answered as counted failures.
async fn wrong_logins(demo_addr: SocketAddr, from: &str, count: usize, at_once: usize) -> usize {
    let mut answered = 0;
    for chunk in (0..count).collect::<Vec<_>>().chunks(at_once) {
        let tasks: Vec<_> = chunk
            .iter()
            .map(|i| {
                let from = from.to_owned();
                let body = format!(r#"{{"username": "guess-{i}", "password": "wrong"}}"#);
                tokio::spawn(async move { post_to(demo_addr, &from, "/login", &body).await })
            })
            .collect();
        for task in tasks {
            if task.await.unwrap() == Some(403) {
                answered += 1;
            }
        }
    }
    answered
}

/// Group commit answers a failure only once its batch has committed: every
/// failure answered before a `kill -9` is in the database after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_failure_answered_before_a_kill_survives_it_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("axes.toml");
    std::fs::write(&config, "failure_limit = 1000000\n").unwrap();
    let url = format!("sqlite://{}", dir.path().join("axes.sqlite3").display());
    let doomed = Demo::start(&url, &config);
    let addr = doomed.addr;
    let load = tokio::spawn(async move { wrong_logins(addr, "127.0.0.11", 5_000, 48).await });
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    drop(doomed); // SIGKILL, mid-batch
    let answered = load.await.unwrap();
    assert!(answered > 0, "some failures were answered before the kill");

    let store = axes::store::connect(&url).await.unwrap();
    let axes = axes::Axes::builder(axes::AxesConfig::default(), store).build();
    let recorded: u64 = axes
        .attempts(axes::AttemptFilter::All)
        .await
        .unwrap()
        .iter()
        .map(|attempt| attempt.failures)
        .sum();
    assert!(
        recorded >= answered as u64,
        "{answered} failures answered, {recorded} recorded"
    );
}

/// Another connection to the same file (the command line tool, another
/// process) writes a lockout: the serving store sees it.
#[tokio::test]
async fn a_lockout_written_by_another_connection_is_seen_on_sqlite() {
    use axes::{AttemptFilter, Axes, AxesConfig, ClientInfo};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("axes.sqlite3").display());
    let config = AxesConfig::from_toml_str("failure_limit = 2").unwrap();
    let serving = Axes::new(
        config.clone(),
        axes::SqliteStore::connect(&url).await.unwrap(),
    );
    let other = Axes::new(config, axes::SqliteStore::connect(&url).await.unwrap());
    let client = ClientInfo::new("192.0.2.8".parse().unwrap()).with_username("carol");
    assert!(crate::common::check(&serving, &client)
        .await
        .lockout()
        .is_none());

    crate::common::record_failure(&other, &client).await;
    crate::common::record_failure(&other, &client).await;
    let mut waited = 0;
    while crate::common::check(&serving, &client)
        .await
        .lockout()
        .is_none()
    {
        assert!(
            waited < 2_000,
            "the other connection's lockout is never seen"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        waited += 20;
    }

    other
        .reset(AttemptFilter::Username("carol".into()))
        .await
        .unwrap();
    // The serving connection notices the write (every 50 ms) and forgets
    // the lockout it cached.
    let lifted = crate::common::within(std::time::Duration::from_secs(1), || async {
        crate::common::check(&serving, &client)
            .await
            .lockout()
            .is_none()
    })
    .await;
    assert!(lifted.is_some(), "a reset by another connection holds");
}

/// A raw HTTP/1.1 exchange with the demo: the status and the body.
async fn exchange_with(addr: SocketAddr, request: &str) -> (u16, String) {
    let answer = exchange(addr, None, request)
        .await
        .expect("the demo answers");
    (answer.status, answer.body)
}

/// With `AXES_DEMO_ADMIN_TOKEN`, the demo mounts the admin for those who
/// give the token: an operator sees the locked-out client and lifts it.
#[tokio::test]
async fn the_demo_admin_needs_its_token_and_lifts_a_lockout() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("axes.toml");
    std::fs::write(&config, "failure_limit = 2\ncooloff_time = \"1h\"\n").unwrap();
    let url = format!("sqlite://{}", dir.path().join("axes.sqlite3").display());
    let token = "correct-horse-battery";
    let demo = Demo::start_with(&url, &config, &[("AXES_DEMO_ADMIN_TOKEN", token)]);
    let wrong = r#"{"username": "alice", "password": "wrong"}"#;
    let right = r#"{"username": "alice", "password": "wonderland"}"#;
    demo.post("127.0.0.4", "/login", wrong).await;
    assert_eq!(demo.post("127.0.0.4", "/login", wrong).await, 429);

    let page = |authorization: &str| {
        format!("GET /admin/lockouts HTTP/1.1\r\nhost: demo\r\n{authorization}connection: close\r\n\r\n")
    };
    for refused in [
        "",
        "authorization: Bearer guess\r\n",
        "authorization: Basic YWRtaW46Z3Vlc3M=\r\n",
    ] {
        let (status, _) = exchange_with(demo.addr, &page(refused)).await;
        assert_eq!(status, 401, "{refused:?}");
    }
    // admin:correct-horse-battery
    let basic = "authorization: Basic YWRtaW46Y29ycmVjdC1ob3JzZS1iYXR0ZXJ5\r\n";
    let (status, html) = exchange_with(demo.addr, &page(basic)).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("127.0.0.4") && html.contains("alice"),
        "{html}"
    );

    let body = r#"{"ip": "127.0.0.4", "username": "alice"}"#;
    let reset = format!(
        "POST /admin/api/reset HTTP/1.1\r\nhost: demo\r\nauthorization: Bearer {token}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let (status, answer) = exchange_with(demo.addr, &reset).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains(r#""removed":1"#), "{answer}");
    assert_eq!(demo.post("127.0.0.4", "/login", right).await, 200);
}

/// Without `AXES_DEMO_ADMIN_TOKEN` (or `AXES_DEMO_ADMIN=1`), there is no admin.
#[tokio::test]
async fn the_demo_mounts_no_admin_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("axes.toml");
    std::fs::write(&config, "").unwrap();
    let demo = Demo::start("memory:", &config);
    let (status, _) = exchange_with(
        demo.addr,
        "GET /admin/lockouts HTTP/1.1\r\nhost: demo\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 404);
}

/// A WebDriver session on a headless Chromium (`chromedriver`), driven
/// over the W3C WebDriver protocol's plain HTTP and JSON.
struct Browser {
    driver: Child,
    port: u16,
    session: String,
}

impl Browser {
    /// A browser, or `None` when `chromedriver` is not installed (CI
    /// installs it and sets `AXES_TEST_BROWSER=1`, which makes that an error).
    async fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = match Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(driver) => driver,
            Err(error) => {
                assert!(
                    std::env::var("AXES_TEST_BROWSER").is_err(),
                    "AXES_TEST_BROWSER is set but chromedriver does not start: {error}"
                );
                eprintln!("skipped: chromedriver is not installed (apt-get install chromium chromium-driver)");
                return None;
            }
        };
        let mut browser = Self {
            driver,
            port,
            session: String::new(),
        };
        let capabilities = serde_json::json!({"capabilities": {"alwaysMatch": {
            "goog:chromeOptions": {"args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--window-size=1200,900"]}}}});
        for _ in 0..100 {
            if let Some(answer) = browser.call("POST", "/session", Some(&capabilities)).await {
                browser.session = answer["value"]["sessionId"].as_str().unwrap().to_owned();
                return Some(browser);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("chromedriver gave no session");
    }

    /// One WebDriver command; `None` when the driver is not listening yet.
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Option<serde_json::Value> {
        let body = body.map(ToString::to_string).unwrap_or_default();
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .ok()?;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.ok()?;
        // The driver may keep the connection open: read what
        // `content-length` says, not to the end of the stream.
        let mut answer = Vec::new();
        let mut buffer = [0; 16 * 1024];
        loop {
            let n = stream.read(&mut buffer).await.ok()?;
            answer.extend_from_slice(&buffer[..n]);
            let text = String::from_utf8_lossy(&answer);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if body.len() >= length || n == 0 {
                    return Some(serde_json::from_str(body).unwrap_or_else(|_| panic!("{text}")));
                }
            } else if n == 0 {
                return None;
            }
        }
    }

    async fn command(
        &self,
        method: &str,
        path: &str,
        body: serde_json::Value,
    ) -> serde_json::Value {
        let path = format!("/session/{}{path}", self.session);
        let body = (method == "POST").then_some(&body);
        let answer = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            self.call(method, &path, body),
        )
        .await
        .unwrap_or_else(|_| panic!("{path}: chromedriver did not answer in 30 s"))
        .expect("chromedriver answers");
        assert!(answer["value"].get("error").is_none(), "{path}: {answer}");
        answer["value"].clone()
    }

    async fn open(&self, url: &str) {
        self.command("POST", "/url", serde_json::json!({"url": url}))
            .await;
    }

    async fn source(&self) -> String {
        let source = self
            .command("GET", "/source", serde_json::Value::Null)
            .await;
        source.as_str().unwrap().to_owned()
    }

    /// The page's source once `ready` holds for it (a form's submission
    /// navigates after the click has been answered), or after 10 s.
    async fn source_once(&self, ready: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let page = self.source().await;
            if ready(&page) || std::time::Instant::now() > deadline {
                return page;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    async fn click(&self, css: &str) {
        let found = self
            .command(
                "POST",
                "/element",
                serde_json::json!({"using": "css selector", "value": css}),
            )
            .await;
        let id = found
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned();
        self.command(
            "POST",
            &format!("/element/{id}/click"),
            serde_json::json!({}),
        )
        .await;
    }

    /// Saves a screenshot as `target/browser/NAME.png`.
    async fn screenshot(&self, name: &str) {
        use base64::Engine as _;
        let png = self
            .command("GET", "/screenshot", serde_json::Value::Null)
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// In a real browser, the admin as an operator works it: a chart in the
/// default configuration; sorting a listing by failures, both ways;
/// filtering for who is locked now; a client's page with its lockout and
/// history; ticking two lockouts and resetting them together, after which
/// the client logs in; and the page at a phone's width in dark mode.
/// Screenshots in `target/browser/` (CI keeps them as artifacts).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_works_the_admin_in_a_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("axes.toml");
    std::fs::write(&config, "failure_limit = 2\ncooloff_time = \"30m\"\n").unwrap();
    let url = format!("sqlite://{}", dir.path().join("axes.sqlite3").display());
    let demo = Demo::start_with(&url, &config, &[("AXES_DEMO_ADMIN_TOKEN", "browser-token")]);
    let wrong = |name: &str| format!(r#"{{"username": "{name}", "password": "wrong"}}"#);
    demo.post("127.0.0.6", "/login", &wrong("alice")).await;
    assert_eq!(demo.post("127.0.0.6", "/login", &wrong("alice")).await, 429);
    demo.post("127.0.0.7", "/login", &wrong("bob")).await;
    assert_eq!(demo.post("127.0.0.7", "/login", &wrong("bob")).await, 429);
    assert_eq!(demo.post("127.0.0.8", "/login", &wrong("carol")).await, 403);
    let right = r#"{"username": "alice", "password": "wonderland"}"#;
    assert_eq!(demo.post("127.0.0.6", "/login", right).await, 429);

    let admin = format!("http://127.0.0.1:{}/admin", demo.addr.port());
    // The token as a cookie of the demo's origin.
    browser
        .open(&format!("http://127.0.0.1:{}/login", demo.addr.port()))
        .await;
    let cookie =
        serde_json::json!({"cookie": {"name": "axes_demo_admin", "value": "browser-token"}});
    browser.command("POST", "/cookie", cookie).await;
    browser.open(&format!("{admin}/lockouts")).await;
    let page = browser.source().await;
    assert!(
        page.contains(">127.0.0.6<") && page.contains(">bob<"),
        "{page}"
    );
    assert!(
        page.contains("The last hour: 5 failures, 2 lockouts"),
        "the chart, without a failure log: {page}"
    );
    browser.screenshot("lockouts").await;

    // Sorting: by failures, most first, then fewest first.
    let first_of = |page: &str| {
        ["alice", "bob", "carol"]
            .into_iter()
            .min_by_key(|name| page.find(&format!(">{name}<")).unwrap_or(usize::MAX))
            .unwrap()
    };
    browser.open(&admin).await;
    browser.click("th a[data-sort='failures']").await;
    let page = browser
        .source_once(|p| p.contains("aria-sort=\"descending\""))
        .await;
    assert_ne!(first_of(&page), "carol", "{page}");
    browser.click("th a[data-sort='failures']").await;
    let page = browser
        .source_once(|p| p.contains("aria-sort=\"ascending\""))
        .await;
    assert_eq!(first_of(&page), "carol", "{page}");
    browser.screenshot("attempts-sorted").await;

    // A filter: who is locked now.
    browser
        .click("select[name='locked'] option[value='yes']")
        .await;
    browser.click("form.search button").await;
    let page = browser.source_once(|p| p.contains("2 found.")).await;
    assert!(
        page.contains("2 found.") && !page.contains(">carol<"),
        "{page}"
    );
    browser.screenshot("attempts-locked-now").await;

    // A client's page.
    browser.click("a[href$='client?username=alice']").await;
    let page = browser
        .source_once(|p| p.contains("<h1>Client alice</h1>"))
        .await;
    assert!(page.contains("<h1>Client alice</h1>"), "{page}");
    assert!(
        page.contains("id=\"locked\"") && page.contains("id=\"history\""),
        "{page}"
    );
    browser.screenshot("client").await;

    // Two lockouts ticked and reset together.
    browser.open(&format!("{admin}/lockouts")).await;
    browser.click("input[name='select'][value*='alice']").await;
    browser.click("input[name='select'][value*='bob']").await;
    browser.click("#reset-selected").await;
    let done = "2 reset: 2 attempts removed.";
    let page = browser.source_once(|p| p.contains(done)).await;
    assert!(page.contains(done) && page.contains("0 found."), "{page}");
    browser.screenshot("after-bulk-reset").await;
    assert_eq!(demo.post("127.0.0.6", "/login", right).await, 200);

    // A phone's width, in dark mode: nothing wider than the screen.
    browser
        .command(
            "POST",
            "/window/rect",
            serde_json::json!({"width": 390, "height": 844}),
        )
        .await;
    let dark = serde_json::json!({"cmd": "Emulation.setEmulatedMedia",
        "params": {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}});
    browser.command("POST", "/goog/cdp/execute", dark).await;
    browser.open(&admin).await;
    let script = |code: &str| serde_json::json!({"script": code, "args": []});
    let fits = browser
        .command(
            "POST",
            "/execute/sync",
            script("return document.documentElement.scrollWidth <= window.innerWidth"),
        )
        .await;
    assert_eq!(fits, serde_json::json!(true), "the page fits a phone");
    let background = browser
        .command(
            "POST",
            "/execute/sync",
            script("return getComputedStyle(document.body).backgroundColor"),
        )
        .await;
    assert_eq!(background, serde_json::json!("rgb(21, 21, 23)"), "dark");
    browser.screenshot("phone-dark").await;
}

/// A SQLite file that is not axes' own — a table with an axes name that no
/// axes migration made, or an application's own sqlx migrations — stops
/// the demo server with a message, and the file is left byte for byte as
/// it was: not switched to WAL, no migrations table added. A file with
/// only the application's own tables takes axes' schema beside them.
#[test]
fn a_database_that_is_not_axes_own_is_refused_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("axes.toml");
    std::fs::write(&config, "").unwrap();
    let start = |db: &std::path::Path| {
        Command::new(example_binary("json_login"))
            .env("AXES_BIND", "127.0.0.1:0")
            .env("AXES_DATABASE_URL", format!("sqlite://{}", db.display()))
            .env("AXES_CONFIG", &config)
            .output()
            .unwrap()
    };
    let clashes = [
        ("axes_attempts", "CREATE TABLE axes_attempts (id INTEGER PRIMARY KEY, note TEXT)"),
        (
            "migration 20240101",
            "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
             installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL, \
             checksum BLOB NOT NULL, execution_time BIGINT NOT NULL); \
             INSERT INTO _sqlx_migrations VALUES (20240101, 'users', CURRENT_TIMESTAMP, 1, x'00', 1)",
        ),
    ];
    for (named, schema) in clashes {
        let db = dir
            .path()
            .join(format!("{}.sqlite3", named.replace(' ', "_")));
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute_batch(schema)
            .unwrap();
        let before = std::fs::read(&db).unwrap();
        let output = start(&db);
        assert!(!output.status.success(), "{named}: refused");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("not axes' own") && stderr.contains(named),
            "{stderr}"
        );
        assert_eq!(
            std::fs::read(&db).unwrap(),
            before,
            "{named}: the file is unchanged"
        );
        assert!(!dir.path().join(format!("{}-wal", db.display())).exists());
    }
    // An application's own tables, and axes' beside them.
    let db = dir.path().join("app.sqlite3");
    let app = rusqlite::Connection::open(&db).unwrap();
    app.execute_batch("CREATE TABLE users (name TEXT); INSERT INTO users VALUES ('alice')")
        .unwrap();
    drop(app);
    drop(crate::common::process::Demo::start(
        &format!("sqlite://{}", db.display()),
        &config,
    ));
    let app = rusqlite::Connection::open(&db).unwrap();
    let name: String = app
        .query_row("SELECT name FROM users", [], |row| row.get(0))
        .unwrap();
    assert_eq!(name, "alice");
    let axes_tables: i64 = app
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name LIKE 'axes\\_%' ESCAPE '\\'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert!(axes_tables >= 4);
}

/// The admin's own door is guarded by axes: wrong tokens from one address
/// — as Bearer, as Basic, as the cookie — are counted, the fifth locks the
/// address out (the right token from it is refused too, while the lockout
/// lasts), another address still gets in, and requests that give no token
/// at all (a browser's first) are not counted. The JSON API is private:
/// `Cache-Control: no-store` and `X-Content-Type-Options: nosniff`.
#[tokio::test]
async fn the_demo_admin_door_locks_a_guessing_address() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("axes.toml");
    std::fs::write(&config, "").unwrap();
    let token = "correct-horse-battery";
    let demo = Demo::start_with("memory:", &config, &[("AXES_DEMO_ADMIN_TOKEN", token)]);
    let page = |from: &str, credential: &str| {
        let request = format!(
            "GET /admin/api/lockouts HTTP/1.1\r\nhost: demo\r\n{credential}connection: close\r\n\r\n"
        );
        let from = from.to_owned();
        let addr = demo.addr;
        async move {
            exchange(addr, Some(&from), &request)
                .await
                .expect("an answer")
        }
    };
    let right = format!("authorization: Bearer {token}\r\n");
    for _ in 0..20 {
        assert_eq!(
            page("127.0.0.20", "").await.status,
            401,
            "no token: not counted"
        );
    }
    let answer = page("127.0.0.20", &right).await;
    assert_eq!(answer.status, 200);
    let head = answer.head.to_ascii_lowercase();
    assert!(head.contains("cache-control: no-store"), "{head}");
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");

    let guesses = [
        "authorization: Bearer guess-1\r\n",
        // admin:guess-2
        "authorization: Basic YWRtaW46Z3Vlc3MtMg==\r\n",
        "cookie: axes_demo_admin=guess-3\r\n",
        "authorization: Bearer guess-4\r\n",
    ];
    for guess in guesses {
        assert_eq!(page("127.0.0.21", guess).await.status, 401, "{guess:?}");
    }
    let fifth = page("127.0.0.21", "authorization: Bearer guess-5\r\n").await;
    assert_eq!(fifth.status, 429, "the fifth wrong token locks the address");
    for _ in 0..300 {
        let guess = page("127.0.0.21", "authorization: Bearer guess-n\r\n").await;
        assert_eq!(guess.status, 429);
    }
    assert_eq!(
        page("127.0.0.21", &right).await.status,
        429,
        "locked: even the right token"
    );
    assert_eq!(
        page("127.0.0.22", &right).await.status,
        200,
        "another address"
    );
}
