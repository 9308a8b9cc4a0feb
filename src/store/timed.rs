//! [`TimedStore`]: every store call bounded by a timeout, so a stalled
//! backend becomes an error `on_store_error` can decide about.
//!
//! The engine calls the store through it: the same operations as [`Store`]
//! and its capabilities, with no dynamic dispatch of their own, and no
//! timer for a call that finishes at once (an in-process store's). An
//! operation of a capability the store lacks does what a store keeping no
//! such records would: reads find nothing, writes keep nothing.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::changes::{FailureRecord, Reset};
use super::contract::Store;
use super::error::StoreError;
use super::records::{AccessAttempt, AccessFailureLog, AccessLog, AttemptFilter};
use super::slots::{Admitted, SharedSlots, SlotRequest, Slots};
use crate::identity::LockoutKey;
use crate::policy::Counter;

/// A store whose each call fails with [`StoreError::Timeout`] after
/// `timeout`.
pub(crate) struct TimedStore {
    inner: Arc<dyn Store>,
    timeout: Duration,
}

impl TimedStore {
    pub(crate) fn new(inner: Arc<dyn Store>, timeout: Duration) -> Self {
        Self { inner, timeout }
    }

    /// The store itself.
    pub(crate) fn inner(&self) -> &Arc<dyn Store> {
        &self.inner
    }

    /// `call`, bounded by the timeout; the timer starts only if the call
    /// does not finish when first polled.
    async fn bounded<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        #[cfg(feature = "metrics")]
        let started = std::time::Instant::now();
        let result = crate::deadline::within(self.timeout, call)
            .await
            .unwrap_or(Err(StoreError::Timeout(self.timeout)));
        #[cfg(feature = "metrics")]
        crate::metrics::store_call(operation, started.elapsed(), result.is_err());
        #[cfg(not(feature = "metrics"))]
        let _ = operation;
        result
    }

    /// `call` on the capability `capability` picks, bounded by the
    /// timeout; `absent` when the store lacks it.
    async fn with<'s, C: ?Sized + 's, T, F>(
        &'s self,
        operation: &'static str,
        capability: Option<&'s C>,
        absent: T,
        call: impl FnOnce(&'s C) -> F,
    ) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>>,
    {
        match capability {
            Some(capability) => self.bounded(operation, call(capability)).await,
            None => Ok(absent),
        }
    }
}

impl TimedStore {
    pub(crate) async fn counters(
        &self,
        keys: &[LockoutKey],
    ) -> Result<Vec<Option<Counter>>, StoreError> {
        self.bounded("counters", self.inner.counters(keys)).await
    }

    pub(crate) async fn record_failure(
        &self,
        failure: FailureRecord<'_>,
    ) -> Result<Vec<Counter>, StoreError> {
        self.bounded("record_failure", self.inner.record_failure(failure))
            .await
    }

    pub(crate) async fn reset(&self, reset: &Reset<'_>) -> Result<u64, StoreError> {
        self.bounded("reset", self.inner.reset(reset)).await
    }

    pub(crate) async fn delete_counters(&self, keys: &[LockoutKey]) -> Result<u64, StoreError> {
        self.bounded("delete_counters", self.inner.delete_counters(keys))
            .await
    }

    pub(crate) async fn purge_expired(&self, before: SystemTime) -> Result<u64, StoreError> {
        self.bounded("purge_expired", self.inner.purge_expired(before))
            .await
    }

    pub(crate) async fn announce_reset(&self) -> Result<(), StoreError> {
        self.bounded("announce_reset", self.inner.announce_reset())
            .await
    }

    pub(crate) async fn attempts(
        &self,
        filter: &AttemptFilter,
    ) -> Result<Vec<AccessAttempt>, StoreError> {
        let records = self.inner.records();
        self.with("attempts", records, Vec::new(), |r| r.attempts(filter))
            .await
    }

    pub(crate) async fn record_login(&self, entry: &AccessLog) -> Result<(), StoreError> {
        let log = self.inner.access_log();
        self.with("record_login", log, (), |l| l.record_login(entry))
            .await
    }

    pub(crate) async fn record_logout(
        &self,
        username: &str,
        session_hash: &str,
        at: SystemTime,
    ) -> Result<u64, StoreError> {
        let log = self.inner.access_log();
        self.with("record_logout", log, 0, |l| {
            l.record_logout(username, session_hash, at)
        })
        .await
    }

    pub(crate) async fn access_logs(
        &self,
        filter: &AttemptFilter,
    ) -> Result<Vec<AccessLog>, StoreError> {
        let log = self.inner.access_log();
        self.with("access_logs", log, Vec::new(), |l| l.access_logs(filter))
            .await
    }

    pub(crate) async fn latest_login(
        &self,
        username: &str,
        ip: IpAddr,
        user_agent: &str,
    ) -> Result<Option<SystemTime>, StoreError> {
        let log = self.inner.access_log();
        self.with("latest_login", log, None, |l| {
            l.latest_login(username, ip, user_agent)
        })
        .await
    }

    pub(crate) async fn purge_access_logs(&self, before: SystemTime) -> Result<u64, StoreError> {
        let log = self.inner.access_log();
        self.with("purge_access_logs", log, 0, |l| l.purge_access_logs(before))
            .await
    }

    pub(crate) async fn erase_access_logs(
        &self,
        filter: &AttemptFilter,
    ) -> Result<u64, StoreError> {
        let log = self.inner.access_log();
        self.with("erase_access_logs", log, 0, |l| l.erase_access_logs(filter))
            .await
    }

    pub(crate) async fn erase_failure_logs(
        &self,
        filter: &AttemptFilter,
    ) -> Result<u64, StoreError> {
        let log = self.inner.failure_log();
        self.with("erase_failure_logs", log, 0, |l| {
            l.erase_failure_logs(filter)
        })
        .await
    }

    pub(crate) async fn record_failure_log(
        &self,
        entry: &AccessFailureLog,
        per_user_limit: u64,
    ) -> Result<(), StoreError> {
        let log = self.inner.failure_log();
        self.with("record_failure_log", log, (), |l| {
            l.record_failure_log(entry, per_user_limit)
        })
        .await
    }

    pub(crate) async fn failure_logs(
        &self,
        filter: &AttemptFilter,
    ) -> Result<Vec<AccessFailureLog>, StoreError> {
        let log = self.inner.failure_log();
        self.with("failure_logs", log, Vec::new(), |l| l.failure_logs(filter))
            .await
    }

    pub(crate) async fn purge_failure_logs(&self, before: SystemTime) -> Result<u64, StoreError> {
        let log = self.inner.failure_log();
        self.with("purge_failure_logs", log, 0, |l| {
            l.purge_failure_logs(before)
        })
        .await
    }

    /// Records a success: on a store that shares slots, `release` given
    /// back and the access log entry in one call; otherwise the entry.
    pub(crate) async fn record_success(
        &self,
        entry: Option<&AccessLog>,
        release: Option<Slots<'_>>,
    ) -> Result<(), StoreError> {
        match (release, self.inner.shared_slots()) {
            (Some(slots), Some(shared)) => {
                let call = shared.record_success(slots, entry);
                self.bounded("record_success", call).await
            }
            _ => match entry {
                Some(entry) => self.record_login(entry).await,
                None => Ok(()),
            },
        }
    }

    /// The shared-slots capability, bounded by the timeout like every call.
    pub(crate) fn shared_slots(&self) -> Option<TimedSlots<'_>> {
        self.inner
            .shared_slots()
            .map(|slots| TimedSlots { slots, timed: self })
    }
}

/// A store's [`SharedSlots`], each call bounded by the store's timeout.
#[derive(Clone, Copy)]
pub(crate) struct TimedSlots<'s> {
    slots: &'s dyn SharedSlots,
    timed: &'s TimedStore,
}

impl TimedSlots<'_> {
    pub(crate) async fn admit(
        &self,
        read: &[LockoutKey],
        request: SlotRequest<'_>,
    ) -> Result<Admitted, StoreError> {
        self.timed
            .bounded("admit", self.slots.admit(read, request))
            .await
    }

    pub(crate) async fn release(&self, slots: Slots<'_>) -> Result<(), StoreError> {
        self.timed
            .bounded("release", self.slots.release(slots))
            .await
    }

    pub(crate) async fn renew(&self, owner: &str, lease: Duration) -> Result<(), StoreError> {
        self.timed
            .bounded("renew", self.slots.renew(owner, lease))
            .await
    }

    pub(crate) async fn sweep(
        &self,
        owner: &str,
        keep: &[u64],
        upto: u64,
    ) -> Result<u64, StoreError> {
        self.timed
            .bounded("sweep", self.slots.sweep(owner, keep, upto))
            .await
    }

    pub(crate) async fn wait_for(
        &self,
        owner: &str,
        keys: &[LockoutKey],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.timed
            .bounded("wait_for", self.slots.wait_for(owner, keys, ttl))
            .await
    }
}
