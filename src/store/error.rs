//! [`StoreError`]: what a store call can fail with.

use std::time::Duration;

/// An error from a store backend.
///
/// ```
/// let err = axes::StoreError::backend(std::io::Error::other("connection reset"));
/// assert!(err.to_string().contains("connection reset"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend failed (connection, query, I/O).
    #[error("store backend error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Applying the schema migrations failed.
    #[error("store migration failed: {0}")]
    Migration(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The store holds data it cannot read back.
    #[error("store holds invalid data: {0}")]
    InvalidData(String),
    /// The store did not answer in time.
    #[error("store did not answer within {0:?}")]
    Timeout(Duration),
    /// A store URL names no store this build supports.
    #[error("invalid store URL: {0}")]
    InvalidUrl(String),
    /// The store's server is set up so that it could lose lockouts (a
    /// Redis that evicts keys, say); the message names the setting.
    #[error("store misconfigured: {0}")]
    Misconfigured(String),
    /// The store is at its bound and holds nothing it may drop: a new key
    /// is not tracked rather than an old lockout forgotten.
    #[error("store full: {0}")]
    Full(String),
}

impl StoreError {
    /// Wraps any backend error.
    pub fn backend(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(Box::new(error))
    }
}
