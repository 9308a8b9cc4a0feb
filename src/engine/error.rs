//! [`AxesError`]: what an engine call can fail with.

use crate::store::{FilterError, StoreError};

/// An error from the engine.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use axes::{AttemptFilter, Axes, AxesConfig, AxesError, MemoryStore};
/// let axes = Axes::new(AxesConfig::default(), MemoryStore::new());
/// let err = axes.reset(AttemptFilter::Username(String::new())).await.unwrap_err();
/// assert!(matches!(err, AxesError::InvalidFilter(_)));
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AxesError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A reset or listing filter was refused.
    #[error("invalid filter: {0}")]
    InvalidFilter(#[from] FilterError),
}
