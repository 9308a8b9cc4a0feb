//! [`Axes`]: the engine's handle — begin an attempt, resolve a request's
//! client, read the policy, the store, the time, and subscribe to events.
//! The operator's API is in `operator`, the constructors in `builder`.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::broadcast;

use super::activity::Activity;
use super::attempt::Attempt;
use super::events::AxesEvent;
use super::state::Engine;
use crate::config::AxesConfig;
use crate::identity::{ClientInfo, ProxyConfig, RequestInfo};
use crate::store::Store;

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

impl fmt::Debug for Axes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Axes")
            .field("config", &self.engine.config)
            .finish_non_exhaustive()
    }
}

impl Axes {
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

    /// What this process recorded lately: failures and lockouts a minute
    /// over the last day, and the latest lockouts (see [`Activity`]). The
    /// admin's chart and a client's lockout history, in any configuration.
    ///
    /// ```
    /// let axes = axes::Axes::new(axes::AxesConfig::default(), axes::MemoryStore::new());
    /// assert!(axes.activity().lockouts().is_empty());
    /// ```
    pub fn activity(&self) -> Activity {
        self.engine.activity.snapshot()
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
