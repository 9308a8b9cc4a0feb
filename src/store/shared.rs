//! A store shared behind an `Arc` is a store: engines, the admin and tests
//! can hold one backend together.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::{
    AccessAttempt, AccessFailureLog, AccessLog, AttemptFilter, Counter, FailureRecord, Reset,
    SharedSlots, Slots, Store, StoreError, StoreEvent,
};
use crate::identity::LockoutKey;

#[async_trait]
impl<S: Store + ?Sized> Store for Arc<S> {
    async fn counters(&self, keys: &[LockoutKey]) -> Result<Vec<Option<Counter>>, StoreError> {
        (**self).counters(keys).await
    }

    async fn record_failure(&self, failure: FailureRecord<'_>) -> Result<Vec<Counter>, StoreError> {
        (**self).record_failure(failure).await
    }

    async fn reset(&self, reset: &Reset<'_>) -> Result<u64, StoreError> {
        (**self).reset(reset).await
    }

    async fn delete_counters(&self, keys: &[LockoutKey]) -> Result<u64, StoreError> {
        (**self).delete_counters(keys).await
    }

    async fn purge_expired(&self, before: SystemTime) -> Result<u64, StoreError> {
        (**self).purge_expired(before).await
    }

    async fn attempts(&self, filter: &AttemptFilter) -> Result<Vec<AccessAttempt>, StoreError> {
        (**self).attempts(filter).await
    }

    async fn record_login(&self, entry: &AccessLog) -> Result<(), StoreError> {
        (**self).record_login(entry).await
    }

    async fn record_logout(
        &self,
        username: &str,
        session_hash: &str,
        at: SystemTime,
    ) -> Result<u64, StoreError> {
        (**self).record_logout(username, session_hash, at).await
    }

    async fn access_logs(&self, filter: &AttemptFilter) -> Result<Vec<AccessLog>, StoreError> {
        (**self).access_logs(filter).await
    }

    async fn latest_login(
        &self,
        username: &str,
        ip: IpAddr,
        user_agent: &str,
    ) -> Result<Option<SystemTime>, StoreError> {
        (**self).latest_login(username, ip, user_agent).await
    }

    async fn purge_access_logs(&self, before: SystemTime) -> Result<u64, StoreError> {
        (**self).purge_access_logs(before).await
    }

    async fn record_failure_log(
        &self,
        entry: &AccessFailureLog,
        per_user_limit: u64,
    ) -> Result<(), StoreError> {
        (**self).record_failure_log(entry, per_user_limit).await
    }

    async fn failure_logs(
        &self,
        filter: &AttemptFilter,
    ) -> Result<Vec<AccessFailureLog>, StoreError> {
        (**self).failure_logs(filter).await
    }

    async fn purge_failure_logs(&self, before: SystemTime) -> Result<u64, StoreError> {
        (**self).purge_failure_logs(before).await
    }

    fn shared_slots(&self) -> Option<&dyn SharedSlots> {
        (**self).shared_slots()
    }

    fn subscribe(&self) -> Option<broadcast::Receiver<StoreEvent>> {
        (**self).subscribe()
    }

    async fn announce_reset(&self) -> Result<(), StoreError> {
        (**self).announce_reset().await
    }

    fn clock_offset_ms(&self) -> i64 {
        (**self).clock_offset_ms()
    }

    async fn record_success(
        &self,
        entry: Option<&AccessLog>,
        release: Option<Slots<'_>>,
    ) -> Result<(), StoreError> {
        (**self).record_success(entry, release).await
    }
}
