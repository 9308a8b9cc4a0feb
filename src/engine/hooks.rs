//! The callables of django-axes' settings, set on the
//! [`AxesBuilder`](crate::AxesBuilder): code that decides per attempt.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::identity::{LockoutGroup, LoginAttempt, RequestInfo};

/// Resolves the username counted for an attempt (`AXES_USERNAME_CALLABLE`,
/// which takes the request and, after the handler reported, its
/// credentials).
pub type UsernameCallable = dyn Fn(&LoginAttempt<'_>) -> Option<String> + Send + Sync;

/// Whether an attempt's client is whitelisted (`AXES_WHITELIST_CALLABLE`).
pub type WhitelistCallable = dyn Fn(&LoginAttempt<'_>) -> bool + Send + Sync;

/// The client IP of a request, replacing the `ipware_*` resolution
/// (`AXES_CLIENT_IP_CALLABLE`); `None` falls back to the TCP peer.
pub type ClientIpCallable = dyn Fn(&RequestInfo) -> Option<IpAddr> + Send + Sync;

/// The failure limit for an attempt (`AXES_FAILURE_LIMIT` as a callable).
pub type FailureLimitCallable = dyn Fn(&LoginAttempt<'_>) -> u32 + Send + Sync;

/// The cool-off for an attempt; `None` locks until reset
/// (`AXES_COOLOFF_TIME` as a callable).
pub type CooloffCallable = dyn Fn(&LoginAttempt<'_>) -> Option<Duration> + Send + Sync;

/// The lockout parameters for an attempt (`AXES_LOCKOUT_PARAMETERS` as a
/// callable).
pub type LockoutParametersCallable = dyn Fn(&LoginAttempt<'_>) -> Vec<LockoutGroup> + Send + Sync;

/// The callables set on the builder.
#[derive(Clone, Default)]
pub(crate) struct Hooks {
    pub username: Option<Arc<UsernameCallable>>,
    pub whitelist: Option<Arc<WhitelistCallable>>,
    pub client_ip: Option<Arc<ClientIpCallable>>,
    pub failure_limit: Option<Arc<FailureLimitCallable>>,
    pub cooloff: Option<Arc<CooloffCallable>>,
    pub lockout_parameters: Option<Arc<LockoutParametersCallable>>,
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("username", &self.username.is_some())
            .field("whitelist", &self.whitelist.is_some())
            .field("client_ip", &self.client_ip.is_some())
            .field("failure_limit", &self.failure_limit.is_some())
            .field("cooloff", &self.cooloff.is_some())
            .field("lockout_parameters", &self.lockout_parameters.is_some())
            .finish()
    }
}
