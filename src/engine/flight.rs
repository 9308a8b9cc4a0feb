//! One login attempt in flight: the keys it was checked under, the slots
//! it holds, and where its latest check left it. Its slots are given back
//! on every path: after the outcome is recorded, or when it is dropped (the
//! client gone, the handler panicking).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{Axes, Decision};
use crate::identity::LockoutKey;
use crate::store::Slots;

/// One login attempt in flight: the keys it was checked under, and the
/// slots it holds, all under one id.
#[derive(Debug)]
pub(crate) struct Flight {
    pub(super) axes: Axes,
    pub(super) id: u64,
    /// The keys an admission checked.
    pub(super) checked: Vec<LockoutKey>,
    /// The keys it holds a slot under.
    pub(super) held: Vec<LockoutKey>,
    /// Whether the slots are the store's (shared) or this process's.
    pub(super) shared: bool,
    /// When it first took slots.
    pub(super) since: Option<Instant>,
    /// Once admitted: what its admission decided (allowed, or a challenge
    /// required), and the username (as counted) it was admitted for.
    pub(super) admitted: Option<(Decision, Option<String>)>,
    /// Given back in the background after it was dropped: dropped again
    /// (its runtime shutting down), it leaves its slots to their lease.
    pub(super) orphan: bool,
    /// What its latest check found, for the report and the headers.
    pub(super) headroom: Option<Headroom>,
}

/// Where a checked attempt stands against its limits: what the report tells
/// the handler and the `RateLimit` headers tell the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Headroom {
    /// How many more failures lock it out (0 when refused; `None`: none does).
    pub attempts_left: Option<u64>,
    /// The failure limit in force for it.
    pub failure_limit: u32,
    /// The cool-off in force for it (`None`: until reset).
    pub cooloff: Option<Duration>,
    /// Whether it must pass a challenge first.
    pub challenge: bool,
}

impl Flight {
    /// What its latest check found.
    pub fn headroom(&self) -> Option<Headroom> {
        self.headroom
    }

    /// Whether every key of `keys` was checked already.
    pub fn checked(&self, keys: &[LockoutKey]) -> bool {
        keys.iter().all(|key| self.checked.contains(key))
    }

    /// The slots to give back with a write, for a store that shares them.
    pub fn shared_slots(&self) -> Option<Slots<'_>> {
        (self.shared && !self.held.is_empty()).then(|| Slots {
            keys: &self.held,
            id: self.id,
        })
    }

    /// The store gave the slots back with a write: wake those waiting here.
    pub fn given_back_by_store(&mut self) {
        if self.shared && !self.held.is_empty() {
            self.axes.inner.gates.wake(&self.held, None);
            self.settle();
        }
    }

    /// Gives the slots back (after the outcome is recorded, or with none).
    pub async fn release(&mut self) {
        if self.held.is_empty() {
            return;
        }
        if self.shared {
            let slots = Slots {
                keys: &self.held,
                id: self.id,
            };
            if let Err(error) = self.axes.timed_store().release(slots).await {
                tracing::debug!(target: "axes", %error, "giving back slots in flight failed; the store tries again");
            }
            self.axes.inner.gates.wake(&self.held, None);
        } else {
            self.axes.inner.gates.give_back(&self.held, None);
        }
        self.settle();
    }

    /// The slots are given back: note how long they were held.
    fn settle(&mut self) {
        self.held.clear();
        if let Some(since) = self.since.take() {
            self.axes.note_hold(since.elapsed());
        }
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        if self.held.is_empty() {
            return;
        }
        // Dropped before its outcome was recorded: the client went away,
        // or the handler panicked.
        if !self.shared {
            self.axes.inner.gates.give_back(&self.held, None);
            self.held.clear();
            return;
        }
        if self.orphan {
            self.held.clear();
            return;
        }
        let mut orphan = Flight {
            axes: self.axes.clone(),
            id: self.id,
            checked: Vec::new(),
            held: std::mem::take(&mut self.held),
            shared: true,
            since: self.since.take(),
            admitted: None,
            orphan: true,
            headroom: None,
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move { orphan.release().await });
            }
            // No runtime to give them back on: the lease lapses.
            Err(_) => orphan.held.clear(),
        }
    }
}

impl Axes {
    /// A new attempt in flight, holding nothing yet.
    pub(crate) fn flight(&self) -> Flight {
        Flight {
            axes: self.clone(),
            id: self.inner.next_flight.fetch_add(1, Ordering::Relaxed),
            checked: Vec::new(),
            held: Vec::new(),
            shared: self.timed_store().shares_in_flight(),
            since: None,
            admitted: None,
            orphan: false,
            headroom: None,
        }
    }
}
