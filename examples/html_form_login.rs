//! A classic HTML form login, the counterpart of django-axes'
//! `axes_form_invalid`: the form is re-rendered with its errors when it is
//! invalid or the password is wrong, and each of those counts as a failure;
//! a locked-out client sees the lockout page instead.
//!
//! ```text
//! cargo run --example html_form_login    # then open http://127.0.0.1:3000/login
//! ```
//!
//! `AXES_BIND` (default `127.0.0.1:3000`) and `AXES_DATABASE_URL` (default
//! `memory:`) as for the demo server; the one account is `alice` /
//! `wonderland`, and the third failure locks the client out for 15 minutes.

use std::net::SocketAddr;

use axes::{Axes, AxesConfig, AxesLayer, AxesReport};
use axum::extract::Form;
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

/// The longest field the form accepts, as Django's `max_length`.
const MAX_FIELD_CHARS: usize = 128;

#[derive(Deserialize, Default)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// The page: the form, its errors, and what was typed in `username`.
fn page(errors: &[&str], username: &str) -> Html<String> {
    let errors: String = errors
        .iter()
        .map(|e| format!("<li>{}</li>", escape(e)))
        .collect();
    Html(format!(
        "<!doctype html><title>Log in</title><h1>Log in</h1>\
         <ul class=errors>{errors}</ul>\
         <form method=post><label>Username <input name=username value=\"{}\"></label>\
         <label>Password <input type=password name=password></label>\
         <button>Log in</button></form>",
        escape(username)
    ))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A field as Django's `CharField` cleans it: stripped, required, bounded.
fn clean(value: &str) -> Option<&str> {
    let value = value.trim();
    (!value.is_empty() && value.chars().count() <= MAX_FIELD_CHARS).then_some(value)
}

async fn show() -> Html<String> {
    page(&[], "")
}

async fn submit(report: AxesReport, Form(form): Form<LoginForm>) -> Response {
    let (username, password) = (clean(&form.username), clean(&form.password));
    let (Some(username), Some(password)) = (username, password) else {
        // An invalid form is a failed attempt too (`axes_form_invalid`).
        report.failed(username.map(str::to_owned));
        let mut errors = Vec::new();
        if username.is_none() {
            errors.push("Enter your username.");
        }
        if password.is_none() {
            errors.push("Enter your password.");
        }
        return (StatusCode::OK, page(&errors, &form.username)).into_response();
    };
    if let Err(refusal) = report.admit(username).await {
        return refusal.into_response();
    }
    if username == "alice" && password == "wonderland" {
        report.succeeded(username);
        Html("<!doctype html><title>Welcome</title><p>Welcome, alice.</p>").into_response()
    } else {
        report.failed(username);
        let errors = ["Please enter a correct username and password."];
        (StatusCode::OK, page(&errors, username)).into_response()
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("AXES_DATABASE_URL").unwrap_or_else(|_| "memory:".to_owned());
    let config = AxesConfig::from_toml_str(r#"cooloff_time = "15m""#)?;
    let axes = Axes::new(config, axes::store::connect(&url).await?);
    // The lockout page, in the site's own look.
    let layer = AxesLayer::new(axes).lockout_template(|context| {
        let wait = context
            .retry_after
            .map(|wait| format!(" Try again in {} minutes.", wait.as_secs().div_ceil(60)))
            .unwrap_or_default();
        format!(
            "<!doctype html><title>Locked out</title><h1>Locked out</h1><p>{}{wait}</p>",
            escape(context.message)
        )
    });
    let app = Router::new().route("/login", get(show).post(submit.layer(layer)));
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
