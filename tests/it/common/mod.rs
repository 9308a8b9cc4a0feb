//! A login app for the HTTP tests: the seed's JSON login view behind
//! `AxesLayer`, with a manual clock and per-request client addresses.
#![allow(dead_code)]

pub mod fault_proxy;
pub mod load;
pub mod process;
pub mod stores;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use axes::{Axes, AxesConfig, AxesLayer, AxesReport, Credentials, ManualClock, MemoryStore, Store};
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

pub const ALICE: (&str, &str) = ("alice", "wonderland");

#[derive(Clone)]
pub struct AppState {
    users: Arc<HashMap<String, String>>,
    username_field: String,
    password_field: String,
    pub handler_calls: Arc<AtomicUsize>,
}

pub struct App {
    pub router: Router,
    pub axes: Axes,
    pub clock: ManualClock,
    pub handler_calls: Arc<AtomicUsize>,
}

impl App {
    pub fn new(toml: &str) -> Self {
        Self::with_store(toml, MemoryStore::new())
    }

    pub fn with_store(toml: &str, store: impl Store) -> Self {
        Self::with_shared_store(toml, Arc::new(store))
    }

    pub fn with_shared_store(toml: &str, store: Arc<dyn Store>) -> Self {
        Self::with_secret(toml, store, None)
    }

    /// An app on `store` whose engine has `secret` (else a random one), as
    /// app servers sharing a store and a secret are.
    pub fn with_secret(toml: &str, store: Arc<dyn Store>, secret: Option<&[u8]>) -> Self {
        let config = AxesConfig::from_toml_str(toml).expect("valid test config");
        let clock = ManualClock::new();
        let mut builder = Axes::builder(config, store).clock(clock.clone());
        if let Some(secret) = secret {
            builder = builder.secret(secret);
        }
        Self::with_axes(builder.build(), clock)
    }

    pub fn with_axes(axes: Axes, clock: ManualClock) -> Self {
        Self::with_layers(axes, clock, |layer| layer)
    }

    /// An app whose layers `shape` makes from the plain one (the lockout
    /// response hooks, say).
    pub fn with_layers(
        axes: Axes,
        clock: ManualClock,
        shape: impl Fn(AxesLayer) -> AxesLayer,
    ) -> Self {
        let layer = || shape(AxesLayer::new(axes.clone()));
        let handler_calls = Arc::new(AtomicUsize::new(0));
        let state = AppState {
            users: Arc::new(
                [("alice", "wonderland"), ("bob", "builder")]
                    .into_iter()
                    .map(|(u, p)| (u.to_owned(), p.to_owned()))
                    .collect(),
            ),
            username_field: axes.config().username_form_field.clone(),
            password_field: axes.config().password_form_field.clone(),
            handler_calls: handler_calls.clone(),
        };
        let router = Router::new()
            .route(
                "/login",
                post(login).get(|| async { "login page" }).layer(layer()),
            )
            .route(
                "/logout",
                post(logout).layer(layer().check_before_dispatch(false)),
            )
            .route("/echo", post(echo).layer(layer()))
            .route("/slow", post(slow).layer(layer()))
            .route("/slow-login", post(slow_login).layer(layer()))
            .route("/custom", post(custom).layer(layer()))
            .route("/custom-admit", post(custom_admit).layer(layer()))
            .route("/panic", post(panics).layer(layer()))
            .route("/challenge-login", post(challenge_login).layer(layer()))
            .route("/mfa-login", post(mfa_login).layer(layer()))
            .route("/mfa-code", post(mfa_code).layer(layer()))
            .route("/unlock", post(unlock))
            .route("/unguarded", post(|_report: AxesReport| async { "never" }))
            .layer(axum::Extension(axes.clone()))
            .with_state(state);
        Self {
            router,
            axes,
            clock,
            handler_calls,
        }
    }

    pub async fn send(&self, request: Request<Body>) -> Response {
        self.router.clone().oneshot(request).await.unwrap()
    }

    /// POSTs `{"username": u, "password": p}` from `ip`.
    pub async fn login(&self, ip: &str, username: &str, password: &str) -> StatusCode {
        self.send(json_request(
            ip,
            "/login",
            json!({"username": username, "password": password}),
        ))
        .await
        .status()
    }

    /// A login on this app server after a reset or an unlock made on
    /// another: the notification takes a moment to arrive (within 100 ms
    /// is promised), so a refusal is tried again for up to a second (a
    /// refusal records nothing by default). Its status.
    pub async fn login_after_reset(&self, ip: &str, username: &str, password: &str) -> StatusCode {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        loop {
            let status = self.login(ip, username, password).await;
            if status != StatusCode::TOO_MANY_REQUESTS || std::time::Instant::now() > deadline {
                return status;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// `n` wrong-password logins of `username` from `ip`; their statuses.
    pub async fn fail_n(&self, ip: &str, username: &str, n: usize) -> Vec<u16> {
        let mut statuses = Vec::with_capacity(n);
        for _ in 0..n {
            statuses.push(self.login(ip, username, "wrong-password").await.as_u16());
        }
        statuses
    }

    pub fn calls(&self) -> usize {
        self.handler_calls.load(Ordering::SeqCst)
    }

    /// POSTs `body` to `path` from `ip`; status, headers and body text.
    pub async fn exchange(
        &self,
        ip: &str,
        path: &str,
        body: Value,
    ) -> (u16, Vec<(String, String)>, String) {
        let response = self.send(json_request(ip, path, body)).await;
        let status = response.status().as_u16();
        let mut headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        headers.sort();
        (status, headers, body_text(response).await)
    }
}

/// A JSON POST from `ip` (port 50000).
pub fn json_request(ip: &str, path: &str, body: Value) -> Request<Body> {
    raw_request(ip, "POST", path, "application/json", body.to_string())
}

pub fn raw_request(
    ip: &str,
    method: &str,
    path: &str,
    content_type: &str,
    body: impl Into<Body>,
) -> Request<Body> {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("user-agent", "axes-tests/1.0")
        .header("content-type", content_type)
        .body(body.into())
        .unwrap();
    from_ip(&mut request, ip);
    request
}

pub fn from_ip(request: &mut Request<Body>, ip: &str) {
    let addr = SocketAddr::new(ip.parse().unwrap(), 50000);
    request.extensions_mut().insert(ConnectInfo(addr));
}

pub fn set_header(request: &mut Request<Body>, name: &'static str, value: &[u8]) {
    request
        .headers_mut()
        .insert(name, HeaderValue::from_bytes(value).unwrap());
}

pub async fn body_text(response: Response) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn clean(form: &serde_json::Map<String, Value>, name: &str) -> Option<String> {
    let value = form.get(name)?.as_str()?.trim();
    (!value.is_empty() && value.chars().count() <= 128).then(|| value.to_owned())
}

async fn login(
    State(state): State<AppState>,
    report: AxesReport,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    state.handler_calls.fetch_add(1, Ordering::SeqCst);
    if let Some(session) = headers.get("x-session-id").and_then(|v| v.to_str().ok()) {
        report.session_id(session);
    }
    let Ok(Value::Object(form)) = serde_json::from_slice::<Value>(&body) else {
        report.failed(Credentials::default());
        return StatusCode::BAD_REQUEST.into_response();
    };
    let username = clean(&form, &state.username_field);
    let password = clean(&form, &state.password_field);
    let (Some(username), Some(password)) = (username.clone(), password) else {
        report.failed(Credentials::from(username));
        return StatusCode::BAD_REQUEST.into_response();
    };
    if state.users.get(&username) == Some(&password) {
        report.succeeded(username);
        Json(json!({"message": "success!"})).into_response()
    } else {
        report.failed(username);
        StatusCode::FORBIDDEN.into_response()
    }
}

async fn logout(
    report: AxesReport,
    headers: axum::http::HeaderMap,
    Json(body): Json<Value>,
) -> StatusCode {
    if let Some(session) = headers.get("x-session-id").and_then(|v| v.to_str().ok()) {
        report.session_id(session);
    }
    if let Some(username) = body["username"].as_str() {
        report.logged_out(username);
    }
    StatusCode::OK
}

/// The seed's login, taking 20 ms to verify the password, so concurrent
/// attempts overlap.
async fn slow_login(
    state: State<AppState>,
    report: AxesReport,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    login(state, report, headers, body).await
}

/// A login whose JSON names the user `user`, not `username_form_field`:
/// the layer cannot read it, only the handler's report names it.
async fn custom(State(state): State<AppState>, report: AxesReport, body: Bytes) -> Response {
    verify_custom(&state, &report, &body, false).await
}

/// [`custom`], checking the username with `AxesReport::admit` before
/// verifying the password.
async fn custom_admit(State(state): State<AppState>, report: AxesReport, body: Bytes) -> Response {
    verify_custom(&state, &report, &body, true).await
}

async fn verify_custom(
    state: &AppState,
    report: &AxesReport,
    body: &[u8],
    admit: bool,
) -> Response {
    let form: Value = serde_json::from_slice(body).unwrap_or_default();
    let user = form["user"].as_str().unwrap_or("").trim().to_owned();
    if admit {
        if let Err(refusal) = report.admit(&user).await {
            return refusal.into_response();
        }
    }
    // The password check: counted, and slow enough for attempts to overlap.
    state.handler_calls.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    if state.users.get(&user).map(String::as_str) == form["password"].as_str() {
        report.succeeded(user);
        Json(json!({"message": "success!"})).into_response()
    } else {
        report.failed(user);
        StatusCode::FORBIDDEN.into_response()
    }
}

/// A login in two steps: the password (a right one asks for the second
/// factor, resetting nothing), then the code (`123456` is right).
async fn mfa_login(
    State(state): State<AppState>,
    report: AxesReport,
    Json(form): Json<Value>,
) -> Response {
    state.handler_calls.fetch_add(1, Ordering::SeqCst);
    let username = form["username"].as_str().unwrap_or_default().to_owned();
    if state.users.get(&username).map(String::as_str) == form["password"].as_str() {
        report.second_factor_pending(username);
        Json(json!({"second_factor": "required"})).into_response()
    } else {
        report.failed(username);
        StatusCode::FORBIDDEN.into_response()
    }
}

/// The second step of [`mfa_login`]: the code, for the username the
/// session would name (the body, here).
async fn mfa_code(
    State(state): State<AppState>,
    report: AxesReport,
    Json(form): Json<Value>,
) -> Response {
    state.handler_calls.fetch_add(1, Ordering::SeqCst);
    let username = form["username"].as_str().unwrap_or_default().to_owned();
    if form["code"] == "123456" {
        report.second_factor_passed(username);
        Json(json!({"message": "success!"})).into_response()
    } else {
        report.second_factor_failed(username);
        (StatusCode::UNAUTHORIZED, "wrong code").into_response()
    }
}

/// The seed's login behind a CAPTCHA once axes asks for one: `"captcha":
/// "solved"` stands for the provider's verdict. A solved CAPTCHA is
/// reported passed whether or not one was asked for (axes decides whether
/// it counts); the answer carries the attempts left the report gives.
async fn challenge_login(
    State(state): State<AppState>,
    report: AxesReport,
    Json(form): Json<Value>,
) -> Response {
    let attempts_left = report.attempts_left();
    if form["captcha"] == "solved" {
        report.challenge_passed();
    } else if report.challenge_required() {
        report.challenge_failed();
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"captcha": "required", "attempts_left": attempts_left})),
        )
            .into_response();
    }
    state.handler_calls.fetch_add(1, Ordering::SeqCst);
    let username = form["username"].as_str().unwrap_or_default().to_owned();
    if state.users.get(&username).map(String::as_str) == form["password"].as_str() {
        report.succeeded(username);
        Json(json!({"message": "success!", "attempts_left": attempts_left})).into_response()
    } else {
        report.failed(username);
        (
            StatusCode::FORBIDDEN,
            Json(json!({"message": "wrong password", "attempts_left": attempts_left})),
        )
            .into_response()
    }
}

/// The unlock link's target: redeems `{"token": ...}`.
async fn unlock(
    State(_state): State<AppState>,
    axes: axum::Extension<Axes>,
    Json(form): Json<Value>,
) -> Response {
    let token = form["token"].as_str().unwrap_or_default();
    match axes.redeem_unlock(token).await {
        Ok(username) => Json(json!({"unlocked": username})).into_response(),
        Err(error) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": error.to_string()})),
        )
            .into_response(),
    }
}

/// Panics after the layer admitted the attempt.
async fn panics(_report: AxesReport) -> StatusCode {
    panic!("the handler failed");
}

/// Takes 20 ms to find the password wrong, so concurrent attempts overlap.
async fn slow(State(state): State<AppState>, report: AxesReport) -> StatusCode {
    state.handler_calls.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    report.failed(Credentials::default());
    StatusCode::FORBIDDEN
}

/// Answers with the body it was given, and reports a failure for the
/// username the layer read.
async fn echo(State(state): State<AppState>, report: AxesReport, body: Bytes) -> Bytes {
    state.handler_calls.fetch_add(1, Ordering::SeqCst);
    report.failed(Credentials::default());
    body
}

/// The call counters of a [`FlakyStore`].
#[derive(Clone)]
pub struct FlakyCounts {
    pub calls: Arc<AtomicUsize>,
    pub access_log_reads: Arc<AtomicUsize>,
}

impl FlakyCounts {
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn access_log_reads(&self) -> usize {
        self.access_log_reads.load(Ordering::SeqCst)
    }
}

/// A store that fails every call while `broken` is set, every other call
/// while `alternate` is set, hangs while `stalled` is set, and otherwise
/// passes calls to the store it wraps.
pub struct FlakyStore<S> {
    inner: S,
    pub broken: Arc<std::sync::atomic::AtomicBool>,
    pub alternate: Arc<std::sync::atomic::AtomicBool>,
    pub stalled: Arc<std::sync::atomic::AtomicBool>,
    /// Every call made to the store: its round trips.
    pub calls: Arc<AtomicUsize>,
    /// Calls that read the access log.
    pub access_log_reads: Arc<AtomicUsize>,
}

impl<S> FlakyStore<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            broken: Arc::default(),
            alternate: Arc::default(),
            stalled: Arc::default(),
            calls: Arc::default(),
            access_log_reads: Arc::default(),
        }
    }

    async fn check(&self) -> Result<(), axes::StoreError> {
        if self.stalled.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        let fails = self.broken.load(Ordering::SeqCst)
            || (self.alternate.load(Ordering::SeqCst) && call.is_multiple_of(2));
        if fails {
            Err(axes::StoreError::backend(std::io::Error::other(
                "store is down",
            )))
        } else {
            Ok(())
        }
    }
}

#[async_trait::async_trait]
impl<S: Store> Store for FlakyStore<S> {
    async fn counters(
        &self,
        keys: &[axes::LockoutKey],
    ) -> Result<Vec<Option<axes::store::Counter>>, axes::StoreError> {
        self.check().await?;
        self.inner.counters(keys).await
    }

    async fn record_failure(
        &self,
        failure: axes::store::FailureRecord<'_>,
    ) -> Result<Vec<axes::store::Counter>, axes::StoreError> {
        self.check().await?;
        self.inner.record_failure(failure).await
    }

    async fn reset(&self, reset: &axes::store::Reset<'_>) -> Result<u64, axes::StoreError> {
        self.check().await?;
        self.inner.reset(reset).await
    }

    async fn delete_counters(&self, keys: &[axes::LockoutKey]) -> Result<u64, axes::StoreError> {
        self.check().await?;
        self.inner.delete_counters(keys).await
    }

    async fn purge_expired(&self, before: SystemTime) -> Result<u64, axes::StoreError> {
        self.check().await?;
        self.inner.purge_expired(before).await
    }

    fn records(&self) -> Option<&dyn axes::store::AttemptRecords> {
        self.inner.records().map(|_| self as _)
    }

    fn access_log(&self) -> Option<&dyn axes::store::AccessLogs> {
        self.inner.access_log().map(|_| self as _)
    }

    fn failure_log(&self) -> Option<&dyn axes::store::FailureLogs> {
        self.inner.failure_log().map(|_| self as _)
    }

    fn shared_slots(&self) -> Option<&dyn axes::store::SharedSlots> {
        self.inner.shared_slots().map(|_| self as _)
    }

    fn subscribe(&self) -> Option<tokio::sync::broadcast::Receiver<axes::store::StoreEvent>> {
        self.inner.subscribe()
    }

    async fn announce_reset(&self) -> Result<(), axes::StoreError> {
        self.inner.announce_reset().await
    }

    fn clock_offset_ms(&self) -> i64 {
        self.inner.clock_offset_ms()
    }
}

/// The records of a flaky store fail as its other calls do.
#[async_trait::async_trait]
impl<S: Store> axes::store::AttemptRecords for FlakyStore<S> {
    async fn attempts(
        &self,
        filter: &axes::AttemptFilter,
    ) -> Result<Vec<axes::store::AccessAttempt>, axes::StoreError> {
        self.check().await?;
        self.inner
            .records()
            .expect("asked only when kept")
            .attempts(filter)
            .await
    }
}

/// So does its access log, whose reads are counted.
#[async_trait::async_trait]
impl<S: Store> axes::store::AccessLogs for FlakyStore<S> {
    async fn record_login(&self, entry: &axes::store::AccessLog) -> Result<(), axes::StoreError> {
        self.check().await?;
        self.log().record_login(entry).await
    }

    async fn record_logout(
        &self,
        username: &str,
        session_hash: &str,
        at: SystemTime,
    ) -> Result<u64, axes::StoreError> {
        self.check().await?;
        self.log().record_logout(username, session_hash, at).await
    }

    async fn access_logs(
        &self,
        filter: &axes::AttemptFilter,
    ) -> Result<Vec<axes::store::AccessLog>, axes::StoreError> {
        self.access_log_reads.fetch_add(1, Ordering::SeqCst);
        self.check().await?;
        self.log().access_logs(filter).await
    }

    async fn latest_login(
        &self,
        username: &str,
        ip: std::net::IpAddr,
        user_agent: &str,
    ) -> Result<Option<SystemTime>, axes::StoreError> {
        self.check().await?;
        self.log().latest_login(username, ip, user_agent).await
    }

    async fn purge_access_logs(&self, before: SystemTime) -> Result<u64, axes::StoreError> {
        self.check().await?;
        self.log().purge_access_logs(before).await
    }

    async fn erase_access_logs(
        &self,
        filter: &axes::AttemptFilter,
    ) -> Result<u64, axes::StoreError> {
        self.check().await?;
        self.log().erase_access_logs(filter).await
    }
}

/// And its failure log.
#[async_trait::async_trait]
impl<S: Store> axes::store::FailureLogs for FlakyStore<S> {
    async fn record_failure_log(
        &self,
        entry: &axes::store::AccessFailureLog,
        per_user_limit: u64,
    ) -> Result<(), axes::StoreError> {
        self.check().await?;
        let log = self.inner.failure_log().expect("asked only when kept");
        log.record_failure_log(entry, per_user_limit).await
    }

    async fn failure_logs(
        &self,
        filter: &axes::AttemptFilter,
    ) -> Result<Vec<axes::store::AccessFailureLog>, axes::StoreError> {
        self.check().await?;
        let log = self.inner.failure_log().expect("asked only when kept");
        log.failure_logs(filter).await
    }

    async fn purge_failure_logs(&self, before: SystemTime) -> Result<u64, axes::StoreError> {
        self.check().await?;
        let log = self.inner.failure_log().expect("asked only when kept");
        log.purge_failure_logs(before).await
    }

    async fn erase_failure_logs(
        &self,
        filter: &axes::AttemptFilter,
    ) -> Result<u64, axes::StoreError> {
        self.check().await?;
        let log = self.inner.failure_log().expect("asked only when kept");
        log.erase_failure_logs(filter).await
    }
}

/// The slots of a flaky store that shares them fail as its other calls do.
#[async_trait::async_trait]
impl<S: Store> axes::store::SharedSlots for FlakyStore<S> {
    async fn admit(
        &self,
        read: &[axes::LockoutKey],
        request: axes::store::SlotRequest<'_>,
    ) -> Result<axes::store::Admitted, axes::StoreError> {
        self.check().await?;
        self.shared().admit(read, request).await
    }

    async fn release(&self, slots: axes::store::Slots<'_>) -> Result<(), axes::StoreError> {
        self.check().await?;
        self.shared().release(slots).await
    }

    async fn record_success(
        &self,
        slots: axes::store::Slots<'_>,
        login: Option<&axes::store::AccessLog>,
    ) -> Result<(), axes::StoreError> {
        self.check().await?;
        self.shared().record_success(slots, login).await
    }

    async fn renew(&self, owner: &str, lease: std::time::Duration) -> Result<(), axes::StoreError> {
        self.check().await?;
        self.shared().renew(owner, lease).await
    }

    async fn sweep(&self, owner: &str, keep: &[u64], upto: u64) -> Result<u64, axes::StoreError> {
        self.check().await?;
        self.shared().sweep(owner, keep, upto).await
    }

    async fn wait_for(
        &self,
        owner: &str,
        keys: &[axes::LockoutKey],
        ttl: std::time::Duration,
    ) -> Result<(), axes::StoreError> {
        self.check().await?;
        self.shared().wait_for(owner, keys, ttl).await
    }
}

impl<S: Store> FlakyStore<S> {
    fn shared(&self) -> &dyn axes::store::SharedSlots {
        self.inner
            .shared_slots()
            .expect("called only when the inner store shares slots")
    }

    fn log(&self) -> &dyn axes::store::AccessLogs {
        self.inner.access_log().expect("asked only when kept")
    }
}

/// Polls `condition` every 5 ms until it holds or `limit` passes; how long
/// it took to hold, if it did. For what another process or app server
/// makes true in its own time (a notification, a write noticed).
pub async fn within<F, Fut>(
    limit: std::time::Duration,
    mut condition: F,
) -> Option<std::time::Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    loop {
        if condition().await {
            return Some(started.elapsed());
        }
        if started.elapsed() >= limit {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// A failure reported for `client` through the engine alone, after its
/// check (as a handler reports one): the verdict. Its slots are given back.
pub async fn report_failure(axes: &Axes, client: &axes::ClientInfo) -> axes::Verdict {
    let mut attempt = axes.attempt(client.clone());
    attempt.admit().await.unwrap();
    let verdict = attempt
        .report(axes::Report::failed(Credentials::default()))
        .await
        .unwrap();
    attempt.finish().await;
    verdict
}

/// What recording a failure for `client` did (see [`report_failure`]).
pub async fn record_failure(axes: &Axes, client: &axes::ClientInfo) -> axes::FailureOutcome {
    report_failure(axes, client)
        .await
        .failure()
        .cloned()
        .expect("a failure recorded, or refused as made during a lockout")
}

/// The check of `client` through the engine alone.
pub async fn check(axes: &Axes, client: &axes::ClientInfo) -> axes::Decision {
    axes.attempt(client.clone()).check().await.unwrap()
}

/// `client` admitted through the engine alone: the attempt, holding its
/// slots until finished, and the decision.
pub async fn admit(axes: &Axes, client: &axes::ClientInfo) -> (axes::Attempt, axes::Decision) {
    let mut attempt = axes.attempt(client.clone());
    let decision = attempt.admit().await.unwrap();
    (attempt, decision)
}
