//! The demo login server: the JSON login view of django-axes' documentation,
//! behind `AxesLayer`. It follows the conformance contract
//! (`shared/conformance/CONTRACT.md`):
//!
//! ```text
//! cargo run --release --example json_login
//! ```
//!
//! | variable            | meaning                                               | default                   |
//! |---------------------|-------------------------------------------------------|---------------------------|
//! | `AXES_BIND`         | address to listen on                                  | `127.0.0.1:3000`          |
//! | `AXES_CONFIG`       | TOML file with the lockout policy                     | built-in defaults         |
//! | `AXES_DATABASE_URL` | `memory:`, `sqlite://PATH`, `postgres://…`, `redis://…` | `sqlite://axes-demo.sqlite3` |
//! | `AXES_DEMO_USERS`   | `name:password` pairs joined by commas                | `alice:wonderland`        |
//! | `AXES_DEMO_RESET`   | `1`: delete every attempt at start (test runs)        | unset                     |
//! | `AXES_DEMO_ADMIN_TOKEN` | the admin UI at `/admin`, for requests that give this token (HTTP Basic password, `Authorization: Bearer`, or the cookie `axes_demo_admin`); five wrong tokens lock the address out of it for 15 minutes | unset |
//! | `AXES_DEMO_ADMIN`   | `1`: the admin UI at `/admin`, without authentication | unset                     |
//! | `AXES_SECRET`       | the engine's secret (`AxesBuilder::secret`): the same on every app server sharing a store, so each redeems the others' unlock tokens (and those `axes unlock-token` prints) | random per start |
//!
//! `POST /unlock` with `{"token": "…"}` redeems a self-service unlock
//! token. With `challenge_after` set, a login the check asks a challenge of
//! must carry `"challenge": "human"` (a stand-in for a CAPTCHA's answer);
//! another answer is a failed challenge.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axes::{Axes, AxesConfig, AxesLayer, AxesReport, Credentials, MemoryStore};
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

/// The longest username or password the form accepts, in characters.
const MAX_FIELD_CHARS: usize = 128;

/// The answer that passes the demo's stand-in for a CAPTCHA.
const CHALLENGE_ANSWER: &str = "human";

/// The default store: an SQLite file in the working directory.
const DEFAULT_DATABASE_URL: &str = "sqlite://axes-demo.sqlite3";

type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(Clone)]
struct Demo {
    users: Arc<HashMap<String, String>>,
    username_field: String,
    password_field: String,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "axes=info,json_login=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(error) = run().await {
        eprintln!("json_login: {error}");
        std::process::exit(2);
    }
}

async fn run() -> Result<(), Error> {
    let config = match std::env::var("AXES_CONFIG") {
        Ok(path) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read AXES_CONFIG {path}: {e}"))?;
            AxesConfig::from_toml_str(&text)?
        }
        Err(_) => AxesConfig::default(),
    };
    let database_url =
        std::env::var("AXES_DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned());
    let axes = connect(config, &database_url).await?;
    if std::env::var("AXES_DEMO_RESET").is_ok_and(|v| v == "1") {
        // For test runs that share one database: start from an empty store.
        axes.reset(axes::AttemptFilter::All).await?;
    }
    let users = parse_users(
        &std::env::var("AXES_DEMO_USERS").unwrap_or_else(|_| "alice:wonderland".to_owned()),
    )?;
    let demo = Demo {
        users: Arc::new(users),
        username_field: axes.config().username_form_field.clone(),
        password_field: axes.config().password_form_field.clone(),
    };

    let open_admin = std::env::var("AXES_DEMO_ADMIN").is_ok_and(|v| v == "1");
    let admin_token = std::env::var("AXES_DEMO_ADMIN_TOKEN")
        .ok()
        .filter(|token| !token.is_empty());
    let mut app = Router::new()
        .route(
            "/login",
            // The layer guards `GET /login` too, as the conformance contract
            // asks (django-axes counts it for `never_lockout_get`); an
            // application attaches it to the login method alone:
            // `post(login.layer(AxesLayer::new(axes)))`.
            post(login)
                .get(|| async { "Log in with a JSON POST of your username and password.\n" })
                .layer(AxesLayer::new(axes.clone())),
        )
        .route(
            "/logout",
            post(logout).layer(AxesLayer::new(axes.clone()).check_before_dispatch(false)),
        )
        .with_state(demo)
        .route("/unlock", post(unlock).with_state(axes.clone()));
    if let Some(token) = admin_token {
        // The admin's own door is guarded by axes too: a policy of its own,
        // wrong tokens counted per address (in this process).
        let guard = Axes::new(AxesConfig::from_toml_str(ADMIN_POLICY)?, MemoryStore::new());
        let admin = axes::admin::router(axes.clone())
            .layer(axum::middleware::from_fn(
                move |request: Request, next: Next| {
                    let token = token.clone();
                    async move { admin_only(&token, request, next).await }
                },
            ))
            .layer(AxesLayer::new(guard));
        app = app.nest("/admin", admin);
    } else if open_admin {
        // No authentication: for trying the admin locally only.
        app = app.nest("/admin", axes::admin::router(axes.clone()));
    }

    let bind = std::env::var("AXES_BIND").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    Ok(())
}

/// The policy of the admin's door: five wrong tokens from an address lock
/// it out for fifteen minutes.
const ADMIN_POLICY: &str = r#"
failure_limit = 5
cooloff_time = "15m"
lockout_parameters = ["ip_address"]
"#;

/// Lets through the requests that give `token`: as the HTTP Basic password
/// (any user name: a browser asks for it), as `Authorization: Bearer`, or
/// in the cookie `axes_demo_admin`. A wrong token is a failed login of the
/// admin's guard (the layer answers its fifth with the lockout); a request
/// that gives none (a browser's first, before it asks) is not counted.
async fn admin_only(token: &str, request: Request, next: Next) -> Response {
    use base64::Engine as _;
    let cookie = axes::identity::cookie(request.headers(), "axes_demo_admin").map(str::to_owned);
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            if let Some(bearer) = value.strip_prefix("Bearer ") {
                return Some(bearer.trim().to_owned());
            }
            let basic = value.strip_prefix("Basic ")?;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(basic.trim())
                .ok()?;
            let text = String::from_utf8(decoded).ok()?;
            text.split_once(':')
                .map(|(_, password)| password.to_owned())
        })
        .or(cookie);
    match given {
        Some(given) if same_secret(&given, token) => return next.run(request).await,
        Some(_) => {
            if let Some(report) = AxesReport::from_extensions(request.extensions()) {
                report.failed(Credentials::default());
            }
        }
        None => {}
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Basic realm=\"axes admin\"")],
        "The admin needs the token of AXES_DEMO_ADMIN_TOKEN.\n",
    )
        .into_response()
}

/// Compares two secrets in time independent of where they differ.
fn same_secret(given: &str, expected: &str) -> bool {
    use sha2::{Digest, Sha256};
    let (a, b) = (Sha256::digest(given), Sha256::digest(expected));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

async fn connect(config: AxesConfig, url: &str) -> Result<Axes, Error> {
    let store = axes::store::connect(url)
        .await
        .map_err(|e| format!("AXES_DATABASE_URL: {e}"))?;
    let builder = Axes::builder(config, store);
    Ok(match std::env::var("AXES_SECRET") {
        Ok(secret) if !secret.is_empty() => builder.secret(secret),
        _ => builder,
    }
    .build())
}

fn parse_users(spec: &str) -> Result<HashMap<String, String>, Error> {
    spec.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            pair.split_once(':')
                .map(|(name, password)| (name.trim().to_owned(), password.to_owned()))
                .ok_or_else(|| format!("AXES_DEMO_USERS: `{pair}` is not name:password").into())
        })
        .collect()
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// A form field as Django's `CharField(max_length=128, required=True)`
/// cleans it: a string, stripped, not empty, at most 128 characters.
fn clean_field(form: &Map<String, Value>, name: &str) -> Option<String> {
    let value = form.get(name)?.as_str()?.trim();
    (!value.is_empty() && value.chars().count() <= MAX_FIELD_CHARS).then(|| value.to_owned())
}

async fn login(State(demo): State<Demo>, report: AxesReport, body: Bytes) -> Response {
    let Ok(Value::Object(form)) = serde_json::from_slice::<Value>(&body) else {
        report.failed(Credentials::default());
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "expected a JSON object"})),
        )
            .into_response();
    };
    let username = clean_field(&form, &demo.username_field);
    let password = clean_field(&form, &demo.password_field);
    let (Some(username), Some(password)) = (username.clone(), password) else {
        report.failed(Credentials::from(username));
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": format!("`{}` and `{}` are required strings of at most {MAX_FIELD_CHARS} characters", demo.username_field, demo.password_field)})),
        )
            .into_response();
    };
    // django-axes' AxesBackend checks the username before the password is
    // verified; the layer read it from the body already, so this finds it
    // checked, but a handler that reads the username its own way needs it.
    if let Err(refusal) = report.admit(&username).await {
        return refusal.into_response();
    }
    if report.challenge_required() {
        if form.get("challenge").and_then(Value::as_str) != Some(CHALLENGE_ANSWER) {
            report.challenge_failed();
            return (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": "solve the challenge"})),
            )
                .into_response();
        }
        report.challenge_passed();
    }
    if demo.users.get(&username) == Some(&password) {
        report.succeeded(username);
        Json(json!({"message": "success!"})).into_response()
    } else {
        report.failed(username);
        StatusCode::FORBIDDEN.into_response()
    }
}

/// Redeems a self-service unlock token: `{"unlocked": username}`, or
/// `400` with why not.
async fn unlock(State(axes): State<Axes>, body: Bytes) -> Response {
    let token = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("token").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default();
    match axes.redeem_unlock(&token).await {
        Ok(username) => Json(json!({"unlocked": username})).into_response(),
        Err(error) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": error.to_string()})),
        )
            .into_response(),
    }
}

async fn logout(report: AxesReport, body: Bytes) -> StatusCode {
    let username = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("username").and_then(Value::as_str).map(str::to_owned));
    if let Some(username) = username {
        report.logged_out(username);
    }
    StatusCode::OK
}
