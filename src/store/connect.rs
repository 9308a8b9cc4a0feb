//! [`connect`]: the store a URL names, for servers and tools configured by
//! environment or file.

use std::sync::Arc;

use super::contract::Store;
use super::error::StoreError;
use super::memory::MemoryStore;

/// Opens the store `url` names, with its migrations applied:
///
/// | URL | store | feature |
/// |---|---|---|
/// | `memory:` | [`MemoryStore`] | — |
/// | `sqlite://PATH`, `sqlite::memory:` | [`SqliteStore`](super::SqliteStore) | `sqlite` |
/// | `postgres://…`, `postgresql://…` | [`PostgresStore`](super::PostgresStore) | `postgres` |
/// | `redis://…`, `rediss://…` | [`RedisStore`](super::RedisStore) | `redis` |
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), axes::StoreError> {
/// let store = axes::store::connect("memory:").await?;
/// let axes = axes::Axes::new(axes::AxesConfig::default(), store);
/// # drop(axes);
/// let err = axes::store::connect("mysql://db").await.err().unwrap();
/// assert!(err.to_string().contains("mysql://db"));
/// # Ok(()) }
/// ```
pub async fn connect(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url == "memory:" {
        return Ok(Arc::new(MemoryStore::new()));
    }
    #[cfg(feature = "sqlite")]
    if url.starts_with("sqlite:") {
        return Ok(Arc::new(super::SqliteStore::connect(url).await?));
    }
    #[cfg(feature = "postgres")]
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        return Ok(Arc::new(super::PostgresStore::connect(url).await?));
    }
    #[cfg(feature = "redis")]
    if url.starts_with("redis:") || url.starts_with("rediss:") {
        return Ok(Arc::new(super::RedisStore::connect(url).await?));
    }
    Err(StoreError::InvalidUrl(format!(
        "`{url}` names no store this build supports (expected `memory:`, `sqlite://PATH`, \
         or `postgres://…` / `redis://…` with the features of the same name)"
    )))
}
