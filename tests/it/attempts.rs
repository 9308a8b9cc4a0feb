//! An attempt as a value: prepared once (every per-attempt callable runs
//! once per request), and the same flow from a service that is not axum's.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axes::{Axes, AxesConfig, AxesLayer, AxesReport, Credentials, LockoutGroup, ManualClock};
use axes::{LockoutParameter, MemoryStore};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use serde_json::json;
use tower::{Layer, ServiceExt};

use crate::common::{json_request, App};

/// How often each callable ran.
#[derive(Clone, Default)]
struct Calls(Arc<Mutex<BTreeMap<&'static str, usize>>>);

impl Calls {
    fn count(&self, name: &'static str) {
        *self.0.lock().unwrap().entry(name).or_default() += 1;
    }

    /// The counts since the last take.
    fn take(&self) -> BTreeMap<&'static str, usize> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// An app whose every per-attempt callable counts its calls.
fn counted_app(calls: &Calls) -> App {
    let config = AxesConfig::from_toml_str("failure_limit = 3").unwrap();
    let clock = ManualClock::new();
    let c = calls.clone();
    let builder = Axes::builder(config, MemoryStore::new()).clock(clock.clone());
    let builder = builder.username_callable(move |attempt| {
        c.count("username");
        let credentials = attempt.credentials().and_then(Credentials::username);
        let field = attempt.request().and_then(|r| r.field("username"));
        credentials.or(field).map(str::to_owned)
    });
    let c = calls.clone();
    let builder = builder.whitelist_callable(move |_| {
        c.count("whitelist");
        false
    });
    let c = calls.clone();
    let builder = builder.client_ip_callable(move |_| {
        c.count("client_ip");
        None
    });
    let c = calls.clone();
    let builder = builder.failure_limit_callable(move |_| {
        c.count("failure_limit");
        3
    });
    let c = calls.clone();
    let builder = builder.cooloff_callable(move |_| {
        c.count("cooloff");
        Some(Duration::from_secs(60))
    });
    let c = calls.clone();
    let builder = builder.lockout_parameters_callable(move |_| {
        c.count("lockout_parameters");
        vec![LockoutGroup::combination([
            LockoutParameter::Username,
            LockoutParameter::IpAddress,
        ])]
    });
    App::with_axes(builder.build(), clock)
}

fn once_each() -> BTreeMap<&'static str, usize> {
    [
        "client_ip",
        "cooloff",
        "failure_limit",
        "lockout_parameters",
        "username",
        "whitelist",
    ]
    .into_iter()
    .map(|name| (name, 1))
    .collect()
}

/// Every callable runs once per request — checked before dispatch,
/// reported after — whether the login fails, succeeds or is refused.
#[tokio::test]
async fn each_callable_runs_once_per_attempt() {
    let calls = Calls::default();
    let app = counted_app(&calls);
    for (password, status) in [
        ("wrong", 403),
        ("wonderland", 200),
        ("wrong", 403),
        ("wrong", 429),
        ("wonderland", 429),
    ] {
        let body = json!({"username": "alice", "password": password});
        let answer = app.send(json_request("192.0.2.1", "/login", body)).await;
        assert_eq!(answer.status(), status, "{password}");
        assert_eq!(calls.take(), once_each(), "{password} answered {status}");
    }
}

/// When the handler names a username the request did not give, that
/// username is an attempt of its own: the username callable runs again
/// for it (with the handler's credentials), and so does the rest once,
/// for its keys.
#[tokio::test]
async fn a_username_the_request_did_not_give_is_prepared_for_itself() {
    let calls = Calls::default();
    let app = counted_app(&calls);
    let body = json!({"user": "alice", "password": "wrong"});
    let answer = app.send(json_request("192.0.2.1", "/custom", body)).await;
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    let mut twice = once_each();
    for name in [
        "username",
        "whitelist",
        "failure_limit",
        "cooloff",
        "lockout_parameters",
    ] {
        twice.insert(name, 2);
    }
    assert_eq!(calls.take(), twice);
}

/// A login service that is no axum router: a `tower::service_fn` over
/// `http::Request<Full<Bytes>>`, finding its report in the extensions.
async fn plain_login(request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let report = AxesReport::from_extensions(request.extensions()).expect("the layer's report");
    let body = request.into_body().collect().await.unwrap().to_bytes();
    let form: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let username = form["username"].as_str().unwrap_or_default().to_owned();
    let status = if form["password"] == "wonderland" {
        report.succeeded(username);
        StatusCode::OK
    } else {
        report.failed(username);
        StatusCode::FORBIDDEN
    };
    let mut response = Response::new(Full::new(Bytes::from_static(b"done")));
    *response.status_mut() = status;
    Ok(response)
}

/// The layer over a hyper server with no axum in between: the peer's
/// `SocketAddr` in the extensions, the body buffered into `Full<Bytes>`.
/// The third failure is answered with the lockout, the next attempt is
/// refused before the service runs, and the body reaches the service whole.
#[tokio::test]
async fn the_layer_guards_a_plain_hyper_service() {
    let axes = Axes::new(AxesConfig::default(), MemoryStore::new());
    let service = AxesLayer::new(axes.clone()).layer(tower::service_fn(plain_login));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, peer) = listener.accept().await.unwrap();
            let service = service.clone();
            let hyper_service =
                hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                    let service = service.clone();
                    async move {
                        let (mut parts, body) = request.into_parts();
                        parts.extensions.insert::<SocketAddr>(peer);
                        let body = Limited::new(body, 64 * 1024)
                            .collect()
                            .await
                            .map_err(|e| e.to_string())?;
                        let request = Request::from_parts(parts, Full::new(body.to_bytes()));
                        service
                            .oneshot(request)
                            .await
                            .map_err(|e: Infallible| e.to_string())
                    }
                });
            let io = hyper_util::rt::TokioIo::new(stream);
            tokio::spawn(
                hyper::server::conn::http1::Builder::new().serve_connection(io, hyper_service),
            );
        }
    });
    let post = |password: &str| {
        let body = json!({"username": "alice", "password": password}).to_string();
        let request = format!(
            "POST /login HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await.unwrap();
            answer[9..12].to_owned()
        }
    };
    assert_eq!(post("wonderland").await, "200");
    assert_eq!(post("wrong").await, "403");
    assert_eq!(post("wrong").await, "403");
    assert_eq!(
        post("wrong").await,
        "429",
        "the third failure is answered with the lockout"
    );
    assert_eq!(
        post("wonderland").await,
        "429",
        "refused before the service runs"
    );
    let records = axes.attempts(axes::AttemptFilter::All).await.unwrap();
    assert_eq!(records[0].username.as_deref(), Some("alice"));
    assert_eq!(records[0].ip_address, Some("127.0.0.1".parse().unwrap()));
}
