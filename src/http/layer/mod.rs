//! The Tower middleware: [`AxesLayer`] and [`AxesService`].
//!
//! Before the handler runs, the service resolves the client (TCP peer IP
//! from [`ConnectInfo`](axum::extract::ConnectInfo), user agent, path, and
//! the username read from a JSON or form body, buffered up to
//! `max_body_bytes` and handed to the handler unchanged), begins its
//! [`Attempt`](crate::engine::Attempt) and refuses a locked-out or
//! blacklisted client with the lockout response. After the handler
//! returns, it reports what the handler said through
//! [`AxesReport`](crate::AxesReport); when that failure reached the limit the
//! lockout response replaces the handler's response, as django-axes answers
//! the attempt that reaches the limit. Every decision is the engine's; the
//! layer's own early answers are the [rejections](LayerRejection).
//!
//! # Other frameworks
//!
//! The service wraps any `tower::Service` over `http::Request<B>` whose
//! body can be rebuilt after buffering (`B: From<Bytes>`: axum's `Body`,
//! `http_body_util::Full<Bytes>`, …), so hyper and tonic services work as
//! axum routes do. The peer address is read from axum's `ConnectInfo`, or
//! from a `SocketAddr` in the request extensions; a handler finds its
//! report with [`AxesReport::from_extensions`](crate::AxesReport::from_extensions).
//!
//! # Deployment
//!
//! The client IP is the TCP peer address, so serve the router with
//! `into_make_service_with_connect_info::<SocketAddr>()`; without it every
//! login is answered `500` with a message saying so, rather than counting
//! every client as one.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::net::SocketAddr;
//! use axum::{body::Body, extract::connect_info::MockConnectInfo, http::Request, routing::post, Router};
//! use axes::{Axes, AxesConfig, AxesLayer, AxesReport, MemoryStore};
//! use tower::ServiceExt;
//!
//! let config = AxesConfig::builder().failure_limit(1).build().unwrap();
//! let app = Router::new()
//!     .route("/login", post(|report: AxesReport| async move { report.failed("alice"); "bad password" }))
//!     .layer(AxesLayer::new(Axes::new(config, MemoryStore::new())))
//!     .layer(MockConnectInfo(SocketAddr::from(([192, 0, 2, 1], 4000))));
//!
//! let login = || Request::post("/login").body(Body::empty()).unwrap();
//! // The first failure reaches the limit of 1: its answer is the lockout.
//! assert_eq!(app.clone().oneshot(login()).await.unwrap().status(), 429);
//! // Later attempts are refused before the handler runs.
//! assert_eq!(app.oneshot(login()).await.unwrap().status(), 429);
//! # }
//! ```

mod body;
mod future;
#[allow(clippy::module_inception)]
mod layer;
mod rejection;
mod request;
mod service;

pub use future::ResponseFuture;
pub use layer::AxesLayer;
pub use rejection::{
    BodyTimeout, BodyTooLarge, BodyUnreadable, LayerRejection, MissingClientAddress,
    StoreUnavailable,
};
pub use service::AxesService;
