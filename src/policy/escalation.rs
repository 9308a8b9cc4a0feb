//! Escalation of repeated lockouts: `cooloff_backoff` (each lockout of a key
//! lasts longer than the one before), `cooloff_jitter` (a random delay on
//! the unlock time) and `max_temporary_lockouts` (then a lockout that lasts
//! until reset).
//!
//! Each lockout key has a history counter beside it (scope `lockouts`): how
//! many lockouts began within `lockout_history`, and when the latest did. A
//! lockout begins with the failure that takes a key to a threshold (the
//! limit, or a tier's). The history locks on its own — a backed-off
//! lockout outlasts the failures that caused it — and a permanent one is
//! dated at the end of time, so that no purge forgets it: only a reset
//! lifts it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::Mac;

use super::{Counter, Lockout, LockoutReason, Rules, Standing, Window};
use crate::config::AxesConfig;
use crate::identity::{ClientInfo, LockoutKey, Scope};
use crate::secret::Secret;

/// The date of a permanent lockout's history: far enough to outlive every
/// purge, near enough for every store's clock arithmetic (2^52 ms after the
/// epoch, some 140,000 years).
pub(crate) fn end_of_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1 << 52)
}

/// A lock: when it ends (`None`: at a reset) and the cool-off it lasts.
pub(crate) type Lock = (Option<SystemTime>, Option<Duration>);

/// The history keys of `keys`, when lockouts escalate.
pub(crate) fn history_keys(config: &AxesConfig, keys: &[LockoutKey]) -> Vec<LockoutKey> {
    if !config.escalates() {
        return Vec::new();
    }
    keys.iter()
        .map(|key| key.scoped(Scope::LockoutHistory))
        .collect()
}

/// What a history of escalating lockouts means.
pub(crate) struct Escalation<'a> {
    pub config: &'a AxesConfig,
    pub rules: &'a Rules<'a>,
    pub secret: &'a Secret,
}

impl Escalation<'_> {
    /// The lock one key's `history` imposes at `now`, if any: the latest
    /// lockout's backed-off cool-off from its start, plus its jitter; or
    /// until reset, past `max_temporary_lockouts`.
    pub fn lock(&self, key: &LockoutKey, history: &Counter, now: SystemTime) -> Option<Lock> {
        if history.failures == 0 {
            return None;
        }
        let remembered = now <= history.last_failure + self.config.lockout_history;
        let permanent = history.last_failure >= end_of_time()
            || (remembered
                && self
                    .config
                    .max_temporary_lockouts
                    .is_some_and(|max| history.failures > u64::from(max)));
        if permanent {
            return Some((None, None));
        }
        let base = self
            .rules
            .cooloff_for(u64::from(self.rules.failure_limit))?;
        let cooloff = match &self.config.cooloff_backoff {
            Some(backoff) => backoff.cooloff(base, history.failures),
            None => base,
        };
        let until = history.last_failure + cooloff + self.jitter(key, history.last_failure);
        (now <= until).then_some((Some(until), Some(cooloff)))
    }

    /// The random delay of the lockout of `key` that began at `start`: the
    /// same for every request during that lockout, and on every engine with
    /// the same secret.
    fn jitter(&self, key: &LockoutKey, start: SystemTime) -> Duration {
        let Some(jitter) = self.config.cooloff_jitter else {
            return Duration::ZERO;
        };
        let start = crate::clock::to_millis(start).to_string();
        let Some(mac) = self
            .secret
            .mac("axes-jitter", &[key.encode().as_bytes(), start.as_bytes()])
        else {
            return Duration::ZERO;
        };
        let digest = mac.finalize().into_bytes();
        let mut draw = [0u8; 8];
        draw.copy_from_slice(&digest[..8]);
        let nanos = (u128::from(u64::from_le_bytes(draw)) * jitter.as_nanos()) >> 64;
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// The locks of each key's history (`histories` in the order of `keys`).
    pub fn locks(
        &self,
        keys: &[LockoutKey],
        histories: &[Option<Counter>],
        now: SystemTime,
    ) -> Vec<Option<Lock>> {
        if !self.rules.lock_out_at_failure {
            return vec![None; keys.len()];
        }
        keys.iter()
            .zip(histories)
            .map(|(key, history)| history.as_ref().and_then(|h| self.lock(key, h, now)))
            .collect()
    }

    /// `lockout` (from the failure counters) extended by the histories'
    /// `locks`: the later end wins, and a permanent lock makes it permanent.
    pub fn extend(
        &self,
        lockout: Option<Lockout>,
        locks: impl IntoIterator<Item = Lock>,
        client: &ClientInfo,
        standing: Standing,
    ) -> Option<Lockout> {
        let mut lockout = lockout;
        for (until, cooloff) in locks {
            let current = lockout.get_or_insert_with(|| Lockout {
                reason: LockoutReason::TooManyFailures,
                failures: standing.failures,
                failure_limit: self.rules.failure_limit,
                locked_until: until,
                cooloff,
                username: client.username().map(str::to_owned),
            });
            current.extend_to(until, cooloff);
        }
        lockout
    }
}

/// The keys (indices into `counters`) whose lockout level rose with the
/// failure at `at` that gave `counters`: a lockout begins there.
pub(crate) fn begun(rules: &Rules<'_>, counters: &[Counter], at: SystemTime) -> Vec<usize> {
    if !rules.lock_out_at_failure {
        return Vec::new();
    }
    counters
        .iter()
        .enumerate()
        .filter(|(_, after)| {
            let mut before = (*after).clone();
            before.failures = before.failures.saturating_sub(1);
            if before.recent.last() == Some(&at) {
                before.recent.pop();
            }
            rules.lock_level(after, at) > rules.lock_level(&before, at)
        })
        .map(|(index, _)| index)
        .collect()
}

/// One write of lockout histories: which of them (indices into the
/// history keys) to bump, dated when, counted in which window.
pub(crate) struct HistoryWrite {
    pub indices: Vec<usize>,
    pub at: SystemTime,
    pub window: Window,
}

/// How to record the lockouts that began (`begun`, indices into
/// `histories`): each history bumped, dated at the end of time when the
/// lockout is one past `max_temporary_lockouts`, else now.
pub(crate) fn history_writes(
    config: &AxesConfig,
    histories: &[Option<Counter>],
    begun: &[usize],
    now: SystemTime,
) -> Vec<HistoryWrite> {
    let remembered = |history: &Counter| {
        history.last_failure >= end_of_time()
            || history.last_failure + config.lockout_history >= now
    };
    let (mut permanent, mut temporary) = (Vec::new(), Vec::new());
    for &index in begun {
        let previous = histories[index]
            .as_ref()
            .filter(|h| remembered(h))
            .map_or(0, |h| h.failures);
        let ordinal = previous + 1;
        if config
            .max_temporary_lockouts
            .is_some_and(|max| ordinal > u64::from(max))
        {
            permanent.push(index);
        } else {
            temporary.push(index);
        }
    }
    [
        (permanent, end_of_time(), Window::forever()),
        (temporary, now, Window::fixed(config.lockout_history)),
    ]
    .into_iter()
    .filter(|(indices, _, _)| !indices.is_empty())
    .map(|(indices, at, window)| HistoryWrite {
        indices,
        at,
        window,
    })
    .collect()
}
