//! [`AxesBuilder`]: the engine's clock, store, event capacity and callables.

use crate::secret::Secret;
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use tokio::sync::broadcast;

use crate::axes::{Axes, Inner};
use crate::client::ClientInfo;
use crate::clock::{Clock, SystemClock};
use crate::config::{AxesConfig, LockoutGroup};
use crate::events::DEFAULT_EVENT_CAPACITY;
use crate::hooks::{Hooks, RequestInfo};
use crate::ip::ProxyConfig;
use crate::log_limit::Every;
use crate::report::Credentials;
use crate::response::{LockoutContext, ResponseHooks};
use crate::store::{self, Store};

/// Builds an [`Axes`]; see [`Axes::builder`].
///
/// ```
/// use axes::{Axes, AxesConfig, ManualClock, MemoryStore};
/// let clock = ManualClock::new();
/// let axes = Axes::builder(AxesConfig::default())
///     .store(MemoryStore::new())
///     .clock(clock.clone())
///     .build();
/// assert_eq!(axes.now(), axes::Clock::now(&clock));
/// ```
#[must_use]
pub struct AxesBuilder {
    config: AxesConfig,
    store: Option<Arc<dyn Store>>,
    clock: Arc<dyn Clock>,
    event_capacity: usize,
    hooks: Hooks,
    response_hooks: ResponseHooks,
    secret: Option<Secret>,
}

impl fmt::Debug for AxesBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AxesBuilder")
            .field("config", &self.config)
            .field("event_capacity", &self.event_capacity)
            .finish_non_exhaustive()
    }
}

impl AxesBuilder {
    pub(crate) fn new(config: AxesConfig) -> Self {
        Self {
            config,
            store: None,
            clock: Arc::new(SystemClock),
            event_capacity: DEFAULT_EVENT_CAPACITY,
            hooks: Hooks::default(),
            response_hooks: ResponseHooks::default(),
            secret: None,
        }
    }

    /// The store (default: a [`MemoryStore`](crate::MemoryStore)).
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// A store shared with other handles (the admin, a CLI, tests).
    pub fn shared_store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// The clock (default: [`SystemClock`]).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The engine's secret: it signs `device_cookie` tokens and draws
    /// each lockout's `cooloff_jitter` (default: 32 random bytes per
    /// engine). Give every app server sharing a store the same secret, kept
    /// across restarts, so that a device trusted by one is trusted by all
    /// and they agree on every unlock time.
    ///
    /// ```
    /// let config = axes::AxesConfig::from_toml_str(r#"
    ///     trusted_client_window = "30d"
    ///     device_cookie = "axes_device"
    /// "#).unwrap();
    /// let key = std::env::var("AXES_SECRET").unwrap_or_else(|_| "a long random secret".into());
    /// let axes = axes::Axes::builder(config).secret(key).build();
    /// # drop(axes);
    /// ```
    pub fn secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.secret = Some(Secret::new(secret.into()));
        self
    }

    /// How far a subscriber may fall behind (default
    /// [`DEFAULT_EVENT_CAPACITY`]).
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity.max(1);
        self
    }

    /// Replaces the lockout response entirely (django-axes'
    /// `AXES_LOCKOUT_CALLABLE`); no `Retry-After` is added to it.
    ///
    /// ```
    /// use axum::response::IntoResponse;
    /// use axes::{Axes, AxesConfig};
    /// let axes = Axes::builder(AxesConfig::default())
    ///     .lockout_callable(|ctx| (ctx.status, format!("locked after {} failures", ctx.lockout.failures)).into_response())
    ///     .build();
    /// ```
    pub fn lockout_callable<F>(mut self, callable: F) -> Self
    where
        F: Fn(&LockoutContext<'_>) -> Response + Send + Sync + 'static,
    {
        self.response_hooks.callable = Some(Arc::new(callable));
        self
    }

    /// Renders the HTML body of the lockout response (django-axes'
    /// `AXES_LOCKOUT_TEMPLATE`); status and headers stay axes' own.
    ///
    /// ```
    /// use axes::{Axes, AxesConfig};
    /// let axes = Axes::builder(AxesConfig::default())
    ///     .lockout_template(|ctx| format!("<h1>Locked</h1><p>{}</p>", ctx.message))
    ///     .build();
    /// ```
    pub fn lockout_template<F>(mut self, template: F) -> Self
    where
        F: Fn(&LockoutContext<'_>) -> String + Send + Sync + 'static,
    {
        self.response_hooks.template = Some(Arc::new(template));
        self
    }

    /// Resolves the username counted for a request (django-axes'
    /// `AXES_USERNAME_CALLABLE`). It is called before dispatch (without
    /// credentials) and when the handler reports a failure (with them).
    /// The seed's namespace example:
    ///
    /// ```
    /// use axes::{Axes, AxesConfig};
    /// let axes = Axes::builder(AxesConfig::default())
    ///     .username_callable(|client, credentials| {
    ///         let request = client.request()?;
    ///         let username = credentials
    ///             .and_then(|c| c.username())
    ///             .or_else(|| request.field("username"))?;
    ///         let namespace = credentials
    ///             .and_then(|c| c.field("namespace"))
    ///             .or_else(|| request.field("namespace"))?;
    ///         Some(format!("{namespace}-{}", username.get(9..).unwrap_or("")))
    ///     })
    ///     .build();
    /// ```
    pub fn username_callable<F>(mut self, callable: F) -> Self
    where
        F: Fn(&ClientInfo, Option<&Credentials>) -> Option<String> + Send + Sync + 'static,
    {
        self.hooks.username = Some(Arc::new(callable));
        self
    }

    /// Whitelists clients by code (django-axes' `AXES_WHITELIST_CALLABLE`):
    /// `true` = never locked out, failures not recorded.
    ///
    /// ```
    /// let axes = axes::Axes::builder(axes::AxesConfig::default())
    ///     .whitelist_callable(|client, _| client.user_agent().starts_with("internal-monitor/"))
    ///     .build();
    /// ```
    pub fn whitelist_callable<F>(mut self, callable: F) -> Self
    where
        F: Fn(&ClientInfo, Option<&Credentials>) -> bool + Send + Sync + 'static,
    {
        self.hooks.whitelist = Some(Arc::new(callable));
        self
    }

    /// Finds the client IP by code instead of the `ipware_*` settings
    /// (django-axes' `AXES_CLIENT_IP_CALLABLE`); `None` uses the TCP peer.
    ///
    /// ```
    /// let axes = axes::Axes::builder(axes::AxesConfig::default())
    ///     .client_ip_callable(|request| request.headers().get("fly-client-ip")?.to_str().ok()?.parse().ok())
    ///     .build();
    /// ```
    pub fn client_ip_callable<F>(mut self, callable: F) -> Self
    where
        F: Fn(&RequestInfo) -> Option<IpAddr> + Send + Sync + 'static,
    {
        self.hooks.client_ip = Some(Arc::new(callable));
        self
    }

    /// The failure limit per client (django-axes' callable
    /// `AXES_FAILURE_LIMIT`); ignored when `lockout_tiers` are set. At least 1.
    ///
    /// ```
    /// let axes = axes::Axes::builder(axes::AxesConfig::default())
    ///     .failure_limit_callable(|client| if client.username() == Some("admin") { 1 } else { 5 })
    ///     .build();
    /// ```
    pub fn failure_limit_callable<F>(mut self, callable: F) -> Self
    where
        F: Fn(&ClientInfo) -> u32 + Send + Sync + 'static,
    {
        self.hooks.failure_limit = Some(Arc::new(callable));
        self
    }

    /// The cool-off per client (django-axes' callable `AXES_COOLOFF_TIME`);
    /// `None` locks until reset. Tiers, when set, take precedence.
    ///
    /// ```
    /// use std::time::Duration;
    /// let axes = axes::Axes::builder(axes::AxesConfig::default())
    ///     .cooloff_callable(|client| Some(Duration::from_secs(if client.username().is_some() { 900 } else { 60 })))
    ///     .build();
    /// ```
    pub fn cooloff_callable<F>(mut self, callable: F) -> Self
    where
        F: Fn(&ClientInfo) -> Option<Duration> + Send + Sync + 'static,
    {
        self.hooks.cooloff = Some(Arc::new(callable));
        self
    }

    /// The lockout parameters per client (django-axes' callable
    /// `AXES_LOCKOUT_PARAMETERS`); an empty answer keeps the configured ones.
    /// Resets take off failures under the configured parameters.
    ///
    /// ```
    /// use axes::{LockoutGroup, LockoutParameter::*};
    /// let axes = axes::Axes::builder(axes::AxesConfig::default())
    ///     .lockout_parameters_callable(|client| match client.username() {
    ///         Some(_) => vec![LockoutGroup::combination([Username, IpAddress])],
    ///         None => vec![LockoutGroup::single(IpAddress)],
    ///     })
    ///     .build();
    /// ```
    pub fn lockout_parameters_callable<F>(mut self, callable: F) -> Self
    where
        F: Fn(&ClientInfo) -> Vec<LockoutGroup> + Send + Sync + 'static,
    {
        self.hooks.lockout_parameters = Some(Arc::new(callable));
        self
    }

    /// The engine.
    pub fn build(mut self) -> Axes {
        for warning in crate::checks::config_warnings(&self.config) {
            tracing::warn!(target: "axes", keys = ?warning.keys, "{}", warning.message);
        }
        self.config.lockout_tiers.sort_by_key(|t| t.failures);
        let (events, _) = broadcast::channel(self.event_capacity);
        let store_timeout = self.config.store_timeout;
        Axes {
            inner: Arc::new(Inner {
                proxies: ProxyConfig::from_config(&self.config),
                hooks: self.hooks,
                response_hooks: self.response_hooks,
                config: self.config,
                store: Arc::new(store::TimedStore::new(
                    self.store
                        .unwrap_or_else(|| Arc::new(crate::store::MemoryStore::new())),
                    store_timeout,
                )),
                clock: self.clock,
                events,
                last_purge_ms: AtomicI64::new(i64::MIN),
                secret: self.secret.unwrap_or_else(Secret::random),
                gates: Arc::default(),
                next_attempt: std::sync::atomic::AtomicU64::new(1),
                hold_micros: std::sync::atomic::AtomicU64::new(0),
                refusals: Every::new(Duration::from_secs(60)),
                store_failures: Every::new(Duration::from_secs(10)),
            }),
        }
    }
}
