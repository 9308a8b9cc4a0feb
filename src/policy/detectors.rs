//! Detectors beyond the failure count: password spray (one IP, many
//! usernames) and quick succession (failures closer together than a human
//! types). Each keeps a counter of its own scope beside the client's keys,
//! read in the same round trip as they are.

use std::collections::HashSet;
use std::time::SystemTime;

use super::{Counter, Lockout, LockoutReason, Rules};
use crate::config::AxesConfig;
use crate::identity::{ClientInfo, LockoutKey, Scope};

/// The detector keys to read beside the client's `keys`.
pub(crate) fn keys(
    config: &AxesConfig,
    keys: &[LockoutKey],
    client: &ClientInfo,
) -> Vec<LockoutKey> {
    let mut extra = Vec::new();
    if config.min_interval_between_failures.is_some() {
        extra.extend(keys.iter().map(|key| key.scoped(Scope::QuickSuccession)));
    }
    if config.spray_limit.is_some() {
        extra.push(LockoutKey::ip_scoped(
            client.ip_address(),
            Scope::PasswordSpray,
        ));
    }
    extra
}

/// The lockout a detector's counters amount to at `now`, if any.
pub(crate) fn lockout(
    config: &AxesConfig,
    rules: &Rules<'_>,
    client: &ClientInfo,
    keys: &[LockoutKey],
    counters: &[Option<Counter>],
    now: SystemTime,
) -> Option<Lockout> {
    let mut found: Option<Lockout> = None;
    for (key, counter) in keys.iter().zip(counters) {
        let Some(counter) = counter else { continue };
        let (reason, wait) = match key.scope() {
            Some(Scope::PasswordSpray) => match config.spray_limit {
                Some(spray) => (LockoutReason::PasswordSpray, spray.window),
                None => continue,
            },
            Some(Scope::QuickSuccession) => {
                (LockoutReason::QuickSuccession, config.quick_failure_wait)
            }
            _ => continue,
        };
        let until = counter.last_failure + wait;
        if counter.failures == 0 || now > until {
            continue;
        }
        if found
            .as_ref()
            .and_then(|l| l.locked_until)
            .is_some_and(|u| u >= until)
        {
            continue;
        }
        found = Some(Lockout {
            reason,
            failures: counter.failures,
            failure_limit: rules.failure_limit,
            locked_until: Some(until),
            cooloff: Some(wait),
            username: client.username().map(str::to_owned),
        });
    }
    found
}

/// The detector keys this failure trips: quick succession for each key
/// whose previous failure (`previous`, the keys' counters read before this
/// failure was recorded) is closer than the interval, password spray when
/// the IP has now failed for too many usernames (`usernames`: those of its
/// attempt records, each with the time of its latest failure).
pub(crate) fn tripped<'u>(
    config: &AxesConfig,
    rules: &Rules<'_>,
    (keys, previous): (&[LockoutKey], &[Option<Counter>]),
    usernames: impl IntoIterator<Item = (&'u str, SystemTime)>,
    client: &ClientInfo,
    now: SystemTime,
) -> Vec<LockoutKey> {
    let mut tripped = Vec::new();
    if let Some(interval) = config.min_interval_between_failures {
        for (key, counter) in keys.iter().zip(previous) {
            let Some(counter) = counter else { continue };
            let live = rules.live_failures(counter, now) > 0;
            let gap = now.duration_since(counter.last_failure).unwrap_or_default();
            if live && gap < interval {
                tripped.push(key.scoped(Scope::QuickSuccession));
            }
        }
    }
    if let (Some(spray), Some(username)) = (config.spray_limit, client.username()) {
        let since = now
            .checked_sub(spray.window)
            .unwrap_or(std::time::UNIX_EPOCH);
        let mut distinct: HashSet<&str> = usernames
            .into_iter()
            .filter(|(_, at)| *at >= since)
            .map(|(name, _)| name)
            .collect();
        distinct.insert(username);
        if distinct.len() > spray.distinct_usernames as usize {
            tripped.push(LockoutKey::ip_scoped(
                client.ip_address(),
                Scope::PasswordSpray,
            ));
        }
    }
    tripped
}
