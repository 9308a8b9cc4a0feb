//! [`Keeper`]: the slots an engine holds on a store that shares them, kept
//! so that none outlives its attempt.
//!
//! Every slot the engine may hold in the store is in its ledger, from the
//! moment an attempt asks for it until the store confirms it was given
//! back. Whatever path an attempt takes — recorded, refused, its future
//! dropped while it waited, while the store was taking its slot, in the
//! handler or while giving the slot back — the slot goes back: with the
//! attempt's record, or through [`give_back`](Keeper::give_back), which
//! the engine's background task runs (and runs again until the store
//! answers). A call dropped mid-flight may still land after its slot was
//! given back, so such slots are given back once more a second later
//! ([`orphaned`](Keeper::orphaned)), and every heartbeat sweeps the store
//! for this engine's slots the ledger does not know.
//!
//! The heartbeat (every third of `in_flight_lease`) also renews the lease
//! while the ledger holds any slot, so a killed server's slots lapse one
//! lease after its last renewal.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::identity::LockoutKey;
use crate::store::Slot;

/// How long after it was given back a slot whose call was dropped is
/// given back again.
pub(crate) const ORPHAN_RECHECK: Duration = Duration::from_secs(1);

/// What the background task is asked to do with slots.
#[derive(Debug)]
pub(crate) enum Order {
    /// Give them back now.
    Release(Vec<Slot>),
    /// Give them back now, and again after [`ORPHAN_RECHECK`].
    Orphaned(Vec<Slot>),
}

/// The slots of one engine on a store that shares them.
#[derive(Debug)]
pub(crate) struct Keeper {
    owner: String,
    next_id: AtomicU64,
    /// Every slot possibly held in the store, by id.
    ledger: Mutex<BTreeMap<u64, LockoutKey>>,
    /// Whether slots were taken since the last sweep.
    unswept: AtomicBool,
    orders: mpsc::UnboundedSender<Order>,
}

impl Keeper {
    /// A keeper under a new random owner id, and the receiver of its
    /// orders for the background task.
    pub fn new() -> (Self, mpsc::UnboundedReceiver<Order>) {
        let owner = crate::secret::random_hex(12).unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            format!("{}-{nanos}", std::process::id())
        });
        let (orders, receiver) = mpsc::unbounded_channel();
        let keeper = Self {
            owner,
            next_id: AtomicU64::new(1),
            ledger: Mutex::new(BTreeMap::new()),
            unswept: AtomicBool::new(false),
            orders,
        };
        (keeper, receiver)
    }

    fn ledger(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, LockoutKey>> {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// This engine's owner id in the store.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// A new slot under `key`, in the ledger before any call takes it.
    pub fn allocate(&self, key: &LockoutKey) -> Slot {
        // Under the ledger's lock, so a sweep sees every id up to its bound.
        let mut ledger = self.ledger();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        ledger.insert(id, key.clone());
        drop(ledger);
        self.unswept.store(true, Ordering::Relaxed);
        Slot {
            key: key.clone(),
            id,
        }
    }

    /// The store confirmed `slots` given back.
    pub fn released(&self, slots: &[Slot]) {
        let mut ledger = self.ledger();
        for slot in slots {
            ledger.remove(&slot.id);
        }
    }

    /// Gives `slots` back in the background.
    pub fn give_back(&self, slots: Vec<Slot>) {
        if !slots.is_empty() {
            let _ = self.orders.send(Order::Release(slots));
        }
    }

    /// Gives back in the background the slots of a call dropped before it
    /// answered: now, and again once the call can no longer land.
    pub fn orphaned(&self, slots: Vec<Slot>) {
        if !slots.is_empty() {
            let _ = self.orders.send(Order::Orphaned(slots));
        }
    }

    /// Whether the ledger holds any slot.
    pub fn holds_any(&self) -> bool {
        !self.ledger().is_empty()
    }

    /// What a sweep keeps, and the highest id it may delete (an id taken
    /// after this is higher); `None` when nothing was taken since the last
    /// sweep and nothing is held.
    pub fn sweep_plan(&self) -> Option<(Vec<u64>, u64)> {
        let ledger = self.ledger();
        let upto = self.next_id.load(Ordering::Relaxed).saturating_sub(1);
        if !self.unswept.swap(false, Ordering::Relaxed) && ledger.is_empty() {
            return None;
        }
        Some((ledger.keys().copied().collect(), upto))
    }

    /// A sweep did not run: the next heartbeat tries again.
    pub fn sweep_failed(&self) {
        self.unswept.store(true, Ordering::Relaxed);
    }
}
