//! `axes`: django-axes' management commands for an `axes` store.
//!
//! ```text
//! axes migrate                       # creates the store's tables, or updates them
//! axes list-attempts                 # axes_list_attempts
//! axes list-attempts --locked --json # only those locked out now, as JSON
//! axes lockouts                      # who is locked out now, why, until when
//! axes reset                         # axes_reset
//! axes reset-ip 10.0.0.1 10.0.0.2    # axes_reset_ip
//! axes reset-username alice          # axes_reset_username
//! axes reset-ip-username 10.0.0.1 alice
//! axes reset-logs --age 30           # axes_reset_logs (days, or "12h")
//! axes reset-failure-logs --age 30   # axes_reset_failure_logs
//! axes unlock-token alice            # a self-service unlock token (AXES_SECRET)
//! axes erase --username alice        # everything stored of alice: records, logs
//! ```
//!
//! The store comes from `--database-url` (or `AXES_DATABASE_URL`) and the
//! policy from `--config` (or `AXES_CONFIG`): give the application's own, so
//! that resets take failures off the counters its lockout parameters keep,
//! and listings of lockouts judge them by its limits. Both options go
//! before or after the subcommand. Only `migrate` creates a SQLite file
//! that is not there.

use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axes::engine::CurrentLockout;
use axes::store::AccessAttempt;
use axes::{AttemptFilter, Axes, AxesConfig, Store};
use clap::{Parser, Subcommand};

/// The store the demo server uses by default.
const DEFAULT_DATABASE_URL: &str = "sqlite://axes-demo.sqlite3";

#[derive(Debug, Parser)]
#[command(
    name = "axes",
    version,
    about = "Lists and resets login attempts in an axes store."
)]
struct Cli {
    /// The store: `sqlite://PATH`, `postgres://…` or `redis://…`.
    #[arg(long, global = true, env = "AXES_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    database_url: String,
    /// The application's policy (TOML), for its lockout parameters and
    /// username normalization.
    #[arg(long, global = true, env = "AXES_CONFIG")]
    config: Option<std::path::PathBuf>,
    /// The application's engine secret (the bytes it gives
    /// `AxesBuilder::secret`): for `unlock-token`, and with
    /// `private_usernames` to find users by name.
    #[arg(long, global = true, env = "AXES_SECRET", hide_env_values = true)]
    secret: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Creates the store's tables, or brings them up to date.
    Migrate,
    /// Lists the attempt records: IP, username and failures, tab-separated.
    ListAttempts {
        #[command(flatten)]
        search: Search,
        /// Only the records whose client is locked out now.
        #[arg(long)]
        locked: bool,
        /// One JSON array instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Lists who is locked out now: IP, username, reason, failures, since,
    /// until (or `until reset`) and seconds left, tab-separated.
    Lockouts {
        #[command(flatten)]
        search: Search,
        /// One JSON array instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Deletes every attempt record and lifts every lockout.
    Reset,
    /// Lifts the lockouts of these IP addresses.
    ResetIp {
        #[arg(required = true)]
        ips: Vec<IpAddr>,
    },
    /// Lifts the lockouts of these usernames.
    ResetUsername {
        #[arg(required = true)]
        usernames: Vec<String>,
    },
    /// Lifts the lockouts of one username from one IP address.
    ResetIpUsername { ip: IpAddr, username: String },
    /// Deletes access log entries older than the age.
    ResetLogs {
        /// Days (`30`), or a duration (`12h`).
        #[arg(long, default_value = "30", value_parser = parse_age)]
        age: Duration,
    },
    /// Deletes failure log entries older than the age.
    ResetFailureLogs {
        /// Days (`30`), or a duration (`12h`).
        #[arg(long, default_value = "30", value_parser = parse_age)]
        age: Duration,
    },
    /// Erases everything stored of the clients a search names (an IP,
    /// a username, or both): their attempt records and counters (their
    /// lockouts lifted), their access and failure log entries. A request
    /// to erase someone's personal data.
    Erase {
        #[command(flatten)]
        search: Search,
    },
    /// Issues a self-service unlock token for a username, for support to
    /// send its owner: the application redeems it with
    /// `Axes::redeem_unlock`, once, within `unlock_token_lifetime`.
    UnlockToken { username: String },
}

/// Which records a listing covers.
#[derive(Debug, clap::Args)]
struct Search {
    /// Only the records of this IP.
    #[arg(long)]
    ip: Option<IpAddr>,
    /// Only the records of this username.
    #[arg(long)]
    username: Option<String>,
}

impl Search {
    fn filter(self) -> AttemptFilter {
        AttemptFilter::of(self.ip, self.username)
    }
}

/// An age in whole days, as django-axes' `--age`, or a human duration.
fn parse_age(text: &str) -> Result<Duration, String> {
    match text.parse::<u64>() {
        Ok(days) => days
            .checked_mul(24 * 3600)
            .map(Duration::from_secs)
            .ok_or_else(|| format!("{days} days is too long")),
        Err(_) => humantime::parse_duration(text).map_err(|e| e.to_string()),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("axes: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(output) => {
            print!("{output}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("axes: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<String, Box<dyn std::error::Error>> {
    let config = match &cli.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            AxesConfig::from_toml_str(&text)?
        }
        None => AxesConfig::default(),
    };
    let migrating = matches!(cli.command, Command::Migrate);
    let store = open(&cli.database_url, migrating).await?;
    let needs_secret = match &cli.command {
        Command::UnlockToken { .. } => Some("unlock-token"),
        _ if config.private_usernames => Some("private_usernames"),
        _ => None,
    };
    let mut builder = Axes::builder(config, store);
    match (&cli.secret, needs_secret) {
        (Some(secret), _) => builder = builder.secret(secret.as_bytes()),
        (None, Some(why)) => {
            return Err(format!(
                "{why} needs the application's secret: give --secret or AXES_SECRET"
            )
            .into())
        }
        (None, None) => {}
    }
    let axes = builder.build();
    let removed = |n: u64, what: &str| {
        if n == 0 {
            format!("No {what} found.\n")
        } else {
            format!("{n} {what} removed.\n")
        }
    };
    Ok(match cli.command {
        Command::Migrate => format!(
            "The store at {} is up to date.\n",
            redacted(&cli.database_url)
        ),
        Command::ListAttempts {
            search,
            locked,
            json,
        } => {
            let filter = search.filter();
            let attempts = if locked {
                let lockouts = axes.lockouts(filter).await?;
                lockouts.into_iter().map(|locked| locked.attempt).collect()
            } else {
                axes.attempts(filter).await?
            };
            if json {
                let rows: Vec<_> = attempts.iter().map(AccessAttempt::to_json).collect();
                format!("{}\n", serde_json::Value::Array(rows))
            } else {
                attempts
                    .iter()
                    .map(|attempt| {
                        format!(
                            "{}\t{}\t{}\n",
                            ip_text(attempt.ip_address),
                            username_text(attempt.username.as_deref()),
                            attempt.failures
                        )
                    })
                    .collect()
            }
        }
        Command::Lockouts { search, json } => {
            let now = axes.now();
            let lockouts = axes.lockouts(search.filter()).await?;
            if json {
                let rows = lockouts.iter().map(|locked| locked.to_json(now)).collect();
                format!("{}\n", serde_json::Value::Array(rows))
            } else if lockouts.is_empty() {
                "Nobody is locked out.\n".to_owned()
            } else {
                lockouts
                    .iter()
                    .map(|locked| lockout_line(locked, now))
                    .collect()
            }
        }
        Command::Reset => removed(axes.reset(AttemptFilter::All).await?, "attempts"),
        Command::ResetIp { ips } => {
            let mut total = 0;
            for ip in ips {
                total += axes.reset(AttemptFilter::Ip(ip)).await?;
            }
            removed(total, "attempts")
        }
        Command::ResetUsername { usernames } => {
            let mut total = 0;
            for username in usernames {
                total += axes.reset(AttemptFilter::Username(username)).await?;
            }
            removed(total, "attempts")
        }
        Command::ResetIpUsername { ip, username } => removed(
            axes.reset(AttemptFilter::IpAndUsername(ip, username))
                .await?,
            "attempts",
        ),
        Command::ResetLogs { age } => removed(axes.reset_logs(age).await?, "logs"),
        Command::ResetFailureLogs { age } => removed(axes.reset_failure_logs(age).await?, "logs"),
        Command::Erase { search } => {
            let erased = axes.erase(search.filter()).await?;
            format!(
                "Erased {} attempts, {} access log entries, {} failure log entries.\n",
                erased.attempts, erased.access_logs, erased.failure_logs
            )
        }
        Command::UnlockToken { username, .. } => {
            format!("{}\n", axes.unlock_token(&username).await?)
        }
    })
}

/// Opens the store at `url`: one line saying why when it is missing (a
/// SQLite file that is not there, unless `create`) or cannot be reached.
async fn open(url: &str, create: bool) -> Result<Arc<dyn Store>, String> {
    if let Some(path) = sqlite_path(url) {
        if !create && !std::path::Path::new(path).exists() {
            return Err(format!(
                "no store at {url}: {path} does not exist (`axes migrate` creates it)"
            ));
        }
    }
    axes::store::connect(url).await.map_err(|error| {
        let error = error.to_string().replace('\n', " ");
        format!("cannot open the store at {}: {error}", redacted(url))
    })
}

/// The file of a `sqlite://PATH` URL (not an in-memory one).
fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.contains(":memory:")).then_some(path)
}

/// `url` with any password in it masked, for messages.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((credentials, host)) if !credentials.contains('/') => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_owned(),
    }
}

fn ip_text(ip: Option<IpAddr>) -> String {
    ip.map_or("None".to_owned(), |ip| ip.to_string())
}

/// A username as a table shows it: `None` when there is none, as
/// django-axes prints it, and every character that could forge a row or
/// rewrite the terminal made visible.
fn username_text(username: Option<&str>) -> std::borrow::Cow<'_, str> {
    username.map_or(std::borrow::Cow::Borrowed("None"), axes::identity::visible)
}

fn time_text(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

/// One line of `lockouts`.
fn lockout_line(locked: &CurrentLockout, now: SystemTime) -> String {
    let (until, left) = match (locked.until(), locked.time_left(now)) {
        (Some(until), Some(left)) => (time_text(until), left.as_secs().to_string()),
        _ => ("until reset".to_owned(), "-".to_owned()),
    };
    format!(
        "{}\t{}\t{}\t{}\t{}\t{until}\t{left}\n",
        ip_text(locked.attempt.ip_address),
        username_text(locked.attempt.username.as_deref()),
        locked.lockout.reason.as_str(),
        locked.lockout.failures,
        time_text(locked.since()),
    )
}
