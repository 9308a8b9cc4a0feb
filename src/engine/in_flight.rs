//! [`Gates`]: attempts in flight per lockout key in this process, and the
//! queue of attempts waiting for a slot.
//!
//! A gate per key keeps three things: how many of this process's attempts
//! hold a slot under it (for a store that does not share slots, that count
//! *is* the bound), the queue of attempts waiting for a slot, first come
//! first served, and — on a store that shares slots — the store slots this
//! process holds under the key that no attempt uses: a slot an attempt
//! gives up after a success goes straight to the first in line, with no
//! round trip to the store.
//!
//! Every gate has an epoch, from one counter: a reset starts a new one. A
//! slot taken in an older epoch may have been deleted with the reset, so
//! it is never handed on, and its attempt leaving does not count against
//! the new epoch's.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::keeper::Keeper;
use crate::identity::LockoutKey;
use crate::store::Slot;

/// The gates of one engine.
#[derive(Debug, Default)]
pub(crate) struct Gates {
    gates: Mutex<HashMap<LockoutKey, Gate>>,
    /// The source of epochs.
    epochs: AtomicU64,
}

#[derive(Debug)]
struct Gate {
    epoch: u64,
    /// Attempts of this process holding a slot under the key, in this epoch.
    busy: u64,
    /// Store slots held under the key that no attempt uses, kept for the
    /// first in line.
    idle: Vec<u64>,
    /// Attempts waiting for a slot, in the order they came.
    waiting: VecDeque<Arc<Waiter>>,
    /// Until when another app server waits on the key: meanwhile a slot
    /// given up goes back to the store (and to it), not to this process's
    /// first in line, so no server starves another.
    contended: Option<Instant>,
}

impl Gate {
    fn is_empty(&self) -> bool {
        self.busy == 0 && self.idle.is_empty() && self.waiting.is_empty()
    }
}

#[derive(Debug, Default)]
struct Waiter {
    notify: Notify,
    /// Woken and not yet acted on: a wake it must pass on if it leaves.
    woken: AtomicBool,
}

impl Waiter {
    fn wake(&self) {
        self.woken.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }
}

/// Wakes the front of `gate`'s queue, unless it is `except`'s attempt.
fn wake_front(gate: &Gate, except: Option<&Ticket>) {
    if let Some(front) = gate.waiting.front() {
        if !except.is_some_and(|ticket| Arc::ptr_eq(front, &ticket.waiter)) {
            front.wake();
        }
    }
}

/// A slot an attempt holds under one key, as the gates see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Held {
    pub key: LockoutKey,
    /// The store slot, on a store that shares them.
    pub id: Option<u64>,
    /// The gate's epoch when it was taken.
    pub epoch: u64,
}

impl Gates {
    fn lock(&self) -> MutexGuard<'_, HashMap<LockoutKey, Gate>> {
        // Counts of attempts in flight are advisory bookkeeping: a
        // poisoned lock is taken over.
        self.gates.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn new_epoch(&self) -> u64 {
        self.epochs.fetch_add(1, Ordering::Relaxed)
    }

    fn gate<'g>(&self, gates: &'g mut HashMap<LockoutKey, Gate>, key: &LockoutKey) -> &'g mut Gate {
        gates.entry(key.clone()).or_insert_with(|| Gate {
            epoch: self.new_epoch(),
            busy: 0,
            idle: Vec::new(),
            waiting: VecDeque::new(),
            contended: None,
        })
    }

    /// An attempt takes a slot under `key` in this process: the slot `id`
    /// (a store slot, fresh or handed on), or none for a store that does
    /// not share slots. What it holds, and how many attempts of this
    /// process now hold one under the key.
    pub fn enter(&self, key: &LockoutKey, id: Option<u64>) -> (Held, u64) {
        let mut gates = self.lock();
        let gate = self.gate(&mut gates, key);
        gate.busy += 1;
        let held = Held {
            key: key.clone(),
            id,
            epoch: gate.epoch,
        };
        (held, gate.busy)
    }

    /// Another app server waits on `key` until `until` (its admission
    /// said so).
    pub fn contend(&self, key: &LockoutKey, until: Instant) {
        if let Some(gate) = self.lock().get_mut(key) {
            gate.contended = Some(until);
        }
    }

    /// Another app server waits until `until` on the keys with these wake
    /// tags (its notification).
    pub fn contend_tagged(&self, tags: &[u64], until: Instant) {
        for (key, gate) in self.lock().iter_mut() {
            if tags.contains(&key.wake_tag()) {
                gate.contended = Some(until);
            }
        }
    }

    /// An idle store slot under `key`, for the attempt of `ticket` if it is
    /// among the first in line there (one idle slot for each of the first
    /// in line: each takes one, leaving the queue), or for any attempt
    /// when nobody waits.
    pub fn take_idle(&self, key: &LockoutKey, ticket: Option<&Ticket>) -> Option<u64> {
        let mut gates = self.lock();
        let gate = gates.get_mut(key)?;
        if gate.idle.is_empty() {
            return None;
        }
        let position = ticket
            .filter(|ticket| ticket.key == *key)
            .and_then(|ticket| {
                gate.waiting
                    .iter()
                    .position(|w| Arc::ptr_eq(w, &ticket.waiter))
            });
        match position {
            Some(position) if position < gate.idle.len() => {
                gate.waiting.remove(position);
                gate.idle.pop()
            }
            None if gate.waiting.is_empty() => gate.idle.pop(),
            _ => None,
        }
    }

    /// An attempt gives up its slot `held` (recorded, refused, or gone).
    /// A store slot of the current epoch goes to the first in line not
    /// served yet when `hand_on` allows (`None` returned: nothing to give
    /// back to the store); otherwise the slot's id is returned, to give
    /// back to the store, and the first in line is woken once it is back.
    /// Not `except`, the attempt giving it up.
    pub fn leave(&self, held: &Held, hand_on: bool, except: Option<&Ticket>) -> Option<u64> {
        let mut gates = self.lock();
        let Some(gate) = gates.get_mut(&held.key) else {
            return held.id;
        };
        let current = gate.epoch == held.epoch;
        if current {
            gate.busy = gate.busy.saturating_sub(1);
        }
        let contended = gate.contended.is_some_and(|until| Instant::now() < until);
        let not_except = |w: &&Arc<Waiter>| !except.is_some_and(|t| Arc::ptr_eq(w, &t.waiter));
        let unserved = gate.waiting.iter().filter(not_except).count() > gate.idle.len();
        let handed = match held.id {
            Some(id) if hand_on && current && !contended && unserved => {
                gate.idle.push(id);
                // The idle slot is the one of the n-th in line.
                if let Some(next) = gate
                    .waiting
                    .iter()
                    .filter(not_except)
                    .nth(gate.idle.len() - 1)
                {
                    next.wake();
                }
                None
            }
            id => id,
        };
        // On a shared store the front is woken once the slot is back in the
        // store.
        if held.id.is_none() {
            wake_front(gate, except);
        }
        if gate.is_empty() {
            gates.remove(&held.key);
        }
        handed
    }

    /// An attempt's store slot `held` went back with its record: the first
    /// in line tries the store again.
    pub fn gone(&self, held: &Held, except: Option<&Ticket>) {
        let mut gates = self.lock();
        let Some(gate) = gates.get_mut(&held.key) else {
            return;
        };
        if gate.epoch == held.epoch {
            gate.busy = gate.busy.saturating_sub(1);
        }
        wake_front(gate, except);
        if gate.is_empty() {
            gates.remove(&held.key);
        }
    }

    /// Slots were given back to the store under `keys` (by this process or
    /// another): the first in line on each tries again, unless that is
    /// `except`.
    pub fn wake(&self, keys: &[LockoutKey], except: Option<&Ticket>) {
        let gates = self.lock();
        for key in keys {
            if let Some(gate) = gates.get(key) {
                wake_front(gate, except);
            }
        }
    }

    /// Slots were given back under the keys with these wake tags (another
    /// app server's notification).
    pub fn wake_tagged(&self, tags: &[u64]) {
        let gates = self.lock();
        for (key, gate) in gates.iter() {
            if !gate.waiting.is_empty() && tags.contains(&key.wake_tag()) {
                wake_front(gate, None);
            }
        }
    }

    /// Wakes the first in line on every key: the store's state may have
    /// changed in ways nobody was told of.
    pub fn wake_all(&self) {
        for gate in self.lock().values() {
            wake_front(gate, None);
        }
    }

    /// A reset of the keys `matches` picks (everything, for a store that
    /// shares slots and reset them elsewhere): a new epoch on each, no
    /// attempt of the old counted, every waiter woken. Returns the idle
    /// store slots, to give back.
    pub fn clear(&self, matches: impl Fn(&LockoutKey) -> bool) -> Vec<(LockoutKey, u64)> {
        let mut idle = Vec::new();
        let mut gates = self.lock();
        gates.retain(|key, gate| {
            if !matches(key) {
                return true;
            }
            gate.epoch = self.new_epoch();
            gate.busy = 0;
            idle.extend(gate.idle.drain(..).map(|id| (key.clone(), id)));
            for waiter in &gate.waiting {
                waiter.wake();
            }
            !gate.waiting.is_empty()
        });
        idle
    }

    /// The first of `keys` that attempts are waiting on, if any.
    pub fn queued<'k>(&self, keys: &'k [LockoutKey]) -> Option<&'k LockoutKey> {
        let gates = self.lock();
        keys.iter()
            .find(|key| gates.get(key).is_some_and(|gate| !gate.waiting.is_empty()))
    }

    /// How many attempts of this process hold a slot under `key`.
    pub fn busy(&self, key: &LockoutKey) -> u64 {
        self.lock().get(key).map_or(0, |gate| gate.busy)
    }

    /// How many store slots this process holds under `key`: those of its
    /// attempts, and those kept for its first in line.
    pub fn held_here(&self, key: &LockoutKey) -> u64 {
        self.lock()
            .get(key)
            .map_or(0, |gate| gate.busy + gate.idle.len() as u64)
    }

    /// How many attempts wait on `key`.
    pub fn waiting(&self, key: &LockoutKey) -> usize {
        self.lock().get(key).map_or(0, |gate| gate.waiting.len())
    }

    /// Whether `ticket` still waits in its queue (taking an idle slot
    /// leaves it).
    pub fn is_queued(&self, ticket: &Ticket) -> bool {
        self.lock()
            .get(&ticket.key)
            .is_some_and(|gate| gate.waiting.iter().any(|w| Arc::ptr_eq(w, &ticket.waiter)))
    }

    /// How many attempts wait ahead of `ticket` in its queue.
    pub fn waiting_ahead(&self, ticket: &Ticket) -> usize {
        self.lock()
            .get(&ticket.key)
            .and_then(|gate| {
                gate.waiting
                    .iter()
                    .position(|w| Arc::ptr_eq(w, &ticket.waiter))
            })
            .unwrap_or(0)
    }

    /// A place at the back of `key`'s queue, unless `max` attempts wait
    /// there already.
    pub fn join(self: &Arc<Self>, key: &LockoutKey, max: usize) -> Option<Ticket> {
        let mut gates = self.lock();
        let gate = self.gate(&mut gates, key);
        if gate.waiting.len() >= max {
            return None;
        }
        let waiter = Arc::new(Waiter::default());
        gate.waiting.push_back(waiter.clone());
        Some(Ticket {
            gates: self.clone(),
            key: key.clone(),
            waiter,
            keeper: None,
        })
    }
}

/// An attempt's place in a key's queue; leaving (dropping it) passes on a
/// wake it did not act on, so no slot given back goes unused, and gives
/// back the idle store slots nobody is left to use.
pub(crate) struct Ticket {
    gates: Arc<Gates>,
    key: LockoutKey,
    waiter: Arc<Waiter>,
    /// Where idle store slots nobody is left to use go back.
    keeper: Option<Arc<Keeper>>,
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticket")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Ticket {
    /// The key whose queue this is.
    pub fn key(&self) -> &LockoutKey {
        &self.key
    }

    /// Gives back through `keeper` the idle store slots the last waiter
    /// leaves behind.
    pub fn with_keeper(mut self, keeper: Option<Arc<Keeper>>) -> Self {
        self.keeper = keeper;
        self
    }

    /// Waits until woken or `timeout` passes; whether it was woken.
    pub async fn wait(&self, timeout: Duration) -> bool {
        if self.waiter.woken.swap(false, Ordering::SeqCst) {
            return true;
        }
        let woken = tokio::time::timeout(timeout, self.waiter.notify.notified())
            .await
            .is_ok();
        self.waiter.woken.store(false, Ordering::SeqCst);
        woken
    }

    /// Leaves the queue having made use of the turn (admitted, refused for
    /// good, or failed): the next in line tries too, for there may be room
    /// or an answer for it as well.
    pub fn pass_on(self) {
        self.waiter.woken.store(true, Ordering::SeqCst);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut left = Vec::new();
        {
            let mut gates = self.gates.lock();
            let Some(gate) = gates.get_mut(&self.key) else {
                return;
            };
            let position = gate
                .waiting
                .iter()
                .position(|w| Arc::ptr_eq(w, &self.waiter));
            if let Some(position) = position {
                gate.waiting.remove(position);
                if position < gate.idle.len() {
                    // Its idle slot is the next one's in line.
                    if let Some(next) = gate.waiting.get(gate.idle.len() - 1) {
                        next.wake();
                    }
                } else if self.waiter.woken.load(Ordering::SeqCst) {
                    // A wake this attempt did not act on is the next one's.
                    if let Some(next) = gate.waiting.front() {
                        next.wake();
                    }
                }
            }
            // Idle slots nobody is left in line for go back to the store.
            let excess = gate.idle.len().saturating_sub(gate.waiting.len());
            left.extend(gate.idle.drain(..excess).map(|id| (self.key.clone(), id)));
            if gate.is_empty() {
                gates.remove(&self.key);
            }
        }
        if let Some(keeper) = self.keeper.as_ref().filter(|_| !left.is_empty()) {
            keeper.give_back(left.into_iter().map(|(key, id)| Slot { key, id }).collect());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> LockoutKey {
        crate::identity::ClientInfo::new("192.0.2.1".parse().unwrap())
            .with_username(name)
            .lockout_key(&crate::identity::LockoutGroup::single(
                crate::identity::LockoutParameter::Username,
            ))
            .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_given_back_wakes_the_first_in_line_only() {
        let gates = Arc::new(Gates::default());
        let k = key("alice");
        let (held, busy) = gates.enter(&k, None);
        assert_eq!(busy, 1);
        let first = gates.join(&k, 2).unwrap();
        let second = gates.join(&k, 2).unwrap();
        assert!(gates.join(&k, 2).is_none(), "the queue is full");
        assert_eq!(gates.leave(&held, true, None), None);
        assert!(first.wait(Duration::from_secs(1)).await);
        assert!(!second.wait(Duration::from_secs(1)).await, "not its turn");
        // The first leaves having used its turn: the second tries next.
        first.pass_on();
        assert!(second.wait(Duration::from_secs(1)).await);
        drop(second);
        assert_eq!(gates.waiting(&k), 0);
        assert!(gates.lock().is_empty(), "no gate is left behind");
    }

    #[tokio::test(start_paused = true)]
    async fn a_store_slot_goes_to_the_first_in_line_and_to_nobody_else() {
        let gates = Arc::new(Gates::default());
        let k = key("alice");
        let (held, _) = gates.enter(&k, Some(7));
        let first = gates.join(&k, 8).unwrap();
        let second = gates.join(&k, 8).unwrap();
        assert_eq!(
            gates.leave(&held, true, None),
            None,
            "handed on, not given back"
        );
        assert!(first.wait(Duration::from_secs(1)).await);
        assert_eq!(gates.take_idle(&k, Some(&second)), None, "not its turn");
        assert_eq!(gates.take_idle(&k, None), None, "nor a newcomer's");
        assert_eq!(gates.take_idle(&k, Some(&first)), Some(7));
        assert!(!gates.is_queued(&first), "it left the queue with the slot");
        // A second slot given up goes to the second in line, now first.
        let (held, _) = gates.enter(&k, Some(8));
        assert_eq!(gates.leave(&held, true, None), None);
        assert!(second.wait(Duration::from_secs(1)).await);
        assert_eq!(gates.take_idle(&k, Some(&second)), Some(8));
        drop((first, second));
        // With nobody waiting, a slot given up goes back to the store.
        let (held, _) = gates.enter(&k, Some(7));
        assert_eq!(gates.leave(&held, true, None), Some(7));
        assert!(gates.lock().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn idle_slots_nobody_waits_for_go_back_to_the_store() {
        let gates = Arc::new(Gates::default());
        let k = key("alice");
        let (held, _) = gates.enter(&k, Some(3));
        let (keeper, mut orders) = Keeper::new();
        let waiting = gates
            .join(&k, 8)
            .unwrap()
            .with_keeper(Some(Arc::new(keeper)));
        assert_eq!(gates.leave(&held, true, None), None);
        drop(waiting); // gone (the client left) before taking it
        match orders.try_recv() {
            Ok(super::super::keeper::Order::Release(slots)) => {
                assert_eq!(
                    slots,
                    vec![Slot {
                        key: k.clone(),
                        id: 3
                    }]
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(gates.lock().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn an_unused_wake_goes_to_the_next_in_line() {
        let gates = Arc::new(Gates::default());
        let k = key("alice");
        let first = gates.join(&k, 8).unwrap();
        let second = gates.join(&k, 8).unwrap();
        gates.wake(std::slice::from_ref(&k), None);
        drop(first); // gone (the client left) before acting on it
        assert!(second.wait(Duration::from_secs(1)).await);
    }

    #[tokio::test(start_paused = true)]
    async fn clearing_starts_a_new_epoch_and_wakes_every_waiter() {
        let gates = Arc::new(Gates::default());
        let (a, b) = (key("alice"), key("bob"));
        let (old, _) = gates.enter(&a, Some(1));
        gates.enter(&b, None);
        let waiting = gates.join(&a, 8).unwrap();
        assert!(gates.clear(|k| k.username() == Some("alice")).is_empty());
        assert!(waiting.wait(Duration::from_secs(1)).await);
        let (_, busy) = gates.enter(&a, None);
        assert_eq!(busy, 1, "the old epoch's attempt no longer counts");
        assert_eq!(
            gates.leave(&old, true, None),
            Some(1),
            "nor is its slot handed on"
        );
        assert_eq!(gates.busy(&a), 1);
        assert_eq!(gates.enter(&b, None).1, 2);
    }
}
