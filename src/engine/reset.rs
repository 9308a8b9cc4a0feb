//! Resetting (`axes.utils.reset`) and what else deletes: the records a
//! filter covers and their failures taken off the counters they counted
//! toward, the counters the filter names, lockout histories, slots in
//! flight; listings; the purge of what stopped counting.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::error::AxesError;
use super::events::AxesEvent;
use super::state::Engine;
use crate::clock::to_millis;
use crate::identity::{LockoutGroup, LockoutKey, LockoutParameter, Scope};
use crate::store::{AccessAttempt, AccessFailureLog, AccessLog, AttemptFilter, Reset};

/// How often expired counters and attempt records are purged, at most.
const PURGE_INTERVAL: Duration = Duration::from_secs(60);

impl Engine {
    /// Deletes the attempt records `filter` covers and lifts the lockouts
    /// they caused, like `axes.utils.reset`. Returns how many records were
    /// deleted. An empty username is refused rather than read as
    /// "everything".
    pub(crate) async fn reset(&self, filter: AttemptFilter) -> Result<u64, AxesError> {
        let filter = self.checked_filter(filter)?;
        let removed = self.reset_counted(&filter, |_| true, every_key).await?;
        self.announce_reset().await;
        tracing::info!(target: "axes", ip = %filter.ip().map_or_else(|| "-".to_owned(), |ip| self.logged_ip(ip)), username = %self.logged_name(filter.username()), removed, "attempts reset");
        self.emit(|| AxesEvent::Reset {
            filter,
            removed,
            at: self.now(),
        });
        Ok(removed)
    }

    /// Resets what `filter` (in counted terms) covers: its records, with
    /// their failures taken off the counters they counted toward; the
    /// counters it names outright, and — when lockouts escalate — the
    /// lockout histories of its keys, of those `forget` picks (a reset lifts
    /// even a permanent lockout); the slots in flight under them. A
    /// record's failures come off the counters `take_off` picks.
    pub(crate) async fn reset_counted(
        &self,
        filter: &AttemptFilter,
        forget: impl Fn(&LockoutKey) -> bool,
        take_off: fn(&LockoutKey) -> bool,
    ) -> Result<u64, AxesError> {
        let config = self.config();
        let store = self.timed_store();
        let groups = &config.lockout_parameters;
        let histories = if config.escalates() && *filter != AttemptFilter::All {
            self.histories_of(filter, &forget).await?
        } else {
            Vec::new()
        };
        let owned = groups.clone();
        let reset = Reset::new(filter, move |record: &AccessAttempt| {
            let mut keys = counters_of(record, &owned);
            keys.retain(take_off);
            keys
        });
        let removed = store.reset(&reset).await?;
        // The counters the filter names outright (`Ip` names the IP's key,
        // `Username` the username's, `IpAndUsername` the pair's) go whole,
        // with their slots in flight and their quick-succession counters:
        // they are the filter's, whatever records the store still holds.
        let mut doomed: Vec<LockoutKey> = named_keys(filter, groups)
            .into_iter()
            .filter(|key| forget(key))
            .flat_map(|key| {
                [
                    key.scoped(Scope::QuickSuccession),
                    key.scoped(Scope::ChallengePass),
                    key,
                ]
            })
            .collect();
        doomed.extend(histories);
        // A reset of a username revokes the unlock token issued for it,
        // and lifts its second factor's lockout.
        if let AttemptFilter::Username(username) | AttemptFilter::IpOrUsername(_, username) = filter
        {
            doomed.push(LockoutKey::unlock_token(username));
            doomed.push(LockoutKey::second_factor(username));
        }
        store.delete_counters(&doomed).await?;
        // The slots of the keys reset go too (the store's own go with its reset).
        self.clear_slots(|key| filter.matches_parts(key.ip_address(), key.username()));
        Ok(removed)
    }

    /// Tells every engine on the store that lockouts were lifted: those in
    /// this process at once, other app servers through the store's
    /// notifications. Should the notification fail, theirs still stop
    /// believing their cache within [`TRUST`](super::lock_cache::TRUST).
    pub(crate) async fn announce_reset(&self) {
        if let Err(error) = self.timed_store().announce_reset().await {
            tracing::warn!(target: "axes", %error, "announcing a reset to the other app servers failed; they notice it within 10 s");
        }
    }

    /// The lockout histories a reset of `filter` forgets: those of the keys
    /// it names (a permanent lockout outlives its records), then those of
    /// the records it covers, as `forget` picks them.
    async fn histories_of(
        &self,
        filter: &AttemptFilter,
        forget: &impl Fn(&LockoutKey) -> bool,
    ) -> Result<Vec<LockoutKey>, AxesError> {
        let groups = &self.config().lockout_parameters;
        let parts: Vec<(Option<IpAddr>, Option<&str>)> = match filter {
            AttemptFilter::All => Vec::new(),
            AttemptFilter::Ip(ip) => vec![(Some(*ip), None)],
            AttemptFilter::Username(u) => vec![(None, Some(u.as_str()))],
            AttemptFilter::IpAndUsername(ip, u) => vec![(Some(*ip), Some(u.as_str()))],
            AttemptFilter::IpOrUsername(ip, u) => vec![
                (Some(*ip), None),
                (None, Some(u.as_str())),
                (Some(*ip), Some(u.as_str())),
            ],
        };
        let mut candidates: Vec<LockoutKey> = Vec::new();
        for (ip, username) in parts {
            candidates.extend(
                groups
                    .iter()
                    .filter_map(|group| LockoutKey::for_group(group, ip, username, None)),
            );
        }
        for record in self.timed_store().attempts(filter).await? {
            candidates.extend(record_keys(&record, groups));
        }
        let mut keys: Vec<LockoutKey> = Vec::new();
        for key in candidates {
            let history = key.scoped(Scope::LockoutHistory);
            if forget(&key) && !keys.contains(&history) {
                keys.push(history);
            }
        }
        Ok(keys)
    }

    /// Lists the access log entries `filter` covers, most recent first.
    pub(crate) async fn access_logs(
        &self,
        filter: AttemptFilter,
    ) -> Result<Vec<AccessLog>, AxesError> {
        filter.validate()?;
        Ok(self.timed_store().access_logs(&filter).await?)
    }

    /// Lists the failure log entries `filter` covers, most recent first.
    pub(crate) async fn failure_logs(
        &self,
        filter: AttemptFilter,
    ) -> Result<Vec<AccessFailureLog>, AxesError> {
        filter.validate()?;
        Ok(self.timed_store().failure_logs(&filter).await?)
    }

    /// Deletes access log entries older than `age` (`axes_reset_logs`).
    pub(crate) async fn reset_logs(&self, age: Duration) -> Result<u64, AxesError> {
        let before = self.now().checked_sub(age).unwrap_or(std::time::UNIX_EPOCH);
        Ok(self.timed_store().purge_access_logs(before).await?)
    }

    /// Deletes failure log entries older than `age` (`axes_reset_failure_logs`).
    pub(crate) async fn reset_failure_logs(&self, age: Duration) -> Result<u64, AxesError> {
        let before = self.now().checked_sub(age).unwrap_or(std::time::UNIX_EPOCH);
        Ok(self.timed_store().purge_failure_logs(before).await?)
    }

    /// Lists the attempt records `filter` covers, most recent first.
    pub(crate) async fn attempts(
        &self,
        filter: AttemptFilter,
    ) -> Result<Vec<AccessAttempt>, AxesError> {
        let filter = self.checked_filter(filter)?;
        Ok(self.timed_store().attempts(&filter).await?)
    }

    /// Deletes entries past the longest window (`window`, from
    /// [`Self::retention`]), at most once per [`PURGE_INTERVAL`].
    pub(crate) async fn purge_if_due(&self, window: Option<Duration>) {
        // A per-request cool-off may be longer for other clients.
        if self.hooks().cooloff.is_some() {
            return;
        }
        let Some(window) = window else {
            return;
        };
        let now = self.now();
        let now_ms = to_millis(now);
        let last = self.last_purge_ms.load(Ordering::Relaxed);
        let interval_ms = PURGE_INTERVAL.as_millis() as i64;
        if now_ms.saturating_sub(last) < interval_ms
            || self
                .last_purge_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        if let Some(before) = now.checked_sub(window) {
            if let Err(error) = self.timed_store().purge_expired(before).await {
                tracing::warn!(target: "axes", %error, "purging expired attempts failed");
            }
        }
    }
}

/// The keys of `record`'s lockout groups.
fn record_keys<'a>(
    record: &'a AccessAttempt,
    groups: &'a [LockoutGroup],
) -> impl Iterator<Item = LockoutKey> + 'a {
    groups.iter().filter_map(|group| {
        LockoutKey::for_group(
            group,
            record.ip_address,
            record.username.as_deref(),
            Some(&record.user_agent),
        )
    })
}

/// Every counter: what a reset takes a record's failures off.
pub(crate) fn every_key(_: &LockoutKey) -> bool {
    true
}

/// The counters `record`'s failures counted toward under `groups`: each
/// group's key, its quick-succession key and its challenge passes, and the
/// IP's password-spray key.
fn counters_of(record: &AccessAttempt, groups: &[LockoutGroup]) -> Vec<LockoutKey> {
    record_keys(record, groups)
        .flat_map(|key| {
            [
                key.scoped(Scope::QuickSuccession),
                key.scoped(Scope::ChallengePass),
                key,
            ]
        })
        .chain(
            record
                .ip_address
                .map(|ip| LockoutKey::ip_scoped(ip, Scope::PasswordSpray)),
        )
        .collect()
}

/// The keys `filter` names outright: those of the lockout groups whose
/// parameters are exactly the filter's parts (an IP, a username, or both).
fn named_keys(filter: &AttemptFilter, groups: &[LockoutGroup]) -> Vec<LockoutKey> {
    use LockoutParameter::{IpAddress, Username};
    let parts: Vec<(Option<IpAddr>, Option<&str>)> = match filter {
        AttemptFilter::All => Vec::new(),
        AttemptFilter::Ip(ip) => vec![(Some(*ip), None)],
        AttemptFilter::Username(u) => vec![(None, Some(u))],
        AttemptFilter::IpAndUsername(ip, u) => vec![(Some(*ip), Some(u))],
        AttemptFilter::IpOrUsername(ip, u) => {
            vec![(Some(*ip), None), (None, Some(u)), (Some(*ip), Some(u))]
        }
    };
    let mut keys = Vec::new();
    for (ip, username) in parts {
        for group in groups {
            let params = group.parameters();
            let exact = params.iter().all(|p| match p {
                IpAddress => ip.is_some(),
                Username => username.is_some(),
                _ => false,
            }) && ip.is_none_or(|_| params.contains(&IpAddress))
                && username.is_none_or(|_| params.contains(&Username));
            if let Some(key) = exact
                .then(|| LockoutKey::for_group(group, ip, username, None))
                .flatten()
            {
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
        }
    }
    keys
}
