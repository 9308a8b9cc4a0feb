//! Admission before dispatch: the lockout check, and a slot in flight per
//! lockout key, so concurrent attempts count toward the limit.
//!
//! django-axes checks, lets the application verify the password, and only
//! then records the failure: every request that passed the check before the
//! first failure was stored gets a guess (its known issue #592). With
//! `bound_in_flight` (the default) each admitted attempt holds a slot per
//! lockout key until its outcome is recorded, and an attempt is admitted
//! only while failures and slots together stay within the limit.
//!
//! An attempt beyond the bound waits its turn
//! ([`Gates`](super::in_flight::Gates)): it is admitted as soon as an
//! attempt ahead of it finishes, refused as soon as the key locks, and
//! refused as busy only when `in_flight_wait` runs out or `in_flight_queue`
//! attempts already wait on the key. Slots are given back on every path
//! (recorded, refused, the client gone, the handler panicking): a
//! [`Flight`] gives them back when dropped.
//!
//! On a store that shares slots (PostgreSQL, Redis), a slot an attempt of
//! this process gives up after a success goes straight to the first in
//! line here, with no round trip; one given back to the store under a key
//! another app server waits on is notified to it
//! ([`SharedSlots::wait_for`](crate::store::SharedSlots::wait_for)), so
//! waiters are woken rather than poll. Should a notification be lost, the
//! first in line asks the store again every [`FALLBACK_POLL`].

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::decision::Decision;
use super::error::AxesError;
use super::flight::{Flight, Headroom};
use super::in_flight::Ticket;
use super::prepare::{Prepared, ReadKeys};
use super::state::Engine;
use crate::config::{DuringLockout, LockoutResponseMode};
use crate::identity::{ClientInfo, LockoutKey, LoginAttempt};
use crate::policy::{Listing, Lockout, LockoutReason};
use crate::store::{Admitted, Slot, SlotRequest};

/// How often the first in line on a shared store asks again when nothing
/// woke it: a notification lost, or another server's lease lapsing.
pub(crate) const FALLBACK_POLL: Duration = Duration::from_millis(500);

/// How long a mark that this server waits on a key lasts in the store; a
/// waiter renews it at each try.
pub(crate) const WAIT_MARK: Duration = Duration::from_secs(5);

/// What one try at admission found.
enum Try {
    /// Decided: admitted (holding its slots) or refused.
    Done(Decision),
    /// Over the bound on this key: wait for a turn. `elsewhere`: another
    /// app server holds slots under it.
    Busy {
        key: LockoutKey,
        failures: u64,
        elsewhere: bool,
    },
}

impl Engine {
    /// How many attempts hold a slot under `key` now (see
    /// [`Axes::in_flight`](crate::Axes::in_flight)).
    pub(crate) async fn in_flight(&self, key: &LockoutKey) -> Result<u64, AxesError> {
        let (Some(shared), Some(keeper)) = (self.timed_store().shared_slots(), self.keeper())
        else {
            return Ok(self.gates.busy(key));
        };
        let count = std::slice::from_ref(key);
        let request = SlotRequest::new(keeper.owner(), &[], count, self.config().in_flight_lease);
        let admitted = shared.admit(&[], request).await?;
        Ok(admitted.holders.first().copied().unwrap_or(0))
    }

    /// Admits the attempt `flight` is, as `prepared`: the keys it already
    /// holds are not taken again, the others are (waiting for a turn when
    /// the bound is reached). Every key is checked.
    pub(crate) async fn admit(
        &self,
        flight: &mut Flight,
        login: &LoginAttempt<'_>,
        prepared: &Prepared,
    ) -> Result<Decision, AxesError> {
        let decision = self.admit_prepared(flight, login, prepared).await?;
        if prepared.counted() {
            let rules = prepared.rules(self.config());
            flight.headroom = Some(Headroom {
                attempts_left: rules
                    .attempts_left(decision.failures(), decision.lockout().is_some()),
                failure_limit: rules.failure_limit,
                cooloff: rules.cooloff,
                // What a locked attempt is told of a challenge is what an
                // open one near its limit is, in the mode that hides which.
                challenge: decision.challenge_required()
                    || (decision.lockout().is_some()
                        && self.config().challenge_after.is_some()
                        && self.config().lockout_response
                            == LockoutResponseMode::Indistinguishable),
                partition: self.config().ratelimit_headers.then(|| {
                    prepared
                        .keys
                        .iter()
                        .fold(0u64, |tag, key| tag.rotate_left(7) ^ key.wake_tag())
                }),
            });
        }
        Ok(decision)
    }

    /// [`admit`](Self::admit), without the headroom.
    async fn admit_prepared(
        &self,
        attempt: &mut Flight,
        login: &LoginAttempt<'_>,
        prepared: &Prepared,
    ) -> Result<Decision, AxesError> {
        let client = login.client();
        for key in &prepared.keys {
            if !attempt.checked.contains(key) {
                attempt.checked.push(key.clone());
            }
        }
        let config = self.config();
        let rules = prepared.rules(config);
        let bounded = config.bound_in_flight
            && prepared.listing == Listing::Counted
            && rules.lock_out_at_failure;
        let new: Vec<LockoutKey> = if bounded {
            prepared
                .keys
                .iter()
                .filter(|key| !attempt.held.iter().any(|held| held.key == **key))
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        if new.is_empty() {
            // Holding a slot under each key, the attempt cannot be locked
            // out by failures before its own is recorded: the bound kept
            // failures and slots together within the limit when it was
            // admitted, so the check then still holds (for the same
            // username: its detectors' keys are the same too).
            if let Some((decision, _)) = attempt.admitted.as_ref().filter(|(_, username)| {
                bounded && username.as_deref() == prepared.client.username()
            }) {
                return Ok(decision.clone());
            }
            let (decision, _) = self.evaluate(login, prepared).await?;
            return self.settled(login, prepared, decision).await;
        }
        Engine::start_background(&attempt.engine);

        // A client found locked out lately is refused from memory.
        if let Some(lockout) = self.cached_lockout(prepared) {
            return self
                .settled(login, prepared, Decision::LockedOut(lockout))
                .await;
        }
        let gates = &self.gates;
        // Read when it first waits: most admissions never do.
        let mut deadline = None;
        // First come, first served: behind those already waiting.
        let mut ticket: Option<Ticket> = match gates.queued(&new) {
            Some(key) => match self.join(key) {
                Some(ticket) => Some(ticket),
                None => return self.queue_full(login, prepared, key).await,
            },
            None => None,
        };
        let mut failures = 0;
        // Whether to try before waiting: the first time, and after joining
        // a queue at its front (a slot given back before then woke nobody).
        let mut try_first = ticket.is_none();
        loop {
            if let Some(waiting) = ticket.as_ref().filter(|_| !try_first) {
                let now = Instant::now();
                let deadline = *deadline.get_or_insert(now + config.in_flight_wait);
                let left = deadline.saturating_duration_since(now);
                if left.is_zero() {
                    let key = waiting.key().clone();
                    return Ok(self.busy(client, prepared, &key, failures));
                }
                // The first in line on a shared store asks again now and
                // then, should a wake be lost; the others are woken in turn.
                let poll = self.keeper().is_some() && gates.waiting_ahead(waiting) == 0;
                waiting
                    .wait(if poll { left.min(FALLBACK_POLL) } else { left })
                    .await;
            }
            try_first = false;
            let tried = self
                .try_admit(attempt, login, prepared, &new, ticket.as_ref())
                .await;
            let tried = match tried {
                Ok(tried) => tried,
                Err(error) => {
                    // The next in line tries too: a store that failed for
                    // this attempt answers the next one (or has healed).
                    if let Some(ticket) = ticket {
                        ticket.pass_on();
                    }
                    return Err(error);
                }
            };
            match tried {
                Try::Done(decision) => {
                    if let Some(ticket) = ticket {
                        ticket.pass_on();
                    }
                    return self.settled(login, prepared, decision).await;
                }
                Try::Busy {
                    key,
                    failures: f,
                    elsewhere,
                } => {
                    failures = f;
                    if elsewhere {
                        self.mark_waiting(&key).await;
                    }
                    if ticket
                        .as_ref()
                        .is_none_or(|t| *t.key() != key || !gates.is_queued(t))
                    {
                        // Waiting on another key now: this one's turn goes on.
                        if let Some(previous) = ticket.take() {
                            previous.pass_on();
                        }
                        match self.join(&key) {
                            Some(joined) => {
                                try_first = gates.waiting_ahead(&joined) == 0;
                                ticket = Some(joined);
                            }
                            None => return self.queue_full(login, prepared, &key).await,
                        }
                    }
                }
            }
        }
    }

    /// A place in `key`'s queue, unless `in_flight_queue` attempts wait
    /// there already; idle store slots its last waiter leaves go back to
    /// the store.
    fn join(&self, key: &LockoutKey) -> Option<Ticket> {
        let ticket = self.gates.join(key, self.config().in_flight_queue)?;
        Some(ticket.with_keeper(self.keeper.clone()))
    }

    /// Tells the other app servers on a shared store that this one waits
    /// on `key`: a slot they give back under it is notified.
    async fn mark_waiting(&self, key: &LockoutKey) {
        let (Some(shared), Some(keeper)) = (self.timed_store().shared_slots(), self.keeper())
        else {
            return;
        };
        let keys = std::slice::from_ref(key);
        if let Err(error) = shared.wait_for(keeper.owner(), keys, WAIT_MARK).await {
            tracing::debug!(target: "axes", %error, "marking a key waited on failed; the first in line asks again now and then");
        }
    }

    /// One try: take a slot under each of `new` (an idle one of this
    /// process's where it is this attempt's turn, else a fresh one from
    /// the store), read the counters (one store round trip), and decide;
    /// over the bound, give the slots up.
    async fn try_admit(
        &self,
        attempt: &mut Flight,
        login: &LoginAttempt<'_>,
        prepared: &Prepared,
        new: &[LockoutKey],
        ticket: Option<&Ticket>,
    ) -> Result<Try, AxesError> {
        let read = ReadKeys::of(self.config(), prepared);
        let gates = &self.gates;
        let store = self.timed_store();
        // Slots are taken before the counters are read: an attempt that
        // finished meanwhile recorded its failure before giving its slot
        // back, so every earlier attempt is seen as one or the other.
        // The store slots this try takes: given back, not handed on, if it
        // does not admit the attempt.
        let mut fresh = Vec::new();
        let (counters, holders): (_, Vec<u64>) = match (store.shared_slots(), self.keeper()) {
            (Some(shared), Some(keeper)) => {
                for key in new {
                    match gates.take_idle(key, ticket) {
                        Some(id) => attempt.held.push(gates.enter(key, Some(id)).0),
                        None => fresh.push(keeper.allocate(key)),
                    }
                }
                // A slot handed on keeps the count of slots as it was, so
                // failures and slots stay within the limit: only fresh ones
                // are counted, and with none the counters alone are read.
                let counted: Vec<LockoutKey> = fresh.iter().map(|slot| slot.key.clone()).collect();
                attempt.unsettled.extend(fresh.iter().cloned());
                let lease = self.config().in_flight_lease;
                let admitted = if fresh.is_empty() {
                    store
                        .counters(&read.all)
                        .await
                        .map(|counters| Admitted::new(counters, Vec::new(), Vec::new()))
                } else {
                    let request = SlotRequest::new(keeper.owner(), &fresh, &counted, lease);
                    shared.admit(&read.all, request).await
                };
                attempt.unsettled.retain(|slot| !fresh.contains(slot));
                let admitted = match admitted {
                    Ok(admitted) => admitted,
                    Err(error) => {
                        // The call may have taken them before it failed.
                        keeper.orphaned(fresh);
                        attempt.give_up(Some(new), &[], ticket).await;
                        return Err(error.into());
                    }
                };
                for slot in &fresh {
                    attempt.held.push(gates.enter(&slot.key, Some(slot.id)).0);
                }
                let until = Instant::now() + WAIT_MARK;
                for (key, waited) in counted.iter().zip(&admitted.waited) {
                    if *waited {
                        gates.contend(key, until);
                    }
                }
                let holders = new
                    .iter()
                    .map(|key| {
                        counted
                            .iter()
                            .position(|k| k == key)
                            .and_then(|i| admitted.holders.get(i).copied())
                            .unwrap_or(0)
                    })
                    .collect();
                (admitted.counters, holders)
            }
            _ => {
                let holders = new
                    .iter()
                    .map(|key| {
                        let (held, busy) = gates.enter(key, None);
                        attempt.held.push(held);
                        busy
                    })
                    .collect();
                let counters = if read.is_empty() {
                    Ok(Vec::new())
                } else {
                    store.counters(&read.all).await
                };
                match counters {
                    Ok(counters) => (counters, holders),
                    Err(error) => {
                        attempt.give_up(Some(new), &[], ticket).await;
                        return Err(error.into());
                    }
                }
            }
        };
        let (decision, live) = match self.decide(login, prepared, &read, counters).await {
            Ok(decided) => decided,
            Err(error) => {
                attempt.give_up(Some(new), &fresh, ticket).await;
                return Err(error);
            }
        };
        if !matches!(
            decision,
            Decision::Allowed { .. } | Decision::ChallengeRequired { .. }
        ) {
            attempt.give_up(Some(new), &fresh, ticket).await;
            return Ok(Try::Done(decision));
        }
        // The first new key whose failures and slots together pass the
        // limit (always the same one while it does, so a waiter does not
        // hop between queues); a key already at the limit that did not lock
        // the client (a trusted client's username) does not bound it.
        let limit = u64::from(prepared.rules(self.config()).failure_limit);
        let blocking = new.iter().zip(&holders).find_map(|(key, holders)| {
            let index = prepared.keys.iter().position(|k| k == key)?;
            let failures = live.get(index).copied().unwrap_or(0);
            (failures < limit && failures + holders > limit).then_some((key, failures, *holders))
        });
        match blocking {
            Some((key, failures, holders)) => {
                let key = key.clone();
                let elsewhere = self.keeper().is_some() && holders > gates.held_here(&key);
                attempt.give_up(Some(new), &fresh, ticket).await;
                Ok(Try::Busy {
                    key,
                    failures,
                    elsewhere,
                })
            }
            _ => {
                attempt.since.get_or_insert_with(Instant::now);
                let username = prepared.client.username().map(str::to_owned);
                attempt.admitted = Some((decision.clone(), username));
                Ok(Try::Done(decision))
            }
        }
    }

    /// The answer to an attempt that finds `in_flight_queue` attempts
    /// waiting on `key` already: refused at once, as locked out if it is,
    /// else as busy.
    async fn queue_full(
        &self,
        login: &LoginAttempt<'_>,
        prepared: &Prepared,
        key: &LockoutKey,
    ) -> Result<Decision, AxesError> {
        let client = login.client();
        let (decision, live) = self.evaluate(login, prepared).await?;
        if decision.lockout().is_some() {
            return self.settled(login, prepared, decision).await;
        }
        let index = prepared.keys.iter().position(|k| k == key);
        let failures = index.and_then(|i| live.get(i)).copied().unwrap_or(0);
        Ok(self.busy(client, prepared, key, failures))
    }

    /// The refusal of an attempt that found no slot in time, or no place in
    /// the queue: not a lockout, and `Retry-After` is the expected wait.
    fn busy(
        &self,
        client: &ClientInfo,
        prepared: &Prepared,
        key: &LockoutKey,
        failures: u64,
    ) -> Decision {
        let rules = prepared.rules(self.config());
        let queued = self.gates.waiting(key) as u64;
        let limit = u64::from(rules.failure_limit).max(1);
        let wait = self.expected_hold() * u32::try_from(queued / limit + 1).unwrap_or(u32::MAX);
        let wait = wait.max(Duration::from_secs(1));
        let lockout = Lockout {
            reason: LockoutReason::TooManyInFlight,
            failures,
            failure_limit: rules.failure_limit,
            locked_until: self.now().checked_add(wait),
            cooloff: None,
            username: client.username().map(str::to_owned),
        };
        Decision::LockedOut(lockout)
    }

    /// A decision made final: a refusal for failures is recorded as a
    /// failure with `reset_cool_off_on_failure_during_lockout = true`
    /// (django-axes' backend flow), so the cool-off restarts and tiers
    /// escalate: the lockout returned is the new one.
    pub(crate) async fn settled(
        &self,
        login: &LoginAttempt<'_>,
        prepared: &Prepared,
        decision: Decision,
    ) -> Result<Decision, AxesError> {
        match decision {
            Decision::LockedOut(lockout)
                if lockout.reason == LockoutReason::TooManyFailures
                    && self.config().reset_cool_off_on_failure_during_lockout
                        == DuringLockout::RecordAll =>
            {
                let outcome = self.failed(login, prepared, None).await?;
                Ok(Decision::LockedOut(outcome.lockout.unwrap_or(lockout)))
            }
            decision => Ok(decision),
        }
    }

    /// Notes how long an attempt held its slots, for the expected wait.
    pub(crate) fn note_hold(&self, held: Duration) {
        let sample = u64::try_from(held.as_micros()).unwrap_or(u64::MAX);
        let average = &self.hold_micros;
        let old = average.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            old - old / 8 + sample / 8
        };
        average.store(new, Ordering::Relaxed);
    }

    /// How long an attempt holds its slots, on average lately.
    fn expected_hold(&self) -> Duration {
        Duration::from_micros(self.hold_micros.load(Ordering::Relaxed))
    }

    /// Forgets the slots this process holds under the keys `matches` picks
    /// (a reset), and the lockouts it cached.
    pub(crate) fn clear_slots(&self, matches: impl Fn(&LockoutKey) -> bool) {
        self.locks.clear();
        let idle = self.gates.clear(matches);
        if let Some(keeper) = self.keeper() {
            keeper.give_back(idle.into_iter().map(|(key, id)| Slot { key, id }).collect());
        }
    }
}
