//! The engine: [`Axes`] holds the policy, the store, the clock and the
//! event stream, and takes a login attempt through named steps, each in a
//! module of its own:
//!
//! | step | module | what it does |
//! |---|---|---|
//! | prepare | `prepare` | the attempt as counted: its listing, its counted form, the rules in force, its lockout keys |
//! | check, admit | `check`, `admission` | one read of its counters and the decision; a slot in flight per key, waiting its turn |
//! | record a failure | `failure` | one atomic write, then escalation, events and the failure log |
//! | record a success | `success` | the access log entry, the slots given back |
//! | reset | `reset` | records deleted, counters taken off, slots cleared |
//! | pass a challenge | `challenge` | a pass on each key, buying `challenge_attempts` |
//! | unlock | `unlock` | a sealed token issued, redeemed once: the username's lockouts lifted |
//!
//! The engine depends on the identity, the configuration, the policy and
//! the store contract; nothing of HTTP. The layer and the admin
//! ([`crate::layer`], [`crate::admin`]) sit on top of it.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{broadcast, mpsc};

use crate::clock::Clock;
use crate::config::AxesConfig;
use crate::identity::{ClientInfo, ProxyConfig};
use crate::log_limit::Every;
use crate::policy::Lockout;
use crate::secret::Secret;
use crate::store::{FilterError, Store, StoreError, TimedStore};

mod admission;
mod background;
mod builder;
mod challenge;
mod check;
mod events;
mod failure;
mod flight;
mod hooks;
mod in_flight;
mod keeper;
mod lock_cache;
mod lockouts;
mod prepare;
mod reset;
mod success;
mod unlock;

pub use admission::Admission;
pub use builder::AxesBuilder;
pub use events::{AxesEvent, DEFAULT_EVENT_CAPACITY};
pub(crate) use flight::{Flight, Headroom};
pub(crate) use hooks::Hooks;
pub use hooks::{
    ClientIpCallable, CooloffCallable, FailureLimitCallable, LockoutCallable, LockoutContext,
    LockoutParametersCallable, LockoutTemplate, UsernameCallable, WhitelistCallable,
};
pub use lockouts::CurrentLockout;
pub use unlock::UnlockError;

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
    InvalidFilter(#[from] FilterError),
}

/// What a check decided.
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
    /// The client may try once it passes a challenge (`challenge_after`):
    /// the handler shows its CAPTCHA or second factor and reports how it
    /// went ([`AxesReport::challenge_passed`](crate::AxesReport::challenge_passed)).
    ChallengeRequired {
        /// The largest failure count among its lockout groups, less what
        /// passed challenges bought.
        failures: u64,
    },
    /// The client is refused.
    LockedOut(Lockout),
}

impl Decision {
    /// Whether the check asks for a challenge.
    ///
    /// ```
    /// assert!(axes::Decision::ChallengeRequired { failures: 3 }.challenge_required());
    /// assert!(!axes::Decision::Exempt.challenge_required());
    /// ```
    pub fn challenge_required(&self) -> bool {
        matches!(self, Self::ChallengeRequired { .. })
    }

    /// The largest failure count the check found (0 for an exempt client).
    pub fn failures(&self) -> u64 {
        match self {
            Self::Allowed { failures } | Self::ChallengeRequired { failures } => *failures,
            Self::Exempt => 0,
            Self::LockedOut(lockout) => lockout.failures,
        }
    }

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
    /// How many more failures the client may make before its lockout
    /// (`None` when none comes: exempt, or `lock_out_at_failure = false`).
    pub attempts_left: Option<u64>,
    /// Whether its next attempt must pass a challenge first (`challenge_after`).
    pub challenge_required: bool,
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
    hooks: Hooks,
    store: TimedStore,
    clock: Arc<dyn Clock>,
    events: broadcast::Sender<AxesEvent>,
    /// Signs `device_cookie` tokens and draws each lockout's jitter.
    secret: Secret,
    /// When expired entries were last purged (ms).
    last_purge_ms: AtomicI64,
    /// Attempts in flight in this process, and those waiting for a slot.
    gates: Arc<in_flight::Gates>,
    /// The slots held on a store that shares them.
    keeper: Option<Arc<keeper::Keeper>>,
    /// The keeper's orders, until the background task takes them.
    orders: Mutex<Option<mpsc::UnboundedReceiver<keeper::Order>>>,
    /// Whether the background task was started.
    background: AtomicBool,
    /// The lockouts seen lately, to refuse a locked client from memory.
    locks: lock_cache::LockCache,
    /// How long attempts hold their slots, on average lately (µs).
    hold_micros: AtomicU64,
    /// Refusals, summarised in one log line a minute.
    refusals: Every,
    /// Store failures, logged at most once every ten seconds.
    store_failures: Every,
}

impl fmt::Debug for Axes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Axes")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Axes {
    /// An engine on `store`, with the system clock.
    pub fn new(config: AxesConfig, store: impl Store) -> Self {
        Self::builder(config, store).build()
    }

    /// A builder on `store` (an `Arc<dyn Store>` shared with other handles
    /// works too), for a custom clock, the callables, the secret or the
    /// event capacity.
    pub fn builder(config: AxesConfig, store: impl Store) -> AxesBuilder {
        AxesBuilder::new(config, shared(store))
    }

    /// The policy in force.
    pub fn config(&self) -> &AxesConfig {
        &self.inner.config
    }

    /// How the client IP is found behind proxies (from the `ipware_*` settings).
    pub fn proxies(&self) -> &ProxyConfig {
        &self.inner.proxies
    }

    /// The store, as given (without the engine's `store_timeout`).
    pub fn store(&self) -> &Arc<dyn Store> {
        self.inner.store.inner()
    }

    /// The store, each call bounded by `store_timeout`: what the engine's
    /// steps call.
    pub(crate) fn timed_store(&self) -> &TimedStore {
        &self.inner.store
    }

    /// The current time, by the engine's clock, corrected by the store's
    /// measured lead over this machine's clock
    /// ([`Store::clock_offset_ms`]): app servers sharing a store decide by
    /// one clock.
    pub fn now(&self) -> SystemTime {
        let now = self.inner.clock.now();
        match self.inner.store.inner().clock_offset_ms() {
            0 => now,
            ahead if ahead > 0 => now + Duration::from_millis(ahead.unsigned_abs()),
            behind => now
                .checked_sub(Duration::from_millis(behind.unsigned_abs()))
                .unwrap_or(now),
        }
    }

    /// The slots held on a store that shares them.
    pub(crate) fn keeper(&self) -> Option<&keeper::Keeper> {
        self.inner.keeper.as_deref()
    }

    /// A new receiver of every [`AxesEvent`] from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<AxesEvent> {
        self.inner.events.subscribe()
    }

    /// The engine's secret (device cookies, jitter, the admin's CSRF tokens).
    pub(crate) fn secret(&self) -> &Secret {
        &self.inner.secret
    }

    /// The callables and response hooks set on the builder.
    pub(crate) fn hooks(&self) -> &Hooks {
        &self.inner.hooks
    }

    /// Counts an attempt refused with `lockout`: a debug line each, and at
    /// the default level one summary line a minute at most.
    pub(crate) fn note_refusal(&self, client: &ClientInfo, lockout: &Lockout) {
        tracing::debug!(target: "axes", ip = %client.ip_address(), username = ?client.username(), reason = ?lockout.reason, "login attempt refused");
        if let Some(refused) = self.inner.refusals.tick(self.now()) {
            tracing::info!(target: "axes", refused, "login attempts refused (at most one such line a minute)");
        }
    }

    /// Logs a store failure: at most one line every ten seconds, with how
    /// many failed since the last one.
    pub(crate) fn note_store_failure(&self, error: &AxesError, action: &str) {
        if let Some(failures) = self.inner.store_failures.tick(self.now()) {
            tracing::error!(target: "axes", %error, failures, "store failed; {action}");
        }
    }

    /// Sends the event `event` makes to the subscribers; with none, the
    /// event is not made.
    fn emit(&self, event: impl FnOnce() -> AxesEvent) {
        if self.inner.events.receiver_count() > 0 {
            let _ = self.inner.events.send(event());
        }
    }
}

/// How often expired counters and attempt records are purged, at most.
const PURGE_INTERVAL: Duration = Duration::from_secs(60);

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
