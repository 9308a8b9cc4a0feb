//! One login attempt in flight: the keys it was checked under, the slots
//! it holds, and where its latest check left it. Its slots are given back
//! on every path: with its record, after it, or when it is dropped (the
//! client gone, the handler panicking) — also while a store call was
//! taking or giving back a slot.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::decision::Decision;
use super::in_flight::{Held, Ticket};
use super::state::Engine;
use crate::identity::LockoutKey;
use crate::store::Slot;

/// One login attempt in flight: the keys it was checked under, and the
/// slots it holds.
#[derive(Debug)]
pub(crate) struct Flight {
    pub(super) engine: Arc<Engine>,
    /// The keys an admission checked.
    pub(super) checked: Vec<LockoutKey>,
    /// The slots it holds.
    pub(super) held: Vec<Held>,
    /// Store slots a call is taking or giving back: given back (again) if
    /// the attempt is dropped before the call answered.
    pub(super) unsettled: Vec<Slot>,
    /// Whether a write is giving back its slots: dropped meanwhile, it
    /// hands none on, for the write may have given them back already.
    pub(super) writing: bool,
    /// When it first took slots.
    pub(super) since: Option<Instant>,
    /// Once admitted: what its admission decided (allowed, or a challenge
    /// required), and the username (as counted) it was admitted for.
    pub(super) admitted: Option<(Decision, Option<String>)>,
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
    /// Which quota partition it falls in: a hash of its lockout keys (the
    /// `RateLimit` headers' `pk`), with `ratelimit_headers`.
    pub partition: Option<u64>,
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

    /// The store slots it holds, to give back with a write.
    pub fn store_slots(&self) -> Vec<Slot> {
        self.held
            .iter()
            .filter_map(|held| {
                held.id.map(|id| Slot {
                    key: held.key.clone(),
                    id,
                })
            })
            .collect()
    }

    /// The store slots it holds, for a write that gives them back: until
    /// [`written`](Self::written), a drop hands none of them on.
    pub fn slots_to_write(&mut self) -> Vec<Slot> {
        self.writing = true;
        self.store_slots()
    }

    /// The write that was to give back its slots did (`given_back`), or
    /// failed, and may have or not: then they are given back again in the
    /// background. Either way they are gone, and the first in line on each
    /// key tries the store.
    pub fn written(&mut self, given_back: bool) {
        let slots = self.store_slots();
        if let Some(keeper) = self.engine.keeper() {
            if given_back {
                keeper.released(&slots);
            } else {
                keeper.orphaned(slots);
            }
        }
        for held in std::mem::take(&mut self.held) {
            self.engine.gates.gone(&held, None);
        }
        self.writing = false;
        self.settle();
    }

    /// The attempt succeeded, so it is no guess any more: each slot goes
    /// straight to the first in line, or is returned to give back with
    /// the success's write (see [`written_back`](Self::written_back)).
    pub fn hand_on(&mut self) -> Vec<Slot> {
        let gates = &self.engine.gates;
        let mut back = Vec::new();
        for held in std::mem::take(&mut self.held) {
            if let Some(id) = gates.leave(&held, true, None) {
                back.push(Slot { key: held.key, id });
            }
        }
        self.settle();
        self.unsettled.extend(back.iter().cloned());
        back
    }

    /// The write that was to give back `slots` (from
    /// [`hand_on`](Self::hand_on)) did (`given_back`), or failed.
    pub fn written_back(&mut self, slots: &[Slot], given_back: bool) {
        self.unsettled.retain(|slot| !slots.contains(slot));
        let Some(keeper) = self.engine.keeper() else {
            return;
        };
        if given_back {
            keeper.released(slots);
            let keys: Vec<LockoutKey> = slots.iter().map(|slot| slot.key.clone()).collect();
            self.engine.gates.wake(&keys, None);
        } else {
            keeper.orphaned(slots.to_vec());
        }
    }

    /// Gives up every slot it holds (with no outcome recorded, or after
    /// one that gave them up already).
    pub async fn release(&mut self) {
        self.give_up(None, &[], None).await;
    }

    /// Gives up the slots it holds under `keys` (all of them for `None`):
    /// each goes to the first in line where one waits (not `except`), or
    /// back to the store, awaited — the store slots of `fresh` (taken by a
    /// try that did not admit the attempt) always back to the store.
    pub async fn give_up(
        &mut self,
        keys: Option<&[LockoutKey]>,
        fresh: &[Slot],
        except: Option<&Ticket>,
    ) {
        let gates = &self.engine.gates;
        let mut back = Vec::new();
        let mut kept = Vec::with_capacity(self.held.len());
        for held in std::mem::take(&mut self.held) {
            if keys.is_some_and(|keys| !keys.contains(&held.key)) {
                kept.push(held);
                continue;
            }
            let hand_on = !fresh
                .iter()
                .any(|slot| Some(slot.id) == held.id && slot.key == held.key);
            if let Some(id) = gates.leave(&held, hand_on, except) {
                back.push(Slot { key: held.key, id });
            }
        }
        self.held = kept;
        if self.held.is_empty() {
            self.settle();
        }
        self.give_back(back, except).await;
    }

    /// Gives `slots` back to the store, and wakes the first in line on
    /// their keys once they are back; a failed call is left to the
    /// engine's background task.
    pub async fn give_back(&mut self, slots: Vec<Slot>, except: Option<&Ticket>) {
        let Some(keeper) = self.engine.keeper() else {
            return;
        };
        if slots.is_empty() {
            return;
        }
        self.unsettled.extend(slots.iter().cloned());
        let given = match self.engine.timed_store().shared_slots() {
            Some(shared) => shared
                .release(crate::store::Slots::new(keeper.owner(), &slots))
                .await
                .map_err(Some),
            None => Err(None),
        };
        self.unsettled.retain(|slot| !slots.contains(slot));
        match given {
            Ok(()) => {
                keeper.released(&slots);
                let keys: Vec<LockoutKey> = slots.into_iter().map(|slot| slot.key).collect();
                self.engine.gates.wake(&keys, except);
            }
            Err(error) => {
                if let Some(error) = error {
                    tracing::debug!(target: "axes", %error, "giving back slots in flight failed; trying again in the background");
                }
                keeper.give_back(slots);
            }
        }
    }

    /// The slots are given back: note how long they were held.
    fn settle(&mut self) {
        if let Some(since) = self.since.take() {
            self.engine.note_hold(since.elapsed());
        }
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        if self.held.is_empty() && self.unsettled.is_empty() {
            return;
        }
        // Dropped before its slots went back: the client went away, the
        // handler panicked, or a store call was cut short.
        let gates = &self.engine.gates;
        let mut back = Vec::new();
        for held in std::mem::take(&mut self.held) {
            if self.writing {
                // The write may have given it back already.
                gates.gone(&held, None);
                if let Some(id) = held.id {
                    self.unsettled.push(Slot { key: held.key, id });
                }
            } else if let Some(id) = gates.leave(&held, true, None) {
                back.push(Slot { key: held.key, id });
            }
        }
        if let Some(keeper) = self.engine.keeper() {
            keeper.give_back(back);
            keeper.orphaned(std::mem::take(&mut self.unsettled));
            Engine::start_background(&self.engine);
        }
    }
}

impl Flight {
    /// A new attempt in flight on `engine`, holding nothing yet.
    pub fn new(engine: Arc<Engine>) -> Self {
        Self {
            engine,
            checked: Vec::new(),
            held: Vec::new(),
            unsettled: Vec::new(),
            writing: false,
            since: None,
            admitted: None,
            headroom: None,
        }
    }
}
