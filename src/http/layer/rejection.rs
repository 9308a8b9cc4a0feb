//! The layer's own early answers, as named rejection types in axum's
//! convention: each has its [`status`](MissingClientAddress::status) and
//! [`body_text`](MissingClientAddress::body_text), and implements
//! [`IntoResponse`]. [`LayerRejection`] is any of them.

use axum::response::{IntoResponse, Response};
use http::StatusCode;

/// Defines a rejection: a unit struct with its status and body text.
macro_rules! rejection {
    ($(#[$doc:meta])* $name:ident, $status:expr, $text:expr, $example:literal) => {
        $(#[$doc])*
        ///
        /// ```
        /// use axum::response::IntoResponse;
        #[doc = concat!("let rejection = axes::layer::", stringify!($name), ";")]
        #[doc = concat!("assert_eq!(rejection.status(), ", $example, ");")]
        /// assert_eq!(rejection.into_response().status(), rejection.status());
        /// ```
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, thiserror::Error)]
        #[error("{}", $text)]
        pub struct $name;

        impl $name {
            /// The status it is answered with.
            pub fn status(&self) -> StatusCode {
                $status
            }

            /// The text of its body.
            pub fn body_text(&self) -> String {
                $text.to_owned()
            }
        }

        impl IntoResponse for $name {
            fn into_response(self) -> Response {
                (self.status(), self.body_text()).into_response()
            }
        }
    };
}

rejection!(
    /// `500`: the request carries no client address. Serve the router with
    /// `into_make_service_with_connect_info::<SocketAddr>()` (or put the
    /// peer's `SocketAddr` in the request extensions); the layer does not
    /// count every client as one.
    MissingClientAddress,
    StatusCode::INTERNAL_SERVER_ERROR,
    "axes: the client address is unknown; serve the router with `into_make_service_with_connect_info::<SocketAddr>()`",
    "500"
);

rejection!(
    /// `408`: the login body did not arrive within `body_read_timeout`.
    BodyTimeout,
    StatusCode::REQUEST_TIMEOUT,
    "The request body did not arrive in time.",
    "408"
);

rejection!(
    /// `400`: the login body could not be read (the connection failed
    /// while it was sent).
    BodyUnreadable,
    StatusCode::BAD_REQUEST,
    "The request body could not be read.",
    "400"
);

rejection!(
    /// `503`: the store failed, and `on_store_error` fails closed.
    StoreUnavailable,
    StatusCode::SERVICE_UNAVAILABLE,
    "Login is temporarily unavailable: the lockout store cannot be reached. Please try again later.",
    "503"
);

/// `413`: the login body is larger than `max_body_bytes`.
///
/// ```
/// use axum::response::IntoResponse;
/// let rejection = axes::layer::BodyTooLarge { limit: 1024 };
/// assert_eq!(rejection.status(), 413);
/// assert!(rejection.body_text().contains("1024 bytes"));
/// assert_eq!(rejection.into_response().status(), 413);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("The login request body is larger than {limit} bytes.")]
pub struct BodyTooLarge {
    /// The limit it passed (`max_body_bytes`).
    pub limit: usize,
}

impl BodyTooLarge {
    /// The status it is answered with.
    pub fn status(&self) -> StatusCode {
        StatusCode::PAYLOAD_TOO_LARGE
    }

    /// The text of its body.
    pub fn body_text(&self) -> String {
        self.to_string()
    }
}

impl IntoResponse for BodyTooLarge {
    fn into_response(self) -> Response {
        (self.status(), self.body_text()).into_response()
    }
}

/// Any of the layer's early answers.
///
/// ```
/// use axum::response::IntoResponse;
/// let rejection = axes::layer::LayerRejection::from(axes::layer::BodyTimeout);
/// assert_eq!(rejection.status(), 408);
/// assert_eq!(rejection.into_response().status(), 408);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LayerRejection {
    /// See [`MissingClientAddress`].
    #[error(transparent)]
    MissingClientAddress(#[from] MissingClientAddress),
    /// See [`BodyTooLarge`].
    #[error(transparent)]
    BodyTooLarge(#[from] BodyTooLarge),
    /// See [`BodyTimeout`].
    #[error(transparent)]
    BodyTimeout(#[from] BodyTimeout),
    /// See [`BodyUnreadable`].
    #[error(transparent)]
    BodyUnreadable(#[from] BodyUnreadable),
    /// See [`StoreUnavailable`].
    #[error(transparent)]
    StoreUnavailable(#[from] StoreUnavailable),
}

impl LayerRejection {
    /// The status it is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingClientAddress(r) => r.status(),
            Self::BodyTooLarge(r) => r.status(),
            Self::BodyTimeout(r) => r.status(),
            Self::BodyUnreadable(r) => r.status(),
            Self::StoreUnavailable(r) => r.status(),
        }
    }

    /// The text of its body.
    pub fn body_text(&self) -> String {
        self.to_string()
    }
}

impl IntoResponse for LayerRejection {
    fn into_response(self) -> Response {
        (self.status(), self.body_text()).into_response()
    }
}
