//! Erasure: everything stored of the clients a filter names, gone — their
//! attempt records and counters (a reset), their access and failure log
//! entries, and the lockouts of them this process remembers. What a
//! request to erase someone's personal data asks for.

use super::error::AxesError;
use super::state::Engine;
use crate::store::{AttemptFilter, FilterError};

/// What an erasure deleted, from [`Axes::erase`](crate::Axes::erase).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Erased {
    /// Attempt records (their lockouts lifted, as a reset lifts them).
    pub attempts: u64,
    /// Access log entries (logins).
    pub access_logs: u64,
    /// Failure log entries.
    pub failure_logs: u64,
}

impl Engine {
    /// Erases what is stored of the clients `filter` names (never
    /// everyone): see [`Axes::erase`](crate::Axes::erase).
    pub(crate) async fn erase(&self, filter: AttemptFilter) -> Result<Erased, AxesError> {
        if filter == AttemptFilter::All {
            return Err(FilterError::NamesNoOne.into());
        }
        let counted = self.checked_filter(filter.clone())?;
        let attempts = self.reset(filter.clone()).await?;
        // The logs keep clients as they came; records as they are counted
        // (an IPv6 address by its network, a username normalised): both.
        let mut named = vec![filter];
        if counted != named[0] {
            named.push(counted);
        }
        let store = self.timed_store();
        let mut erased = Erased {
            attempts,
            ..Erased::default()
        };
        for filter in &named {
            erased.access_logs += store.erase_access_logs(filter).await?;
            erased.failure_logs += store.erase_failure_logs(filter).await?;
            self.activity.forget(filter);
        }
        tracing::info!(target: "axes", access_logs = erased.access_logs, failure_logs = erased.failure_logs, attempts = erased.attempts, "client data erased");
        Ok(erased)
    }
}
