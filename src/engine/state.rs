//! [`Engine`]: what every [`Axes`](crate::Axes) handle and every attempt of
//! one engine share — the policy, the store, the clock, the event stream,
//! and the state of the attempts in flight in this process — and the few
//! things each step asks of it (the time, events, rate-limited logs).

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{broadcast, mpsc};

use super::activity::ActivityLog;
use super::error::AxesError;
use super::events::AxesEvent;
use super::hooks::Hooks;
use super::in_flight::Gates;
use super::keeper::{Keeper, Order};
use super::lock_cache::LockCache;
use crate::clock::Clock;
use crate::config::AxesConfig;
use crate::identity::{ClientInfo, ProxyConfig};
use crate::log_limit::Every;
use crate::policy::Lockout;
use crate::secret::Secret;
use crate::store::TimedStore;

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
    /// What this server last knew of the site-wide breaker.
    pub(super) breaker: super::breaker::BreakerState,
    /// Failures and lockouts lately, for the admin.
    pub(super) activity: ActivityLog,
    /// Refusals, summarised in one log line a minute.
    pub(super) refusals: Every,
    /// Store failures, logged at most once every ten seconds.
    pub(super) store_failures: Every,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
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

    /// The current time (see [`Axes::now`](crate::Axes::now)).
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

    /// How a log line names `ip`: in clear with `log_in_clear` or when
    /// `sensitive_parameters` does not name `ip_address`, else masked.
    pub(crate) fn logged_ip(&self, ip: std::net::IpAddr) -> String {
        self.logged("ip_address", &ip.to_string())
    }

    /// How a log line names `username` (see [`logged_ip`](Self::logged_ip)).
    pub(crate) fn logged_name(&self, username: Option<&str>) -> String {
        username.map_or_else(|| "-".to_owned(), |name| self.logged("username", name))
    }

    /// `value` of the parameter `name`, as a log line shows it: escaped
    /// (a client chose it), or a pseudonym, `~` and 8 hex digits of a keyed
    /// hash under the engine's secret.
    fn logged(&self, name: &str, value: &str) -> String {
        let config = &self.config;
        if config.log_in_clear || !config.sensitive_parameters.iter().any(|p| p == name) {
            return format!("{value:?}");
        }
        let Some(mac) = self
            .secret
            .mac("axes log pseudonym", &[name.as_bytes(), value.as_bytes()])
        else {
            return "~".to_owned();
        };
        let digest = hmac::Mac::finalize(mac).into_bytes();
        format!("~{}", crate::hex::encode(&digest[..4]))
    }

    /// Counts an attempt refused with `lockout`: a debug line each, and at
    /// the default level one summary line a minute at most.
    pub(crate) fn note_refusal(&self, client: &ClientInfo, lockout: &Lockout) {
        tracing::debug!(target: "axes", ip = %self.logged_ip(client.ip_address()), username = %self.logged_name(client.username()), reason = ?lockout.reason, "login attempt refused");
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
