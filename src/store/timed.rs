//! [`TimedStore`]: every store call bounded by a timeout, so a stalled
//! backend becomes an error `on_store_error` can decide about.
//!
//! The engine calls the store through it: the same methods as [`Store`],
//! with no dynamic dispatch of their own, and no timer for a call that
//! finishes at once (an in-process store's).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{
    AccessAttempt, AccessFailureLog, AccessLog, Admitted, AttemptFilter, Counter, FailureRecord,
    Reset, SharedSlots, SlotRequest, Slots, Store, StoreError,
};
use crate::identity::LockoutKey;

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

    pub(crate) async fn attempts(
        &self,
        filter: &AttemptFilter,
    ) -> Result<Vec<AccessAttempt>, StoreError> {
        self.bounded("attempts", self.inner.attempts(filter)).await
    }

    pub(crate) async fn purge_expired(&self, before: SystemTime) -> Result<u64, StoreError> {
        self.bounded("purge_expired", self.inner.purge_expired(before))
            .await
    }

    pub(crate) async fn record_logout(
        &self,
        username: &str,
        session_hash: &str,
        at: SystemTime,
    ) -> Result<u64, StoreError> {
        self.bounded(
            "record_logout",
            self.inner.record_logout(username, session_hash, at),
        )
        .await
    }

    pub(crate) async fn access_logs(
        &self,
        filter: &AttemptFilter,
    ) -> Result<Vec<AccessLog>, StoreError> {
        self.bounded("access_logs", self.inner.access_logs(filter))
            .await
    }

    pub(crate) async fn latest_login(
        &self,
        username: &str,
        ip: std::net::IpAddr,
        user_agent: &str,
    ) -> Result<Option<SystemTime>, StoreError> {
        self.bounded(
            "latest_login",
            self.inner.latest_login(username, ip, user_agent),
        )
        .await
    }

    pub(crate) async fn purge_access_logs(&self, before: SystemTime) -> Result<u64, StoreError> {
        self.bounded("purge_access_logs", self.inner.purge_access_logs(before))
            .await
    }

    pub(crate) async fn record_failure_log(
        &self,
        entry: &AccessFailureLog,
        per_user_limit: u64,
    ) -> Result<(), StoreError> {
        self.bounded(
            "record_failure_log",
            self.inner.record_failure_log(entry, per_user_limit),
        )
        .await
    }

    pub(crate) async fn failure_logs(
        &self,
        filter: &AttemptFilter,
    ) -> Result<Vec<AccessFailureLog>, StoreError> {
        self.bounded("failure_logs", self.inner.failure_logs(filter))
            .await
    }

    pub(crate) async fn purge_failure_logs(&self, before: SystemTime) -> Result<u64, StoreError> {
        self.bounded("purge_failure_logs", self.inner.purge_failure_logs(before))
            .await
    }

    pub(crate) async fn announce_reset(&self) -> Result<(), StoreError> {
        self.bounded("announce_reset", self.inner.announce_reset())
            .await
    }

    /// The shared-slots capability, bounded by the timeout like every call.
    pub(crate) fn shared_slots(&self) -> Option<TimedSlots<'_>> {
        self.inner
            .shared_slots()
            .map(|slots| TimedSlots { slots, timed: self })
    }

    pub(crate) async fn record_success(
        &self,
        entry: Option<&AccessLog>,
        release: Option<Slots<'_>>,
    ) -> Result<(), StoreError> {
        self.bounded("record_success", self.inner.record_success(entry, release))
            .await
    }

    pub(crate) async fn delete_counters(&self, keys: &[LockoutKey]) -> Result<u64, StoreError> {
        self.bounded("delete_counters", self.inner.delete_counters(keys))
            .await
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
