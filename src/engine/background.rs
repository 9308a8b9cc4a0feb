//! The engine's background task: what other app servers did, applied as
//! soon as the store tells of it, and the upkeep of the slots held on a
//! store that shares them.
//!
//! - [`StoreEvent::SlotsFreed`]: the first in line on those keys tries
//!   again. [`StoreEvent::Reset`] and [`StoreEvent::Missed`]: the cached
//!   lockouts are forgotten and every waiter tries again; on a store that
//!   shares slots, a new epoch starts on every key (a reset elsewhere may
//!   have deleted this server's slots, which must then not be handed on).
//! - Slots to give back ([`Order`]s from the [`Keeper`](super::keeper::Keeper)):
//!   given back in batches, and tried again every [`RETRY`] until the
//!   store answers; a dropped call's slots once more after
//!   [`ORPHAN_RECHECK`](super::keeper::ORPHAN_RECHECK).
//! - Every third of `in_flight_lease`: the lease renewed while any slot is
//!   held, and this server's slots the ledger does not know swept away.
//!
//! The task holds the engine weakly and ends with it.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use super::keeper::{Order, ORPHAN_RECHECK};
use super::state::Engine;
use crate::identity::LockoutKey;
use crate::store::{Slot, Slots, StoreEvent};

/// How long a failed give-back waits before it is tried again.
const RETRY: Duration = Duration::from_millis(250);

/// The most slots given back in one call.
const MAX_BATCH: usize = 256;

impl Engine {
    /// Starts the background task, once, if there is work for it (a store
    /// that tells of others' writes, or shares slots) and a Tokio runtime
    /// to run it on.
    pub(crate) fn start_background(engine: &Arc<Self>) {
        if engine.background.load(Ordering::Relaxed) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if engine.background.swap(true, Ordering::SeqCst) {
            return;
        }
        let orders = engine
            .orders
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let events = engine.store.inner().subscribe();
        if orders.is_none() && events.is_none() {
            return;
        }
        runtime.spawn(run(Arc::downgrade(engine), orders, events));
    }
}

/// The task's loop.
async fn run(
    engine: Weak<Engine>,
    mut orders: Option<mpsc::UnboundedReceiver<Order>>,
    mut events: Option<broadcast::Receiver<StoreEvent>>,
) {
    let beat = match engine.upgrade() {
        Some(engine) => engine.config.in_flight_lease / 3,
        None => return,
    };
    let mut next_beat = Instant::now() + beat;
    let mut pending: Vec<Slot> = Vec::new();
    let mut later: VecDeque<(Instant, Vec<Slot>)> = VecDeque::new();
    let mut retry_at: Option<Instant> = None;
    loop {
        let recheck = later.front().map(|(at, _)| *at);
        tokio::select! {
            order = recv(&mut orders) => match order {
                Some(order) => take(order, &mut pending, &mut later),
                None => {
                    // The engine is gone: what it held goes back once more.
                    if let Some(engine) = engine.upgrade() {
                        give_back(&engine, &mut pending).await;
                    }
                    return;
                }
            },
            event = listen(&mut events) => {
                let Some(engine) = engine.upgrade() else { return };
                heard(&engine, event);
            }
            _ = tokio::time::sleep_until(next_beat) => {
                next_beat = Instant::now() + beat;
                let Some(engine) = engine.upgrade() else { return };
                heartbeat(&engine).await;
            }
            _ = sleep_until(recheck) => {
                if let Some((_, slots)) = later.pop_front() {
                    pending.extend(slots);
                }
            }
            _ = sleep_until(retry_at) => retry_at = None,
        }
        if let Some(orders) = orders.as_mut() {
            while pending.len() < MAX_BATCH {
                match orders.try_recv() {
                    Ok(order) => take(order, &mut pending, &mut later),
                    Err(_) => break,
                }
            }
        }
        if !pending.is_empty() && retry_at.is_none() {
            let Some(engine) = engine.upgrade() else {
                return;
            };
            if !give_back(&engine, &mut pending).await {
                retry_at = Some(Instant::now() + RETRY);
            }
        }
    }
}

/// The next order, or never once there is no channel.
async fn recv(orders: &mut Option<mpsc::UnboundedReceiver<Order>>) -> Option<Order> {
    match orders.as_mut() {
        Some(orders) => orders.recv().await,
        None => std::future::pending().await,
    }
}

/// The next event (a lagging receiver missed some), or never once there
/// is no subscription.
async fn listen(events: &mut Option<broadcast::Receiver<StoreEvent>>) -> StoreEvent {
    let Some(receiver) = events.as_mut() else {
        return std::future::pending().await;
    };
    match receiver.recv().await {
        Ok(event) => event,
        Err(broadcast::error::RecvError::Lagged(_)) => StoreEvent::Missed,
        Err(broadcast::error::RecvError::Closed) => {
            *events = None;
            std::future::pending().await
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn take(order: Order, pending: &mut Vec<Slot>, later: &mut VecDeque<(Instant, Vec<Slot>)>) {
    match order {
        Order::Release(slots) => pending.extend(slots),
        Order::Orphaned(slots) => {
            pending.extend(slots.iter().cloned());
            later.push_back((Instant::now() + ORPHAN_RECHECK, slots));
        }
    }
}

/// Applies what the store told of.
fn heard(engine: &Engine, event: StoreEvent) {
    let gates = &engine.gates;
    match event {
        StoreEvent::SlotsFreed(tags) => gates.wake_tagged(&tags),
        StoreEvent::Waiting { owner, tags } => {
            if engine
                .keeper()
                .is_some_and(|keeper| keeper.owner() != owner)
            {
                gates.contend_tagged(
                    &tags,
                    std::time::Instant::now() + super::admission::WAIT_MARK,
                );
            }
        }
        _ => {
            engine.locks.clear();
            match engine.keeper() {
                Some(keeper) => {
                    let idle = gates.clear(|_| true);
                    keeper.give_back(idle.into_iter().map(|(key, id)| Slot { key, id }).collect());
                }
                None => gates.wake_all(),
            }
        }
    }
}

/// Gives `pending` back in one call; whether it went (then `pending` is
/// empty).
async fn give_back(engine: &Engine, pending: &mut Vec<Slot>) -> bool {
    let (Some(shared), Some(keeper)) = (engine.timed_store().shared_slots(), engine.keeper())
    else {
        pending.clear();
        return true;
    };
    pending.sort_by_key(|slot| slot.id);
    pending.dedup();
    match shared.release(Slots::new(keeper.owner(), pending)).await {
        Ok(()) => {
            keeper.released(pending);
            let keys: Vec<LockoutKey> = pending.drain(..).map(|slot| slot.key).collect();
            engine.gates.wake(&keys, None);
            true
        }
        Err(error) => {
            tracing::debug!(target: "axes", %error, slots = pending.len(), "giving back slots in flight failed; trying again");
            false
        }
    }
}

/// The lease renewed while slots are held, and the slots nobody knows of
/// swept.
async fn heartbeat(engine: &Engine) {
    let (Some(shared), Some(keeper)) = (engine.timed_store().shared_slots(), engine.keeper())
    else {
        return;
    };
    if keeper.holds_any() {
        if let Err(error) = shared
            .renew(keeper.owner(), engine.config().in_flight_lease)
            .await
        {
            tracing::debug!(target: "axes", %error, "renewing the lease of slots in flight failed");
        }
    }
    if let Some((keep, upto)) = keeper.sweep_plan() {
        match shared.sweep(keeper.owner(), &keep, upto).await {
            Ok(0) => {}
            Ok(swept) => {
                tracing::debug!(target: "axes", swept, "slots in flight no attempt held were given back");
            }
            Err(error) => {
                keeper.sweep_failed();
                tracing::debug!(target: "axes", %error, "sweeping slots in flight failed");
            }
        }
    }
}
