//! The examples as processes, each driven over HTTP on a SQLite store, so
//! that none rots: what each shows a reader is what it does.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::process::{exchange, post_request, Process};

/// A running example on a SQLite store of its own, killed when dropped.
struct Example {
    process: Process,
    _dir: tempfile::TempDir,
}

impl Example {
    /// Starts the example `name` on a fresh SQLite store.
    fn start(name: &str, env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("axes.sqlite3").display());
        let mut all = vec![("AXES_DATABASE_URL", url.as_str())];
        all.extend_from_slice(env);
        Self {
            process: Process::start(name, &all),
            _dir: dir,
        }
    }

    /// Sends `request` (raw HTTP/1.1, `connection: close`) from the
    /// loopback address `from`: the status, the head and the body.
    async fn send(&self, from: &str, request: &str) -> (u16, String, String) {
        let answer = exchange(self.process.addr, Some(from), request)
            .await
            .expect("the example answers");
        (answer.status, answer.head, answer.body)
    }

    /// POSTs `body` as `content_type` to `/login` from `from`: the status
    /// and the body of the answer.
    async fn post(&self, from: &str, content_type: &str, body: &str) -> (u16, String) {
        let (status, _, body) = self
            .send(from, &post_request("/login", content_type, body))
            .await;
        (status, body)
    }

    async fn json(&self, from: &str, body: &str) -> u16 {
        self.post(from, "application/json", body).await.0
    }
}

#[tokio::test]
async fn the_username_callable_counts_the_namespace_too() {
    let example = Example::start("username_callable", &[]);
    let acme = |password: &str| {
        format!(r#"{{"namespace": "acme", "username": "alice", "password": "{password}"}}"#)
    };
    let globex = r#"{"namespace": "globex", "username": "alice", "password": "looking-glass"}"#;
    // Each attempt from an address of its own: the username is what locks.
    assert_eq!(example.json("127.0.1.1", &acme("x")).await, 403);
    assert_eq!(example.json("127.0.1.2", &acme("y")).await, 403);
    assert_eq!(
        example.json("127.0.1.3", &acme("z")).await,
        429,
        "acme-alice is locked out"
    );
    assert_eq!(
        example.json("127.0.1.4", &acme("wonderland")).await,
        429,
        "whatever the password, from anywhere"
    );
    assert_eq!(
        example.json("127.0.1.5", globex).await,
        200,
        "globex-alice is another account"
    );
    // The namespace cannot be dodged by white space around it.
    let spaced = r#"{"namespace": " acme ", "username": "alice", "password": "wonderland"}"#;
    assert_eq!(example.json("127.0.1.6", spaced).await, 429);
}

/// A webhook receiver on loopback: the body of each POST it gets.
async fn receiver() -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/lockout", listener.local_addr().unwrap());
    let (sent, received) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = Vec::new();
            let mut buffer = [0; 4096];
            // Headers, then the body of the content-length they give.
            loop {
                let n = stream.read(&mut buffer).await.unwrap_or(0);
                request.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&request).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .and_then(|l| l.trim().parse().ok())
                        .unwrap_or(0);
                    if body.len() >= length {
                        let _ = stream
                            .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                            .await;
                        let _ = sent.send(format!("{}\n{body}", head.lines().next().unwrap_or("")));
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
        }
    });
    (url, received)
}

#[tokio::test]
async fn a_lockout_is_posted_to_the_webhook() {
    let (url, mut received) = receiver().await;
    let example = Example::start("events", &[("AXES_WEBHOOK_URL", &url)]);
    let wrong = r#"{"username": "alice", "password": "nope"}"#;
    assert_eq!(example.json("127.0.2.1", wrong).await, 403);
    assert_eq!(example.json("127.0.2.1", wrong).await, 403);
    assert!(received.try_recv().is_err(), "no lockout, no notification");
    assert_eq!(example.json("127.0.2.1", wrong).await, 429);
    let posted = tokio::time::timeout(std::time::Duration::from_secs(5), received.recv())
        .await
        .expect("the webhook is called")
        .unwrap();
    let (request_line, body) = posted.split_once('\n').unwrap();
    assert_eq!(request_line, "POST /hooks/lockout HTTP/1.1");
    let event: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(event["event"], "locked_out");
    assert_eq!(event["username"], "alice");
    assert_eq!(event["ip_address"], "127.0.2.1");
    assert_eq!(event["reason"], "too_many_failures");
    // Refusals of the locked client are not new lockouts.
    assert_eq!(example.json("127.0.2.1", wrong).await, 429);
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(300), received.recv())
            .await
            .is_err(),
        "one lockout, one notification"
    );
}

#[tokio::test]
async fn a_locked_out_owner_is_mailed_a_link_that_unlocks_the_username_only() {
    let example = Example::start("events", &[]);
    let get =
        |path: &str| format!("GET {path} HTTP/1.1\r\nhost: example\r\nconnection: close\r\n\r\n");
    let wrong = r#"{"username": "alice", "password": "nope"}"#;
    let right = r#"{"username": "alice", "password": "wonderland"}"#;
    for _ in 0..2 {
        assert_eq!(example.json("127.0.4.1", wrong).await, 403);
    }
    assert_eq!(example.json("127.0.4.1", wrong).await, 429);
    assert_eq!(
        example.json("127.0.4.2", right).await,
        429,
        "the username is locked from everywhere"
    );
    // The stub mailer's outbox holds the owner's mail, with its link.
    let mut mail = String::new();
    for _ in 0..50 {
        mail = example.send("127.0.0.1", &get("/outbox")).await.2;
        if !mail.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        mail.starts_with("To: alice@example.com\nSubject: Unlock your account"),
        "{mail}"
    );
    let link = mail
        .lines()
        .find_map(|line| {
            line.split_once("/unlock?token=")
                .map(|(_, token)| token.to_owned())
        })
        .expect("the mail carries the link");
    let path = format!("/unlock?token={link}");
    let (status, _, body) = example.send("127.0.4.2", &get(&path)).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "alice is unlocked: log in again\n")
    );
    assert_eq!(
        example.json("127.0.4.2", right).await,
        200,
        "the owner logs in"
    );
    assert_eq!(
        example.json("127.0.4.1", right).await,
        429,
        "the attacker's address stays locked"
    );
    let (status, _, body) = example.send("127.0.4.2", &get(&path)).await;
    assert_eq!(
        (status, body.as_str()),
        (400, "this link is no longer valid\n"),
        "once"
    );
}

#[tokio::test]
async fn an_invalid_form_is_re_rendered_and_counted() {
    let example = Example::start("html_form_login", &[]);
    let form = "application/x-www-form-urlencoded";
    let (status, page) = example.post("127.0.3.1", form, "username=alice").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Enter your password.") && page.contains("value=\"alice\""),
        "{page}"
    );
    let (status, page) = example
        .post("127.0.3.1", form, "username=%3Cb%3Ealice&password=x")
        .await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Please enter a correct username and password."),
        "{page}"
    );
    assert!(
        page.contains("&lt;b&gt;alice") && !page.contains("<b>alice"),
        "escaped: {page}"
    );
    // The third failure: the invalid form and the wrong password counted.
    let (status, page) = example
        .post("127.0.3.1", form, "username=alice&password=y")
        .await;
    assert_eq!(status, 429);
    assert!(
        page.contains("<h1>Locked out</h1>") && page.contains("Try again in 15 minutes."),
        "{page}"
    );
    let (status, page) = example
        .post("127.0.3.1", form, "username=alice&password=wonderland")
        .await;
    assert_eq!(status, 429, "locked whatever the password: {page}");
    let (status, page) = example
        .post("127.0.3.2", form, "username=alice&password=wonderland")
        .await;
    assert_eq!(status, 200);
    assert!(page.contains("Welcome, alice."));
}

#[tokio::test]
async fn axes_guards_an_axum_login_route() {
    let example = Example::start("axum_login", &[]);
    let form = |login: &str, password: &str| {
        let body = format!("login={login}&password={password}");
        format!(
            "POST /login HTTP/1.1\r\nhost: example\r\n\
             content-type: application/x-www-form-urlencoded\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    // A correct login: a session cookie, and the protected page with it.
    let (status, head, _) = example
        .send("127.0.4.1", &form("alice", "wonderland"))
        .await;
    assert_eq!(status, 303, "{head}");
    assert!(head.contains("location: /\r\n"), "{head}");
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_owned();
    let home =
        format!("GET / HTTP/1.1\r\nhost: example\r\ncookie: {cookie}\r\nconnection: close\r\n\r\n");
    let (status, _, body) = example.send("127.0.4.1", &home).await;
    assert_eq!((status, body.as_str()), (200, "Hello, alice.\n"));

    // Failures are redirects too: the report, not the status, counts them.
    let from = "127.0.4.2";
    for _ in 0..2 {
        let (status, head, _) = example.send(from, &form("alice", "guess")).await;
        assert_eq!(status, 303);
        assert!(head.contains("location: /login?error=1"), "{head}");
    }
    let (status, _, _) = example.send(from, &form("alice", "guess")).await;
    assert_eq!(status, 429, "the third failure locks the client out");
    let (status, head, _) = example.send(from, &form("alice", "wonderland")).await;
    assert_eq!(status, 429, "locked whatever the password");
    assert!(
        !head.contains("set-cookie: id="),
        "no session for a locked client: {head}"
    );
    // The lockout is the address's (the default `lockout_parameters`).
    let (status, _, _) = example
        .send("127.0.4.3", &form("alice", "wonderland"))
        .await;
    assert_eq!(status, 303);
}
