//! Login-attempt tracking and lockout for Axum and Tower, after
//! [django-axes](https://github.com/jazzband/django-axes).
//!
//! `axes` counts failed logins by IP address, username, user agent or any
//! combination of them, and locks a client out once it reaches the failure
//! limit — for a cool-off period, or until an operator resets it.
//!
//! * [`AxesLayer`] wraps login routes: it refuses locked-out clients before
//!   the handler runs and records what the handler reports.
//! * [`AxesReport`] is the extractor a handler reports with: `failed`,
//!   `succeeded`, `logged_out` (django-axes' `user_login_failed`,
//!   `user_logged_in`, `user_logged_out` signals).
//! * [`Axes`] is the engine: `check`, `login_failed`, `logged_in`, `reset`,
//!   `attempts`, `subscribe` — usable without the layer.
//! * [`AxesConfig`] is the policy, with django-axes' setting names.
//! * Stores: [`MemoryStore`] and [`SqliteStore`] (feature `sqlite`, default).
//!
//! # Example: a JSON login endpoint
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::net::SocketAddr;
//! use axum::{http::StatusCode, routing::post, Json, Router};
//! use axes::{Axes, AxesConfig, AxesLayer, AxesReport, Credentials, MemoryStore};
//!
//! async fn login(report: AxesReport, Json(body): Json<serde_json::Value>) -> StatusCode {
//!     let username = body["username"].as_str();
//!     match (username, body["password"].as_str()) {
//!         (Some(user), Some("wonderland")) if user == "alice" => {
//!             report.succeeded(user);
//!             StatusCode::OK
//!         }
//!         _ => {
//!             report.failed(Credentials::from(username));
//!             StatusCode::FORBIDDEN
//!         }
//!     }
//! }
//!
//! let config = AxesConfig::from_toml_str(r#"
//!     failure_limit = 5
//!     cooloff_time = "15m"
//!     lockout_parameters = [["username", "ip_address"]]
//! "#)?;
//! let axes = Axes::new(config, MemoryStore::new());
//! let app = Router::new()
//!     .route("/login", post(login))
//!     .layer(AxesLayer::new(axes));
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let server = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>());
//! # drop(server);
//! # Ok(()) }
//! ```
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod admin;
mod admission;
mod attempt_data;
mod axes;
mod builder;
mod checks;
mod client;
mod clock;
mod config;
mod detectors;
mod device;
mod escalation;
mod events;
mod hooks;
mod in_flight;
mod ip;
pub mod layer;
mod log_limit;
mod normalize;
mod policy;
mod report;
mod response;
mod secret;
pub mod store;

pub use crate::axes::{Axes, AxesError, Decision, FailureOutcome};
pub use admission::Admission;
pub use attempt_data::{cleansed_data, MASK, MAX_DATA_BYTES};
pub use builder::AxesBuilder;
pub use checks::{config_warnings, ConfigWarning};
pub use client::{ClientInfo, LockoutKey, MAX_ACCEPT_CHARS, MAX_FIELD_CHARS, UNKNOWN};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{
    AxesConfig, AxesConfigBuilder, ConfigError, CooloffBackoff, IpMatcher, LockoutGroup,
    LockoutParameter, LockoutResponseMode, LockoutTier, OnStoreError, SprayLimit,
    DEFAULT_BODY_READ_TIMEOUT, DEFAULT_IN_FLIGHT_LEASE, DEFAULT_IN_FLIGHT_QUEUE,
    DEFAULT_IN_FLIGHT_WAIT, DEFAULT_LOCKOUT_HISTORY, DEFAULT_MAX_BODY_BYTES,
};
pub use events::{AxesEvent, DEFAULT_EVENT_CAPACITY};
pub use hooks::{
    ClientIpCallable, CooloffCallable, FailureLimitCallable, LockoutParametersCallable,
    RequestInfo, UsernameCallable, WhitelistCallable,
};
pub use ip::{ProxyConfig, ProxyOrder};
pub use layer::{AxesLayer, AxesService};
pub use normalize::{ipv6_prefix, UsernameNormalization};
pub use policy::{Lockout, LockoutReason};
pub use report::{AxesRefusal, AxesReport, Credentials, MissingAxesLayer};
pub use response::{
    iso8601_duration, LockoutCallable, LockoutContext, LockoutTemplate, BUSY_MESSAGE,
    COOLOFF_MESSAGE, PERMALOCK_MESSAGE,
};
#[cfg(feature = "postgres")]
pub use store::PostgresStore;
#[cfg(feature = "redis")]
pub use store::RedisStore;
#[cfg(feature = "sqlite")]
pub use store::SqliteStore;
pub use store::{
    AccessAttempt, AccessFailureLog, AccessLog, Admitted, AttemptFilter, Counter, FailureRecord,
    MemoryStore, SlotRequest, Slots, Store, StoreError, Window,
};

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
