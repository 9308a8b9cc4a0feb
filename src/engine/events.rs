//! [`AxesEvent`]: what the engine did, as a broadcast stream (django-axes'
//! `user_locked_out` signal and friends).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use axes::{Axes, AxesConfig, AxesEvent, ClientInfo, MemoryStore, Report};
//! let config = AxesConfig::builder().failure_limit(1).build().unwrap();
//! let axes = Axes::new(config, MemoryStore::new());
//! let mut events = axes.subscribe();
//! let client = ClientInfo::new("192.0.2.1".parse().unwrap()).with_username("alice");
//! axes.attempt(client.clone()).report(Report::failed("alice")).await.unwrap();
//! assert!(matches!(events.recv().await.unwrap(), AxesEvent::LoginFailed { .. }));
//! match events.recv().await.unwrap() {
//!     AxesEvent::LockedOut { username, ip_address, .. } => {
//!         assert_eq!(username.as_deref(), Some("alice"));
//!         assert_eq!(ip_address, client.ip_address());
//!     }
//!     other => panic!("unexpected {other:?}"),
//! }
//! # }
//! ```

use std::net::IpAddr;
use std::time::SystemTime;

use crate::identity::ClientInfo;
use crate::policy::Lockout;
use crate::store::AttemptFilter;

/// The default number of events a slow subscriber may fall behind by
/// before it misses some (it then receives `RecvError::Lagged`).
pub const DEFAULT_EVENT_CAPACITY: usize = 1024;

/// Something the engine recorded or decided.
///
/// With `private_usernames`, the events of an attempt name the username it
/// was given, never its pseudonym; `Unlocked` names the username as kept,
/// the pseudonym its token was issued for.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AxesEvent {
    /// A failed login was reported (`user_login_failed`).
    LoginFailed {
        /// The client that failed.
        client: ClientInfo,
        /// Its largest failure count after this failure (0 when the failure
        /// was not recorded: whitelisted, disabled, or no key applied).
        failures: u64,
        /// Whether the failure was recorded.
        recorded: bool,
        /// When it happened.
        at: SystemTime,
    },
    /// A client was locked out by a failure (`user_locked_out`).
    LockedOut {
        /// The username tried, if known.
        username: Option<String>,
        /// The client IP.
        ip_address: IpAddr,
        /// The whole client.
        client: ClientInfo,
        /// The lockout.
        lockout: Lockout,
        /// When it happened.
        at: SystemTime,
    },
    /// A failure left a client `warn_attempts_left` attempts or fewer before
    /// its lockout (Devise's `last_attempt_warning`): a moment to tell the
    /// account's owner. Only with `warn_attempts_left`.
    ApproachingLimit {
        /// The username tried, if known.
        username: Option<String>,
        /// The client IP.
        ip_address: IpAddr,
        /// The whole client.
        client: ClientInfo,
        /// Its largest failure count after this failure.
        failures: u64,
        /// How many more failures lock it out.
        attempts_left: u64,
        /// When it happened.
        at: SystemTime,
    },
    /// A failed second factor was reported
    /// ([`Report::second_factor_failed`](crate::Report::second_factor_failed)).
    /// When it locked the username out of its second factor,
    /// [`AxesEvent::LockedOut`] follows.
    SecondFactorFailed {
        /// The username whose second factor failed (as counted; with
        /// `private_usernames`, as given, never its pseudonym).
        username: String,
        /// The client.
        client: ClientInfo,
        /// The username's failed second factors in a row, this one included.
        failures: u64,
        /// When.
        at: SystemTime,
    },
    /// The site-wide breaker tripped (`site_breaker`), as this server saw
    /// it: clients without trust must pass the challenge.
    BreakerTripped {
        /// The failures a minute, across every key.
        failures_per_minute: u64,
        /// The budget it went past.
        budget: u64,
        /// When.
        at: SystemTime,
    },
    /// The site-wide breaker cleared: the rate fell back within the budget.
    BreakerCleared {
        /// The failures a minute, across every key.
        failures_per_minute: u64,
        /// The budget.
        budget: u64,
        /// When.
        at: SystemTime,
    },
    /// An unlock token was redeemed: the username's lockouts were lifted.
    Unlocked {
        /// The username unlocked (as counted).
        username: String,
        /// When.
        at: SystemTime,
    },
    /// A successful login was reported (`user_logged_in`).
    LoggedIn {
        /// The client.
        client: ClientInfo,
        /// Who logged in.
        username: String,
        /// When.
        at: SystemTime,
    },
    /// A logout was reported (`user_logged_out`).
    LoggedOut {
        /// The client.
        client: ClientInfo,
        /// Who logged out, if known.
        username: Option<String>,
        /// When.
        at: SystemTime,
    },
    /// Attempt records were reset.
    Reset {
        /// What was reset.
        filter: AttemptFilter,
        /// How many attempt records were deleted.
        removed: u64,
        /// When.
        at: SystemTime,
    },
}
