//! [`Gates`]: attempts in flight per lockout key, in this process.
//!
//! A gate per key keeps two things: the slots held under it, for stores
//! that do not share attempts in flight across processes (memory, SQLite,
//! and any store that leaves [`Store::admit`](crate::Store::admit) at its
//! default), and the queue of attempts waiting for a slot, on every store.
//! The queue is first come, first served: an attempt that finds others
//! waiting on one of its keys waits behind them, and each slot given back
//! wakes the attempt at the front.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;

use crate::identity::LockoutKey;

/// The gates of one engine.
#[derive(Debug, Default)]
pub(crate) struct Gates {
    gates: Mutex<HashMap<LockoutKey, Gate>>,
    /// Keys found locked lately, and until when: an attempt on one reads
    /// before it takes a slot, so a locked client's flood costs one store
    /// round trip per attempt, not a take and a give-back.
    locked: Mutex<HashMap<LockoutKey, SystemTime>>,
}

/// How many recently locked keys are remembered at most.
const MAX_RECENTLY_LOCKED: usize = 10_000;

#[derive(Debug)]
struct Gate {
    /// Slots held in this process (stores that do not share them).
    held: u64,
    /// Attempts waiting for a slot, in the order they came.
    waiting: VecDeque<Arc<Waiter>>,
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
fn wake_front(gate: &mut Gate, except: Option<&Ticket>) {
    if let Some(front) = gate.waiting.front() {
        if !except.is_some_and(|ticket| Arc::ptr_eq(front, &ticket.waiter)) {
            front.wake();
        }
    }
}

impl Gates {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<LockoutKey, Gate>> {
        // Counts of attempts in flight are advisory bookkeeping: a
        // poisoned lock is taken over.
        self.gates.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes one slot under each of `keys`; how many each has now.
    pub fn take(&self, keys: &[LockoutKey]) -> Vec<u64> {
        let mut gates = self.lock();
        keys.iter()
            .map(|key| {
                let gate = gates.entry(key.clone()).or_insert_with(|| Gate {
                    held: 0,
                    waiting: VecDeque::new(),
                });
                gate.held += 1;
                gate.held
            })
            .collect()
    }

    /// Gives back one slot under each of `keys`, and wakes the attempt at
    /// the front of each key's queue to try again — unless that is `except`,
    /// the attempt giving it back.
    pub fn give_back(&self, keys: &[LockoutKey], except: Option<&Ticket>) {
        let mut gates = self.lock();
        for key in keys {
            let Some(gate) = gates.get_mut(key) else {
                continue;
            };
            gate.held = gate.held.saturating_sub(1);
            wake_front(gate, except);
            if gate.held == 0 && gate.waiting.is_empty() {
                gates.remove(key);
            }
        }
    }

    /// Wakes the attempt at the front of each key's queue (unless that is
    /// `except`): a slot was given back elsewhere (in a shared store).
    pub fn wake(&self, keys: &[LockoutKey], except: Option<&Ticket>) {
        let mut gates = self.lock();
        for key in keys {
            if let Some(gate) = gates.get_mut(key) {
                wake_front(gate, except);
            }
        }
    }

    /// The first of `keys` that attempts are waiting on, if any.
    pub fn queued<'k>(&self, keys: &'k [LockoutKey]) -> Option<&'k LockoutKey> {
        let gates = self.lock();
        keys.iter()
            .find(|key| gates.get(key).is_some_and(|gate| !gate.waiting.is_empty()))
    }

    /// How many slots this process holds under `key`.
    pub fn held(&self, key: &LockoutKey) -> u64 {
        self.lock().get(key).map_or(0, |gate| gate.held)
    }

    /// How many attempts wait on `key`.
    pub fn waiting(&self, key: &LockoutKey) -> usize {
        self.lock().get(key).map_or(0, |gate| gate.waiting.len())
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

    /// Remembers that `keys` were found locked until `until`.
    pub fn note_locked(&self, keys: &[LockoutKey], until: SystemTime) {
        let mut locked = self.locked.lock().unwrap_or_else(|e| e.into_inner());
        if locked.len() + keys.len() > MAX_RECENTLY_LOCKED {
            let now = SystemTime::now().min(until);
            locked.retain(|_, until| *until > now);
            if locked.len() + keys.len() > MAX_RECENTLY_LOCKED {
                locked.clear();
            }
        }
        for key in keys {
            locked.insert(key.clone(), until);
        }
    }

    /// Whether one of `keys` was found locked until after `now`.
    pub fn recently_locked(&self, keys: &[LockoutKey], now: SystemTime) -> bool {
        let locked = self.locked.lock().unwrap_or_else(|e| e.into_inner());
        !locked.is_empty()
            && keys
                .iter()
                .any(|key| locked.get(key).is_some_and(|until| *until > now))
    }

    /// A place at the back of `key`'s queue, unless `max` attempts wait
    /// there already.
    pub fn join(self: &Arc<Self>, key: &LockoutKey, max: usize) -> Option<Ticket> {
        let mut gates = self.lock();
        let gate = gates.entry(key.clone()).or_insert_with(|| Gate {
            held: 0,
            waiting: VecDeque::new(),
        });
        if gate.waiting.len() >= max {
            return None;
        }
        let waiter = Arc::new(Waiter::default());
        gate.waiting.push_back(waiter.clone());
        Some(Ticket {
            gates: self.clone(),
            key: key.clone(),
            waiter,
        })
    }

    /// Forgets the slots held under the keys `matches` picks (a reset) and
    /// wakes everyone waiting on them.
    pub fn clear(&self, matches: impl Fn(&LockoutKey) -> bool) {
        self.locked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        let mut gates = self.lock();
        gates.retain(|key, gate| {
            if !matches(key) {
                return true;
            }
            gate.held = 0;
            for waiter in &gate.waiting {
                waiter.wake();
            }
            !gate.waiting.is_empty()
        });
    }
}

/// An attempt's place in a key's queue; leaving (dropping it) passes on a
/// wake it did not act on, so no slot given back goes unused.
#[derive(Debug)]
pub(crate) struct Ticket {
    gates: Arc<Gates>,
    key: LockoutKey,
    waiter: Arc<Waiter>,
}

impl Ticket {
    /// The key whose queue this is.
    pub fn key(&self) -> &LockoutKey {
        &self.key
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

    /// Leaves the queue having made use of the turn (admitted, or refused
    /// for good): the next in line tries too, for there may be room or a
    /// lockout for it to see as well.
    pub fn pass_on(self) {
        self.waiter.woken.store(true, Ordering::SeqCst);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
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
            // A wake this attempt did not act on is the next one's.
            if self.waiter.woken.load(Ordering::SeqCst) {
                if let Some(next) = gate.waiting.front() {
                    next.wake();
                }
            }
        }
        if gate.held == 0 && gate.waiting.is_empty() {
            gates.remove(&self.key);
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
        assert_eq!(gates.take(std::slice::from_ref(&k)), [1]);
        let first = gates.join(&k, 2).unwrap();
        let second = gates.join(&k, 2).unwrap();
        assert!(gates.join(&k, 2).is_none(), "the queue is full");
        gates.give_back(std::slice::from_ref(&k), None);
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
    async fn clearing_forgets_slots_and_wakes_every_waiter() {
        let gates = Arc::new(Gates::default());
        let (a, b) = (key("alice"), key("bob"));
        gates.take(&[a.clone(), b.clone()]);
        let waiting = gates.join(&a, 8).unwrap();
        gates.clear(|k| k.username() == Some("alice"));
        assert!(waiting.wait(Duration::from_secs(1)).await);
        assert_eq!(gates.take(std::slice::from_ref(&a)), [1]);
        assert_eq!(gates.take(std::slice::from_ref(&b)), [2]);
    }
}
