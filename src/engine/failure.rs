//! Recording a failure (django-axes' `user_login_failed`), in the steps the
//! README's "What happens on each request" names: an exempt attempt is not
//! counted; one made during a lockout may not be either; otherwise one read
//! for the detectors and histories (only when they are on), one atomic
//! write that returns the new counters and gives back the attempt's slots,
//! escalation of the lockouts that began, the decision, events, the failure
//! log.

use std::time::{Duration, SystemTime};

use super::decision::FailureOutcome;
use super::error::AxesError;
use super::events::AxesEvent;
use super::flight::Flight;
use super::prepare::Prepared;
use super::state::Engine;
use crate::config::{AxesConfig, DuringLockout};
use crate::identity::{ClientInfo, LockoutKey, LoginAttempt, RequestInfo};
use crate::policy::{
    self, challenge, cleansed_data, detectors, escalation, Counter, Listing, Lockout, Rules,
};
use crate::store::{AccessFailureLog, AttemptFilter, FailureRecord, Slots, Window};

/// What was read before the write: the previous counters of the attempt's
/// keys (for quick succession), their lockout histories, and the failures
/// their passed challenges forgive.
struct Before {
    previous: Vec<Option<Counter>>,
    histories: Vec<Option<Counter>>,
    credit: u64,
}

/// What the write returned: the attempt's counters, and those of the
/// detectors it tripped.
struct Written {
    counters: Vec<Counter>,
    tripped: Vec<LockoutKey>,
    tripped_counters: Vec<Option<Counter>>,
}

impl Engine {
    /// Records a failure of an attempt in flight, whose slots go back once
    /// it is recorded: with the write itself on a store that shares them.
    pub(crate) async fn failed(
        &self,
        attempt: &LoginAttempt<'_>,
        prepared: &Prepared,
        flight: Option<&mut Flight>,
    ) -> Result<FailureOutcome, AxesError> {
        let Some(flight) = flight else {
            return Ok(self.record_failed(attempt, prepared, None).await?.0);
        };
        let slots = flight.slots_to_write();
        let owner = self.keeper().map_or("", |keeper| keeper.owner());
        let release = (!slots.is_empty()).then(|| Slots::new(owner, &slots));
        let result = self.record_failed(attempt, prepared, release).await;
        match &result {
            Ok((_, true)) => flight.written(true),
            // Not counted, or the write failed: whatever it did, the slots
            // go back (they are no handover: the attempt was a guess).
            Ok((_, false)) => {
                flight.writing = false;
                flight.release().await;
            }
            Err(_) => flight.written(false),
        }
        result.map(|(outcome, _)| outcome)
    }

    /// The steps of a failure; the outcome, and whether `slots` went back
    /// with the write.
    async fn record_failed(
        &self,
        attempt: &LoginAttempt<'_>,
        prepared: &Prepared,
        slots: Option<Slots<'_>>,
    ) -> Result<(FailureOutcome, bool), AxesError> {
        let rules = &prepared.rules(self.config());
        let told = self.told(attempt, prepared);
        if let Some(outcome) = self.not_counted(prepared, &told, rules) {
            return Ok((outcome, false));
        }
        if let Some(outcome) = self.during_lockout(attempt, prepared, rules).await? {
            return Ok((outcome, false));
        }
        let mut before = self.read_before(prepared, rules).await?;
        let mut written = self.write(prepared, rules, attempt, &before, slots).await?;
        challenge::forgive(&mut written.counters, before.credit);
        self.escalate(prepared, rules, &written.counters, &mut before.histories)
            .await?;
        let (lockout, failures) = self
            .lockout_after(attempt, prepared, rules, &written, &before)
            .await?;
        self.announce(
            &prepared.client,
            &told,
            rules,
            &written,
            lockout.as_ref(),
            failures,
        );
        self.log_failure(&prepared.client, lockout.is_some())
            .await?;
        if let Err(error) = self.count_for_breaker(&prepared.client).await {
            self.note_store_failure(&error, "the site breaker missed a failure");
        }
        self.purge_if_due(self.retention(&rules.window())).await;
        let outcome = FailureOutcome {
            recorded: true,
            failures,
            attempts_left: rules.attempts_left(failures, lockout.is_some()),
            challenge_required: lockout.is_none() && challenge::required(self.config(), failures),
            lockout,
        };
        Ok((outcome, slots.is_some()))
    }

    /// An exempt attempt, or one no lockout group applies to: not counted.
    fn not_counted(
        &self,
        prepared: &Prepared,
        told: &ClientInfo,
        rules: &Rules<'_>,
    ) -> Option<FailureOutcome> {
        let Prepared {
            listing,
            client,
            keys,
            ..
        } = prepared;
        if *listing != Listing::Whitelisted && !keys.is_empty() {
            return None;
        }
        tracing::debug!(target: "axes", ip = %self.logged_ip(client.ip_address()), username = %self.logged_name(client.username()), "failure not recorded: exempt or no lockout parameter applies");
        self.emit(|| AxesEvent::LoginFailed {
            client: told.clone(),
            failures: 0,
            recorded: false,
            at: self.now(),
        });
        let lockout =
            (*listing == Listing::Blacklisted).then(|| policy::blacklisted(rules, client));
        Some(FailureOutcome {
            recorded: false,
            failures: 0,
            attempts_left: lockout.as_ref().map(|_| 0),
            challenge_required: false,
            lockout,
        })
    }

    /// With `reset_cool_off_on_failure_during_lockout = false`, a failure
    /// reported while the client is locked out is not recorded.
    async fn during_lockout(
        &self,
        attempt: &LoginAttempt<'_>,
        prepared: &Prepared,
        rules: &Rules<'_>,
    ) -> Result<Option<FailureOutcome>, AxesError> {
        if self.config().reset_cool_off_on_failure_during_lockout != DuringLockout::RecordNothing {
            return Ok(None);
        }
        let Prepared { client, keys, .. } = prepared;
        let history_keys = escalation::history_keys(self.config(), keys);
        let pass_keys = challenge::pass_keys(self.config(), keys);
        let mut counters = self
            .timed_store()
            .counters(&[keys.as_slice(), &history_keys, &pass_keys].concat())
            .await?;
        let passes = counters.split_off(keys.len() + history_keys.len());
        let histories = counters.split_off(keys.len());
        let credit = challenge::credit(self.config(), rules, &passes, self.now());
        challenge::forgive(counters.iter_mut().flatten(), credit);
        let standing = policy::standing(rules, counters.iter().flatten(), self.now());
        let lockout = self
            .lockout_of(
                attempt,
                prepared,
                &counters,
                (&history_keys, &histories),
                standing,
            )
            .await?;
        Ok(lockout.map(|lockout| {
            tracing::debug!(target: "axes", ip = %self.logged_ip(client.ip_address()), username = %self.logged_name(client.username()), "failure during lockout not recorded");
            FailureOutcome {
                recorded: false,
                failures: lockout.failures,
                attempts_left: Some(0),
                challenge_required: false,
                lockout: Some(lockout),
            }
        }))
    }

    /// One read before the write, only for what needs the previous state:
    /// the keys' counters for quick succession, their lockout histories for
    /// escalation.
    async fn read_before(
        &self,
        prepared: &Prepared,
        rules: &Rules<'_>,
    ) -> Result<Before, AxesError> {
        let config = self.config();
        let keys = &prepared.keys;
        let history_keys = escalation::history_keys(config, keys);
        let pass_keys = challenge::pass_keys(config, keys);
        let needs_previous = config.min_interval_between_failures.is_some();
        if !needs_previous && history_keys.is_empty() && pass_keys.is_empty() {
            return Ok(Before {
                previous: Vec::new(),
                histories: Vec::new(),
                credit: 0,
            });
        }
        let read: &[LockoutKey] = if needs_previous { keys } else { &[] };
        let mut previous = self
            .timed_store()
            .counters(&[read, &history_keys, &pass_keys].concat())
            .await?;
        let passes = previous.split_off(read.len() + history_keys.len());
        let histories = previous.split_off(read.len());
        let credit = challenge::credit(config, rules, &passes, self.now());
        Ok(Before {
            previous,
            histories,
            credit,
        })
    }

    /// The write: every counter of the attempt's keys and of the detectors
    /// it trips bumped, its attempt record, its slots given back — one
    /// atomic store operation.
    async fn write(
        &self,
        prepared: &Prepared,
        rules: &Rules<'_>,
        attempt: &LoginAttempt<'_>,
        before: &Before,
        slots: Option<Slots<'_>>,
    ) -> Result<Written, AxesError> {
        let Prepared { client, keys, .. } = prepared;
        let config = self.config();
        let now = self.now();
        let sprayed = self.sprayed_usernames(client).await?;
        let tripped = detectors::tripped(
            config,
            rules,
            (keys, &before.previous),
            sprayed.iter().map(|(name, at)| (name.as_str(), *at)),
            client,
            now,
        );
        let window = rules.window();
        let (get_data, post_data) = attempt_data(config, attempt.request());
        let lock_at = if rules.lock_out_at_failure {
            u64::from(rules.failure_limit)
        } else {
            u64::MAX
        };
        let all_keys = [keys.as_slice(), &tripped].concat();
        let mut record = FailureRecord::new(&all_keys, client, now, &window)
            .with_data(&get_data, &post_data)
            .locking(lock_at, self.retention(&window));
        if let Some(slots) = slots {
            record = record.releasing(slots);
        }
        let mut counters = self.timed_store().record_failure(record).await?;
        let tripped_counters = counters
            .split_off(keys.len())
            .into_iter()
            .map(Some)
            .collect();
        Ok(Written {
            counters,
            tripped,
            tripped_counters,
        })
    }

    /// With `spray_limit`: the usernames the client's IP failed for, each
    /// with the time of its latest failure.
    async fn sprayed_usernames(
        &self,
        client: &ClientInfo,
    ) -> Result<Vec<(String, SystemTime)>, AxesError> {
        if self.config().spray_limit.is_none() || client.username().is_none() {
            return Ok(Vec::new());
        }
        let records = self
            .timed_store()
            .attempts(&AttemptFilter::Ip(client.ip_address()))
            .await?;
        Ok(records
            .into_iter()
            .filter_map(|record| Some((record.username?, record.attempt_time)))
            .collect())
    }

    /// Escalation: the lockouts that began with this failure are added to
    /// their keys' histories (`histories` updated in place).
    async fn escalate(
        &self,
        prepared: &Prepared,
        rules: &Rules<'_>,
        counters: &[Counter],
        histories: &mut [Option<Counter>],
    ) -> Result<(), AxesError> {
        let config = self.config();
        let history_keys = escalation::history_keys(config, &prepared.keys);
        if history_keys.is_empty() {
            return Ok(());
        }
        let now = self.now();
        let begun = escalation::begun(rules, counters, now);
        let jitter = config.cooloff_jitter.unwrap_or_default();
        for write in escalation::history_writes(config, histories, &begun, now) {
            let keys: Vec<LockoutKey> = write
                .indices
                .iter()
                .map(|&i| history_keys[i].clone())
                .collect();
            // A history locks while it is remembered (a permanent one for
            // ever), its jitter included.
            let remembered = write.window.longest().map(|history| history + jitter);
            let record = FailureRecord::new(&keys, &prepared.client, write.at, &write.window)
                .counters_only()
                .locking(1, remembered);
            let bumped = self.timed_store().record_failure(record).await?;
            for (index, history) in write.indices.into_iter().zip(bumped) {
                histories[index] = Some(history);
            }
        }
        Ok(())
    }

    /// The lockout after the write, and the client's largest count.
    async fn lockout_after(
        &self,
        attempt: &LoginAttempt<'_>,
        prepared: &Prepared,
        rules: &Rules<'_>,
        written: &Written,
        before: &Before,
    ) -> Result<(Option<Lockout>, u64), AxesError> {
        let Prepared {
            listing,
            client,
            keys,
            ..
        } = prepared;
        let now = self.now();
        let standing = policy::standing(rules, &written.counters, now);
        if *listing == Listing::Blacklisted {
            return Ok((Some(policy::blacklisted(rules, client)), standing.failures));
        }
        let history_keys = escalation::history_keys(self.config(), keys);
        let read: Vec<_> = written.counters.iter().cloned().map(Some).collect();
        // The client's next attempts are refused from memory.
        self.remember_lockouts(
            prepared,
            &read,
            (&history_keys, &before.histories),
            (&written.tripped, &written.tripped_counters),
            now,
        );
        let lockout = self
            .lockout_of(
                attempt,
                prepared,
                &read,
                (&history_keys, &before.histories),
                standing,
            )
            .await?
            .or_else(|| {
                detectors::lockout(
                    self.config(),
                    rules,
                    client,
                    &written.tripped,
                    &written.tripped_counters,
                    now,
                )
            });
        Ok((lockout, standing.failures))
    }

    /// Tells of the failure of `client` (as counted; the events tell of
    /// it as `told`): a debug line, [`AxesEvent::LoginFailed`], and when a
    /// lockout began with it, a warning and [`AxesEvent::LockedOut`].
    fn announce(
        &self,
        client: &ClientInfo,
        told: &ClientInfo,
        rules: &Rules<'_>,
        written: &Written,
        lockout: Option<&Lockout>,
        failures: u64,
    ) {
        let now = self.now();
        tracing::debug!(target: "axes", ip = %self.logged_ip(client.ip_address()), username = %self.logged_name(client.username()), failures, locked = lockout.is_some(), "login failure recorded");
        #[cfg(feature = "metrics")]
        crate::metrics::attempt("failure");
        self.emit(|| AxesEvent::LoginFailed {
            client: told.clone(),
            failures,
            recorded: true,
            at: now,
        });
        let Some(lockout) = lockout else {
            self.activity.failure(now, client.ip_address(), None);
            self.warn_if_approaching(told, rules, failures);
            return;
        };
        // A lockout begins with the failure that takes a key to a
        // threshold, or trips a detector.
        let began = !escalation::begun(rules, &written.counters, now).is_empty()
            || written
                .tripped_counters
                .iter()
                .flatten()
                .any(|c| c.failures == 1);
        self.activity
            .failure(now, client.ip_address(), began.then_some(lockout));
        if began {
            tracing::warn!(target: "axes", ip = %self.logged_ip(client.ip_address()), username = %self.logged_name(client.username()), failures = lockout.failures, reason = ?lockout.reason, "client locked out");
            #[cfg(feature = "metrics")]
            crate::metrics::lockout(lockout.reason);
            self.emit(|| AxesEvent::LockedOut {
                username: told.username().map(str::to_owned),
                ip_address: client.ip_address(),
                client: told.clone(),
                lockout: self.told_lockout(lockout.clone(), told.username()),
                at: now,
            });
        }
    }

    /// With `warn_attempts_left`: [`AxesEvent::ApproachingLimit`] when the
    /// failure left the client that many attempts or fewer.
    fn warn_if_approaching(&self, client: &ClientInfo, rules: &Rules<'_>, failures: u64) {
        let Some(warn) = self.config().warn_attempts_left else {
            return;
        };
        let Some(left) = rules.attempts_left(failures, false) else {
            return;
        };
        if left == 0 || left > u64::from(warn) {
            return;
        }
        tracing::debug!(target: "axes", ip = %self.logged_ip(client.ip_address()), username = %self.logged_name(client.username()), attempts_left = left, "client approaching its lockout");
        self.emit(|| AxesEvent::ApproachingLimit {
            username: client.username().map(str::to_owned),
            ip_address: client.ip_address(),
            client: client.clone(),
            failures,
            attempts_left: left,
            at: self.now(),
        });
    }

    /// With `enable_access_failure_log`, the failure log entry.
    async fn log_failure(&self, client: &ClientInfo, locked_out: bool) -> Result<(), AxesError> {
        let config = self.config();
        if !config.enable_access_failure_log {
            return Ok(());
        }
        let entry = AccessFailureLog::failure(client, self.now(), locked_out);
        self.timed_store()
            .record_failure_log(&entry, config.access_failure_log_per_user_limit)
            .await?;
        Ok(())
    }

    /// How long anything recorded under `window` can matter after it
    /// happened (its window, a detector's lock, a lockout history); `None`:
    /// until reset. Purges keep entries this long, and a store that bounds
    /// its memory keeps a counter that locks this long.
    pub(crate) fn retention(&self, window: &Window) -> Option<Duration> {
        let config = self.config();
        window.longest().map(|longest| {
            let spray = config.spray_limit.map(|s| s.window).unwrap_or_default();
            let quick = config
                .min_interval_between_failures
                .map(|_| config.quick_failure_wait)
                .unwrap_or_default();
            let history = if config.escalates() {
                let longest_lockout = config.cooloff_backoff.map(|b| b.max).unwrap_or_default()
                    + config.cooloff_jitter.unwrap_or_default();
                config.lockout_history.max(longest_lockout)
            } else {
                Duration::ZERO
            };
            longest.max(spray).max(quick).max(history)
        })
    }
}

/// The cleansed query and body data of the request, for the attempt record.
fn attempt_data(config: &AxesConfig, request: Option<&RequestInfo>) -> (String, String) {
    let Some(request) = request else {
        return (String::new(), String::new());
    };
    let query: Vec<(String, String)> = request
        .uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let get_data = cleansed_data(config, query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let post_data = cleansed_data(config, request.fields());
    (get_data, post_data)
}
