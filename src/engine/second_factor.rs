//! A second factor with a budget of its own. Once the password was right
//! ([`Report::second_factor_pending`](crate::Report::second_factor_pending):
//! nothing is reset, since NIST SP 800-63B counts a login as successful only
//! when every factor passed), the second factor's failures count under the
//! username alone — an attacker who holds the password can change
//! addresses, not accounts — against `second_factor_failure_limit`. At the
//! limit the username is locked out of its second factor until a reset or
//! an unlock (or, with `second_factor_cooloff`, for that long), as
//! Keycloak's `maxSecondaryAuthFailures` does; a locked username gets the
//! same refusal whatever code it sends. A passed second factor is the
//! login's success, and forgets the count.

use super::decision::{Answer, FailureOutcome, Verdict};
use super::error::AxesError;
use super::events::AxesEvent;
use super::lockouts::CurrentLockout;
use super::state::Engine;
use crate::identity::{ClientInfo, LockoutKey};
use crate::policy::{Counter, Lockout, LockoutReason, Window};
use crate::store::{AccessAttempt, FailureRecord};

impl Engine {
    /// The second factor's failure limit, if the budget is on.
    fn second_factor_limit(&self) -> Option<u32> {
        Some(self.config().second_factor_failure_limit).filter(|limit| *limit > 0)
    }

    /// The lockout of `username` at its second factor, if it is locked.
    pub(crate) async fn second_factor_lockout(
        &self,
        username: &str,
    ) -> Result<Option<Lockout>, AxesError> {
        let found = self
            .second_factor_lockouts(vec![username.to_owned()])
            .await?;
        Ok(found.into_iter().next().map(|locked| locked.lockout))
    }

    /// The second-factor lockouts of `usernames` (one read for them all),
    /// as the operator's listings show them: a record of the username
    /// alone, dated by its last failure.
    pub(crate) async fn second_factor_lockouts(
        &self,
        usernames: Vec<String>,
    ) -> Result<Vec<CurrentLockout>, AxesError> {
        let Some(limit) = self.second_factor_limit().filter(|_| !usernames.is_empty()) else {
            return Ok(Vec::new());
        };
        let keys: Vec<LockoutKey> = usernames
            .iter()
            .map(|username| LockoutKey::second_factor(username))
            .collect();
        let counters = self.timed_store().counters(&keys).await?;
        let mut found = Vec::new();
        for (username, counter) in usernames.into_iter().zip(counters) {
            let Some(counter) = counter else {
                continue;
            };
            let Some(lockout) = self.second_factor_locked(&username, &counter, limit) else {
                continue;
            };
            let attempt = AccessAttempt {
                username: Some(username),
                ip_address: None,
                user_agent: String::new(),
                path_info: String::new(),
                http_accept: String::new(),
                get_data: String::new(),
                post_data: String::new(),
                failures: lockout.failures,
                attempt_time: counter.last_failure,
            };
            found.push(CurrentLockout { attempt, lockout });
        }
        Ok(found)
    }

    /// The lockout `counter` puts `username` under, if it reached `limit`
    /// and its cool-off (if any) has not passed.
    fn second_factor_locked(
        &self,
        username: &str,
        counter: &Counter,
        limit: u32,
    ) -> Option<Lockout> {
        if counter.failures < u64::from(limit) {
            return None;
        }
        let cooloff = self.config().second_factor_cooloff;
        let locked_until = cooloff.map(|cooloff| counter.last_failure + cooloff);
        if locked_until.is_some_and(|until| until <= self.now()) {
            return None;
        }
        Some(Lockout {
            reason: LockoutReason::SecondFactor,
            failures: counter.failures,
            failure_limit: limit,
            locked_until,
            cooloff,
            username: Some(username.to_owned()),
        })
    }

    /// A failed second factor of `username` by `client`: refused, recording
    /// nothing, when the username is locked out of it already; else counted,
    /// and refused when this failure reached the limit.
    pub(crate) async fn second_factor_failed(
        &self,
        client: &ClientInfo,
        username: &str,
    ) -> Result<Verdict, AxesError> {
        let Some(limit) = self.second_factor_limit() else {
            return Ok(Verdict::proceed());
        };
        if let Some(lockout) = self.second_factor_lockout(username).await? {
            self.note_refusal(client, &lockout);
            return Ok(Verdict::of(Answer::Refused(lockout)));
        }
        let key = [LockoutKey::second_factor(username)];
        let cooloff = self.config().second_factor_cooloff;
        let window = cooloff.map_or_else(Window::forever, Window::fixed);
        let now = self.now();
        let record = FailureRecord::new(&key, client, now, &window)
            .counters_only()
            .locking(u64::from(limit), cooloff);
        let counter = self.timed_store().record_failure(record).await?.pop();
        let failures = counter.as_ref().map_or(1, |counter| counter.failures);
        let lockout = counter
            .as_ref()
            .and_then(|counter| self.second_factor_locked(username, counter, limit));
        self.announce_second_factor(client, username, failures, lockout.as_ref());
        Ok(Verdict {
            answer: lockout.clone().map_or(Answer::Proceed, Answer::Refused),
            failure: Some(FailureOutcome {
                recorded: true,
                failures,
                lockout,
                attempts_left: Some(u64::from(limit).saturating_sub(failures)),
                challenge_required: false,
            }),
            device_token: None,
        })
    }

    /// Tells of a failed second factor: a debug line, the event, and when
    /// it locked the username out, a warning and [`AxesEvent::LockedOut`].
    fn announce_second_factor(
        &self,
        client: &ClientInfo,
        username: &str,
        failures: u64,
        lockout: Option<&Lockout>,
    ) {
        let now = self.now();
        let began = lockout.filter(|lockout| lockout.failures == u64::from(lockout.failure_limit));
        self.activity.failure(now, client.ip_address(), began);
        tracing::debug!(target: "axes", ip = %self.logged_ip(client.ip_address()), username = %self.logged_name(Some(username)), failures, "second factor failed");
        // With `private_usernames`, the events name the username given.
        let told = match client.username() {
            Some(given) if self.config().private_usernames => given,
            _ => username,
        };
        self.emit(|| AxesEvent::SecondFactorFailed {
            username: told.to_owned(),
            client: client.clone(),
            failures,
            at: now,
        });
        let Some(lockout) = began else {
            return;
        };
        tracing::warn!(target: "axes", ip = %self.logged_ip(client.ip_address()), username = %self.logged_name(Some(username)), failures, "locked out of the second factor");
        #[cfg(feature = "metrics")]
        crate::metrics::lockout(lockout.reason);
        self.emit(|| AxesEvent::LockedOut {
            username: Some(told.to_owned()),
            ip_address: client.ip_address(),
            client: client.clone(),
            lockout: self.told_lockout(lockout.clone(), client.username()),
            at: now,
        });
    }

    /// A passed second factor of `username`: its count forgotten.
    pub(crate) async fn second_factor_passed(&self, username: &str) -> Result<(), AxesError> {
        if self.second_factor_limit().is_some() {
            let key = [LockoutKey::second_factor(username)];
            self.timed_store().delete_counters(&key).await?;
        }
        Ok(())
    }
}
