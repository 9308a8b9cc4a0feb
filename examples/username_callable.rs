//! Altering the username before it is counted, as django-axes'
//! `AXES_USERNAME_CALLABLE` does in its documentation: a login form posts a
//! `username` and a `namespace`, and the same name in two namespaces is two
//! accounts. The callable counts `namespace-username`, so locking out
//! `alice` of `acme` leaves `alice` of `globex` alone.
//!
//! ```text
//! cargo run --example username_callable
//! curl -d '{"namespace":"acme","username":"alice","password":"x"}' \
//!      -H 'content-type: application/json' localhost:3000/login
//! ```
//!
//! `AXES_BIND` (default `127.0.0.1:3000`) and `AXES_DATABASE_URL` (default
//! `memory:`) as for the demo server.

use std::net::SocketAddr;

use axes::{Axes, AxesConfig, AxesLayer, AxesReport, Credentials};
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;

/// The accounts: (namespace, username, password).
const ACCOUNTS: &[(&str, &str, &str)] = &[
    ("acme", "alice", "wonderland"),
    ("globex", "alice", "looking-glass"),
];

#[derive(Deserialize)]
struct LoginForm {
    namespace: String,
    username: String,
    password: String,
}

/// The username axes counts: `namespace-username`, from the handler's
/// credentials when it reports, from the request body before dispatch.
fn namespaced(attempt: &axes::LoginAttempt<'_>) -> Option<String> {
    let credentials = attempt.credentials();
    let request = attempt.request();
    let field = |name: &str| {
        credentials
            .and_then(|c| c.field(name))
            .or_else(|| request.and_then(|r| r.field(name)))
    };
    let username = credentials
        .and_then(|c| c.username())
        .or_else(|| field("username"))?;
    Some(format!(
        "{}-{}",
        field("namespace")?.trim(),
        username.trim()
    ))
}

async fn login(report: AxesReport, Json(form): Json<LoginForm>) -> Response {
    // What the handler reports carries the namespace, for the callable.
    let credentials =
        Credentials::username_only(&form.username).with_field("namespace", &form.namespace);
    if let Err(refusal) = report.admit(&form.username).await {
        return refusal.into_response();
    }
    let known = ACCOUNTS.iter().any(|(namespace, username, password)| {
        *namespace == form.namespace && *username == form.username && *password == form.password
    });
    if known {
        report.succeeded(credentials.username().unwrap_or_default().to_owned());
        (StatusCode::OK, "welcome\n").into_response()
    } else {
        report.failed(credentials);
        (
            StatusCode::FORBIDDEN,
            "wrong namespace, username or password\n",
        )
            .into_response()
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("AXES_DATABASE_URL").unwrap_or_else(|_| "memory:".to_owned());
    let config = AxesConfig::from_toml_str(
        r#"
        failure_limit = 3
        lockout_parameters = ["username"]
        "#,
    )?;
    let axes = Axes::builder(config, axes::store::connect(&url).await?)
        .username_callable(namespaced)
        .build();
    let app = Router::new().route("/login", post(login.layer(AxesLayer::new(axes))));
    let bind = std::env::var("AXES_BIND").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
