//! The `axes` command line tool against a SQLite store, with the outputs of
//! django-axes' management commands (its `tests/test_management.py`).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use axes::{AttemptFilter, Axes, AxesConfig, ClientInfo, ManualClock, SqliteStore};

const DAY: Duration = Duration::from_secs(24 * 3600);

fn axes_cli(db: &Path, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_axes"))
        .arg("--database-url")
        .arg(format!("sqlite://{}", db.display()))
        .args(args)
        .env_remove("AXES_CONFIG")
        .output()
        .expect("the axes binary runs");
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

fn stdout(db: &Path, args: &[&str]) -> String {
    let (ok, out, err) = axes_cli(db, args);
    assert!(ok, "axes {args:?} failed: {err}");
    out
}

/// An engine on the store at `db`, its clock at `now`.
async fn engine(db: &Path, now: SystemTime) -> Axes {
    let store = SqliteStore::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let config = AxesConfig::from_toml_str("failure_limit = 100").unwrap();
    Axes::builder(config, store)
        .clock(ManualClock::at(now))
        .build()
}

/// django-axes' fixture: (jane.doe, 10.0.0.1, 4), (john.doe, 10.0.0.2, 15),
/// (richard.doe, 10.0.0.4, 12).
async fn fixture(db: &Path) {
    let axes = engine(db, SystemTime::now()).await;
    for (username, ip, failures) in [
        ("jane.doe", "10.0.0.1", 4),
        ("john.doe", "10.0.0.2", 15),
        ("richard.doe", "10.0.0.4", 12),
    ] {
        let client = ClientInfo::new(ip.parse().unwrap()).with_username(username);
        for _ in 0..failures {
            crate::common::record_failure(&axes, &client).await;
        }
    }
}

#[tokio::test]
async fn list_attempts_prints_ip_username_and_failures() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("axes.sqlite3");
    fixture(&db).await;
    let mut lines: Vec<String> = stdout(&db, &["list-attempts"])
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "10.0.0.1\tjane.doe\t4",
            "10.0.0.2\tjohn.doe\t15",
            "10.0.0.4\trichard.doe\t12"
        ]
    );
    assert_eq!(
        stdout(&db, &["list-attempts", "--username", "john.doe"]),
        "10.0.0.2\tjohn.doe\t15\n"
    );
}

#[tokio::test]
async fn resets_report_what_they_removed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("axes.sqlite3");
    fixture(&db).await;
    assert_eq!(
        stdout(&db, &["reset-ip", "10.0.0.1"]),
        "1 attempts removed.\n"
    );
    assert_eq!(
        stdout(&db, &["reset-ip", "10.0.0.3"]),
        "No attempts found.\n"
    );
    assert_eq!(
        stdout(&db, &["reset-username", "john.doe"]),
        "1 attempts removed.\n"
    );
    assert_eq!(
        stdout(&db, &["reset-username", "ivan.renko"]),
        "No attempts found.\n"
    );
    assert_eq!(
        stdout(&db, &["reset-ip-username", "10.0.0.4", "richard.doe"]),
        "1 attempts removed.\n"
    );
    fixture(&db).await;
    assert_eq!(stdout(&db, &["reset"]), "3 attempts removed.\n");
    assert_eq!(stdout(&db, &["reset"]), "No attempts found.\n");
    // The lockouts are lifted, not only the records deleted.
    let axes = engine(&db, SystemTime::now()).await;
    assert!(axes.attempts(AttemptFilter::All).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_reset_lifts_the_lockout_it_names() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("axes.sqlite3");
    let axes = engine(&db, SystemTime::now()).await;
    let config = AxesConfig::from_toml_str("failure_limit = 2").unwrap();
    let axes = Axes::builder(config, axes.store().clone()).build();
    let client = ClientInfo::new("10.0.0.9".parse().unwrap()).with_username("mallory");
    crate::common::record_failure(&axes, &client).await;
    assert!(crate::common::record_failure(&axes, &client)
        .await
        .lockout
        .is_some());
    assert!(crate::common::check(&axes, &client)
        .await
        .lockout()
        .is_some());
    assert_eq!(
        stdout(&db, &["reset-ip", "10.0.0.9"]),
        "1 attempts removed.\n"
    );
    // The serving process notices the other process's write (SQLite's
    // `data_version`, looked at every 50 ms) and forgets the lockout it
    // cached.
    let lifted = crate::common::within(Duration::from_secs(1), || async {
        crate::common::check(&axes, &client)
            .await
            .lockout()
            .is_none()
    })
    .await;
    assert!(lifted.is_some(), "the lockout was lifted");
}

#[tokio::test]
async fn log_resets_take_an_age_in_days() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("axes.sqlite3");
    let now = SystemTime::now();
    for days in [3, 9, 27] {
        let axes = engine(&db, now - DAY * days).await;
        let client = ClientInfo::new("10.0.0.1".parse().unwrap());
        axes.attempt(client)
            .report(axes::Report::succeeded("jane.doe"))
            .await
            .unwrap();
    }
    assert_eq!(stdout(&db, &["reset-logs"]), "No logs found.\n");
    assert_eq!(
        stdout(&db, &["reset-logs", "--age", "16"]),
        "1 logs removed.\n"
    );
    assert_eq!(
        stdout(&db, &["reset-logs", "--age", "4"]),
        "1 logs removed.\n"
    );
    assert_eq!(
        stdout(&db, &["reset-logs", "--age", "2"]),
        "1 logs removed.\n"
    );
    assert_eq!(
        stdout(&db, &["reset-failure-logs", "--age", "12h"]),
        "No logs found.\n"
    );
}

#[test]
fn bad_arguments_are_errors_not_wipes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("axes.sqlite3");
    stdout(&db, &["migrate"]);
    for args in [
        &["reset-ip"][..],
        &["reset-ip", "not-an-ip"],
        &["reset-username", ""],
        &["reset-logs", "--age", "soon"],
        &["frobnicate"],
    ] {
        let (ok, _, err) = axes_cli(&db, args);
        assert!(!ok, "axes {args:?} should fail");
        assert!(!err.is_empty(), "axes {args:?} says why");
    }
    let (ok, _, err) = axes_cli(Path::new("/nonexistent/dir/axes.sqlite3"), &["reset"]);
    assert!(!ok);
    assert!(err.starts_with("axes: "), "{err}");
}

/// `axes` with `args` only, no `--database-url` put first.
fn axes_raw(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_axes"))
        .args(args)
        .env_remove("AXES_CONFIG")
        .env_remove("AXES_DATABASE_URL")
        .output()
        .expect("the axes binary runs");
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[tokio::test]
async fn options_go_after_the_subcommand_too() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("axes.sqlite3");
    fixture(&db).await;
    let url = format!("sqlite://{}", db.display());
    let (ok, out, err) = axes_raw(&[
        "list-attempts",
        "--username",
        "jane.doe",
        "--database-url",
        &url,
    ]);
    assert!(ok, "{err}");
    assert_eq!(out, "10.0.0.1\tjane.doe\t4\n");
    let config = dir.path().join("axes.toml");
    std::fs::write(&config, "failure_limit = 5").unwrap();
    let (ok, out, err) = axes_raw(&[
        "lockouts",
        "--database-url",
        &url,
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let mut locked: Vec<&str> = out.lines().map(|l| l.split('\t').nth(1).unwrap()).collect();
    locked.sort();
    assert_eq!(
        locked,
        ["john.doe", "richard.doe"],
        "4 failures are below 5: {out}"
    );
}

#[tokio::test]
async fn migrate_creates_the_store_and_nothing_else_does() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("new.sqlite3");
    let url = format!("sqlite://{}", db.display());
    let (ok, _, err) = axes_raw(&["--database-url", &url, "list-attempts"]);
    assert!(!ok);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("does not exist") && err.contains("axes migrate"),
        "{err}"
    );
    assert!(!db.exists(), "a listing creates no file");
    let (ok, out, err) = axes_raw(&["migrate", "--database-url", &url]);
    assert!(ok, "{err}");
    assert!(out.contains("up to date"), "{out}");
    assert!(db.exists());
    assert_eq!(stdout(&db, &["list-attempts"]), "");
    // Running it again changes nothing.
    assert!(stdout(&db, &["migrate"]).contains("up to date"));
}

#[test]
fn an_unreachable_store_is_one_line_with_no_password() {
    for url in [
        "postgres://axes:s3cret@127.0.0.1:1/axes",
        "redis://:s3cret@127.0.0.1:1/",
    ] {
        let (ok, _, err) = axes_raw(&["list-attempts", "--database-url", url]);
        assert!(!ok, "{url}");
        assert_eq!(err.lines().count(), 1, "{url}: {err}");
        assert!(err.starts_with("axes: cannot open the store at "), "{err}");
        assert!(!err.contains("s3cret"), "the password is masked: {err}");
    }
}

#[tokio::test]
async fn listings_filter_by_lockout_and_speak_json() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("axes.sqlite3");
    fixture(&db).await;
    let config = dir.path().join("axes.toml");
    std::fs::write(&config, "failure_limit = 13\ncooloff_time = \"2h\"").unwrap();
    let config = config.to_str().unwrap();
    assert_eq!(
        stdout(&db, &["list-attempts", "--locked", "--config", config]),
        "10.0.0.2\tjohn.doe\t15\n",
        "only 15 failures reach 13"
    );
    assert_eq!(
        stdout(
            &db,
            &[
                "list-attempts",
                "--locked",
                "--ip",
                "10.0.0.4",
                "--config",
                config
            ]
        ),
        ""
    );
    let json: serde_json::Value = serde_json::from_str(&stdout(
        &db,
        &["list-attempts", "--json", "--ip", "10.0.0.4"],
    ))
    .unwrap();
    assert_eq!(json[0]["username"], "richard.doe");
    assert_eq!(json[0]["failures"], 12);
    assert_eq!(json.as_array().unwrap().len(), 1);

    let line = stdout(&db, &["lockouts", "--config", config]);
    let fields: Vec<&str> = line.trim_end().split('\t').collect();
    assert_eq!(
        &fields[..4],
        ["10.0.0.2", "john.doe", "too_many_failures", "15"],
        "{line}"
    );
    let left: u64 = fields[6].parse().unwrap();
    assert!((7000..=7200).contains(&left), "about 2 h left: {line}");
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&db, &["lockouts", "--json", "--config", config])).unwrap();
    assert_eq!(json[0]["username"], "john.doe");
    assert_eq!(json[0]["failure_limit"], 13);
    assert!(json[0]["until"].is_string());
    assert_eq!(
        stdout(
            &db,
            &["lockouts", "--username", "jane.doe", "--config", config]
        ),
        "Nobody is locked out.\n"
    );
}

#[tokio::test]
async fn support_issues_an_unlock_token_the_application_redeems() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("axes.sqlite3");
    let secret = "the application's engine secret, 32+ bytes";
    let app = || async {
        let store = SqliteStore::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let config = AxesConfig::from_toml_str("lockout_parameters = [\"username\"]").unwrap();
        Axes::builder(config, store).secret(secret).build()
    };
    let john = ClientInfo::new("10.0.0.2".parse().unwrap()).with_username("john.doe");
    let before = app().await;
    for _ in 0..3 {
        crate::common::record_failure(&before, &john).await;
    }
    assert!(crate::common::check(&before, &john)
        .await
        .lockout()
        .is_some());
    drop(before);
    let (ok, _, err) = axes_cli(&db, &["unlock-token", "john.doe"]);
    assert!(
        !ok && err.contains("--secret"),
        "the secret is required: {err}"
    );
    let token = stdout(&db, &["unlock-token", "john.doe", "--secret", secret]);
    // The owner follows the link later, and the application redeems it.
    let app = app().await;
    assert_eq!(app.redeem_unlock(token.trim()).await.unwrap(), "john.doe");
    assert!(crate::common::check(&app, &john).await.lockout().is_none());
    let forged = stdout(
        &db,
        &["unlock-token", "john.doe", "--secret", "a guessed secret"],
    );
    assert!(
        matches!(
            app.redeem_unlock(forged.trim()).await,
            Err(axes::UnlockError::Invalid)
        ),
        "a token sealed with another secret is refused"
    );
}

/// Usernames a client chose to write into the operator's terminal — a
/// forged row, a screen clear and recolour, a right-to-left override —
/// sent as failed logins to the demo server until they lock, then listed
/// by `list-attempts`, `list-attempts --locked` and `lockouts`: each
/// prints one row per record, every control or format character made
/// visible, and no byte that a terminal would act on.
#[tokio::test]
async fn client_chosen_usernames_cannot_write_into_the_operators_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("axes.sqlite3");
    let url = format!("sqlite://{}", db.display());
    let config = dir.path().join("axes.toml");
    std::fs::write(
        &config,
        "failure_limit = 2\nlockout_parameters = [\"username\"]",
    )
    .unwrap();
    let hostile = [
        "mallory\n10.66.66.66\tforged-admin\t999",
        "\u{1b}[2J\u{1b}[31mFAKE",
        "eve\r\u{202e}nimda\u{7f}\u{9b}",
    ];
    {
        let demo = crate::common::process::Demo::start(&url, &config);
        for name in hostile {
            let body = serde_json::json!({"username": name, "password": "wrong"}).to_string();
            assert_eq!(demo.post("127.0.0.1", "/login", &body).await, 403);
            assert_eq!(demo.post("127.0.0.1", "/login", &body).await, 429);
        }
    }
    let config_arg = config.to_str().unwrap();
    for args in [
        &["list-attempts"][..],
        &["list-attempts", "--locked", "--config", config_arg],
        &["lockouts", "--config", config_arg],
    ] {
        let out = stdout(&db, args);
        assert_eq!(
            out.lines().count(),
            hostile.len(),
            "one row per record: {out:?}"
        );
        assert!(
            !out.chars()
                .any(|c| (c.is_control() && c != '\n' && c != '\t') || c == '\u{202e}'),
            "{args:?} printed a byte a terminal acts on: {out:?}"
        );
        assert!(
            out.contains(r"mallory\n10.66.66.66\tforged-admin\t999"),
            "{out}"
        );
        assert!(out.contains(r"\u{1b}[2J\u{1b}[31mFAKE"), "{out}");
        assert!(out.contains(r"eve\r\u{202e}nimda\u{7f}\u{9b}"), "{out}");
        // The forged row is no row: no line starts with its address.
        assert!(
            !out.lines().any(|line| line.starts_with("10.66.66.66")),
            "{out}"
        );
    }
}

#[tokio::test]
async fn erase_removes_everything_stored_of_a_client() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("axes.sqlite3");
    let store = SqliteStore::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let config = AxesConfig::from_toml_str("enable_access_failure_log = true").unwrap();
    let axes = Axes::new(config, store);
    for (ip, username) in [("10.0.0.1", "jane.doe"), ("10.0.0.2", "john.doe")] {
        let client = ClientInfo::new(ip.parse().unwrap());
        axes.attempt(client.clone())
            .report(axes::Report::failed(username))
            .await
            .unwrap();
        axes.attempt(client)
            .report(axes::Report::succeeded(username))
            .await
            .unwrap();
    }
    drop(axes);
    assert_eq!(
        stdout(&db, &["erase", "--username", "jane.doe"]),
        "Erased 1 attempts, 1 access log entries, 1 failure log entries.\n"
    );
    let store = SqliteStore::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let axes = Axes::new(AxesConfig::default(), store);
    let jane = AttemptFilter::Username("jane.doe".into());
    assert!(axes.attempts(jane.clone()).await.unwrap().is_empty());
    assert!(axes.access_logs(jane.clone()).await.unwrap().is_empty());
    assert!(axes.failure_logs(jane).await.unwrap().is_empty());
    let john = AttemptFilter::Username("john.doe".into());
    assert_eq!(axes.access_logs(john.clone()).await.unwrap().len(), 1);
    assert_eq!(axes.failure_logs(john).await.unwrap().len(), 1);
    // Naming no one is an error, never an erasure of everyone.
    let (ok, _, err) = axes_cli(&db, &["erase"]);
    assert!(!ok && err.contains("never covers everyone"), "{err}");
    assert_eq!(axes.access_logs(AttemptFilter::All).await.unwrap().len(), 1);
}
