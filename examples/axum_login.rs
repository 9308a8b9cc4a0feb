//! axes in front of an [axum-login](https://docs.rs/axum-login) login route,
//! playing the part django-allauth plays for django-axes: the
//! authentication library owns the users, the sessions and the login view,
//! and axes counts what that view reports.
//!
//! Like allauth's form, this one posts the username as `login`, so the
//! policy says `username_form_field = "login"` (the layer reads it before
//! dispatch) and the handler reports the `login` field as the username (the
//! credentials mapping). As in axum-login's own examples, a failed login is
//! a `303` redirect back to the form just like a successful one is a `303`
//! to the protected page: the report, not the status code, tells axes which
//! it was.
//!
//! ```text
//! cargo run --example axum_login    # then open http://127.0.0.1:3000/login
//! ```
//!
//! `AXES_BIND` (default `127.0.0.1:3000`) and `AXES_DATABASE_URL` (default
//! `memory:`) as for the demo server; the one account is `alice` /
//! `wonderland`, and the third failure locks the client out.

use std::collections::HashMap;
use std::net::SocketAddr;

use axes::{Axes, AxesConfig, AxesLayer, AxesReport};
use axum::extract::Form;
use axum::handler::Handler;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use axum_login::{login_required, AuthManagerLayerBuilder, AuthUser, AuthnBackend, UserId};
use serde::Deserialize;
use tower_sessions::{MemoryStore, SessionManagerLayer};

#[derive(Debug, Clone)]
struct User {
    id: u64,
    username: String,
    password: String,
}

impl AuthUser for User {
    type Id = u64;

    fn id(&self) -> u64 {
        self.id
    }

    fn session_auth_hash(&self) -> &[u8] {
        // A real backend gives the password's hash: changing the password
        // ends the sessions.
        self.password.as_bytes()
    }
}

/// allauth's login form: `login` and `password`.
#[derive(Debug, Clone, Deserialize)]
struct LoginForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
}

#[derive(Debug, Clone)]
struct Backend {
    users: HashMap<u64, User>,
}

impl AuthnBackend for Backend {
    type User = User;
    type Credentials = LoginForm;
    type Error = std::convert::Infallible;

    async fn authenticate(&self, form: LoginForm) -> Result<Option<User>, Self::Error> {
        Ok(self
            .users
            .values()
            .find(|user| user.username == form.login.trim() && user.password == form.password)
            .cloned())
    }

    async fn get_user(&self, id: &UserId<Self>) -> Result<Option<User>, Self::Error> {
        Ok(self.users.get(id).cloned())
    }
}

type AuthSession = axum_login::AuthSession<Backend>;

async fn login_page() -> Html<&'static str> {
    Html(
        "<!doctype html><title>Sign in</title><form method=post>\
         <input name=login placeholder=Username> <input type=password name=password>\
         <button>Sign in</button></form>",
    )
}

async fn login(
    mut auth_session: AuthSession,
    report: AxesReport,
    Form(form): Form<LoginForm>,
) -> Response {
    // The credentials mapping: allauth's `login` field is the username.
    let username = form.login.trim().to_owned();
    // Checked before the password is verified, whatever the layer read.
    if let Err(refusal) = report.admit(&username).await {
        return refusal.into_response();
    }
    let user = match auth_session.authenticate(form).await {
        Ok(Some(user)) => user,
        Ok(None) => {
            report.failed(username);
            return Redirect::to("/login?error=1").into_response();
        }
        Err(_) => return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    if auth_session.login(&user).await.is_err() {
        return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    report.succeeded(user.username);
    Redirect::to("/").into_response()
}

async fn home(auth_session: AuthSession) -> String {
    let name = auth_session
        .user
        .map(|user| user.username)
        .unwrap_or_default();
    format!("Hello, {name}.\n")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("AXES_DATABASE_URL").unwrap_or_else(|_| "memory:".to_owned());
    let config = AxesConfig::from_toml_str(r#"username_form_field = "login""#)?;
    let axes = Axes::new(config, axes::store::connect(&url).await?);

    let backend = Backend {
        users: HashMap::from([(
            1,
            User {
                id: 1,
                username: "alice".to_owned(),
                password: "wonderland".to_owned(),
            },
        )]),
    };
    let sessions = SessionManagerLayer::new(MemoryStore::default()).with_secure(false);
    let auth = AuthManagerLayerBuilder::new(backend, sessions).build();

    let app = Router::new()
        .route("/", get(home))
        .route_layer(login_required!(Backend, login_url = "/login"))
        .route(
            "/login",
            get(login_page).post(login.layer(AxesLayer::new(axes))),
        )
        .layer(auth);
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
