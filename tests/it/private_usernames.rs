//! Private identifiers (`private_usernames`), over HTTP on every store (two
//! app servers on the shared ones): no store keeps a username in clear —
//! not in a counter, a record or a log — while lockouts hold as before, the
//! client (and the events' listeners) are told of its lockout by the name
//! it gave, and the operator finds a user by typing the name and sees the
//! name only where it was given.

use std::process::Command;

use axes::AttemptFilter;
use axum::body::Body;
use axum::http::Request;
use serde_json::json;
use tower::ServiceExt;

use crate::common::{body_text, json_request, App};

const SECRET: &[u8] = b"the site's secret, shared by its app servers";
const POLICY: &str = "failure_limit = 3
private_usernames = true
enable_access_failure_log = true
lockout_parameters = [\"username\"]
lockout_response = \"problem\"";

/// Whether `name` is kept as a pseudonym: `~` and 32 hex digits.
fn pseudonym(name: &str) -> bool {
    name.len() == 33 && name.starts_with('~') && name[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_store_keeps_a_username_in_clear() {
    for (name, stores) in crate::common::stores::sharing().await {
        let apps: Vec<App> = stores
            .into_iter()
            .map(|store| App::with_secret(POLICY, store, Some(SECRET)))
            .collect();
        let app = |i: usize| &apps[i % apps.len()];
        let mut events = app(0).axes.subscribe();
        for i in 0..2 {
            assert_eq!(
                app(i)
                    .login(&format!("192.0.2.{i}"), "alice", "guess")
                    .await,
                403,
                "{name}"
            );
        }
        let locked = app(0)
            .send(json_request(
                "192.0.2.9",
                "/login",
                json!({"username": "alice", "password": "guess"}),
            ))
            .await;
        assert_eq!(
            locked.status(),
            429,
            "{name}: a username lockout, across servers"
        );
        let body = body_text(locked).await;
        assert!(
            body.contains("\"alice\"") && !body.contains('~'),
            "{name}: told by name: {body}"
        );
        // A listener told of the lockout can tell its owner: the events
        // name her as she gave her name.
        let mut told = Vec::new();
        while let Ok(event) = events.try_recv() {
            match event {
                axes::AxesEvent::LoginFailed { client, .. } => {
                    told.push(client.username().map(str::to_owned));
                }
                axes::AxesEvent::LockedOut {
                    username, lockout, ..
                } => {
                    told.push(username);
                    told.push(lockout.username);
                }
                _ => {}
            }
        }
        assert!(told.len() >= 3, "{name}: {told:?}");
        assert!(
            told.iter().all(|named| named.as_deref() == Some("alice")),
            "{name}: {told:?}"
        );
        assert_eq!(
            app(1).login("192.0.2.20", "bob", "builder").await,
            200,
            "{name}"
        );

        // What the store holds, read through its own contract.
        let store = app(0).axes.store().clone();
        let records = store
            .records()
            .unwrap()
            .attempts(&AttemptFilter::All)
            .await
            .unwrap();
        let logins = store
            .access_log()
            .unwrap()
            .access_logs(&AttemptFilter::All)
            .await
            .unwrap();
        let failures = store
            .failure_log()
            .unwrap()
            .failure_logs(&AttemptFilter::All)
            .await
            .unwrap();
        let kept: Vec<&str> = records
            .iter()
            .filter_map(|r| r.username.as_deref())
            .chain(logins.iter().map(|l| l.username.as_str()))
            .chain(failures.iter().filter_map(|f| f.username.as_deref()))
            .collect();
        // A record per address alice failed from, a login, three failures.
        assert_eq!(kept.len(), 3 + 1 + 3, "{name}: {kept:?}");
        assert!(kept.iter().all(|k| pseudonym(k)), "{name}: {kept:?}");

        // The operator finds alice by her name, and sees it there only.
        let alice = AttemptFilter::Username("alice".into());
        let found = app(1).axes.attempts(alice.clone()).await.unwrap();
        assert_eq!(found.len(), 3, "{name}");
        assert!(
            found.iter().all(|r| r.username.as_deref() == Some("alice")),
            "{name}"
        );
        let lockouts = app(1).axes.lockouts(alice.clone()).await.unwrap();
        assert_eq!(
            lockouts[0].attempt.username.as_deref(),
            Some("alice"),
            "{name}"
        );
        let everyone = app(1).axes.attempts(AttemptFilter::All).await.unwrap();
        assert!(
            pseudonym(everyone[0].username.as_deref().unwrap()),
            "{name}"
        );
        let admin = axes::admin::router(app(0).axes.clone());
        let page = |uri: &str| {
            let admin = admin.clone();
            let uri = uri.to_owned();
            async move {
                let response = admin
                    .oneshot(Request::get(uri).body(Body::empty()).unwrap())
                    .await
                    .unwrap();
                body_text(response).await
            }
        };
        let searched = page("/?username=alice").await;
        assert!(searched.contains(">alice<"), "{name}: {searched}");
        let listed = page("/").await;
        assert!(
            !listed.contains("alice") && listed.contains(">~"),
            "{name}: {listed}"
        );

        // A reset by her name, on the last server, lifts her lockout.
        apps[apps.len() - 1].axes.reset(alice).await.unwrap();
        assert_eq!(
            app(0)
                .login_after_reset("192.0.2.30", "alice", "wonderland")
                .await,
            200,
            "{name}"
        );
    }
}

/// On SQLite, the file itself: no byte of a username, in the database
/// or its write-ahead log; the command line finds the user by name given
/// the secret, and says what it needs without it.
#[tokio::test]
async fn the_sqlite_file_holds_no_username_and_the_tool_needs_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("axes.sqlite3");
    let url = format!("sqlite://{}", db.display());
    let store = axes::SqliteStore::connect(&url).await.unwrap();
    let app = App::with_secret(POLICY, std::sync::Arc::new(store), Some(SECRET));
    for ip in ["192.0.2.1", "192.0.2.2"] {
        app.login(ip, "mallory.private", "guess").await;
    }
    assert_eq!(app.login("192.0.2.3", "bob", "builder").await, 200);
    drop(app);
    for file in [db.clone(), dir.path().join("axes.sqlite3-wal")] {
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        for name in ["mallory.private", "bob"] {
            assert!(
                !bytes.windows(name.len()).any(|w| w == name.as_bytes()),
                "{name} in {}",
                file.display()
            );
        }
    }
    let config = dir.path().join("axes.toml");
    std::fs::write(&config, POLICY).unwrap();
    let cli = |extra: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_axes"))
            .args(["--database-url", &url, "--config"])
            .arg(&config)
            .args(extra)
            .env_remove("AXES_SECRET")
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, _, err) = cli(&["list-attempts", "--username", "mallory.private"]);
    assert!(!ok && err.contains("AXES_SECRET"), "{err}");
    let secret = std::str::from_utf8(SECRET).unwrap();
    let (ok, out, err) = cli(&[
        "list-attempts",
        "--username",
        "mallory.private",
        "--secret",
        secret,
    ]);
    assert!(ok, "{err}");
    assert_eq!(out.matches("\tmallory.private\t1").count(), 2, "{out}");
}
