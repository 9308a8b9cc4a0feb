//! The callables of django-axes' settings, set on the
//! [`AxesBuilder`](crate::AxesBuilder): code that decides per request.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Method, Uri};

use crate::client::ClientInfo;
use crate::config::LockoutGroup;
use crate::report::Credentials;

/// What the callables see of a login request: method, URI, headers, TCP
/// peer, and the top-level string fields of a JSON or form body.
///
/// ```
/// let request = axes::RequestInfo::new(http::Method::POST, "/login".parse().unwrap(), http::HeaderMap::new(), "192.0.2.1:5000".parse().unwrap())
///     .with_fields([("username", "prefixed-alice"), ("namespace", "acme")]);
/// assert_eq!(request.field("namespace"), Some("acme"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    peer: SocketAddr,
    fields: Vec<(String, String)>,
}

impl RequestInfo {
    /// A request without body fields.
    pub fn new(method: Method, uri: Uri, headers: HeaderMap, peer: SocketAddr) -> Self {
        Self {
            method,
            uri,
            headers,
            peer,
            fields: Vec::new(),
        }
    }

    /// Sets the body fields (for a repeated name, the last one wins).
    pub fn with_fields<K, V>(mut self, fields: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.fields = fields
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The request URI.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The TCP peer address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The top-level string fields of the JSON or form body, in order.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A top-level string field of the JSON or form body.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Resolves the username counted for a request (`AXES_USERNAME_CALLABLE`):
/// the client (with [`ClientInfo::request`]) and, after the handler reported
/// a failure, its credentials.
pub type UsernameCallable =
    dyn Fn(&ClientInfo, Option<&Credentials>) -> Option<String> + Send + Sync;

/// Whether a client is whitelisted (`AXES_WHITELIST_CALLABLE`).
pub type WhitelistCallable = dyn Fn(&ClientInfo, Option<&Credentials>) -> bool + Send + Sync;

/// The client IP of a request, replacing the `ipware_*` resolution
/// (`AXES_CLIENT_IP_CALLABLE`); `None` falls back to the TCP peer.
pub type ClientIpCallable = dyn Fn(&RequestInfo) -> Option<IpAddr> + Send + Sync;

/// The failure limit for a client (`AXES_FAILURE_LIMIT` as a callable).
pub type FailureLimitCallable = dyn Fn(&ClientInfo) -> u32 + Send + Sync;

/// The cool-off for a client; `None` locks until reset (`AXES_COOLOFF_TIME`
/// as a callable).
pub type CooloffCallable = dyn Fn(&ClientInfo) -> Option<Duration> + Send + Sync;

/// The lockout parameters for a client (`AXES_LOCKOUT_PARAMETERS` as a
/// callable).
pub type LockoutParametersCallable = dyn Fn(&ClientInfo) -> Vec<LockoutGroup> + Send + Sync;

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
