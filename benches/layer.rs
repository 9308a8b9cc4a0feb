//! What the layer costs per login request, against the same router without
//! it (the baseline, measured in the same run): a successful login and a
//! failed one, on the memory store (with the defaults, and with every
//! defense beyond django-axes on) and the SQLite store; and a locked-out
//! client's flood, refused before the handler runs.
//!
//! ```text
//! cargo bench --bench layer
//! ```

use std::net::SocketAddr;

use axes::{Axes, AxesConfig, AxesLayer, AxesReport, MemoryStore, SqliteStore, Store};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use serde_json::Value;
use tower::ServiceExt;

async fn login(report: Option<AxesReport>, Json(body): Json<Value>) -> StatusCode {
    let username = body["username"].as_str().unwrap_or_default().to_owned();
    if body["password"] == "wonderland" {
        if let Some(report) = report {
            report.succeeded(username);
        }
        StatusCode::OK
    } else {
        if let Some(report) = report {
            report.failed(username);
        }
        StatusCode::FORBIDDEN
    }
}

/// Limits no benchmark reaches: every request takes the full path.
const DEFAULTS: &str = "failure_limit = 4294967295";

/// One failure locks a client out.
const LOCK_AT_ONE: &str = "failure_limit = 1";

/// The defenses beyond django-axes, all on (still never reached).
const ALL_DEFENSES: &str = r#"
failure_limit = 4294967295
cooloff_time = "15m"
use_attempt_expiration = true
cooloff_backoff = { factor = 2.0, max = "1h" }
cooloff_jitter = "1s"
max_temporary_lockouts = 3
spray_limit = { distinct_usernames = 1000000, window = "10m" }
min_interval_between_failures = "1ms"
trusted_client_window = "30d"
username_normalization = "nfkc_casefold"
ipv6_prefix_length = 64
"#;

fn router(store: Option<impl Store>, policy: &str) -> Router {
    let routes = Router::new().route("/login", post(login));
    match store {
        None => routes,
        Some(store) => {
            let config = AxesConfig::from_toml_str(policy).unwrap();
            routes.layer(AxesLayer::new(Axes::new(config, store)))
        }
    }
}

fn request(i: u64, password: &str) -> Request<Body> {
    let username = format!("user{}", i % 1000);
    let ip = [10, 0, (i / 250 % 250) as u8, (i % 250) as u8];
    request_from(ip, &username, password)
}

fn request_from(ip: [u8; 4], username: &str, password: &str) -> Request<Body> {
    let body = format!(r#"{{"username": "{username}", "password": "{password}"}}"#);
    let mut request = Request::post("/login")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((ip, 4000))));
    request
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.sqlite3").display());
    let sqlite = runtime.block_on(SqliteStore::connect(&url)).unwrap();
    let routers = [
        ("baseline (no layer)", router(None::<MemoryStore>, DEFAULTS)),
        ("memory store", router(Some(MemoryStore::new()), DEFAULTS)),
        (
            "memory store, all defenses",
            router(Some(MemoryStore::new()), ALL_DEFENSES),
        ),
        ("sqlite store", router(Some(sqlite), DEFAULTS)),
    ];
    let mut group = c.benchmark_group("login request");
    for (outcome, password) in [("success", "wonderland"), ("failure", "wrong")] {
        for (name, app) in &routers {
            let mut i = 0u64;
            group.bench_function(BenchmarkId::new(*name, outcome), |b| {
                b.to_async(&runtime).iter(|| {
                    i += 1;
                    let request = request(i, password);
                    let app = app.clone();
                    async move { app.oneshot(request).await.unwrap().status() }
                })
            });
        }
    }
    group.finish();

    // A locked-out client's flood: one failure locks it, and every request
    // after it is refused by the layer (the baseline's handler answers 403).
    let locked = [10, 9, 9, 9];
    let sqlite = runtime
        .block_on(SqliteStore::connect(&format!(
            "sqlite://{}",
            dir.path().join("locked.sqlite3").display()
        )))
        .unwrap();
    let routers = [
        ("baseline (no layer)", router(None::<MemoryStore>, DEFAULTS)),
        (
            "memory store",
            router(Some(MemoryStore::new()), LOCK_AT_ONE),
        ),
        ("sqlite store", router(Some(sqlite), LOCK_AT_ONE)),
    ];
    let mut group = c.benchmark_group("locked-out flood");
    for (name, app) in &routers {
        runtime.block_on(async {
            let first = request_from(locked, "mallory", "wrong");
            app.clone().oneshot(first).await.unwrap();
            let refused = app
                .clone()
                .oneshot(request_from(locked, "mallory", "wrong"))
                .await
                .unwrap();
            let expected = if name.starts_with("baseline") {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::TOO_MANY_REQUESTS
            };
            assert_eq!(refused.status(), expected, "{name}");
        });
        group.bench_function(*name, |b| {
            b.to_async(&runtime).iter(|| {
                let request = request_from(locked, "mallory", "wrong");
                let app = app.clone();
                async move { app.oneshot(request).await.unwrap().status() }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
