//! [`AxesBuilder`]: the engine's clock, store, event capacity and callables.

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::broadcast;

use super::axes::Axes;
use super::events::DEFAULT_EVENT_CAPACITY;
use super::hooks::Hooks;
use super::keeper::Keeper;
use super::lock_cache::LockCache;
use super::state::Engine;
use crate::clock::{Clock, SystemClock};
use crate::config::{config_warnings, AxesConfig};
use crate::identity::{LockoutGroup, LoginAttempt, RequestInfo};
use crate::log_limit::Every;
use crate::secret::Secret;
use crate::store::{Store, TimedStore};

/// Builds an [`Axes`]; see [`Axes::builder`].
///
/// ```
/// use axes::{Axes, AxesConfig, ManualClock, MemoryStore};
/// let clock = ManualClock::new();
/// let axes = Axes::builder(AxesConfig::default(), MemoryStore::new())
///     .clock(clock.clone())
///     .build();
/// assert_eq!(axes.now(), axes::Clock::now(&clock));
/// ```
#[must_use]
pub struct AxesBuilder {
    config: AxesConfig,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    event_capacity: usize,
    hooks: Hooks,
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

impl Axes {
    /// An engine on `store`, with the system clock.
    ///
    /// ```
    /// let axes = axes::Axes::new(axes::AxesConfig::default(), axes::MemoryStore::new());
    /// assert_eq!(axes.config().failure_limit, 3);
    /// ```
    pub fn new(config: AxesConfig, store: impl Store) -> Self {
        Self::builder(config, store).build()
    }

    /// A builder on `store` (an `Arc<dyn Store>` shared with other handles
    /// works too), for a custom clock, the callables, the secret or the
    /// event capacity.
    ///
    /// ```
    /// let axes = axes::Axes::builder(axes::AxesConfig::default(), axes::MemoryStore::new())
    ///     .secret("shared by the app servers")
    ///     .build();
    /// # drop(axes);
    /// ```
    pub fn builder(config: AxesConfig, store: impl Store) -> AxesBuilder {
        AxesBuilder::new(config, shared(store))
    }
}

impl AxesBuilder {
    fn new(config: AxesConfig, store: Arc<dyn Store>) -> Self {
        Self {
            config,
            store,
            clock: Arc::new(SystemClock),
            event_capacity: DEFAULT_EVENT_CAPACITY,
            hooks: Hooks::default(),
            secret: None,
        }
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
    /// let axes = axes::Axes::builder(config, axes::MemoryStore::new()).secret(key).build();
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

    /// Resolves the username counted for an attempt (django-axes'
    /// `AXES_USERNAME_CALLABLE`, given the request and the credentials). It
    /// is called before dispatch (without credentials) and when the handler
    /// reports (with them). The seed's namespace example:
    ///
    /// ```
    /// use axes::{Axes, AxesConfig};
    /// let axes = Axes::builder(AxesConfig::default(), axes::MemoryStore::new())
    ///     .username_callable(|attempt| {
    ///         let request = attempt.request()?;
    ///         let credentials = attempt.credentials();
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
        F: Fn(&LoginAttempt<'_>) -> Option<String> + Send + Sync + 'static,
    {
        self.hooks.username = Some(Arc::new(callable));
        self
    }

    /// Whitelists clients by code (django-axes' `AXES_WHITELIST_CALLABLE`):
    /// `true` = never locked out, failures not recorded.
    ///
    /// ```
    /// let axes = axes::Axes::builder(axes::AxesConfig::default(), axes::MemoryStore::new())
    ///     .whitelist_callable(|attempt| attempt.client().user_agent().starts_with("internal-monitor/"))
    ///     .build();
    /// ```
    pub fn whitelist_callable<F>(mut self, callable: F) -> Self
    where
        F: Fn(&LoginAttempt<'_>) -> bool + Send + Sync + 'static,
    {
        self.hooks.whitelist = Some(Arc::new(callable));
        self
    }

    /// Finds the client IP by code instead of the `ipware_*` settings
    /// (django-axes' `AXES_CLIENT_IP_CALLABLE`); `None` uses the TCP peer.
    ///
    /// ```
    /// let axes = axes::Axes::builder(axes::AxesConfig::default(), axes::MemoryStore::new())
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
    /// let axes = axes::Axes::builder(axes::AxesConfig::default(), axes::MemoryStore::new())
    ///     .failure_limit_callable(|attempt| if attempt.client().username() == Some("admin") { 1 } else { 5 })
    ///     .build();
    /// ```
    pub fn failure_limit_callable<F>(mut self, callable: F) -> Self
    where
        F: Fn(&LoginAttempt<'_>) -> u32 + Send + Sync + 'static,
    {
        self.hooks.failure_limit = Some(Arc::new(callable));
        self
    }

    /// The cool-off per client (django-axes' callable `AXES_COOLOFF_TIME`);
    /// `None` locks until reset. Tiers, when set, take precedence.
    ///
    /// ```
    /// use std::time::Duration;
    /// let axes = axes::Axes::builder(axes::AxesConfig::default(), axes::MemoryStore::new())
    ///     .cooloff_callable(|attempt| Some(Duration::from_secs(if attempt.client().username().is_some() { 900 } else { 60 })))
    ///     .build();
    /// ```
    pub fn cooloff_callable<F>(mut self, callable: F) -> Self
    where
        F: Fn(&LoginAttempt<'_>) -> Option<Duration> + Send + Sync + 'static,
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
    /// let axes = axes::Axes::builder(axes::AxesConfig::default(), axes::MemoryStore::new())
    ///     .lockout_parameters_callable(|attempt| match attempt.client().username() {
    ///         Some(_) => vec![LockoutGroup::combination([Username, IpAddress])],
    ///         None => vec![LockoutGroup::single(IpAddress)],
    ///     })
    ///     .build();
    /// ```
    pub fn lockout_parameters_callable<F>(mut self, callable: F) -> Self
    where
        F: Fn(&LoginAttempt<'_>) -> Vec<LockoutGroup> + Send + Sync + 'static,
    {
        self.hooks.lockout_parameters = Some(Arc::new(callable));
        self
    }

    /// The engine.
    ///
    /// ```
    /// let axes = axes::Axes::builder(axes::AxesConfig::default(), axes::MemoryStore::new()).build();
    /// assert!(axes.config().enabled);
    /// ```
    pub fn build(mut self) -> Axes {
        for warning in config_warnings(&self.config) {
            tracing::warn!(target: "axes", keys = ?warning.keys, "{}", warning.message);
        }
        if self.config.spray_limit.is_some() && self.store.records().is_none() {
            tracing::warn!(target: "axes", keys = ?["spray_limit"], "spray_limit reads attempt records, which this store does not keep: it detects nothing");
        }
        self.config.lockout_tiers.sort_by_key(|t| t.failures);
        let (events, _) = broadcast::channel(self.event_capacity);
        let store_timeout = self.config.store_timeout;
        let (keeper, orders) = match self.store.shared_slots() {
            Some(_) => {
                let (keeper, orders) = Keeper::new();
                (Some(Arc::new(keeper)), Some(orders))
            }
            None => (None, None),
        };
        if self.config.private_usernames && self.secret.is_none() {
            tracing::error!(target: "axes", "private_usernames without a secret (AxesBuilder::secret): usernames get pseudonyms of this process only, so counts start afresh with each process and app servers do not count together");
        }
        let events_for_cache = self.store.subscribe();
        let engine = Arc::new(Engine {
            proxies: self.config.proxies(),
            hooks: self.hooks,
            config: self.config,
            store: TimedStore::new(self.store, store_timeout),
            clock: self.clock,
            events,
            secret: self.secret.unwrap_or_else(Secret::random),
            last_purge_ms: AtomicI64::new(i64::MIN),
            gates: Arc::default(),
            keeper,
            orders: Mutex::new(orders),
            background: AtomicBool::new(false),
            locks: LockCache::new(events_for_cache),
            hold_micros: AtomicU64::new(0),
            activity: super::activity::ActivityLog::new(),
            breaker: super::breaker::BreakerState::default(),
            refusals: Every::new(Duration::from_secs(60)),
            store_failures: Every::new(Duration::from_secs(10)),
        });
        Engine::start_background(&engine);
        Axes { engine }
    }
}

/// `store` behind one `Arc`: a store given as an `Arc<dyn Store>` already
/// is used as it is, not wrapped in another (each layer costs a dynamic call).
fn shared(store: impl Store) -> Arc<dyn Store> {
    let mut store = Some(store);
    if let Some(shared) =
        (&mut store as &mut dyn std::any::Any).downcast_mut::<Option<Arc<dyn Store>>>()
    {
        if let Some(shared) = shared.take() {
            return shared;
        }
    }
    match store {
        Some(store) => Arc::new(store),
        None => unreachable!("taken only when it was an Arc<dyn Store>"),
    }
}
