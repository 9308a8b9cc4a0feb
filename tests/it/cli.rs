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
            axes.login_failed(&client).await.unwrap();
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
    axes.login_failed(&client).await.unwrap();
    assert!(axes.login_failed(&client).await.unwrap().lockout.is_some());
    assert_eq!(
        stdout(&db, &["reset-ip", "10.0.0.9"]),
        "1 attempts removed.\n"
    );
    assert!(axes.check(&client).await.unwrap().lockout().is_none());
}

#[tokio::test]
async fn log_resets_take_an_age_in_days() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("axes.sqlite3");
    let now = SystemTime::now();
    for days in [3, 9, 27] {
        let axes = engine(&db, now - DAY * days).await;
        let client = ClientInfo::new("10.0.0.1".parse().unwrap());
        axes.logged_in(&client, "jane.doe").await.unwrap();
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
