//! The engine: [`Axes`], a small handle on what every attempt shares (the
//! policy, the store, the clock, the event stream), begins each login as
//! an [`Attempt`] — a value prepared once, admitted, reported, finished —
//! and serves the operator (resets, listings, lockouts, unlock tokens).
//! An attempt goes through named steps, each in a module of its own:
//!
//! | step | module | what it does |
//! |---|---|---|
//! | prepare | `prepare` | the attempt as counted: its listing, its counted form, the rules in force, its lockout keys |
//! | check, admit | `check`, `admission` | one read of its counters and the decision; a slot in flight per key, waiting its turn |
//! | record a failure | `failure` | one atomic write, then escalation, events and the failure log |
//! | record a success | `success` | the access log entry, the slots given back, the trusted-device token |
//! | pass a challenge | `challenge` | a pass on each key, buying `challenge_attempts` |
//! | reset | `reset` | records deleted, counters taken off, slots cleared |
//! | unlock | `unlock` | a sealed token issued, redeemed once: the username's lockouts lifted |
//!
//! [`Attempt`] (in `attempt`) strings the steps together and makes every
//! decision on an attempt; [`Decision`], [`Report`] and [`Verdict`] (in
//! `decision`) are what it is told and tells. The engine depends on the
//! identity, the configuration, the policy and the store contract, and on
//! nothing of HTTP but the request's types (`http`); the layer and the admin
//! ([`crate::layer`], [`crate::admin`]) sit on top of it.

mod activity;
mod admission;
mod attempt;
mod axes;
mod background;
mod breaker;
mod builder;
mod challenge;
mod check;
mod decision;
mod erase;
mod error;
mod events;
mod failure;
mod flight;
mod hooks;
mod in_flight;
mod keeper;
mod lock_cache;
mod lockouts;
mod operator;
mod prepare;
mod reset;
mod second_factor;
mod state;
mod success;
mod unlock;

pub use activity::{Activity, ActivityCount, RecentLockout, RECENT_LOCKOUTS};
pub use attempt::Attempt;
pub use axes::Axes;
pub use builder::AxesBuilder;
pub use decision::{Answer, Decision, FailureOutcome, Outcome, Report, Verdict};
pub use erase::Erased;
pub use error::AxesError;
pub use events::{AxesEvent, DEFAULT_EVENT_CAPACITY};
pub(crate) use flight::Headroom;
pub use hooks::{
    ClientIpCallable, CooloffCallable, FailureLimitCallable, LockoutParametersCallable,
    UsernameCallable, WhitelistCallable,
};
pub use lockouts::CurrentLockout;
pub(crate) use prepare::show_given;
pub use unlock::UnlockError;
