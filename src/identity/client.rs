//! Who is attempting to log in: [`ClientInfo`], and the bounds on what is
//! kept of it.

use std::net::IpAddr;
use std::sync::{Arc, LazyLock};

use super::key::{LockoutGroup, LockoutKey};

/// The longest username, user agent and path kept, in characters (the
/// column sizes of django-axes).
pub const MAX_FIELD_CHARS: usize = 255;

/// The longest `Accept` header kept, in characters.
pub const MAX_ACCEPT_CHARS: usize = 1025;

/// What a missing user agent, path or `Accept` header is recorded as.
pub const UNKNOWN: &str = "<unknown>";

/// The identity of a login attempt: the client's IP, user agent, path and
/// the username it tries — what failures are counted under and attempt
/// records keep. The layer builds one per request; code that uses
/// [`Axes`](crate::Axes) without the layer builds its own.
///
/// ```
/// use axes::ClientInfo;
/// let client = ClientInfo::new("192.0.2.1".parse().unwrap())
///     .with_username("alice")
///     .with_user_agent("curl/8.0");
/// assert_eq!(client.username(), Some("alice"));
/// assert_eq!(client.user_agent(), "curl/8.0");
/// ```
///
/// Its text is shared: a clone costs no copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    ip_address: IpAddr,
    username: Option<Arc<str>>,
    user_agent: Arc<str>,
    path: Arc<str>,
    http_accept: Arc<str>,
    method: http::Method,
}

/// [`UNKNOWN`], shared by every client that lacks a part.
static UNKNOWN_TEXT: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(UNKNOWN));

impl ClientInfo {
    /// A client known only by its IP address (IPv4-mapped IPv6 addresses
    /// are turned into IPv4 ones).
    pub fn new(ip_address: IpAddr) -> Self {
        Self {
            ip_address: ip_address.to_canonical(),
            username: None,
            user_agent: UNKNOWN_TEXT.clone(),
            path: UNKNOWN_TEXT.clone(),
            http_accept: UNKNOWN_TEXT.clone(),
            method: http::Method::POST,
        }
    }

    /// Replaces the IP address (IPv4-mapped addresses become IPv4).
    pub fn set_ip_address(&mut self, ip_address: IpAddr) {
        self.ip_address = ip_address.to_canonical();
    }

    /// Sets the username; an empty one counts as unknown, a long one is cut
    /// to [`MAX_FIELD_CHARS`] characters (the same way every time, so it is
    /// counted consistently), NUL characters become U+FFFD. White space is
    /// kept: whether it counts is for
    /// [`username_normalization`](crate::AxesConfig::username_normalization).
    pub fn with_username(mut self, username: impl Into<String>) -> Self {
        self.set_username(Some(username.into()));
        self
    }

    /// Sets or clears the username, as [`with_username`](Self::with_username).
    pub fn set_username(&mut self, username: Option<String>) {
        self.username = username
            .filter(|u| !u.is_empty())
            .map(|u| harmless(truncate_chars(u, MAX_FIELD_CHARS)).into());
    }

    /// Sets the user agent (cut to [`MAX_FIELD_CHARS`] characters).
    pub fn with_user_agent(mut self, user_agent: impl AsRef<str>) -> Self {
        self.user_agent = text(user_agent.as_ref(), MAX_FIELD_CHARS);
        self
    }

    /// Sets the request path (cut to [`MAX_FIELD_CHARS`] characters).
    pub fn with_path(mut self, path: impl AsRef<str>) -> Self {
        self.path = text(path.as_ref(), MAX_FIELD_CHARS);
        self
    }

    /// Sets the `Accept` header (cut to [`MAX_ACCEPT_CHARS`] characters).
    pub fn with_http_accept(mut self, accept: impl AsRef<str>) -> Self {
        self.http_accept = text(accept.as_ref(), MAX_ACCEPT_CHARS);
        self
    }

    /// Sets the request method (`never_lockout_get` looks at it).
    pub fn with_method(mut self, method: http::Method) -> Self {
        self.method = method;
        self
    }

    /// The client's IP address.
    pub fn ip_address(&self) -> IpAddr {
        self.ip_address
    }

    /// The username tried, if known.
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// The user agent, or `"<unknown>"`.
    pub fn user_agent(&self) -> &str {
        &self.user_agent
    }

    /// The request path, or `"<unknown>"`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The `Accept` header, or `"<unknown>"`.
    pub fn http_accept(&self) -> &str {
        &self.http_accept
    }

    /// The request method.
    pub fn method(&self) -> &http::Method {
        &self.method
    }

    /// The key of this client's attempt record: its (username, IP, user
    /// agent) triple, as django-axes keys an `AccessAttempt` row.
    pub fn attempt_key(&self) -> LockoutKey {
        LockoutKey::attempt(self.ip_address, self.username.as_deref(), &self.user_agent)
    }

    /// The key this client is counted under for `group`, or `None` when a
    /// part of the group is unknown (a failure without a username is not
    /// counted under any group that contains `username`).
    ///
    /// ```
    /// use axes::{ClientInfo, LockoutGroup, LockoutParameter::*};
    /// let client = ClientInfo::new("192.0.2.1".parse().unwrap());
    /// assert!(client.lockout_key(&LockoutGroup::single(IpAddress)).is_some());
    /// assert!(client.lockout_key(&LockoutGroup::combination([Username, IpAddress])).is_none());
    /// ```
    pub fn lockout_key(&self, group: &LockoutGroup) -> Option<LockoutKey> {
        LockoutKey::for_group(
            group,
            Some(self.ip_address),
            self.username.as_deref(),
            Some(&self.user_agent),
        )
    }
}

/// `text` cut to `max` characters and made harmless, shared; the shared
/// [`UNKNOWN`] when it is that.
fn text(text: &str, max: usize) -> Arc<str> {
    if text == UNKNOWN {
        return UNKNOWN_TEXT.clone();
    }
    let cut = match text.char_indices().nth(max) {
        Some((index, _)) => &text[..index],
        None => text,
    };
    if cut.contains('\0') {
        cut.replace('\0', "\u{FFFD}").into()
    } else {
        cut.into()
    }
}

/// `text` with NUL characters replaced by U+FFFD, which every store and log
/// can hold (PostgreSQL text cannot hold NUL).
fn harmless(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}")
    } else {
        text
    }
}

/// Cuts `text` to at most `max` bytes (never inside a character).
pub(crate) fn truncate_bytes(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// Cuts `text` to at most `max` characters (never inside a character).
pub(crate) fn truncate_chars(mut text: String, max: usize) -> String {
    if let Some((index, _)) = text.char_indices().nth(max) {
        text.truncate(index);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::LockoutParameter::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn keys_do_not_collide_across_part_boundaries() {
        let group = LockoutGroup::combination([Username, UserAgent]);
        let a = LockoutKey::for_group(&group, None, Some("ab"), Some("c")).unwrap();
        let b = LockoutKey::for_group(&group, None, Some("a"), Some("bc")).unwrap();
        assert_ne!(a.encode(), b.encode());
        let user_as_ip = LockoutKey::for_group(
            &LockoutGroup::single(Username),
            None,
            Some("10.0.0.5"),
            None,
        )
        .unwrap();
        let real_ip = LockoutKey::for_group(
            &LockoutGroup::single(IpAddress),
            Some(ip("10.0.0.5")),
            None,
            None,
        )
        .unwrap();
        assert_ne!(user_as_ip.encode(), real_ip.encode());
    }

    #[test]
    fn combination_order_does_not_matter() {
        let client = ClientInfo::new(ip("192.0.2.9")).with_username("bob");
        let a = client.lockout_key(&LockoutGroup::combination([Username, IpAddress]));
        let b = client.lockout_key(&LockoutGroup::combination([IpAddress, Username]));
        assert_eq!(a, b);
    }

    #[test]
    fn missing_username_skips_groups_that_need_it() {
        let client = ClientInfo::new(ip("192.0.2.9")).with_username("");
        assert_eq!(client.username(), None);
        assert!(client
            .lockout_key(&LockoutGroup::single(Username))
            .is_none());
        assert!(client
            .lockout_key(&LockoutGroup::single(UserAgent))
            .is_some());
    }

    #[test]
    fn long_fields_are_truncated_on_char_boundaries() {
        let long = "é".repeat(300);
        let client = ClientInfo::new(ip("::ffff:10.0.0.1"))
            .with_username(long.clone())
            .with_user_agent(long.clone())
            .with_http_accept("a".repeat(2000));
        assert_eq!(client.username().unwrap().chars().count(), 255);
        assert_eq!(client.user_agent().chars().count(), 255);
        assert_eq!(client.http_accept().len(), 1025);
        assert_eq!(client.ip_address(), ip("10.0.0.1"));
        let again = ClientInfo::new(ip("10.0.0.1")).with_username(long);
        assert_eq!(
            again.attempt_key(),
            client.clone().with_user_agent(UNKNOWN).attempt_key()
        );
    }
}
