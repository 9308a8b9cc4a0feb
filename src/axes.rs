//! [`Axes`]: the engine handle (config + store + clock + events).

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::broadcast;

use crate::client::ClientInfo;
use crate::clock::{Clock, SystemClock};
use crate::config::AxesConfig;
use crate::events::{AxesEvent, DEFAULT_EVENT_CAPACITY};
use crate::ip::ProxyConfig;
use crate::policy::{self, Listing, Lockout};
use crate::store::{self, AccessAttempt, AttemptFilter, FailureRecord, Store, StoreError};

/// How often expired counters and attempt records are purged, at most.
const PURGE_INTERVAL: Duration = Duration::from_secs(60);

/// An error from the engine.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use axes::{AttemptFilter, Axes, AxesConfig, AxesError, MemoryStore};
/// let axes = Axes::new(AxesConfig::default(), MemoryStore::new());
/// let err = axes.reset(AttemptFilter::Username(String::new())).await.unwrap_err();
/// assert!(matches!(err, AxesError::InvalidFilter(_)));
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AxesError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A reset or listing filter was refused.
    #[error("invalid filter: {0}")]
    InvalidFilter(String),
}

/// What the pre-dispatch check decided.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// The client may try; `failures` is its current largest count.
    Allowed {
        /// The largest failure count among its lockout groups.
        failures: u64,
    },
    /// The client is exempt (whitelisted, or a `GET` with
    /// `never_lockout_get`), or axes is disabled.
    Exempt,
    /// The client is refused.
    LockedOut(Lockout),
}

impl Decision {
    /// The lockout, if the client is refused.
    pub fn lockout(&self) -> Option<&Lockout> {
        match self {
            Self::LockedOut(lockout) => Some(lockout),
            _ => None,
        }
    }
}

/// What recording a failure did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FailureOutcome {
    /// Whether the failure was stored (not when axes is disabled, the client
    /// is exempt, no lockout group applies, or a lockout already in force
    /// with `reset_cool_off_on_failure_during_lockout = false`).
    pub recorded: bool,
    /// The client's largest failure count afterwards.
    pub failures: u64,
    /// The lockout the client is now under, if any.
    pub lockout: Option<Lockout>,
}

/// The engine: checks clients, records what the application reports, resets
/// and lists attempts, and broadcasts [`AxesEvent`]s. Cheap to clone (an
/// `Arc` inside); usable with or without the layer.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), axes::AxesError> {
/// use axes::{AttemptFilter, Axes, AxesConfig, ClientInfo, MemoryStore};
///
/// let axes = Axes::new(AxesConfig::default(), MemoryStore::new());
/// let client = ClientInfo::new("192.0.2.1".parse().unwrap()).with_username("alice");
/// for _ in 0..2 {
///     assert!(axes.login_failed(&client).await?.lockout.is_none());
/// }
/// // The third failure reaches the default limit of 3.
/// assert!(axes.login_failed(&client).await?.lockout.is_some());
/// assert!(axes.check(&client).await?.lockout().is_some());
///
/// assert_eq!(axes.reset(AttemptFilter::Ip(client.ip_address())).await?, 1);
/// assert!(axes.check(&client).await?.lockout().is_none());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Axes {
    inner: Arc<Inner>,
}

struct Inner {
    config: AxesConfig,
    proxies: ProxyConfig,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    events: broadcast::Sender<AxesEvent>,
    last_purge_ms: AtomicI64,
}

impl fmt::Debug for Axes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Axes")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Axes {
    /// An engine with the system clock.
    pub fn new(config: AxesConfig, store: impl Store) -> Self {
        Self::builder(config).store(store).build()
    }

    /// A builder, for a custom clock, a shared store or the event capacity.
    pub fn builder(config: AxesConfig) -> AxesBuilder {
        AxesBuilder {
            config,
            store: None,
            clock: Arc::new(SystemClock),
            event_capacity: DEFAULT_EVENT_CAPACITY,
        }
    }

    /// The policy in force.
    pub fn config(&self) -> &AxesConfig {
        &self.inner.config
    }

    /// How the client IP is found behind proxies (from the `ipware_*` settings).
    pub fn proxies(&self) -> &ProxyConfig {
        &self.inner.proxies
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The current time, by the engine's clock.
    pub fn now(&self) -> SystemTime {
        self.inner.clock.now()
    }

    /// A new receiver of every [`AxesEvent`] from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<AxesEvent> {
        self.inner.events.subscribe()
    }

    /// Decides whether `client` may attempt a login: one store read for all
    /// of its lockout keys.
    pub async fn check(&self, client: &ClientInfo) -> Result<Decision, AxesError> {
        let config = &self.inner.config;
        if !config.enabled {
            return Ok(Decision::Exempt);
        }
        match policy::listing(config, client) {
            Listing::Blacklisted => {
                return Ok(Decision::LockedOut(policy::blacklisted(config, client)))
            }
            Listing::Whitelisted => return Ok(Decision::Exempt),
            Listing::Counted => {}
        }
        let keys = policy::lockout_keys(config, client);
        if keys.is_empty() {
            return Ok(Decision::Allowed { failures: 0 });
        }
        let counters = self.inner.store.counters(&keys).await?;
        let standing = policy::standing(config, counters.iter().flatten(), self.now());
        Ok(match policy::lockout_for(config, client, standing) {
            Some(lockout) => Decision::LockedOut(lockout),
            None => Decision::Allowed {
                failures: standing.failures,
            },
        })
    }

    /// Records a failed login of `client` (django-axes' `user_login_failed`)
    /// in one atomic store write, and says whether it is now locked out.
    pub async fn login_failed(&self, client: &ClientInfo) -> Result<FailureOutcome, AxesError> {
        let config = &self.inner.config;
        let now = self.now();
        let listing = if config.enabled {
            policy::listing(config, client)
        } else {
            Listing::Whitelisted
        };
        let keys = policy::lockout_keys(config, client);
        if listing == Listing::Whitelisted || keys.is_empty() {
            tracing::debug!(target: "axes", ip = %client.ip_address(), username = ?client.username(), "failure not recorded: exempt or no lockout parameter applies");
            self.emit(AxesEvent::LoginFailed {
                client: client.clone(),
                failures: 0,
                recorded: false,
                at: now,
            });
            return Ok(FailureOutcome {
                recorded: false,
                failures: 0,
                lockout: (listing == Listing::Blacklisted)
                    .then(|| policy::blacklisted(config, client)),
            });
        }

        if !config.reset_cool_off_on_failure_during_lockout {
            if let Decision::LockedOut(lockout) = self.check(client).await? {
                tracing::info!(target: "axes", ip = %client.ip_address(), username = ?client.username(), "failure during lockout not recorded");
                self.emit_locked_out(client, &lockout, now);
                return Ok(FailureOutcome {
                    recorded: false,
                    failures: lockout.failures,
                    lockout: Some(lockout),
                });
            }
        }

        let window = policy::counting_window(config);
        let counters = self
            .inner
            .store
            .record_failure(FailureRecord::new(&keys, client, now, window))
            .await?;
        let standing = policy::standing(config, &counters, now);
        let lockout = if listing == Listing::Blacklisted {
            Some(policy::blacklisted(config, client))
        } else {
            policy::lockout_for(config, client, standing)
        };
        tracing::info!(target: "axes", ip = %client.ip_address(), username = ?client.username(), failures = standing.failures, locked = lockout.is_some(), "login failure recorded");
        self.emit(AxesEvent::LoginFailed {
            client: client.clone(),
            failures: standing.failures,
            recorded: true,
            at: now,
        });
        if let Some(lockout) = &lockout {
            self.emit_locked_out(client, lockout, now);
        }
        self.purge_if_due(now).await;
        Ok(FailureOutcome {
            recorded: true,
            failures: standing.failures,
            lockout,
        })
    }

    /// Records a successful login of `username` by `client` (django-axes'
    /// `user_logged_in`). With `reset_on_success`, the failures of that
    /// username from that IP are cleared — never other users' failures.
    pub async fn logged_in(&self, client: &ClientInfo, username: &str) -> Result<(), AxesError> {
        let config = &self.inner.config;
        if !config.enabled {
            return Ok(());
        }
        if config.reset_on_success && !username.is_empty() {
            let filter = AttemptFilter::IpAndUsername(client.ip_address(), username.to_owned());
            let removed = self
                .inner
                .store
                .reset(&filter, &config.lockout_parameters)
                .await?;
            tracing::debug!(target: "axes", ip = %client.ip_address(), username, removed, "reset on success");
        }
        tracing::info!(target: "axes", ip = %client.ip_address(), username, "login succeeded");
        self.emit(AxesEvent::LoggedIn {
            client: client.clone(),
            username: username.to_owned(),
            at: self.now(),
        });
        Ok(())
    }

    /// Records a logout (django-axes' `user_logged_out`).
    pub async fn logged_out(
        &self,
        client: &ClientInfo,
        username: Option<&str>,
    ) -> Result<(), AxesError> {
        if !self.inner.config.enabled {
            return Ok(());
        }
        tracing::info!(target: "axes", ip = %client.ip_address(), username, "logged out");
        self.emit(AxesEvent::LoggedOut {
            client: client.clone(),
            username: username.map(str::to_owned),
            at: self.now(),
        });
        Ok(())
    }

    /// Deletes the attempt records `filter` covers and lifts the lockouts
    /// they caused, like `axes.utils.reset`. Returns how many records were
    /// deleted. An empty username is refused rather than read as
    /// "everything".
    pub async fn reset(&self, filter: AttemptFilter) -> Result<u64, AxesError> {
        filter.validate().map_err(AxesError::InvalidFilter)?;
        let removed = self
            .inner
            .store
            .reset(&filter, &self.inner.config.lockout_parameters)
            .await?;
        tracing::info!(target: "axes", ?filter, removed, "attempts reset");
        self.emit(AxesEvent::Reset {
            filter,
            removed,
            at: self.now(),
        });
        Ok(removed)
    }

    /// Lists the attempt records `filter` covers, most recent first.
    pub async fn attempts(&self, filter: AttemptFilter) -> Result<Vec<AccessAttempt>, AxesError> {
        filter.validate().map_err(AxesError::InvalidFilter)?;
        Ok(self.inner.store.attempts(&filter).await?)
    }

    fn emit_locked_out(&self, client: &ClientInfo, lockout: &Lockout, at: SystemTime) {
        tracing::warn!(target: "axes", ip = %client.ip_address(), username = ?client.username(), failures = lockout.failures, "client locked out");
        self.emit(AxesEvent::LockedOut {
            username: client.username().map(str::to_owned),
            ip_address: client.ip_address(),
            client: client.clone(),
            lockout: lockout.clone(),
            at,
        });
    }

    fn emit(&self, event: AxesEvent) {
        // No subscriber is not an error.
        let _ = self.inner.events.send(event);
    }

    /// Deletes entries past the cool-off, at most once per [`PURGE_INTERVAL`].
    async fn purge_if_due(&self, now: SystemTime) {
        let Some(window) = policy::counting_window(&self.inner.config) else {
            return;
        };
        let now_ms = store::to_millis(now);
        let last = self.inner.last_purge_ms.load(Ordering::Relaxed);
        let interval_ms = PURGE_INTERVAL.as_millis() as i64;
        if now_ms.saturating_sub(last) < interval_ms
            || self
                .inner
                .last_purge_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        if let Some(before) = now.checked_sub(window) {
            if let Err(error) = self.inner.store.purge_expired(before).await {
                tracing::warn!(target: "axes", %error, "purging expired attempts failed");
            }
        }
    }
}

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

    /// How far a subscriber may fall behind (default
    /// [`DEFAULT_EVENT_CAPACITY`]).
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity.max(1);
        self
    }

    /// The engine.
    pub fn build(self) -> Axes {
        let (events, _) = broadcast::channel(self.event_capacity);
        Axes {
            inner: Arc::new(Inner {
                proxies: ProxyConfig::from_config(&self.config),
                config: self.config,
                store: self
                    .store
                    .unwrap_or_else(|| Arc::new(crate::store::MemoryStore::new())),
                clock: self.clock,
                events,
                last_purge_ms: AtomicI64::new(i64::MIN),
            }),
        }
    }
}
