//! [`Leases`]: how a shared store (PostgreSQL, Redis) owns the slots its
//! app server takes: under one instance id and a short lease, renewed while
//! it holds any, with the releases that failed tried again.
//!
//! A slot is (key, instance, attempt). Other servers count a slot only
//! while its instance's lease holds, and no attempt extends another
//! instance's lease, so a killed server's slots lapse one lease after its
//! last renewal. Releasing a slot deletes it: doing so twice is harmless,
//! so a release that failed (the store was unreachable) is simply tried
//! again by the heartbeat until it succeeds.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;

use super::StoreError;

/// What a store does for its leases.
#[async_trait]
pub(crate) trait Renew: Send + Sync + 'static {
    /// Renews `instance`'s lease for `lease`.
    async fn renew(&self, instance: &str, lease: Duration) -> Result<(), StoreError>;

    /// Deletes the slot `slot` of `instance` under each of `keys` (the
    /// store's own key names).
    async fn release(&self, instance: &str, keys: &[String], slot: u64) -> Result<(), StoreError>;
}

/// A slot release to try again.
#[derive(Debug)]
struct Pending {
    keys: Vec<String>,
    slot: u64,
}

/// One store instance's leases.
#[derive(Debug)]
pub(crate) struct Leases {
    instance: String,
    /// The attempts holding slots now (taken and not yet given back).
    held: Mutex<HashSet<u64>>,
    /// The lease duration last asked for, in milliseconds.
    lease_ms: AtomicU64,
    pending: Mutex<Vec<Pending>>,
    heartbeat: AtomicBool,
}

impl Leases {
    /// Leases under a new random instance id.
    pub fn new() -> Arc<Self> {
        let instance = crate::secret::random_hex(12).unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            format!("{}-{nanos}", std::process::id())
        });
        Arc::new(Self {
            instance,
            held: Mutex::new(HashSet::new()),
            lease_ms: AtomicU64::new(10_000),
            pending: Mutex::new(Vec::new()),
            heartbeat: AtomicBool::new(false),
        })
    }

    /// This instance's id.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashSet<u64>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Attempt `slot` took its slots under `lease`; the heartbeat renews
    /// the lease while any attempt holds slots.
    pub fn taken<R: Renew + Clone>(self: &Arc<Self>, slot: u64, lease: Duration, store: &R) {
        self.lease_ms.store(
            u64::try_from(lease.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.held().insert(slot);
        self.start_heartbeat(store.clone());
    }

    /// Attempt `slot` gave its slots back.
    pub fn given_back(&self, slot: u64) {
        self.held().remove(&slot);
    }

    /// A release that failed: the heartbeat tries it again.
    pub fn retry_later(&self, keys: Vec<String>, slot: u64) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Pending { keys, slot });
    }

    fn start_heartbeat<R: Renew + Clone>(self: &Arc<Self>, store: R) {
        if self.heartbeat.swap(true, Ordering::SeqCst) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.heartbeat.store(false, Ordering::SeqCst);
            return;
        };
        let leases: Weak<Self> = Arc::downgrade(self);
        runtime.spawn(async move {
            loop {
                let Some(lease) = leases.upgrade().map(|l| l.lease()) else {
                    return;
                };
                tokio::time::sleep(lease / 3).await;
                let Some(leases) = leases.upgrade() else {
                    return;
                };
                leases.beat(&store).await;
            }
        });
    }

    fn lease(&self) -> Duration {
        Duration::from_millis(self.lease_ms.load(Ordering::Relaxed))
    }

    /// Renews the lease while slots are held, and tries the failed
    /// releases again.
    async fn beat<R: Renew>(&self, store: &R) {
        if !self.held().is_empty() {
            if let Err(error) = store.renew(&self.instance, self.lease()).await {
                tracing::debug!(target: "axes", %error, "renewing the lease of attempts in flight failed");
            }
        }
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        for release in pending {
            if store
                .release(&self.instance, &release.keys, release.slot)
                .await
                .is_err()
            {
                self.retry_later(release.keys, release.slot);
            }
        }
    }
}
