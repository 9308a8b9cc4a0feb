//! [`PostgresStore`]: placeholder until the store lands.

/// Placeholder.
#[derive(Debug)]
pub struct PostgresStore;
