//! [`Axes`]: the engine handle (config + store + clock + events).

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::response::Response;
use http::{HeaderMap, HeaderValue};
use tokio::sync::broadcast;

use crate::admission::Attempt;
use crate::attempt_data::cleansed_data;
use crate::builder::AxesBuilder;
use crate::client::{ClientInfo, LockoutKey};
use crate::clock::Clock;
use crate::config::{AxesConfig, LockoutGroup};
use crate::detectors;
use crate::device;
use crate::escalation::{self, Escalation};
use crate::events::AxesEvent;
use crate::hooks::{ClientIpCallable, Hooks};
use crate::ip::ProxyConfig;
use crate::log_limit::Every;
use crate::normalize::{ipv6_prefix, UsernameNormalization};
use crate::policy::{self, Listing, Lockout, Rules};
use crate::report::Credentials;
use crate::response::{self, ResponseHooks};
use crate::store::{
    self, AccessAttempt, AccessFailureLog, AccessLog, AttemptFilter, FailureRecord, Store,
    StoreError,
};

/// How often expired counters and attempt records are purged, at most.
const PURGE_INTERVAL: Duration = Duration::from_secs(60);

/// How many failure times a sliding counter keeps at least when the failure
/// limit is a per-request callable.
const SLIDING_KEEP_WITH_LIMIT_CALLABLE: usize = 64;

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

/// A client as the engine counts it (see [`Axes::prepare`]).
pub(crate) struct Prepared<'a, 'c> {
    pub listing: Listing,
    pub client: Cow<'c, ClientInfo>,
    pub rules: Rules<'a>,
    pub keys: Vec<LockoutKey>,
}

/// The keys `filter` names outright: those of the lockout groups whose
/// parameters are exactly the filter's parts (an IP, a username, or both).
fn named_keys(filter: &AttemptFilter, groups: &[LockoutGroup]) -> Vec<LockoutKey> {
    use crate::config::LockoutParameter::{IpAddress, Username};
    let parts: Vec<(Option<IpAddr>, Option<&str>)> = match filter {
        AttemptFilter::All => Vec::new(),
        AttemptFilter::Ip(ip) => vec![(Some(*ip), None)],
        AttemptFilter::Username(u) => vec![(None, Some(u))],
        AttemptFilter::IpAndUsername(ip, u) => vec![(Some(*ip), Some(u))],
        AttemptFilter::IpOrUsername(ip, u) => {
            vec![(Some(*ip), None), (None, Some(u)), (Some(*ip), Some(u))]
        }
    };
    let mut keys = Vec::new();
    for (ip, username) in parts {
        for group in groups {
            let params = group.parameters();
            let exact = params.iter().all(|p| match p {
                IpAddress => ip.is_some(),
                Username => username.is_some(),
                _ => false,
            }) && ip.is_none_or(|_| params.contains(&IpAddress))
                && username.is_none_or(|_| params.contains(&Username));
            if let Some(key) = exact
                .then(|| LockoutKey::for_group(group, ip, username, None))
                .flatten()
            {
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
        }
    }
    keys
}

/// The keys one check reads, in one round trip: the client's lockout
/// keys, then its detectors' keys, then its lockout histories'.
pub(crate) struct ReadKeys {
    pub all: Vec<LockoutKey>,
    keys: usize,
    detectors: usize,
}

impl ReadKeys {
    /// What a check of `prepared` reads (nothing for a listed client).
    pub fn of(config: &AxesConfig, prepared: &Prepared<'_, '_>) -> Self {
        if prepared.listing != Listing::Counted || prepared.keys.is_empty() {
            return Self {
                all: Vec::new(),
                keys: 0,
                detectors: 0,
            };
        }
        let keys = &prepared.keys;
        let detectors = detectors::keys(config, keys, &prepared.client);
        let histories = escalation::history_keys(config, keys);
        Self {
            keys: keys.len(),
            detectors: detectors.len(),
            all: [keys.as_slice(), &detectors, &histories].concat(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    fn detectors_end(&self) -> usize {
        self.keys + self.detectors
    }

    fn detectors(&self) -> &[LockoutKey] {
        &self.all[self.keys..self.detectors_end()]
    }

    fn histories(&self) -> &[LockoutKey] {
        &self.all[self.detectors_end()..]
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
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: AxesConfig,
    pub(crate) proxies: ProxyConfig,
    pub(crate) hooks: Hooks,
    pub(crate) response_hooks: ResponseHooks,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) events: broadcast::Sender<AxesEvent>,
    pub(crate) last_purge_ms: AtomicI64,
    /// Signs `device_cookie` tokens and draws each lockout's jitter.
    pub(crate) secret: crate::secret::Secret,
    /// Attempts in flight in this process, and those waiting for a slot.
    pub(crate) gates: Arc<crate::in_flight::Gates>,
    /// The id of the next attempt.
    pub(crate) next_attempt: std::sync::atomic::AtomicU64,
    /// How long attempts hold their slots, on average lately (µs).
    pub(crate) hold_micros: std::sync::atomic::AtomicU64,
    /// Refusals, summarised in one log line a minute.
    pub(crate) refusals: Every,
    /// Store failures, logged at most once every ten seconds.
    pub(crate) store_failures: Every,
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
        AxesBuilder::new(config)
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

    /// The response for `lockout`, shaped for a request with
    /// `request_headers`: the lockout callable if one is set, JSON for JSON
    /// clients, the template, a redirect to `lockout_url`, or the message as
    /// HTML; with the status `http_response_code` and, if enabled,
    /// `Retry-After`.
    pub fn lockout_response(&self, lockout: &Lockout, request_headers: &HeaderMap) -> Response {
        response::lockout_response(
            &self.inner.config,
            &self.inner.response_hooks,
            lockout,
            request_headers,
            self.now(),
        )
    }

    /// A new receiver of every [`AxesEvent`] from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<AxesEvent> {
        self.inner.events.subscribe()
    }

    /// The rules in force for `client`: the configuration with the
    /// per-request callables applied.
    pub(crate) fn rules(&self, client: &ClientInfo) -> Rules<'_> {
        let mut rules = Rules::of(&self.inner.config);
        let hooks = &self.inner.hooks;
        if let Some(failure_limit) = &hooks.failure_limit {
            if rules.tiers.is_empty() {
                rules.failure_limit = failure_limit(client).max(1);
                // Clients with other limits may share a key: keep enough
                // failure times for theirs too.
                rules.keep = rules
                    .keep
                    .max(rules.failure_limit as usize)
                    .max(SLIDING_KEEP_WITH_LIMIT_CALLABLE);
            }
        }
        if let Some(cooloff) = &hooks.cooloff {
            rules.cooloff = cooloff(client).filter(|d| !d.is_zero());
        }
        if let Some(parameters) = &hooks.lockout_parameters {
            let groups = parameters(client);
            if groups.is_empty() {
                tracing::warn!(target: "axes", "the lockout_parameters callable returned no group; using the configured ones");
            } else {
                rules.groups = Cow::Owned(groups);
            }
        }
        rules
    }

    pub(crate) fn listing(
        &self,
        client: &ClientInfo,
        credentials: Option<&Credentials>,
    ) -> Listing {
        let config = &self.inner.config;
        if !config.enabled {
            return Listing::Whitelisted;
        }
        match policy::listing(config, client) {
            Listing::Counted => match &self.inner.hooks.whitelist {
                Some(whitelisted) if whitelisted(client, credentials) => Listing::Whitelisted,
                _ => Listing::Counted,
            },
            listed => listed,
        }
    }

    /// Decides whether `client` may attempt a login: one store read for all
    /// of its lockout keys.
    pub async fn check(&self, client: &ClientInfo) -> Result<Decision, AxesError> {
        Ok(self.evaluate(&self.prepare(client, None)).await?.0)
    }

    /// `client` as the engine counts it: how the lists treat it, its
    /// counted form, the rules in force for it and its lockout keys.
    pub(crate) fn prepare<'c>(
        &self,
        client: &'c ClientInfo,
        credentials: Option<&Credentials>,
    ) -> Prepared<'_, 'c> {
        let listing = self.listing(client, credentials);
        let counted = self.counted(client);
        let rules = self.rules(&counted);
        let keys = policy::lockout_keys(&rules.groups, &counted);
        Prepared {
            listing,
            client: counted,
            rules,
            keys,
        }
    }

    /// The decision for a prepared client, and the live failure count of
    /// each of its lockout keys (empty when none was read): one read.
    pub(crate) async fn evaluate(
        &self,
        prepared: &Prepared<'_, '_>,
    ) -> Result<(Decision, Vec<u64>), AxesError> {
        let read = ReadKeys::of(self.config(), prepared);
        let counters = if read.is_empty() {
            Vec::new()
        } else {
            self.inner.store.counters(&read.all).await?
        };
        self.decide(prepared, &read, counters).await
    }

    /// The decision for a prepared client from the counters of `read`, and
    /// the live failure count of each of its lockout keys.
    pub(crate) async fn decide(
        &self,
        prepared: &Prepared<'_, '_>,
        read: &ReadKeys,
        mut counters: Vec<Option<store::Counter>>,
    ) -> Result<(Decision, Vec<u64>), AxesError> {
        let Prepared {
            listing,
            client,
            rules,
            keys,
        } = prepared;
        let client = &**client;
        match listing {
            Listing::Blacklisted => {
                let lockout = policy::blacklisted(rules, client);
                return Ok((Decision::LockedOut(lockout), Vec::new()));
            }
            Listing::Whitelisted => return Ok((Decision::Exempt, Vec::new())),
            Listing::Counted => {}
        }
        if keys.is_empty() {
            return Ok((Decision::Allowed { failures: 0 }, Vec::new()));
        }
        let config = &self.inner.config;
        let now = self.now();
        let histories = counters.split_off(read.detectors_end());
        let detector_counters = counters.split_off(keys.len());
        let live = counters
            .iter()
            .map(|counter| counter.as_ref().map_or(0, |c| rules.live_failures(c, now)))
            .collect();
        let standing = policy::standing(rules, counters.iter().flatten(), now);
        let lockout = self
            .lockout_of(
                client,
                rules,
                keys,
                &counters,
                (read.histories(), &histories),
                standing,
            )
            .await?;
        let decision = match lockout.or_else(|| {
            detectors::lockout(
                config,
                rules,
                client,
                read.detectors(),
                &detector_counters,
                now,
            )
        }) {
            Some(lockout) => Decision::LockedOut(lockout),
            None => Decision::Allowed {
                failures: standing.failures,
            },
        };
        Ok((decision, live))
    }

    /// The lockout the failure counters of `keys` and their lockout
    /// histories amount to, unless the client is trusted despite it.
    async fn lockout_of(
        &self,
        client: &ClientInfo,
        rules: &Rules<'_>,
        keys: &[LockoutKey],
        counters: &[Option<store::Counter>],
        (history_keys, histories): (&[LockoutKey], &[Option<store::Counter>]),
        standing: policy::Standing,
    ) -> Result<Option<Lockout>, AxesError> {
        let now = self.now();
        let escalation = Escalation {
            config: &self.inner.config,
            rules,
            secret: &self.inner.secret,
        };
        let history_locks = escalation.locks(history_keys, histories, now);
        let lockout = escalation.extend(
            policy::lockout_for(rules, client, standing),
            history_locks.iter().flatten().copied(),
            client,
            standing,
        );
        if lockout.is_none() {
            return Ok(None);
        }
        let locking: Vec<bool> = counters
            .iter()
            .enumerate()
            .map(|(i, counter)| {
                counter
                    .as_ref()
                    .is_some_and(|c| rules.counter_lock(c, now).is_some())
                    || history_locks.get(i).is_some_and(Option::is_some)
            })
            .collect();
        if self.is_trusted_despite(client, keys, &locking).await? {
            return Ok(None);
        }
        Ok(lockout)
    }

    /// Whether `client` is a trusted client (`trusted_client_window`) and
    /// every key that locks it (`locking`, in the order of `keys`) is a
    /// username-only key: a real user's own device is not locked out by
    /// others failing for its username.
    async fn is_trusted_despite(
        &self,
        client: &ClientInfo,
        keys: &[LockoutKey],
        locking: &[bool],
    ) -> Result<bool, AxesError> {
        let (Some(window), Some(username)) =
            (self.inner.config.trusted_client_window, client.username())
        else {
            return Ok(false);
        };
        let only_username_keys = keys.iter().zip(locking).all(|(key, locks)| {
            !locks || (key.ip_address().is_none() && key.user_agent().is_none())
        });
        if !only_username_keys {
            return Ok(false);
        }
        if self.device_vouches(client, username, window) {
            return Ok(true);
        }
        let since = self
            .now()
            .checked_sub(window)
            .unwrap_or(std::time::UNIX_EPOCH);
        let latest = self
            .inner
            .store
            .latest_login(username, client.ip_address(), client.user_agent())
            .await?;
        Ok(latest.is_some_and(|at| at >= since))
    }

    /// Whether the client's device cookie vouches for `username`.
    fn device_vouches(&self, client: &ClientInfo, username: &str, window: Duration) -> bool {
        let Some(name) = &self.inner.config.device_cookie else {
            return false;
        };
        client
            .request()
            .and_then(|request| device::cookie(request.headers(), name))
            .is_some_and(|value| {
                device::vouches(&self.inner.secret, value, username, self.now(), window)
            })
    }

    /// The `Set-Cookie` header value that makes `client`'s device a trusted
    /// client of `username` (with `device_cookie` and
    /// `trusted_client_window`; `None` otherwise). The layer adds it to the
    /// response of every successful login; call it yourself without the
    /// layer. The cookie is `HttpOnly`, `Secure`, `SameSite=Lax`, and lives
    /// as long as the window.
    ///
    /// ```
    /// let config = axes::AxesConfig::from_toml_str(r#"
    ///     trusted_client_window = "30d"
    ///     device_cookie = "axes_device"
    /// "#).unwrap();
    /// let axes = axes::Axes::new(config, axes::MemoryStore::new());
    /// let client = axes::ClientInfo::new("192.0.2.1".parse().unwrap());
    /// let cookie = axes.device_cookie(&client, "alice").unwrap();
    /// assert!(cookie.to_str().unwrap().starts_with("axes_device="));
    /// ```
    pub fn device_cookie(&self, client: &ClientInfo, username: &str) -> Option<HeaderValue> {
        let config = &self.inner.config;
        let (Some(name), Some(window)) = (&config.device_cookie, config.trusted_client_window)
        else {
            return None;
        };
        let counted = client.clone().with_username(username);
        let username = self.counted(&counted).username()?.to_owned();
        let previous = client
            .request()
            .and_then(|request| device::cookie(request.headers(), name));
        let value = device::renewed(&self.inner.secret, previous, &username, self.now(), window)?;
        let cookie = format!(
            "{name}={value}; Path=/; Max-Age={}; HttpOnly; Secure; SameSite=Lax",
            window.as_secs()
        );
        HeaderValue::from_str(&cookie).ok()
    }

    /// Records a failed login of `client` (django-axes' `user_login_failed`)
    /// in one atomic store write, and says whether it is now locked out.
    pub async fn login_failed(&self, client: &ClientInfo) -> Result<FailureOutcome, AxesError> {
        self.failed_with(client, None, None).await
    }

    /// [`login_failed`](Self::login_failed) with the handler's credentials,
    /// which the whitelist callable sees.
    pub(crate) async fn failed_with(
        &self,
        client: &ClientInfo,
        credentials: Option<&Credentials>,
        attempt: Option<&mut Attempt>,
    ) -> Result<FailureOutcome, AxesError> {
        let slots = attempt.as_deref().and_then(Attempt::shared_slots);
        let result = self.record_failed(client, credentials, slots).await;
        // The attempt's slots go back once its failure is recorded: with
        // the write itself on a store that shares them.
        if let Some(attempt) = attempt {
            match &result {
                Ok((_, true)) => attempt.given_back_by_store(),
                _ => attempt.release().await,
            }
        }
        result.map(|(outcome, _)| outcome)
    }

    /// Records a failure, giving back `slots` with the write; the outcome,
    /// and whether the slots went back with it.
    async fn record_failed(
        &self,
        client: &ClientInfo,
        credentials: Option<&Credentials>,
        slots: Option<store::Slots<'_>>,
    ) -> Result<(FailureOutcome, bool), AxesError> {
        let config = &self.inner.config;
        let now = self.now();
        let Prepared {
            listing,
            client,
            rules,
            keys,
        } = self.prepare(client, credentials);
        let client = &*client;
        if listing == Listing::Whitelisted || keys.is_empty() {
            tracing::debug!(target: "axes", ip = %client.ip_address(), username = ?client.username(), "failure not recorded: exempt or no lockout parameter applies");
            self.emit(AxesEvent::LoginFailed {
                client: client.clone(),
                failures: 0,
                recorded: false,
                at: now,
            });
            let outcome = FailureOutcome {
                recorded: false,
                failures: 0,
                lockout: (listing == Listing::Blacklisted)
                    .then(|| policy::blacklisted(&rules, client)),
            };
            return Ok((outcome, false));
        }

        if config.reset_cool_off_on_failure_during_lockout == Some(false) {
            let history_keys = escalation::history_keys(config, &keys);
            let mut counters = self
                .inner
                .store
                .counters(&[keys.as_slice(), &history_keys].concat())
                .await?;
            let histories = counters.split_off(keys.len());
            let standing = policy::standing(&rules, counters.iter().flatten(), now);
            let lockout = self
                .lockout_of(
                    client,
                    &rules,
                    &keys,
                    &counters,
                    (&history_keys, &histories),
                    standing,
                )
                .await?;
            if let Some(lockout) = lockout {
                tracing::debug!(target: "axes", ip = %client.ip_address(), username = ?client.username(), "failure during lockout not recorded");
                let outcome = FailureOutcome {
                    recorded: false,
                    failures: lockout.failures,
                    lockout: Some(lockout),
                };
                return Ok((outcome, false));
            }
        }

        // One read, before the write, of what the detectors and the
        // lockout histories need: the keys' counters and their histories.
        let history_keys = escalation::history_keys(config, &keys);
        let needs_previous = config.min_interval_between_failures.is_some();
        let mut histories = Vec::new();
        let mut previous = Vec::new();
        if needs_previous || !history_keys.is_empty() {
            let read: &[LockoutKey] = if needs_previous { &keys } else { &[] };
            previous = self
                .inner
                .store
                .counters(&[read, &history_keys].concat())
                .await?;
            histories = previous.split_off(read.len());
        }
        let window = rules.window();
        let (get_data, post_data) = self.attempt_data(client);
        let tripped = detectors::tripped(
            config,
            &rules,
            self.inner.store.as_ref(),
            (&keys, &previous),
            client,
            now,
        )
        .await?;
        let lock_at = if rules.lock_out_at_failure {
            u64::from(rules.failure_limit)
        } else {
            u64::MAX
        };
        let all_keys = [keys.as_slice(), &tripped].concat();
        let mut record = FailureRecord::new(&all_keys, client, now, &window)
            .with_data(&get_data, &post_data)
            .locking(lock_at, self.retention(&window));
        if let Some(slots) = slots {
            record = record.releasing(slots);
        }
        let released = slots.is_some();
        let mut counters = self.inner.store.record_failure(record).await?;
        let tripped_counters: Vec<_> = counters
            .split_off(keys.len())
            .into_iter()
            .map(Some)
            .collect();
        if !history_keys.is_empty() {
            let begun = escalation::begun(&rules, &counters, now);
            if !begun.is_empty() {
                escalation::record(
                    config,
                    self.inner.store.as_ref(),
                    &history_keys,
                    &mut histories,
                    &begun,
                    client,
                    now,
                )
                .await?;
            }
        }
        let standing = policy::standing(&rules, &counters, now);
        let lockout = if listing == Listing::Blacklisted {
            Some(policy::blacklisted(&rules, client))
        } else {
            let read: Vec<_> = counters.iter().cloned().map(Some).collect();
            let lockout = self
                .lockout_of(
                    client,
                    &rules,
                    &keys,
                    &read,
                    (&history_keys, &histories),
                    standing,
                )
                .await?;
            lockout.or_else(|| {
                detectors::lockout(config, &rules, client, &tripped, &tripped_counters, now)
            })
        };
        tracing::debug!(target: "axes", ip = %client.ip_address(), username = ?client.username(), failures = standing.failures, locked = lockout.is_some(), "login failure recorded");
        self.emit(AxesEvent::LoginFailed {
            client: client.clone(),
            failures: standing.failures,
            recorded: true,
            at: now,
        });
        if let Some(lockout) = &lockout {
            // The next attempt of the client reads before it takes a slot.
            let minute = now + Duration::from_secs(60);
            let until = lockout.locked_until.unwrap_or(minute).min(minute);
            self.inner.gates.note_locked(&keys, until);
            // A lockout begins with the failure that takes a key to a
            // threshold, or trips a detector.
            let began = !escalation::begun(&rules, &counters, now).is_empty()
                || tripped_counters.iter().flatten().any(|c| c.failures == 1);
            if began {
                self.emit_locked_out(client, lockout, now);
            }
        }
        if config.enable_access_failure_log {
            let entry = AccessFailureLog::failure(client, now, lockout.is_some());
            self.inner
                .store
                .record_failure_log(&entry, config.access_failure_log_per_user_limit)
                .await?;
        }
        let kept = self.retention(&window);
        self.purge_if_due(now, kept).await;
        let outcome = FailureOutcome {
            recorded: true,
            failures: standing.failures,
            lockout,
        };
        Ok((outcome, released))
    }

    /// How long anything recorded under `window` can matter after it
    /// happened (its window, a detector's lock, a lockout history); `None`:
    /// until reset. Purges keep entries this long, and a store that bounds
    /// its memory keeps a counter that locks this long.
    fn retention(&self, window: &store::Window) -> Option<Duration> {
        let config = &self.inner.config;
        window.longest().map(|longest| {
            let spray = config.spray_limit.map(|s| s.window).unwrap_or_default();
            let quick = config
                .min_interval_between_failures
                .map(|_| config.quick_failure_wait)
                .unwrap_or_default();
            let history = if config.escalates() {
                let longest_lockout = config.cooloff_backoff.map(|b| b.max).unwrap_or_default()
                    + config.cooloff_jitter.unwrap_or_default();
                config.lockout_history.max(longest_lockout)
            } else {
                Duration::ZERO
            };
            longest.max(spray).max(quick).max(history)
        })
    }

    /// The client as counted: an IPv6 address cut to `ipv6_prefix_length`,
    /// the username normalised by `username_normalization`.
    pub(crate) fn counted<'c>(&self, client: &'c ClientInfo) -> Cow<'c, ClientInfo> {
        let config = &self.inner.config;
        let ip = config
            .ipv6_prefix_length
            .map(|prefix| ipv6_prefix(client.ip_address(), prefix))
            .filter(|ip| *ip != client.ip_address());
        let username = match (config.username_normalization, client.username()) {
            (UsernameNormalization::None, _) | (_, None) => None,
            (normalization, Some(username)) => {
                Some(normalization.apply(username)).filter(|normalized| normalized != username)
            }
        };
        if ip.is_none() && username.is_none() {
            return Cow::Borrowed(client);
        }
        let mut counted = client.clone();
        if let Some(ip) = ip {
            counted.set_ip_address(ip);
        }
        if let Some(username) = username {
            counted.set_username(Some(username));
        }
        Cow::Owned(counted)
    }

    /// `filter` checked for a reset or a listing, in the terms records are
    /// kept in: refused when it names an empty username, one of only white
    /// space, or — when usernames are counted trimmed — one with white
    /// space around it, which names no counted username (so ` alice` never
    /// resets `alice`).
    fn checked_filter(&self, filter: AttemptFilter) -> Result<AttemptFilter, AxesError> {
        filter.validate().map_err(AxesError::InvalidFilter)?;
        if let Some(username) = filter.username() {
            if self.inner.config.username_normalization.trims() && username.trim() != username {
                return Err(AxesError::InvalidFilter(format!(
                    "the username {username:?} has white space around it, and usernames are counted without it"
                )));
            }
        }
        Ok(self.counted_filter(filter))
    }

    /// A filter in the terms records are kept in (see [`Self::counted`]).
    fn counted_filter(&self, filter: AttemptFilter) -> AttemptFilter {
        let config = &self.inner.config;
        let ip = |ip: IpAddr| match config.ipv6_prefix_length {
            Some(prefix) => ipv6_prefix(ip, prefix),
            None => ip,
        };
        let user = |u: String| match config.username_normalization {
            UsernameNormalization::None => u,
            normalization => normalization.apply(&u),
        };
        match filter {
            AttemptFilter::All => AttemptFilter::All,
            AttemptFilter::Ip(a) => AttemptFilter::Ip(ip(a)),
            AttemptFilter::Username(u) => AttemptFilter::Username(user(u)),
            AttemptFilter::IpAndUsername(a, u) => AttemptFilter::IpAndUsername(ip(a), user(u)),
            AttemptFilter::IpOrUsername(a, u) => AttemptFilter::IpOrUsername(ip(a), user(u)),
        }
    }

    /// The cleansed query and body data of the client's request.
    fn attempt_data(&self, client: &ClientInfo) -> (String, String) {
        let config = &self.inner.config;
        let Some(request) = client.request() else {
            return (String::new(), String::new());
        };
        let query: Vec<(String, String)> = request
            .uri()
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let get_data = cleansed_data(config, query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let post_data = cleansed_data(config, request.fields());
        (get_data, post_data)
    }

    /// The username counted for `client`: the username callable's answer if
    /// one is set, else the credentials' username, else the one already on
    /// the client (read from the body).
    pub(crate) fn resolve_username(
        &self,
        client: &mut ClientInfo,
        credentials: Option<&Credentials>,
    ) {
        if let Some(callable) = &self.inner.hooks.username {
            let username = callable(client, credentials);
            client.set_username(username);
        } else if let Some(username) = credentials.and_then(Credentials::username) {
            client.set_username(Some(username.to_owned()));
        }
    }

    /// The client IP callable, if one is set.
    pub(crate) fn client_ip_callable(&self) -> Option<&ClientIpCallable> {
        self.inner.hooks.client_ip.as_deref()
    }

    /// Records a successful login of `username` by `client` (django-axes'
    /// `user_logged_in`). With `reset_on_success`, the failures of that
    /// username from that IP are cleared — never other users' failures.
    pub async fn logged_in(&self, client: &ClientInfo, username: &str) -> Result<(), AxesError> {
        self.logged_in_with(client, username, None).await
    }

    /// [`logged_in`](Self::logged_in) for an attempt in flight, whose slots
    /// go back with the access log entry.
    pub(crate) async fn logged_in_with(
        &self,
        client: &ClientInfo,
        username: &str,
        attempt: Option<&mut Attempt>,
    ) -> Result<(), AxesError> {
        let result = self
            .record_success(client, username, attempt.as_deref())
            .await;
        if let Some(attempt) = attempt {
            match &result {
                Ok(true) => attempt.given_back_by_store(),
                _ => attempt.release().await,
            }
        }
        result.map(|_| ())
    }

    /// Records a success, giving back `attempt`'s shared slots with it;
    /// whether they went back.
    async fn record_success(
        &self,
        client: &ClientInfo,
        username: &str,
        attempt: Option<&Attempt>,
    ) -> Result<bool, AxesError> {
        let config = &self.inner.config;
        if !config.enabled {
            return Ok(false);
        }
        if config.reset_on_success && !username.is_empty() {
            let filter = self.counted_filter(AttemptFilter::IpAndUsername(
                client.ip_address(),
                username.to_owned(),
            ));
            // The lockout histories of the user's own keys go too; those of
            // keys shared with other users (the IP's) stay.
            let removed = self
                .reset_counted(&filter, |key| key.username().is_some())
                .await?;
            tracing::debug!(target: "axes", ip = %client.ip_address(), username, removed, "reset on success");
        }
        let slots = attempt.and_then(Attempt::shared_slots);
        let entry = (!config.disable_access_log).then(|| {
            // Kept as counted, as attempt records are: the trusted-client
            // check looks the client up in those terms.
            let named = client.clone().with_username(username);
            let counted = self.counted(&named);
            AccessLog::login(
                &counted,
                counted.username().unwrap_or(username),
                &client.session_hash(),
                self.now(),
            )
        });
        self.inner
            .store
            .record_success(entry.as_ref(), slots)
            .await?;
        tracing::debug!(target: "axes", ip = %client.ip_address(), username, "login succeeded");
        self.emit(AxesEvent::LoggedIn {
            client: client.clone(),
            username: username.to_owned(),
            at: self.now(),
        });
        Ok(slots.is_some())
    }

    /// Records a logout (django-axes' `user_logged_out`).
    pub async fn logged_out(
        &self,
        client: &ClientInfo,
        username: Option<&str>,
    ) -> Result<(), AxesError> {
        let config = &self.inner.config;
        if !config.enabled {
            return Ok(());
        }
        if let (false, Some(username)) = (config.disable_access_log, username) {
            let named = client.clone().with_username(username);
            let counted = self.counted(&named);
            self.inner
                .store
                .record_logout(
                    counted.username().unwrap_or(username),
                    &client.session_hash(),
                    self.now(),
                )
                .await?;
        }
        tracing::debug!(target: "axes", ip = %client.ip_address(), username, "logged out");
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
        let filter = self.checked_filter(filter)?;
        let removed = self.reset_counted(&filter, |_| true).await?;
        tracing::info!(target: "axes", ?filter, removed, "attempts reset");
        self.emit(AxesEvent::Reset {
            filter,
            removed,
            at: self.now(),
        });
        Ok(removed)
    }

    /// Resets the records `filter` (in counted terms) covers and, when
    /// lockouts escalate, deletes the lockout histories of their keys that
    /// `forget` picks: a reset lifts even a permanent lockout.
    async fn reset_counted(
        &self,
        filter: &AttemptFilter,
        forget: impl Fn(&LockoutKey) -> bool,
    ) -> Result<u64, AxesError> {
        let config = &self.inner.config;
        let store = &self.inner.store;
        let histories: Vec<LockoutKey> = if config.escalates() && *filter != AttemptFilter::All {
            // The keys the filter names itself (a permanent lockout outlives
            // its attempt records), then those of the records it covers.
            let groups = &config.lockout_parameters;
            let parts = match filter {
                AttemptFilter::All => Vec::new(),
                AttemptFilter::Ip(ip) => vec![(Some(*ip), None)],
                AttemptFilter::Username(u) => vec![(None, Some(u.as_str()))],
                AttemptFilter::IpAndUsername(ip, u) => vec![(Some(*ip), Some(u.as_str()))],
                AttemptFilter::IpOrUsername(ip, u) => vec![
                    (Some(*ip), None),
                    (None, Some(u.as_str())),
                    (Some(*ip), Some(u.as_str())),
                ],
            };
            let mut candidates: Vec<LockoutKey> = Vec::new();
            for (ip, username) in parts {
                candidates.extend(
                    groups
                        .iter()
                        .filter_map(|group| LockoutKey::for_group(group, ip, username, None)),
                );
            }
            for attempt in store.attempts(filter).await? {
                candidates.extend(
                    attempt
                        .lockout_keys(groups)
                        .filter(|key| key.scope().is_none()),
                );
            }
            let mut keys: Vec<LockoutKey> = Vec::new();
            for key in candidates {
                let history = key.scoped(store::HISTORY_SCOPE);
                if forget(&key) && !keys.contains(&history) {
                    keys.push(history);
                }
            }
            keys
        } else {
            Vec::new()
        };
        let removed = store.reset(filter, &config.lockout_parameters).await?;
        // The counters the filter names outright (`Ip` names the IP's key,
        // `Username` the username's, `IpAndUsername` the pair's) go whole,
        // with their slots in flight and their quick-succession counters:
        // they are the filter's, whatever records the store still holds.
        let mut doomed: Vec<LockoutKey> = named_keys(filter, &config.lockout_parameters)
            .into_iter()
            .filter(|key| forget(key))
            .flat_map(|key| [key.scoped(store::QUICK_SCOPE), key])
            .collect();
        doomed.extend(histories);
        store.delete_counters(&doomed).await?;
        // The slots of the keys reset go too (the store's own go with its reset).
        self.inner
            .gates
            .clear(|key| filter.matches_parts(key.ip_address(), key.username()));
        Ok(removed)
    }

    /// Lists the access log entries `filter` covers, most recent first.
    pub async fn access_logs(&self, filter: AttemptFilter) -> Result<Vec<AccessLog>, AxesError> {
        filter.validate().map_err(AxesError::InvalidFilter)?;
        Ok(self.inner.store.access_logs(&filter).await?)
    }

    /// Lists the failure log entries `filter` covers, most recent first.
    pub async fn failure_logs(
        &self,
        filter: AttemptFilter,
    ) -> Result<Vec<AccessFailureLog>, AxesError> {
        filter.validate().map_err(AxesError::InvalidFilter)?;
        Ok(self.inner.store.failure_logs(&filter).await?)
    }

    /// Deletes access log entries older than `age` (`axes_reset_logs`).
    pub async fn reset_logs(&self, age: Duration) -> Result<u64, AxesError> {
        let before = self.now().checked_sub(age).unwrap_or(std::time::UNIX_EPOCH);
        Ok(self.inner.store.purge_access_logs(before).await?)
    }

    /// Deletes failure log entries older than `age` (`axes_reset_failure_logs`).
    pub async fn reset_failure_logs(&self, age: Duration) -> Result<u64, AxesError> {
        let before = self.now().checked_sub(age).unwrap_or(std::time::UNIX_EPOCH);
        Ok(self.inner.store.purge_failure_logs(before).await?)
    }

    /// Lists the attempt records `filter` covers, most recent first.
    pub async fn attempts(&self, filter: AttemptFilter) -> Result<Vec<AccessAttempt>, AxesError> {
        let filter = self.checked_filter(filter)?;
        Ok(self.inner.store.attempts(&filter).await?)
    }

    /// Logs a lockout that begins (once: later attempts are summarised by
    /// [`Self::note_refusal`]) and sends [`AxesEvent::LockedOut`].
    fn emit_locked_out(&self, client: &ClientInfo, lockout: &Lockout, at: SystemTime) {
        tracing::warn!(target: "axes", ip = %client.ip_address(), username = ?client.username(), failures = lockout.failures, reason = ?lockout.reason, "client locked out");
        self.emit(AxesEvent::LockedOut {
            username: client.username().map(str::to_owned),
            ip_address: client.ip_address(),
            client: client.clone(),
            lockout: lockout.clone(),
            at,
        });
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

    fn emit(&self, event: AxesEvent) {
        // No subscriber is not an error.
        let _ = self.inner.events.send(event);
    }

    /// Deletes entries past the longest window, at most once per
    /// [`PURGE_INTERVAL`].
    async fn purge_if_due(&self, now: SystemTime, window: Option<Duration>) {
        // A per-request cool-off may be longer for other clients.
        if self.inner.hooks.cooloff.is_some() {
            return;
        }
        let Some(window) = window else {
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
