//! [`ClockSync`]: how far a shared store's clock is from this machine's.
//!
//! App servers sharing a store must agree on every time that decides an
//! answer (failure windows, cool-offs, tiers, leases, token expiry). Each
//! server measures its clock's offset to the store's (the store's time,
//! less the middle of the round trip that read it, from the quickest of
//! [`SAMPLES`] reads) when the store connects and every [`RESYNC`] after,
//! and the engine adds it to every time it reads. A skewed or stepped
//! server clock then changes no answer: the remaining error is half a
//! round trip, and a step is corrected within [`RESYNC`].

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;

use super::error::StoreError;
use crate::clock::to_millis;

/// How often the offset is measured again.
pub(crate) const RESYNC: Duration = Duration::from_secs(10);

/// Reads per measurement; the quickest round trip gives the offset.
const SAMPLES: usize = 3;

/// A change of the offset this large is logged.
const NOTEWORTHY_MS: i64 = 1_000;

/// A store whose clock can be read.
#[async_trait]
pub(crate) trait StoreTime: Send + Sync + 'static {
    /// The store's current time, in milliseconds since the Unix epoch.
    async fn store_time_ms(&self) -> Result<i64, StoreError>;
}

/// The store's clock less this machine's, as last measured.
#[derive(Debug, Default)]
pub(crate) struct ClockSync {
    offset_ms: AtomicI64,
}

impl ClockSync {
    /// The offset in milliseconds (0 until measured).
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    /// Measures the offset now.
    pub async fn measure(&self, store: &impl StoreTime) -> Result<(), StoreError> {
        let mut best: Option<(Duration, i64)> = None;
        for _ in 0..SAMPLES {
            let (sent, started) = (SystemTime::now(), Instant::now());
            let store_ms = store.store_time_ms().await?;
            let round_trip = started.elapsed();
            let middle = to_millis(sent + round_trip / 2);
            if best.is_none_or(|(quickest, _)| round_trip < quickest) {
                best = Some((round_trip, store_ms.saturating_sub(middle)));
            }
        }
        if let Some((_, offset)) = best {
            let previous = self.offset_ms.swap(offset, Ordering::Relaxed);
            if (offset - previous).abs() >= NOTEWORTHY_MS {
                tracing::info!(target: "axes", offset_ms = offset, "this server's clock is off the store's; every time is taken from the store's clock");
            }
        }
        Ok(())
    }

    /// Measures the offset now and every [`RESYNC`] after, in the
    /// background, for as long as `self` is kept (nothing without a Tokio
    /// runtime).
    pub fn keep_measuring(self: &Arc<Self>, store: impl StoreTime) {
        let sync: Weak<Self> = Arc::downgrade(self);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            loop {
                let Some(sync) = sync.upgrade() else {
                    return;
                };
                if let Err(error) = sync.measure(&store).await {
                    tracing::debug!(target: "axes", %error, "measuring the store's clock failed; the last offset stands");
                }
                drop(sync);
                tokio::time::sleep(RESYNC).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store whose clock runs `ahead_ms` ahead of this machine's.
    struct Ahead(i64);

    #[async_trait]
    impl StoreTime for Ahead {
        async fn store_time_ms(&self) -> Result<i64, StoreError> {
            Ok(to_millis(SystemTime::now()) + self.0)
        }
    }

    #[tokio::test]
    async fn the_offset_is_the_stores_lead_over_this_clock() {
        let sync = ClockSync::default();
        assert_eq!(sync.offset_ms(), 0);
        sync.measure(&Ahead(600_000)).await.unwrap();
        assert!(
            (sync.offset_ms() - 600_000).abs() <= 1,
            "{}",
            sync.offset_ms()
        );
        sync.measure(&Ahead(-600_000)).await.unwrap();
        assert!(
            (sync.offset_ms() + 600_000).abs() <= 1,
            "{}",
            sync.offset_ms()
        );
    }
}
