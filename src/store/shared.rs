//! A store shared behind an `Arc` is a store: engines, the admin and tests
//! can hold one backend together.

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::changes::{FailureRecord, Reset};
use super::contract::{AccessLogs, AttemptRecords, FailureLogs, Store};
use super::error::StoreError;
use super::slots::{SharedSlots, StoreEvent};
use crate::identity::LockoutKey;
use crate::policy::Counter;

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

    fn records(&self) -> Option<&dyn AttemptRecords> {
        (**self).records()
    }

    fn access_log(&self) -> Option<&dyn AccessLogs> {
        (**self).access_log()
    }

    fn failure_log(&self) -> Option<&dyn FailureLogs> {
        (**self).failure_log()
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
}
