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
//! attempts already wait on the key. Slots are given back
//! on every path (recorded, refused, the client gone, the handler
//! panicking): a [`Flight`] gives them back when dropped.
//!
//! On a store that shares attempts in flight (PostgreSQL, Redis), a slot
//! freed by another app server is noticed by the first attempt in line,
//! which asks the store again after a back-off (10 ms, doubling, at most
//! 200 ms): the cost of not polling in a tight loop is up to 200 ms more
//! wait behind another server's attempts.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::in_flight::Ticket;
use super::prepare::{Prepared, ReadKeys};
use super::{Axes, AxesError, Decision, Flight, Headroom};
use crate::config::DuringLockout;
use crate::identity::{ClientInfo, LockoutKey, LoginAttempt};
use crate::policy::{Listing, Lockout, LockoutReason};
use crate::store::{SlotRequest, Slots};

/// The first back-off of a waiting attempt on a shared store.
const FIRST_BACKOFF: Duration = Duration::from_millis(10);

/// The longest back-off of a waiting attempt on a shared store.
const MAX_BACKOFF: Duration = Duration::from_millis(200);

/// What admission decided, and the slots the attempt holds.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), axes::AxesError> {
/// use std::time::Duration;
/// use axes::{Axes, AxesConfig, ClientInfo, Decision, LockoutReason, MemoryStore};
/// let config = AxesConfig::builder()
///     .failure_limit(2)
///     .in_flight_wait(Duration::from_millis(50))
///     .build()
///     .unwrap();
/// let axes = Axes::new(config, MemoryStore::new());
/// let client = ClientInfo::new("192.0.2.1".parse().unwrap());
/// let first = axes.admit(&client).await?;
/// let second = axes.admit(&client).await?;
/// assert!(matches!(first.decision(), Decision::Allowed { .. }));
/// assert!(matches!(second.decision(), Decision::Allowed { .. }));
/// // A third waits for one of them; none finishes in time here.
/// let third = axes.admit(&client).await?;
/// assert_eq!(third.decision().lockout().unwrap().reason, LockoutReason::TooManyInFlight);
/// first.release().await;
/// let fourth = axes.admit(&client).await?;
/// assert!(matches!(fourth.decision(), Decision::Allowed { .. }), "the first one's slot");
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "release the held slots with `Admission::release` once the attempt is recorded"]
pub struct Admission {
    decision: Decision,
    flight: Flight,
}

impl Admission {
    /// The decision.
    pub fn decision(&self) -> &Decision {
        &self.decision
    }

    /// Gives the attempt's slots back. Call it after the outcome is
    /// recorded; dropping the admission gives them back too.
    pub async fn release(mut self) {
        self.flight.release().await;
    }
}

/// What one try at admission found.
enum Try {
    /// Decided: admitted (holding its slots) or refused.
    Done(Decision),
    /// Over the bound on this key: wait for a turn.
    Busy { key: LockoutKey, failures: u64 },
}

impl Axes {
    /// Decides whether `client` may attempt a login now, counting attempts
    /// in flight toward the limit (with `bound_in_flight`): an attempt
    /// beyond the bound waits its turn. An admitted attempt holds its slots
    /// until [`Admission::release`]. A refused attempt is recorded as a
    /// failure when `reset_cool_off_on_failure_during_lockout = true`.
    pub async fn admit(&self, client: &ClientInfo) -> Result<Admission, AxesError> {
        self.admit_attempt(&LoginAttempt::new(client)).await
    }

    /// [`admit`](Self::admit) for an attempt with its request, as the
    /// callables see it.
    pub async fn admit_attempt(&self, attempt: &LoginAttempt<'_>) -> Result<Admission, AxesError> {
        let mut flight = self.flight();
        let decision = self.admit_in(&mut flight, attempt).await?;
        Ok(Admission { decision, flight })
    }

    /// How many attempts hold a slot under `key` now: on a store that
    /// shares attempts in flight, those of every app server using it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), axes::AxesError> {
    /// use axes::{Axes, AxesConfig, ClientInfo, LockoutGroup, LockoutParameter, MemoryStore};
    /// let axes = Axes::new(AxesConfig::default(), MemoryStore::new());
    /// let client = ClientInfo::new("192.0.2.1".parse().unwrap());
    /// let key = client.lockout_key(&LockoutGroup::single(LockoutParameter::IpAddress)).unwrap();
    /// let admission = axes.admit(&client).await?;
    /// assert_eq!(axes.in_flight(&key).await?, 1);
    /// admission.release().await;
    /// assert_eq!(axes.in_flight(&key).await?, 0);
    /// # Ok(()) }
    /// ```
    pub async fn in_flight(&self, key: &LockoutKey) -> Result<u64, AxesError> {
        if !self.timed_store().shares_in_flight() {
            return Ok(self.inner.gates.held(key));
        }
        let slots = Slots {
            keys: std::slice::from_ref(key),
            id: 0,
        };
        let request = SlotRequest::new(slots, false, self.config().in_flight_lease);
        let admitted = self.timed_store().admit(&[], Some(request)).await?;
        Ok(admitted
            .holders
            .and_then(|holders| holders.first().copied())
            .unwrap_or(0))
    }

    /// Whether every lockout key of `attempt` was checked for `flight`.
    pub(crate) fn checked_in(&self, flight: &Flight, attempt: &LoginAttempt<'_>) -> bool {
        flight.checked(&self.prepare(attempt).keys)
    }

    /// Admits `client` as part of `attempt`: the keys the attempt already
    /// holds are not taken again, the others are (waiting for a turn when
    /// the bound is reached). Every key of the client is checked.
    pub(crate) async fn admit_in(
        &self,
        attempt: &mut Flight,
        login: &LoginAttempt<'_>,
    ) -> Result<Decision, AxesError> {
        let prepared = self.prepare(login);
        let decision = self.admit_prepared(attempt, login, &prepared).await?;
        if prepared.listing == Listing::Counted && !prepared.keys.is_empty() {
            let rules = &prepared.rules;
            attempt.headroom = Some(Headroom {
                attempts_left: rules
                    .attempts_left(decision.failures(), decision.lockout().is_some()),
                failure_limit: rules.failure_limit,
                cooloff: rules.cooloff,
                challenge: decision.challenge_required(),
            });
        }
        Ok(decision)
    }

    /// [`admit_in`](Self::admit_in) for the attempt as prepared.
    async fn admit_prepared(
        &self,
        attempt: &mut Flight,
        login: &LoginAttempt<'_>,
        prepared: &Prepared<'_, '_>,
    ) -> Result<Decision, AxesError> {
        let client = login.client();
        for key in &prepared.keys {
            if !attempt.checked.contains(key) {
                attempt.checked.push(key.clone());
            }
        }
        let config = self.config();
        let bounded = config.bound_in_flight
            && prepared.listing == Listing::Counted
            && prepared.rules.lock_out_at_failure;
        let new: Vec<LockoutKey> = if bounded {
            prepared
                .keys
                .iter()
                .filter(|key| !attempt.held.contains(key))
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
            let (decision, _) = self.evaluate(prepared).await?;
            return self.settled(login, decision).await;
        }

        let gates = &self.inner.gates;
        // A key found locked lately is read before a slot is taken: a
        // locked client's flood costs one read per attempt.
        if gates.recently_locked(&prepared.keys, self.now()) {
            let (decision, _) = self.evaluate(prepared).await?;
            if decision.lockout().is_some() {
                return self.settled(login, decision).await;
            }
        }
        let deadline = Instant::now() + config.in_flight_wait;
        let mut backoff = FIRST_BACKOFF;
        // First come, first served: behind those already waiting.
        let mut ticket: Option<Ticket> = match gates.queued(&new) {
            Some(key) => match gates.join(key, config.in_flight_queue) {
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
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    let key = waiting.key().clone();
                    return Ok(self.busy(client, prepared, &key, failures));
                }
                // Only the first in line asks a shared store again on its
                // own: the others are woken in turn.
                let poll = attempt.shared && gates.waiting_ahead(waiting) == 0;
                let wait = if poll { left.min(backoff) } else { left };
                if !waiting.wait(wait).await && poll {
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
            try_first = false;
            match self
                .try_admit(attempt, prepared, &new, ticket.as_ref())
                .await?
            {
                Try::Done(decision) => {
                    if let Some(ticket) = ticket {
                        ticket.pass_on();
                    }
                    return self.settled(login, decision).await;
                }
                Try::Busy { key, failures: f } => {
                    failures = f;
                    if ticket.as_ref().is_none_or(|t| *t.key() != key) {
                        // Waiting on another key now: this one's turn goes on.
                        if let Some(previous) = ticket.take() {
                            previous.pass_on();
                        }
                        match gates.join(&key, config.in_flight_queue) {
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

    /// One try: take a slot under each of `new`, read the counters (one
    /// store round trip), and decide; over the bound, give the slots back.
    async fn try_admit(
        &self,
        attempt: &mut Flight,
        prepared: &Prepared<'_, '_>,
        new: &[LockoutKey],
        ticket: Option<&Ticket>,
    ) -> Result<Try, AxesError> {
        let read = ReadKeys::of(self, prepared);
        let store = self.timed_store();
        // This process's slots are taken before the counters are read: an
        // attempt that finished meanwhile recorded its failure before giving
        // its slot back, so every earlier attempt is seen as one or the other.
        let local = (!attempt.shared).then(|| self.inner.gates.take(new));
        let slots = attempt.shared.then(|| {
            SlotRequest::new(
                Slots {
                    keys: new,
                    id: attempt.id,
                },
                true,
                self.config().in_flight_lease,
            )
        });
        let admitted = match store.admit(&read.all, slots).await {
            Ok(admitted) => admitted,
            Err(error) => {
                self.give_back_try(attempt, new, ticket).await;
                return Err(error.into());
            }
        };
        let holders = match (local, admitted.holders) {
            (Some(local), _) => local,
            (None, Some(shared)) => shared,
            (None, None) => vec![1; new.len()],
        };
        let decided = self.decide(prepared, &read, admitted.counters).await;
        let (decision, live) = match decided {
            Ok(decided) => decided,
            Err(error) => {
                self.give_back_try(attempt, new, ticket).await;
                return Err(error);
            }
        };
        if !matches!(
            decision,
            Decision::Allowed { .. } | Decision::ChallengeRequired { .. }
        ) {
            if let Decision::LockedOut(lockout) = &decision {
                // Until it ends, or a minute for one that does not.
                let minute = self.now() + Duration::from_secs(60);
                let until = lockout.locked_until.unwrap_or(minute).min(minute);
                self.note_locked(&prepared.keys, until);
            }
            self.give_back_try(attempt, new, ticket).await;
            return Ok(Try::Done(decision));
        }
        // The first new key whose failures and slots together pass the
        // limit (always the same one while it does, so a waiter does not
        // hop between queues); a key already at the limit that did not lock
        // the client (a trusted client's username) does not bound it.
        let limit = u64::from(prepared.rules.failure_limit);
        let blocking = new.iter().zip(&holders).find_map(|(key, holders)| {
            let index = prepared.keys.iter().position(|k| k == key)?;
            let failures = live.get(index).copied().unwrap_or(0);
            (failures < limit && failures + holders > limit).then_some((key, failures))
        });
        match blocking {
            Some((key, failures)) => {
                let key = key.clone();
                self.give_back_try(attempt, new, ticket).await;
                Ok(Try::Busy { key, failures })
            }
            _ => {
                attempt.held.extend_from_slice(new);
                attempt.since.get_or_insert_with(Instant::now);
                let username = prepared.client.username().map(str::to_owned);
                attempt.admitted = Some((decision.clone(), username));
                Ok(Try::Done(decision))
            }
        }
    }

    /// Gives back the slots one try took under `new`; the attempt first in
    /// line (unless that is this one) tries again, for the slots may have
    /// kept it out.
    async fn give_back_try(&self, attempt: &Flight, new: &[LockoutKey], ticket: Option<&Ticket>) {
        if attempt.shared {
            let slots = Slots {
                keys: new,
                id: attempt.id,
            };
            if let Err(error) = self.timed_store().release(slots).await {
                tracing::debug!(target: "axes", %error, "giving back slots in flight failed; the store tries again");
            }
            self.inner.gates.wake(new, ticket);
        } else {
            self.inner.gates.give_back(new, ticket);
        }
    }

    /// The answer to an attempt that finds `in_flight_queue` attempts
    /// waiting on `key` already: refused at once, as locked out if it is,
    /// else as busy.
    async fn queue_full(
        &self,
        login: &LoginAttempt<'_>,
        prepared: &Prepared<'_, '_>,
        key: &LockoutKey,
    ) -> Result<Decision, AxesError> {
        let client = login.client();
        let (decision, live) = self.evaluate(prepared).await?;
        if decision.lockout().is_some() {
            return self.settled(login, decision).await;
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
        prepared: &Prepared<'_, '_>,
        key: &LockoutKey,
        failures: u64,
    ) -> Decision {
        let rules = &prepared.rules;
        let queued = self.inner.gates.waiting(key) as u64;
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
    async fn settled(
        &self,
        login: &LoginAttempt<'_>,
        decision: Decision,
    ) -> Result<Decision, AxesError> {
        match decision {
            Decision::LockedOut(lockout)
                if lockout.reason == LockoutReason::TooManyFailures
                    && self.config().reset_cool_off_on_failure_during_lockout
                        == DuringLockout::RecordAll =>
            {
                let outcome = self.login_failed_attempt(login).await?;
                Ok(Decision::LockedOut(outcome.lockout.unwrap_or(lockout)))
            }
            decision => Ok(decision),
        }
    }

    /// Notes how long an attempt held its slots, for the expected wait.
    pub(crate) fn note_hold(&self, held: Duration) {
        let sample = u64::try_from(held.as_micros()).unwrap_or(u64::MAX);
        let average = &self.inner.hold_micros;
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
        Duration::from_micros(self.inner.hold_micros.load(Ordering::Relaxed))
    }

    /// Remembers that `keys` were found locked until `until`: the next
    /// attempt on one reads before it takes a slot.
    pub(crate) fn note_locked(&self, keys: &[LockoutKey], until: std::time::SystemTime) {
        self.inner.gates.note_locked(keys, until);
    }

    /// Forgets the slots this process holds under the keys `matches` picks.
    pub(crate) fn clear_slots(&self, matches: impl Fn(&LockoutKey) -> bool) {
        self.inner.gates.clear(matches);
    }
}
