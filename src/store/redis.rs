//! [`RedisStore`]: placeholder until the store lands.

/// Placeholder.
#[derive(Debug)]
pub struct RedisStore;
