//! `axes`: django-axes' management commands for an `axes` store.
//!
//! ```text
//! axes list-attempts                 # axes_list_attempts
//! axes reset                         # axes_reset
//! axes reset-ip 10.0.0.1 10.0.0.2    # axes_reset_ip
//! axes reset-username alice          # axes_reset_username
//! axes reset-ip-username 10.0.0.1 alice
//! axes reset-logs --age 30           # axes_reset_logs (days, or "12h")
//! axes reset-failure-logs --age 30   # axes_reset_failure_logs
//! ```
//!
//! The store comes from `--database-url` (or `AXES_DATABASE_URL`) and the
//! policy from `--config` (or `AXES_CONFIG`): give the application's own, so
//! that resets take failures off the counters its lockout parameters keep.

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use axes::{AttemptFilter, Axes, AxesConfig};
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
    #[arg(long, env = "AXES_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    database_url: String,
    /// The application's policy (TOML), for its lockout parameters and
    /// username normalization.
    #[arg(long, env = "AXES_CONFIG")]
    config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Lists the attempt records: IP, username and failures, tab-separated.
    ListAttempts {
        /// Only the records of this IP.
        #[arg(long)]
        ip: Option<IpAddr>,
        /// Only the records of this username.
        #[arg(long)]
        username: Option<String>,
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
    let store = axes::store::connect(&cli.database_url).await?;
    let axes = Axes::builder(config, store).build();
    let removed = |n: u64, what: &str| {
        if n == 0 {
            format!("No {what} found.\n")
        } else {
            format!("{n} {what} removed.\n")
        }
    };
    Ok(match cli.command {
        Command::ListAttempts { ip, username } => {
            let filter = match (ip, username) {
                (None, None) => AttemptFilter::All,
                (Some(ip), None) => AttemptFilter::Ip(ip),
                (None, Some(username)) => AttemptFilter::Username(username),
                (Some(ip), Some(username)) => AttemptFilter::IpAndUsername(ip, username),
            };
            let mut out = String::new();
            for attempt in axes.attempts(filter).await? {
                let ip = attempt
                    .ip_address
                    .map_or("None".to_owned(), |ip| ip.to_string());
                let username = attempt.username.as_deref().unwrap_or("None");
                out.push_str(&format!("{ip}\t{username}\t{}\n", attempt.failures));
            }
            out
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
    })
}
