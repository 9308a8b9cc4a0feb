//! [`Axes`], the engine's handle, and [`Engine`], what it shares: the
//! policy, the store, the clock, the event stream, and the state of the
//! attempts in flight in this process.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{broadcast, mpsc};

use super::attempt::Attempt;
use super::builder::AxesBuilder;
use super::error::AxesError;
use super::events::AxesEvent;
use super::hooks::Hooks;
use super::in_flight::Gates;
use super::keeper::{Keeper, Order};
use super::lock_cache::LockCache;
use crate::clock::Clock;
use crate::config::AxesConfig;
use crate::identity::{ClientInfo, ProxyConfig, RequestInfo};
use crate::log_limit::Every;
use crate::policy::Lockout;
use crate::secret::Secret;
use crate::store::{Store, TimedStore};

/// The engine: begins login attempts, resets and lists them, and
/// broadcasts [`AxesEvent`]s. Cheap to clone (an `Arc` inside); usable with
/// or without the layer.
///
/// Each login is an [`Attempt`], begun with [`attempt`](Self::attempt);
/// the rest of the API is the operator's: resets, listings, current
/// lockouts, unlock tokens.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), axes::AxesError> {
/// use axes::{AttemptFilter, Axes, AxesConfig, ClientInfo, MemoryStore, Report};
///
/// let axes = Axes::new(AxesConfig::default(), MemoryStore::new());
/// let client = ClientInfo::new("192.0.2.1".parse().unwrap()).with_username("alice");
/// for _ in 0..2 {
///     let verdict = axes.attempt(client.clone()).report(Report::failed("alice")).await?;
///     assert!(verdict.lockout().is_none());
/// }
/// // The third failure reaches the default limit of 3.
/// let verdict = axes.attempt(client.clone()).report(Report::failed("alice")).await?;
/// assert!(verdict.lockout().is_some());
/// assert!(axes.attempt(client.clone()).check().await?.lockout().is_some());
///
/// assert_eq!(axes.reset(AttemptFilter::Ip(client.ip_address())).await?, 1);
/// assert!(axes.attempt(client).check().await?.lockout().is_none());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Axes {
    pub(crate) engine: Arc<Engine>,
}

/// What every handle and attempt of one engine shares.
pub(crate) struct Engine {
    pub(super) config: AxesConfig,
    pub(super) proxies: ProxyConfig,
    pub(super) hooks: Hooks,
    pub(super) store: TimedStore,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) events: broadcast::Sender<AxesEvent>,
    /// Signs `device_cookie` tokens and draws each lockout's jitter.
    pub(super) secret: Secret,
    /// When expired entries were last purged (ms).
    pub(super) last_purge_ms: AtomicI64,
    /// Attempts in flight in this process, and those waiting for a slot.
    pub(super) gates: Arc<Gates>,
    /// The slots held on a store that shares them.
    pub(super) keeper: Option<Arc<Keeper>>,
    /// The keeper's orders, until the background task takes them.
    pub(super) orders: Mutex<Option<mpsc::UnboundedReceiver<Order>>>,
    /// Whether the background task was started.
    pub(super) background: AtomicBool,
    /// The lockouts seen lately, to refuse a locked client from memory.
    pub(super) locks: LockCache,
    /// How long attempts hold their slots, on average lately (µs).
    pub(super) hold_micros: AtomicU64,
    /// Refusals, summarised in one log line a minute.
    pub(super) refusals: Every,
    /// Store failures, logged at most once every ten seconds.
    pub(super) store_failures: Every,
}

impl fmt::Debug for Axes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Axes")
            .field("config", &self.engine.config)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
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

    /// The policy in force.
    ///
    /// ```
    /// let axes = axes::Axes::new(axes::AxesConfig::default(), axes::MemoryStore::new());
    /// assert!(axes.config().enabled);
    /// ```
    pub fn config(&self) -> &AxesConfig {
        &self.engine.config
    }

    /// How the client IP is found behind proxies (from the `ipware_*` settings).
    ///
    /// ```
    /// let axes = axes::Axes::new(axes::AxesConfig::default(), axes::MemoryStore::new());
    /// let peer = "192.0.2.7".parse().unwrap();
    /// assert_eq!(axes.proxies().client_ip(&http::HeaderMap::new(), peer), peer);
    /// ```
    pub fn proxies(&self) -> &ProxyConfig {
        &self.engine.proxies
    }

    /// The store, as given (without the engine's `store_timeout`).
    ///
    /// ```
    /// let axes = axes::Axes::new(axes::AxesConfig::default(), axes::MemoryStore::new());
    /// assert!(axes.store().shared_slots().is_none(), "the memory store is one process's");
    /// ```
    pub fn store(&self) -> &Arc<dyn Store> {
        self.engine.store.inner()
    }

    /// The current time, by the engine's clock, corrected by the store's
    /// measured lead over this machine's clock
    /// ([`Store::clock_offset_ms`]): app servers sharing a store decide by
    /// one clock.
    ///
    /// ```
    /// use axes::{Axes, AxesConfig, ManualClock, MemoryStore};
    /// let clock = ManualClock::new();
    /// let axes = Axes::builder(AxesConfig::default(), MemoryStore::new()).clock(clock.clone()).build();
    /// assert_eq!(axes.now(), axes::Clock::now(&clock));
    /// ```
    pub fn now(&self) -> SystemTime {
        self.engine.now()
    }

    /// A new receiver of every [`AxesEvent`] from now on.
    ///
    /// ```
    /// let axes = axes::Axes::new(axes::AxesConfig::default(), axes::MemoryStore::new());
    /// let mut events = axes.subscribe();
    /// assert!(events.try_recv().is_err(), "nothing happened yet");
    /// ```
    pub fn subscribe(&self) -> broadcast::Receiver<AxesEvent> {
        self.engine.events.subscribe()
    }

    /// The client a login request comes from, as the engine counts it: its
    /// IP by the client IP callable, else the `ipware_*` settings; its user
    /// agent, path, `Accept` and method; the username of its body field
    /// `username_form_field`. What the layer resolves for every request.
    ///
    /// ```
    /// let axes = axes::Axes::new(axes::AxesConfig::default(), axes::MemoryStore::new());
    /// let request = axes::RequestInfo::new(
    ///     http::Method::POST, "/login".parse().unwrap(), http::HeaderMap::new(),
    ///     "192.0.2.1:4000".parse().unwrap(),
    /// ).with_fields([("username", "alice")]);
    /// let client = axes.client_of(&request);
    /// assert_eq!((client.ip_address().to_string().as_str(), client.username()), ("192.0.2.1", Some("alice")));
    /// ```
    pub fn client_of(&self, request: &RequestInfo) -> ClientInfo {
        self.engine.client_of(request)
    }

    /// Begins a login attempt of `client`: the value that is checked or
    /// admitted before the password is verified, takes the handler's
    /// [`Report`](crate::Report) after, and gives back whatever it holds
    /// when finished or dropped. Add the request it came in with
    /// [`Attempt::with_request`], so the callables see it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), axes::AxesError> {
    /// use axes::{Axes, AxesConfig, ClientInfo, MemoryStore, Report};
    /// let axes = Axes::new(AxesConfig::default(), MemoryStore::new());
    /// let mut attempt = axes.attempt(ClientInfo::new("192.0.2.1".parse().unwrap()));
    /// assert!(attempt.admit().await?.lockout().is_none());
    /// // … verify the password …
    /// attempt.report(Report::succeeded("alice")).await?;
    /// attempt.finish().await;
    /// # Ok(()) }
    /// ```
    pub fn attempt(&self, client: ClientInfo) -> Attempt {
        Attempt::new(self.engine.clone(), client)
    }
}

impl Engine {
    /// The policy in force.
    pub(crate) fn config(&self) -> &AxesConfig {
        &self.config
    }

    /// The store, each call bounded by `store_timeout`: what the engine's
    /// steps call.
    pub(crate) fn timed_store(&self) -> &TimedStore {
        &self.store
    }

    /// The current time (see [`Axes::now`]).
    pub(crate) fn now(&self) -> SystemTime {
        let now = self.clock.now();
        match self.store.inner().clock_offset_ms() {
            0 => now,
            ahead if ahead > 0 => now + Duration::from_millis(ahead.unsigned_abs()),
            behind => now
                .checked_sub(Duration::from_millis(behind.unsigned_abs()))
                .unwrap_or(now),
        }
    }

    /// The slots held on a store that shares them.
    pub(crate) fn keeper(&self) -> Option<&Keeper> {
        self.keeper.as_deref()
    }

    /// The engine's secret (device cookies, jitter, the admin's CSRF tokens).
    pub(crate) fn secret(&self) -> &Secret {
        &self.secret
    }

    /// The callables and response hooks set on the builder.
    pub(crate) fn hooks(&self) -> &Hooks {
        &self.hooks
    }

    /// Counts an attempt refused with `lockout`: a debug line each, and at
    /// the default level one summary line a minute at most.
    pub(crate) fn note_refusal(&self, client: &ClientInfo, lockout: &Lockout) {
        tracing::debug!(target: "axes", ip = %client.ip_address(), username = ?client.username(), reason = ?lockout.reason, "login attempt refused");
        if let Some(refused) = self.refusals.tick(self.now()) {
            tracing::info!(target: "axes", refused, "login attempts refused (at most one such line a minute)");
        }
    }

    /// Logs a store failure: at most one line every ten seconds, with how
    /// many failed since the last one.
    pub(crate) fn note_store_failure(&self, error: &AxesError, action: &str) {
        if let Some(failures) = self.store_failures.tick(self.now()) {
            tracing::error!(target: "axes", %error, failures, "store failed; {action}");
        }
    }

    /// Sends the event `event` makes to the subscribers; with none, the
    /// event is not made.
    pub(crate) fn emit(&self, event: impl FnOnce() -> AxesEvent) {
        if self.events.receiver_count() > 0 {
            let _ = self.events.send(event());
        }
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
