//! Reacting to lockouts, as django-axes users do on its `user_locked_out`
//! signal: a task subscribed to [`AxesEvent`]s sends a notification for
//! each `LockedOut`, through a small [`Notifier`] trait. Here the notifier
//! POSTs a JSON webhook to `AXES_WEBHOOK_URL` (`http://host:port/path`);
//! an e-mail sender is the same trait over your mailer.
//!
//! ```text
//! AXES_WEBHOOK_URL=http://127.0.0.1:9000/hooks/lockout cargo run --example events
//! ```
//!
//! `AXES_BIND` (default `127.0.0.1:3000`) and `AXES_DATABASE_URL` (default
//! `memory:`) as for the demo server; the one account is `alice` /
//! `wonderland`, and the third failure locks the client out.

use std::net::SocketAddr;

use axes::{Axes, AxesConfig, AxesEvent, AxesLayer, AxesReport};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
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
    let axes = Axes::new(AxesConfig::default(), axes::store::connect(&url).await?);
    if let Ok(webhook) = std::env::var("AXES_WEBHOOK_URL") {
        let notifier = Webhook::new(&webhook)?;
        // Subscribed before the first request: no lockout goes untold.
        tokio::spawn(notify_lockouts(axes.subscribe(), notifier));
    }
    let app = Router::new().route("/login", post(login).layer(AxesLayer::new(axes)));
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
