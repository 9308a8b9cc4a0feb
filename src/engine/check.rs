//! Step two: the check. One read of the attempt's counters (its keys, its
//! detectors', its lockout histories'), and what they amount to — the
//! failure counts' standing, extended by escalation and the detectors,
//! unless the client is trusted despite a username lockout.

use std::time::{Duration, SystemTime};

use super::decision::Decision;
use super::error::AxesError;
use super::prepare::{Prepared, ReadKeys};
use super::state::Engine;
use crate::identity::{ClientInfo, LockoutKey, LoginAttempt, RequestInfo};
use crate::policy::escalation::Escalation;
use crate::policy::{self, challenge, detectors, trust, Counter, Listing, Lockout, Standing};

impl Engine {
    /// The decision for `client` alone, as it is counted (no callable
    /// names its username): what the operator's listings check.
    pub(crate) async fn check(&self, client: &ClientInfo) -> Result<Decision, AxesError> {
        let login = LoginAttempt::new(client);
        let prepared = self.prepare(&login);
        Ok(self.evaluate(&login, &prepared).await?.0)
    }

    /// The decision for a prepared attempt, and the live failure count of
    /// each of its lockout keys (empty when none was read): one read, or
    /// none for a client found locked out lately.
    pub(crate) async fn evaluate(
        &self,
        login: &LoginAttempt<'_>,
        prepared: &Prepared,
    ) -> Result<(Decision, Vec<u64>), AxesError> {
        if let Some(lockout) = self.cached_lockout(prepared) {
            return Ok((Decision::LockedOut(lockout), Vec::new()));
        }
        let read = ReadKeys::of(self.config(), prepared);
        let counters = if read.is_empty() {
            Vec::new()
        } else {
            self.timed_store().counters(&read.all).await?
        };
        self.decide(login, prepared, &read, counters).await
    }

    /// The decision for a prepared attempt from the counters of `read`, and
    /// the live failure count of each of its lockout keys.
    pub(crate) async fn decide(
        &self,
        login: &LoginAttempt<'_>,
        prepared: &Prepared,
        read: &ReadKeys,
        mut counters: Vec<Option<Counter>>,
    ) -> Result<(Decision, Vec<u64>), AxesError> {
        let Prepared {
            listing,
            client,
            keys,
            ..
        } = prepared;
        let rules = &prepared.rules(self.config());
        match listing {
            Listing::Blacklisted => {
                let lockout = policy::blacklisted(rules, client);
                return Ok((Decision::LockedOut(lockout), Vec::new()));
            }
            Listing::Whitelisted => return Ok((Decision::Exempt, Vec::new())),
            Listing::Counted => {}
        }
        if keys.is_empty() {
            return Ok((Decision::Allowed { failures: 0 }, Vec::new()));
        }
        let now = self.now();
        let passes = counters.split_off(read.histories_end());
        let histories = counters.split_off(read.detectors_end());
        let detector_counters = counters.split_off(keys.len());
        let credit = challenge::credit(self.config(), rules, &passes, now);
        challenge::forgive(counters.iter_mut().flatten(), credit);
        let live = counters
            .iter()
            .map(|counter| counter.as_ref().map_or(0, |c| rules.live_failures(c, now)))
            .collect();
        let standing = policy::standing(rules, counters.iter().flatten(), now);
        let lockout = self
            .lockout_of(
                login,
                prepared,
                &counters,
                (read.histories(), &histories),
                standing,
            )
            .await?;
        self.remember_lockouts(
            prepared,
            &counters,
            (read.histories(), &histories),
            (read.detectors(), &detector_counters),
            now,
        );
        let decision = match lockout.or_else(|| {
            detectors::lockout(
                self.config(),
                rules,
                client,
                read.detectors(),
                &detector_counters,
                now,
            )
        }) {
            Some(lockout) => Decision::LockedOut(lockout),
            None if challenge::required(self.config(), standing.failures)
                && !self
                    .trusted_past_challenge(login, prepared, &counters)
                    .await? =>
            {
                Decision::ChallengeRequired {
                    failures: standing.failures,
                }
            }
            None if self.breaker_asks(client, login.request()).await? => {
                Decision::ChallengeRequired {
                    failures: standing.failures,
                }
            }
            None => Decision::Allowed {
                failures: standing.failures,
            },
        };
        Ok((decision, live))
    }

    /// The lockout a client found locked out lately is under, from memory:
    /// by its keys' failure counts, else by a detector's.
    pub(crate) fn cached_lockout(&self, prepared: &Prepared) -> Option<Lockout> {
        if !prepared.counted() {
            return None;
        }
        let locks = &self.locks;
        let now = self.now();
        let username = prepared.client.username();
        locks.lookup(&prepared.keys, now, username).or_else(|| {
            let detectors = detectors::keys(self.config(), &prepared.keys, &prepared.client);
            locks.lookup(&detectors, now, username)
        })
    }

    /// Remembers the lockout each key imposes on its own (its counter, as
    /// credited, and its history; each detector's), for the keys whose
    /// lockout is the same for every attempt naming them (see
    /// [`LockCache`](super::lock_cache::LockCache)).
    pub(crate) fn remember_lockouts(
        &self,
        prepared: &Prepared,
        counters: &[Option<Counter>],
        (history_keys, histories): (&[LockoutKey], &[Option<Counter>]),
        (detector_keys, detector_counters): (&[LockoutKey], &[Option<Counter>]),
        now: SystemTime,
    ) {
        let config = self.config();
        let hooks = self.hooks();
        if config.challenge_after.is_some()
            || hooks.failure_limit.is_some()
            || hooks.cooloff.is_some()
        {
            return;
        }
        let Prepared { client, keys, .. } = prepared;
        let rules = &prepared.rules(config);
        let escalation = Escalation {
            config,
            rules,
            secret: self.secret(),
        };
        let history_locks = escalation.locks(history_keys, histories, now);
        for (i, key) in keys.iter().enumerate() {
            let username_only = key.ip_address().is_none() && key.user_agent().is_none();
            if username_only && config.trusted_client_window.is_some() {
                continue;
            }
            let counter = counters.get(i).and_then(Option::as_ref);
            let standing = policy::standing(rules, counter, now);
            let lock = history_locks.get(i).copied().flatten();
            if let Some(lockout) = escalation.extend(
                policy::lockout_for(rules, client, standing),
                lock,
                client,
                standing,
            ) {
                self.locks.insert(key.clone(), lockout, now);
            }
        }
        for (key, counter) in detector_keys.iter().zip(detector_counters) {
            let lockout = detectors::lockout(
                config,
                rules,
                client,
                std::slice::from_ref(key),
                std::slice::from_ref(counter),
                now,
            );
            if let Some(lockout) = lockout {
                self.locks.insert(key.clone(), lockout, now);
            }
        }
    }

    /// The lockout the failure counters of the attempt's keys and their
    /// lockout histories amount to, unless the client is trusted despite it.
    pub(crate) async fn lockout_of(
        &self,
        login: &LoginAttempt<'_>,
        prepared: &Prepared,
        counters: &[Option<Counter>],
        (history_keys, histories): (&[LockoutKey], &[Option<Counter>]),
        standing: Standing,
    ) -> Result<Option<Lockout>, AxesError> {
        let Prepared { client, keys, .. } = prepared;
        let rules = &prepared.rules(self.config());
        let now = self.now();
        let escalation = Escalation {
            config: self.config(),
            rules,
            secret: self.secret(),
        };
        let history_locks = escalation.locks(history_keys, histories, now);
        let lockout = escalation.extend(
            policy::lockout_for(rules, client, standing),
            history_locks.iter().flatten().copied(),
            client,
            standing,
        );
        if lockout.is_none() {
            return Ok(None);
        }
        let locking: Vec<bool> = counters
            .iter()
            .enumerate()
            .map(|(i, counter)| {
                counter
                    .as_ref()
                    .is_some_and(|c| rules.counter_lock(c, now).is_some())
                    || history_locks.get(i).is_some_and(Option::is_some)
            })
            .collect();
        if self
            .is_trusted_despite(client, login.request(), keys, &locking)
            .await?
        {
            return Ok(None);
        }
        Ok(lockout)
    }

    /// Whether the client is trusted despite the keys that ask for a
    /// challenge (`counters`, as credited): as with a lockout, a real
    /// user's own device is not challenged because others failed for its
    /// username.
    async fn trusted_past_challenge(
        &self,
        login: &LoginAttempt<'_>,
        prepared: &Prepared,
        counters: &[Option<Counter>],
    ) -> Result<bool, AxesError> {
        let Some(after) = self.config().challenge_after else {
            return Ok(false);
        };
        let now = self.now();
        let rules = &prepared.rules(self.config());
        let asking: Vec<bool> = counters
            .iter()
            .map(|counter| {
                counter
                    .as_ref()
                    .is_some_and(|c| rules.live_failures(c, now) >= u64::from(after))
            })
            .collect();
        self.is_trusted_despite(&prepared.client, login.request(), &prepared.keys, &asking)
            .await
    }

    /// Whether `client` is a trusted client (`trusted_client_window`) and
    /// every key that locks it (`locking`, in the order of `keys`) is a
    /// username-only key: a real user's own device is not locked out by
    /// others failing for its username.
    async fn is_trusted_despite(
        &self,
        client: &ClientInfo,
        request: Option<&RequestInfo>,
        keys: &[LockoutKey],
        locking: &[bool],
    ) -> Result<bool, AxesError> {
        let (Some(window), Some(username)) =
            (self.config().trusted_client_window, client.username())
        else {
            return Ok(false);
        };
        let only_username_keys = keys.iter().zip(locking).all(|(key, locks)| {
            !locks || (key.ip_address().is_none() && key.user_agent().is_none())
        });
        if !only_username_keys {
            return Ok(false);
        }
        self.known_device(client, request, username, window).await
    }

    /// Whether `client` is a device `username` logged in from within
    /// `window`: the request's device cookie vouches for it, or the access
    /// log has a login of it from the same address and user agent.
    pub(super) async fn known_device(
        &self,
        client: &ClientInfo,
        request: Option<&RequestInfo>,
        username: &str,
        window: Duration,
    ) -> Result<bool, AxesError> {
        if self.device_vouches(request, username, window) {
            return Ok(true);
        }
        let since = self
            .now()
            .checked_sub(window)
            .unwrap_or(std::time::UNIX_EPOCH);
        let latest = self
            .timed_store()
            .latest_login(username, client.ip_address(), client.user_agent())
            .await?;
        Ok(latest.is_some_and(|at| at >= since))
    }

    /// Whether the request's device cookie vouches for `username`.
    fn device_vouches(
        &self,
        request: Option<&RequestInfo>,
        username: &str,
        window: Duration,
    ) -> bool {
        let Some(name) = &self.config().device_cookie else {
            return false;
        };
        request
            .and_then(|request| request.cookie(name))
            .is_some_and(|value| trust::vouches(self.secret(), value, username, self.now(), window))
    }
}
