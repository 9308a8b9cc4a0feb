//! What the callables see of the HTTP request a login attempt came in:
//! [`RequestInfo`]; cookies and session ids.

use std::net::SocketAddr;

use http::{HeaderMap, Method, Uri};

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

    /// The value of cookie `name`, if the request sent it.
    ///
    /// ```
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("cookie", "a=1; axes_device=xyz".parse().unwrap());
    /// let request = axes::RequestInfo::new(http::Method::POST, "/".parse().unwrap(), headers, "192.0.2.1:5000".parse().unwrap());
    /// assert_eq!(request.cookie("axes_device"), Some("xyz"));
    /// ```
    pub fn cookie(&self, name: &str) -> Option<&str> {
        cookie(&self.headers, name)
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

/// The value of cookie `name` in `headers`, if sent (read by the `cookie`
/// crate, as RFC 6265 writes it: quotes around a value are not part of it).
///
/// ```
/// let mut headers = http::HeaderMap::new();
/// headers.insert("cookie", "a=1; axes_device=\"xyz\"".parse().unwrap());
/// assert_eq!(axes::identity::cookie(&headers, "axes_device"), Some("xyz"));
/// ```
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|found| found.name() == name)
        .and_then(|found| found.value_raw())
        .map(|value| value.trim_matches('"'))
}

/// SHA-256 (hex) of a session id — never the id itself, which is a secret
/// — or `""` without one: what the access log keeps to close the right
/// entry on logout.
///
/// ```
/// assert_eq!(axes::identity::session_hash(None), "");
/// assert_eq!(axes::identity::session_hash(Some("abc")).len(), 64);
/// ```
pub fn session_hash(session_id: Option<&str>) -> String {
    use sha2::{Digest, Sha256};
    match session_id.filter(|id| !id.is_empty()) {
        None => String::new(),
        Some(id) => crate::hex::encode(&Sha256::digest(id.as_bytes())),
    }
}
