//! Attempts in flight shared by app servers: the [`SharedSlots`]
//! capability, what it is given ([`Slot`], [`Slots`], [`SlotRequest`]) and
//! what it answers ([`Admitted`]); and what a store tells its subscribers
//! ([`StoreEvent`]).

use std::time::Duration;

use async_trait::async_trait;

use super::error::StoreError;
use super::records::AccessLog;
use crate::identity::LockoutKey;
use crate::policy::Counter;

/// Attempts in flight shared by every app server using a store: the
/// capability [`Store::shared_slots`](super::Store::shared_slots) answers.
///
/// A slot is (key, owner, id): one attempt of one app server (the owner,
/// an engine's random id) under one lockout key. A slot counts while its
/// owner's lease holds: the owner renews it while it holds any slot, so a
/// killed server's slots lapse one lease after its last renewal. Every
/// operation is atomic with respect to the others on the same keys, and
/// giving back a slot that is not held (again, after a reset, after a
/// sweep) does nothing.
///
/// Giving back a slot under a key another app server waits on
/// ([`wait_for`](Self::wait_for)) sends [`StoreEvent::SlotsFreed`] to every
/// subscriber, so waiters are woken rather than poll; and an admission
/// says which keys another server waits on ([`Admitted::waited`]), so a
/// server hands no slot to its own waiters while others wait.
#[async_trait]
pub trait SharedSlots: Send + Sync {
    /// One admission, in one round trip: reads the counters of `read` (as
    /// [`Store::counters`](super::Store::counters)), takes the slots of [`SlotRequest::take`],
    /// then counts the live slots under each key of
    /// [`SlotRequest::count`], this request's included.
    async fn admit(
        &self,
        read: &[LockoutKey],
        request: SlotRequest<'_>,
    ) -> Result<Admitted, StoreError>;

    /// Gives back `slots`, and tells those waiting on their keys.
    async fn release(&self, slots: Slots<'_>) -> Result<(), StoreError>;

    /// Renews `owner`'s lease for `lease`.
    async fn renew(&self, owner: &str, lease: Duration) -> Result<(), StoreError>;

    /// Deletes every slot of `owner` whose id is at most `upto` and not in
    /// `keep`: slots a dropped call may have taken after its attempt was
    /// gone. Returns how many there were.
    async fn sweep(&self, owner: &str, keep: &[u64], upto: u64) -> Result<u64, StoreError>;

    /// Records a successful login in one round trip: gives back `slots`
    /// and adds `login` to the access log (when one is given and the store
    /// keeps one).
    async fn record_success(
        &self,
        slots: Slots<'_>,
        login: Option<&AccessLog>,
    ) -> Result<(), StoreError>;

    /// Marks `keys` as waited on by `owner` for `ttl`, and sends
    /// [`StoreEvent::Waiting`]: a slot another owner gives back under one
    /// of them sends [`StoreEvent::SlotsFreed`], and their admissions
    /// answer [`Admitted::waited`].
    async fn wait_for(
        &self,
        owner: &str,
        keys: &[LockoutKey],
        ttl: Duration,
    ) -> Result<(), StoreError>;
}

/// What a store tells its subscribers ([`Store::subscribe`](super::Store::subscribe)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreEvent {
    /// Slots were given back under the keys with these
    /// [`wake tags`](LockoutKey::wake_tag).
    SlotsFreed(Vec<u64>),
    /// The app server `owner` waits for a slot under the keys with these
    /// wake tags ([`SharedSlots::wait_for`]).
    Waiting {
        /// The app server (engine) waiting.
        owner: String,
        /// The keys' wake tags.
        tags: Vec<u64>,
    },
    /// Counters were reset or deleted (a reset, an unlock): lockouts
    /// cached from them may be lifted.
    Reset,
    /// Notifications may have been lost (the channel reconnected): anything
    /// may have changed.
    Missed,
}

/// One slot in flight: an attempt's place under one lockout key, by an id
/// unique among its owner's slots.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slot {
    /// The key it is held under.
    pub key: LockoutKey,
    /// Its id, unique among the owner's slots.
    pub id: u64,
}

/// Slots of one owner, to give back.
#[derive(Debug, Clone, Copy)]
pub struct Slots<'a> {
    /// The app server (engine) holding them.
    pub owner: &'a str,
    /// The slots.
    pub slots: &'a [Slot],
}

impl<'a> Slots<'a> {
    /// `slots` of `owner`.
    pub fn new(owner: &'a str, slots: &'a [Slot]) -> Self {
        Self { owner, slots }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// What an admission asks of a store that shares attempts in flight.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct SlotRequest<'a> {
    /// The app server (engine) taking them.
    pub owner: &'a str,
    /// The slots to take.
    pub take: &'a [Slot],
    /// The keys whose live slots to count.
    pub count: &'a [LockoutKey],
    /// How long the owner's slots outlive its last renewal of its lease
    /// (see [`AxesConfig::in_flight_lease`](crate::AxesConfig::in_flight_lease)).
    pub lease: Duration,
}

impl<'a> SlotRequest<'a> {
    /// A request of `owner` to take `take` and count the slots under `count`.
    pub fn new(owner: &'a str, take: &'a [Slot], count: &'a [LockoutKey], lease: Duration) -> Self {
        Self {
            owner,
            take,
            count,
            lease,
        }
    }
}

/// What an admission read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Admitted {
    /// The counters, in the order of the keys read.
    pub counters: Vec<Option<Counter>>,
    /// The live slots under each key counted, by every app server (this
    /// request's included).
    pub holders: Vec<u64>,
    /// Whether another owner waits for a slot under each key counted
    /// ([`SharedSlots::wait_for`]).
    pub waited: Vec<bool>,
}

impl Admitted {
    /// What a store read: `counters`, the `holders` of each key counted,
    /// and whether another owner waits on it.
    pub fn new(counters: Vec<Option<Counter>>, holders: Vec<u64>, waited: Vec<bool>) -> Self {
        Self {
            counters,
            holders,
            waited,
        }
    }
}
