//! Who attempts a login, and what its failures are counted under: the
//! [`ClientInfo`], the [`LockoutKey`]s of its [`LockoutGroup`]s, the
//! client IP behind proxies ([`ProxyConfig`]), how usernames and IPv6
//! addresses are normalised, and what the callables see of an attempt
//! ([`LoginAttempt`], [`RequestInfo`], [`Credentials`]).
//!
//! The bottom of the crate: nothing here depends on another part of it.

mod attempt;
mod client;
mod credentials;
mod ip;
mod key;
mod normalize;
mod rank;
mod request;
mod visible;

pub use attempt::LoginAttempt;
pub(crate) use client::truncate_bytes;
pub use client::{ClientInfo, MAX_ACCEPT_CHARS, MAX_FIELD_CHARS, UNKNOWN};
pub use credentials::Credentials;
pub(crate) use ip::validate_source;
pub use ip::{IpMatcher, ProxyConfig, ProxyOrder};
pub use key::{LockoutGroup, LockoutKey, LockoutParameter, Scope, UnknownParameter};
pub use normalize::{ipv6_prefix, UsernameNormalization};
pub use request::{cookie, session_hash, RequestInfo};
pub use visible::visible;
