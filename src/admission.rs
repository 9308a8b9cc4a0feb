//! Admission before dispatch: the lockout check, then one more attempt in
//! flight, so concurrent attempts count toward the limit.
//!
//! django-axes checks, lets the application verify the password, and only
//! then records the failure: every request that passed the check before the
//! first failure was stored gets a guess (its known issue #592). With
//! `bound_in_flight` (the default) each admitted attempt holds a slot per
//! lockout key until it is recorded or released, and an attempt is admitted
//! only while failures and slots together stay within the limit.

use std::time::Duration;

use crate::axes::{Axes, AxesError, Decision, Prepared};
use crate::client::{ClientInfo, LockoutKey};
use crate::policy::{Listing, Lockout, LockoutReason};
use crate::store::StoreError;

/// How long an attempt's slot is held at most, should its process die
/// before releasing it.
pub const IN_FLIGHT_TTL: Duration = Duration::from_secs(300);

/// What admission decided, and the slots the attempt holds.
#[derive(Debug)]
#[must_use = "release the held slots with `Admission::release` once the attempt is recorded"]
pub struct Admission {
    decision: Decision,
    held: Option<Held>,
}

#[derive(Debug)]
struct Held {
    axes: Axes,
    keys: Vec<LockoutKey>,
}

impl Admission {
    /// The decision.
    pub fn decision(&self) -> &Decision {
        &self.decision
    }

    /// Gives the attempt's slots back. Call it after the outcome is
    /// recorded; dropping the admission releases them in the background.
    pub async fn release(mut self) {
        if let Some(held) = self.held.take() {
            held.release().await;
        }
    }
}

impl Held {
    async fn release(self) {
        if let Err(error) = self.axes.store().release_in_flight(&self.keys).await {
            tracing::warn!(target: "axes", %error, "releasing attempts in flight failed; they expire on their own");
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Some(held) = self.held.take() {
            // The request was dropped (the client went away): release anyway.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(held.release());
            }
        }
    }
}

impl Axes {
    /// Decides whether `client` may attempt a login now, counting attempts
    /// in flight toward the limit (with `bound_in_flight`). An admitted
    /// attempt holds its slots until [`Admission::release`]. A refused
    /// attempt is recorded as a failure when
    /// `reset_cool_off_on_failure_during_lockout = true`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), axes::AxesError> {
    /// use axes::{Axes, AxesConfig, ClientInfo, Decision, MemoryStore};
    /// let axes = Axes::new(AxesConfig::builder().failure_limit(2).build().unwrap(), MemoryStore::new());
    /// let client = ClientInfo::new("192.0.2.1".parse().unwrap());
    /// let first = axes.admit(&client).await?;
    /// let second = axes.admit(&client).await?;
    /// let third = axes.admit(&client).await?;
    /// assert!(matches!(first.decision(), Decision::Allowed { .. }));
    /// assert!(matches!(second.decision(), Decision::Allowed { .. }));
    /// assert!(third.decision().lockout().is_some(), "two are in flight already");
    /// first.release().await;
    /// # second.release().await; third.release().await;
    /// # Ok(()) }
    /// ```
    pub async fn admit(&self, client: &ClientInfo) -> Result<Admission, AxesError> {
        // The slot is taken before the counters are read: an attempt that
        // finished meanwhile recorded its failure before giving its slot
        // back, so every earlier attempt is seen as a slot or a failure.
        let prepared = self.prepare(client, None);
        let held = if self.config().bound_in_flight {
            self.hold(&prepared).await?
        } else {
            None
        };
        let (decision, failures) = match self.evaluate(&prepared).await {
            Ok(evaluated) => evaluated,
            Err(error) => {
                if let Some((held, _)) = held {
                    held.release().await;
                }
                return Err(error);
            }
        };
        let decision = match decision {
            Decision::LockedOut(lockout) => {
                if let Some((held, _)) = held {
                    held.release().await;
                }
                return Ok(Admission {
                    decision: Decision::LockedOut(self.refused(client, lockout).await?),
                    held: None,
                });
            }
            decision => decision,
        };
        let Some((held, in_flight)) = held else {
            return Ok(Admission {
                decision,
                held: None,
            });
        };
        if !matches!(decision, Decision::Allowed { .. }) {
            held.release().await;
            return Ok(Admission {
                decision,
                held: None,
            });
        }
        let rules = &prepared.rules;
        let limit = u64::from(rules.failure_limit);
        // A key already at the limit that did not lock the client (a
        // trusted client's username) does not bound it either.
        let busiest = failures
            .iter()
            .zip(&in_flight)
            .filter(|(failures, _)| **failures < limit)
            .map(|(failures, in_flight)| failures + in_flight)
            .max()
            .unwrap_or(0);
        if busiest <= limit {
            return Ok(Admission {
                decision,
                held: Some(held),
            });
        }
        held.release().await;
        Ok(Admission {
            decision: Decision::LockedOut(Lockout {
                reason: LockoutReason::TooManyInFlight,
                failures: busiest - 1,
                failure_limit: rules.failure_limit,
                locked_until: None,
                cooloff: rules.cooloff_for(busiest - 1),
                username: client.username().map(str::to_owned),
            }),
            held: None,
        })
    }

    /// The lockout of an attempt refused before dispatch. With
    /// `reset_cool_off_on_failure_during_lockout = true` the refused attempt
    /// is recorded as a failure (django-axes' backend flow), so the cool-off
    /// restarts and tiers escalate: the lockout returned is the new one.
    async fn refused(&self, client: &ClientInfo, lockout: Lockout) -> Result<Lockout, AxesError> {
        if lockout.reason != LockoutReason::TooManyFailures
            || self.config().reset_cool_off_on_failure_during_lockout != Some(true)
        {
            return Ok(lockout);
        }
        let outcome = self.login_failed(client).await?;
        Ok(outcome.lockout.unwrap_or(lockout))
    }

    /// Takes one slot per lockout key of a counted client; `None` when
    /// nothing is to be bounded (exempt, no key, no lockout, or a store that
    /// cannot track attempts in flight).
    async fn hold(
        &self,
        prepared: &Prepared<'_, '_>,
    ) -> Result<Option<(Held, Vec<u64>)>, AxesError> {
        let keys = &prepared.keys;
        if prepared.listing != Listing::Counted
            || keys.is_empty()
            || !prepared.rules.lock_out_at_failure
        {
            return Ok(None);
        }
        match self
            .store()
            .acquire_in_flight(keys, self.now(), IN_FLIGHT_TTL)
            .await
        {
            Ok(in_flight) => Ok(Some((
                Held {
                    axes: self.clone(),
                    keys: keys.clone(),
                },
                in_flight,
            ))),
            Err(StoreError::Unsupported(_)) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }
}
