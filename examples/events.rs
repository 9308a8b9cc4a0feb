//! Reacting to lockouts, as django-axes users do on its `user_locked_out`
//! signal: tasks subscribed to [`AxesEvent`]s act on each `LockedOut`.
//!
//! - A notification, through a small [`Notifier`] trait: here a JSON
//!   webhook POSTed to `AXES_WEBHOOK_URL` (`http://host:port/path`).
//! - A self-service unlock link mailed to the account's owner, through a
//!   [`Mailer`] trait: here a stub that keeps what it sends in an outbox,
//!   shown at `GET /outbox`; in an application, your mailer. The link,
//!   `GET /unlock?token=…`, lifts the username's lockout and not the
//!   attacker's address's.
//!
//! ```text
//! AXES_WEBHOOK_URL=http://127.0.0.1:9000/hooks/lockout cargo run --example events
//! ```
//!
//! `AXES_BIND` (default `127.0.0.1:3000`) and `AXES_DATABASE_URL` (default
//! `memory:`) as for the demo server; the one account is `alice` /
//! `wonderland`, and the third failure locks the client out, counted by
//! username and by address.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axes::{Axes, AxesConfig, AxesEvent, AxesLayer, AxesReport, LockoutParameter};
use axum::extract::{Query, State};
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Where lockouts are told: a webhook, an e-mail, a chat message.
trait Notifier: Send + Sync + 'static {
    /// Tells of one lockout.
    fn locked_out(
        &self,
        event: serde_json::Value,
    ) -> impl std::future::Future<Output = Result<(), Error>> + Send;
}

/// POSTs each lockout as JSON to a plain-HTTP URL.
struct Webhook {
    host: String,
    path: String,
}

impl Webhook {
    fn new(url: &str) -> Result<Self, Error> {
        let rest = url
            .strip_prefix("http://")
            .ok_or("AXES_WEBHOOK_URL: expected http://host:port/path")?;
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        Ok(Self {
            host: host.to_owned(),
            path: format!("/{path}"),
        })
    }
}

impl Notifier for Webhook {
    async fn locked_out(&self, event: serde_json::Value) -> Result<(), Error> {
        let body = event.to_string();
        let mut stream = tokio::net::TcpStream::connect(&self.host).await?;
        let request = format!(
            "POST {} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            self.path,
            self.host,
            body.len()
        );
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        let status = answer.get(9..12).and_then(|s| std::str::from_utf8(s).ok());
        match status {
            Some(status) if status.starts_with('2') => Ok(()),
            other => Err(format!("the webhook answered {other:?}").into()),
        }
    }
}

/// Sends a notification for every lockout until the engine goes away.
async fn notify_lockouts(mut events: Receiver<AxesEvent>, notifier: impl Notifier) {
    loop {
        match events.recv().await {
            Ok(AxesEvent::LockedOut {
                username,
                ip_address,
                lockout,
                ..
            }) => {
                let event = serde_json::json!({
                    "event": "locked_out",
                    "username": username,
                    "ip_address": ip_address.to_string(),
                    "reason": lockout.reason.as_str(),
                    "failures": lockout.failures,
                });
                if let Err(error) = notifier.locked_out(event).await {
                    eprintln!("events: the lockout notification failed: {error}");
                }
            }
            Ok(_) => {}
            // A slow notifier missed some events: say so, and go on.
            Err(RecvError::Lagged(missed)) => {
                eprintln!("events: {missed} events missed");
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// Sends e-mail.
trait Mailer: Send + Sync + 'static {
    /// Sends one message.
    fn send(
        &self,
        to: &str,
        subject: &str,
        body: &str,
    ) -> impl std::future::Future<Output = Result<(), Error>> + Send;
}

/// A stub mailer: keeps every message it "sends".
#[derive(Clone, Default)]
struct Outbox(Arc<Mutex<Vec<String>>>);

impl Mailer for Outbox {
    async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), Error> {
        let message = format!("To: {to}\nSubject: {subject}\n\n{body}\n");
        self.0
            .lock()
            .map_err(|_| "the outbox is poisoned")?
            .push(message);
        Ok(())
    }
}

/// The owner's verified address, from the application's user table.
fn email_of(username: &str) -> Option<&'static str> {
    (username == "alice").then_some("alice@example.com")
}

/// Mails the owner of each locked-out username a link that unlocks it.
async fn mail_unlock_links(
    mut events: Receiver<AxesEvent>,
    axes: Axes,
    mailer: impl Mailer,
    base_url: String,
) {
    loop {
        let username = match events.recv().await {
            Ok(AxesEvent::LockedOut {
                username: Some(username),
                ..
            }) => username,
            Ok(_) => continue,
            Err(RecvError::Lagged(missed)) => {
                eprintln!("events: {missed} events missed");
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        // Unknown usernames get no mail (and the attacker cannot tell).
        let Some(to) = email_of(&username) else {
            continue;
        };
        let sent = match axes.unlock_token(&username).await {
            Ok(token) => {
                let body = format!(
                    "Someone failed to log in as {username} too many times, and the account is locked.\n\
                     If that was you, unlock it here within the hour:\n{base_url}/unlock?token={token}"
                );
                mailer.send(to, "Unlock your account", &body).await
            }
            Err(error) => Err(error.into()),
        };
        if let Err(error) = sent {
            eprintln!("events: the unlock mail failed: {error}");
        }
    }
}

#[derive(Deserialize)]
struct UnlockLink {
    token: String,
}

/// The unlock link's target.
async fn unlock(State(axes): State<Axes>, Query(link): Query<UnlockLink>) -> Response {
    match axes.redeem_unlock(&link.token).await {
        Ok(username) => (
            StatusCode::OK,
            format!("{username} is unlocked: log in again\n"),
        )
            .into_response(),
        // Expired, used, revoked or altered alike: the owner asks for a new one.
        Err(axes::UnlockError::Axes(error)) => {
            eprintln!("events: redeeming an unlock token failed: {error}");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        Err(_) => (StatusCode::BAD_REQUEST, "this link is no longer valid\n").into_response(),
    }
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
}

async fn login(report: AxesReport, Json(form): Json<LoginForm>) -> Response {
    if let Err(refusal) = report.admit(&form.username).await {
        return refusal.into_response();
    }
    if form.username == "alice" && form.password == "wonderland" {
        report.succeeded(form.username);
        (StatusCode::OK, "welcome\n").into_response()
    } else {
        report.failed(form.username);
        StatusCode::FORBIDDEN.into_response()
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let url = std::env::var("AXES_DATABASE_URL").unwrap_or_else(|_| "memory:".to_owned());
    let config = AxesConfig::builder()
        .lockout_parameters([LockoutParameter::Username, LockoutParameter::IpAddress])
        .build()?;
    let axes = Axes::new(config, axes::store::connect(&url).await?);
    if let Ok(webhook) = std::env::var("AXES_WEBHOOK_URL") {
        let notifier = Webhook::new(&webhook)?;
        // Subscribed before the first request: no lockout goes untold.
        tokio::spawn(notify_lockouts(axes.subscribe(), notifier));
    }
    let bind = std::env::var("AXES_BIND").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    let outbox = Outbox::default();
    let base_url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(mail_unlock_links(
        axes.subscribe(),
        axes.clone(),
        outbox.clone(),
        base_url,
    ));
    let shown = outbox.clone();
    let app = Router::new()
        .route("/login", post(login.layer(AxesLayer::new(axes.clone()))))
        .route("/unlock", get(unlock))
        .route(
            "/outbox",
            get(move || async move { shown.0.lock().map(|m| m.concat()).unwrap_or_default() }),
        )
        .with_state(axes);
    println!("listening on {}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
