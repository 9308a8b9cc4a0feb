//! The callables of django-axes' settings and the lockout response hooks,
//! set on the [`AxesBuilder`](crate::AxesBuilder): code that decides per
//! attempt.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use http::{HeaderMap, StatusCode};

use crate::identity::{LockoutGroup, LoginAttempt, RequestInfo};
use crate::policy::Lockout;

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

/// What a lockout response is made from: handed to the
/// [`lockout_callable`](crate::AxesBuilder::lockout_callable) and
/// [`lockout_template`](crate::AxesBuilder::lockout_template) hooks.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct LockoutContext<'a> {
    /// The lockout.
    pub lockout: &'a Lockout,
    /// The headers of the refused request.
    pub request_headers: &'a HeaderMap,
    /// The message for this lockout (`cooloff_message` or `permalock_message`).
    pub message: &'a str,
    /// The cool-off of the lockout's tier, if lockouts end on their own.
    pub cooloff: Option<Duration>,
    /// Time until the lockout ends, rounded up to whole seconds.
    pub retry_after: Option<Duration>,
    /// The status the response should carry (`http_response_code`).
    pub status: StatusCode,
}

/// A custom lockout response (django-axes' `AXES_LOCKOUT_CALLABLE`).
pub type LockoutCallable = dyn Fn(&LockoutContext<'_>) -> Response + Send + Sync;

/// Renders the HTML body of the lockout response (django-axes'
/// `AXES_LOCKOUT_TEMPLATE`).
pub type LockoutTemplate = dyn Fn(&LockoutContext<'_>) -> String + Send + Sync;

/// The hooks that shape a lockout response.
#[derive(Clone, Default)]
pub(crate) struct ResponseHooks {
    pub callable: Option<Arc<LockoutCallable>>,
    pub template: Option<Arc<LockoutTemplate>>,
}

/// The callables set on the builder.
#[derive(Clone, Default)]
pub(crate) struct Hooks {
    pub username: Option<Arc<UsernameCallable>>,
    pub whitelist: Option<Arc<WhitelistCallable>>,
    pub client_ip: Option<Arc<ClientIpCallable>>,
    pub failure_limit: Option<Arc<FailureLimitCallable>>,
    pub cooloff: Option<Arc<CooloffCallable>>,
    pub lockout_parameters: Option<Arc<LockoutParametersCallable>>,
    pub response: ResponseHooks,
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
            .field("lockout_callable", &self.response.callable.is_some())
            .field("lockout_template", &self.response.template.is_some())
            .finish()
    }
}
