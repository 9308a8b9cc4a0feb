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
//! * [`Axes`] is the engine: `check`, `admit`, `login_failed`, `logged_in`,
//!   `reset`, `attempts`, `subscribe` — usable without the layer.
//! * [`AxesConfig`] is the policy, with django-axes' setting names.
//! * Stores: [`MemoryStore`] and [`SqliteStore`] (feature `sqlite`, default).
//!
//! # Example: a JSON login endpoint
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::net::SocketAddr;
//! use axum::{handler::Handler, http::StatusCode, routing::post, Json, Router};
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
//!     .route("/login", post(login.layer(AxesLayer::new(axes))));
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let server = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>());
//! # drop(server);
//! # Ok(()) }
//! ```
#![warn(missing_docs)]
#![deny(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The layers, from the bottom up; no module depends on one above it.
pub mod config; // the policy's settings
pub mod engine; // the named steps of an attempt
mod http; // the layer, the extractor, responses, the admin
pub mod identity; // who attempts, and the keys their failures count under
pub mod policy; // the pure decisions
pub mod store; // the store contract and the backends

// Leaves any layer may use.
pub mod clock;
mod deadline;
mod hex;
mod log_limit;
#[cfg(feature = "metrics")]
pub mod metrics;
mod secret;

pub use http::{admin, layer};

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{AxesConfig, ConfigError};
pub use engine::{
    Activity, ActivityCount, Answer, Attempt, Axes, AxesBuilder, AxesError, AxesEvent, Decision,
    Erased, FailureOutcome, Outcome, RecentLockout, Report, UnlockError, Verdict,
};
pub use http::{
    AxesRefusal, AxesReport, LockoutCallable, LockoutContext, LockoutTemplate, MissingAxesLayer,
};
pub use identity::{
    ClientInfo, Credentials, LockoutGroup, LockoutKey, LockoutParameter, LoginAttempt, RequestInfo,
};
pub use layer::AxesLayer;
pub use policy::{Lockout, LockoutReason};
#[cfg(feature = "postgres")]
pub use store::PostgresStore;
#[cfg(feature = "redis")]
pub use store::RedisStore;
#[cfg(feature = "sqlite")]
pub use store::SqliteStore;
pub use store::{AttemptFilter, MemoryStore, Store, StoreError};

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The engine guide's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/engine.md")]
pub struct EngineGuideDoctests;

/// The settings guide's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/settings.md")]
pub struct SettingsGuideDoctests;

/// The admin guide's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/admin.md")]
pub struct AdminGuideDoctests;
