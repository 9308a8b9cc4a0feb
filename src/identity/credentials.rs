//! [`Credentials`]: what the handler read of the credentials it verified.

/// What the handler knows about the credentials of a failed attempt: the
/// username, when it could read one (django-axes' `credentials` dict).
///
/// ```
/// use axes::Credentials;
/// assert_eq!(Credentials::from("alice").username(), Some("alice"));
/// assert_eq!(Credentials::from(None::<String>).username(), None);
/// assert_eq!(Credentials::default().username(), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    username: Option<String>,
    fields: Vec<(String, String)>,
}

impl Credentials {
    /// Credentials naming `username`.
    pub fn username_only(username: impl Into<String>) -> Self {
        Self {
            username: Some(username.into()),
            fields: Vec::new(),
        }
    }

    /// Adds another field (a namespace, a tenant…) for a
    /// [`username_callable`](crate::AxesBuilder::username_callable) to read.
    ///
    /// ```
    /// let credentials = axes::Credentials::from("alice").with_field("namespace", "acme");
    /// assert_eq!(credentials.field("namespace"), Some("acme"));
    /// ```
    pub fn with_field(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.fields.push((name.into(), value.into()));
        self
    }

    /// The username, if given.
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// Another field, if given.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl From<&str> for Credentials {
    fn from(username: &str) -> Self {
        Self::username_only(username)
    }
}

impl From<String> for Credentials {
    fn from(username: String) -> Self {
        Self::username_only(username)
    }
}

impl From<Option<String>> for Credentials {
    fn from(username: Option<String>) -> Self {
        Self {
            username,
            fields: Vec::new(),
        }
    }
}

impl From<Option<&str>> for Credentials {
    fn from(username: Option<&str>) -> Self {
        Self::from(username.map(str::to_owned))
    }
}
