//! [`LoginAttempt`]: one login attempt as the callables and the engine see
//! it — the client, the request it came in, the handler's credentials.

use super::{ClientInfo, Credentials, RequestInfo};

/// One login attempt, as django-axes' callables see it: the client (IP,
/// user agent, path, username), the HTTP request when the layer saw one,
/// and the credentials the handler reported, once it has.
///
/// ```
/// use axes::{ClientInfo, Credentials, LoginAttempt};
/// let client = ClientInfo::new("192.0.2.1".parse().unwrap()).with_username("alice");
/// let credentials = Credentials::from("alice").with_field("namespace", "acme");
/// let attempt = LoginAttempt::new(&client).with_credentials(&credentials);
/// assert_eq!(attempt.client().username(), Some("alice"));
/// assert_eq!(attempt.credentials().and_then(|c| c.field("namespace")), Some("acme"));
/// assert!(attempt.request().is_none(), "no layer saw it");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct LoginAttempt<'a> {
    client: &'a ClientInfo,
    request: Option<&'a RequestInfo>,
    credentials: Option<&'a Credentials>,
    session_id: Option<&'a str>,
}

impl<'a> LoginAttempt<'a> {
    /// An attempt of `client`, with no request or credentials.
    pub fn new(client: &'a ClientInfo) -> Self {
        Self {
            client,
            request: None,
            credentials: None,
            session_id: None,
        }
    }

    /// The request it came in.
    pub fn with_request(mut self, request: &'a RequestInfo) -> Self {
        self.request = Some(request);
        self
    }

    /// The credentials the handler reported.
    pub fn with_credentials(mut self, credentials: &'a Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The session the application opened (a success) or closed (a
    /// logout): the access log keeps its hash.
    pub fn with_session_id(mut self, session_id: &'a str) -> Self {
        self.session_id = Some(session_id);
        self
    }

    /// The client.
    pub fn client(&self) -> &'a ClientInfo {
        self.client
    }

    /// The request, when the layer saw one.
    pub fn request(&self) -> Option<&'a RequestInfo> {
        self.request
    }

    /// The credentials, once the handler reported them.
    pub fn credentials(&self) -> Option<&'a Credentials> {
        self.credentials
    }

    /// The session id, if the application gave one.
    pub fn session_id(&self) -> Option<&'a str> {
        self.session_id
    }

    /// The same attempt by `client` (the counted form of this one's).
    pub fn for_client(self, client: &'a ClientInfo) -> Self {
        Self { client, ..self }
    }
}
