//! The site-wide breaker (`site_breaker`; OWASP ASVS 5.0 V2.1.3, "limits
//! per user and globally"). Every recorded failure, whatever its key, is
//! counted in the store in a bucket of its minute and one of its hour, so
//! every app server sharing the store counts together. The rate is the last
//! minute's count, weighted by how much of it is still within a minute,
//! plus this minute's. Past the budget, every attempt from a client without
//! trust must pass the challenge: it raises the bar, it locks no one out by
//! itself, and it clears by itself when the rate falls back.
//!
//! A bucket is [`SHARDS`] counters, and each failure bumps one of them in
//! turn: were it one row, every failure of every app server would wait for
//! the one before it (on PostgreSQL, a row lock), and the breaker would
//! halve the rate of the failures it counts. Each server reads the buckets
//! at most once a second (its own failures tell it the count in between),
//! and tells of each trip and clear it sees: a log line, an event, the
//! `axes_breaker_tripped` gauge.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::error::AxesError;
use super::events::AxesEvent;
use super::state::Engine;
use crate::clock::{minute_of, to_millis};
use crate::identity::{ClientInfo, LockoutKey, RequestInfo};
use crate::policy::{Counter, Window};
use crate::store::FailureRecord;

/// How long a server believes the buckets it read.
const FRESH: Duration = Duration::from_secs(1);

/// How long a client's login from its address makes it trusted, without
/// `trusted_client_window`.
const DEFAULT_TRUST: Duration = Duration::from_secs(30 * 24 * 3600);

/// How many counters a bucket is spread over.
const SHARDS: u64 = 16;

/// What a server last knew of the rate, and the shard its next failure
/// bumps.
#[derive(Debug, Default)]
pub(crate) struct BreakerState {
    seen: Mutex<Seen>,
    turn: AtomicU64,
}

#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    /// When it was read or written (ms), and for which minute.
    at_ms: i64,
    minute: u64,
    this_minute: u64,
    last_minute: u64,
    last_hour: u64,
    tripped: bool,
}

/// The counter `shard` of the bucket of the minute `minute`.
fn minute_bucket(minute: u64, shard: u64) -> LockoutKey {
    LockoutKey::breaker(&format!("m{minute}.{shard}"))
}

/// The counter `shard` of the bucket of the hour `minute` falls in,
/// `hours_before` hours back.
fn hour_bucket(minute: u64, hours_before: u64, shard: u64) -> LockoutKey {
    let hour = (minute / 60).saturating_sub(hours_before);
    LockoutKey::breaker(&format!("h{hour}.{shard}"))
}

/// What a check reads at the minute `minute`: every counter of its bucket,
/// then of the minute before's, then of the hour before's.
fn bucket_keys(minute: u64) -> Vec<LockoutKey> {
    let shards = || 0..SHARDS;
    shards()
        .map(|shard| minute_bucket(minute, shard))
        .chain(shards().map(|shard| minute_bucket(minute.saturating_sub(1), shard)))
        .chain(shards().map(|shard| hour_bucket(minute, 1, shard)))
        .collect()
}

/// How long a bucket counts: past the hour after the one it is of.
fn bucket_window() -> Window {
    Window::fixed(Duration::from_secs(2 * 3600))
}

impl Engine {
    /// Counts a recorded failure in the breaker's buckets (with
    /// `site_breaker`).
    pub(crate) async fn count_for_breaker(&self, client: &ClientInfo) -> Result<(), AxesError> {
        if self.config().site_breaker.is_none() {
            return Ok(());
        }
        let now = self.now();
        let minute = minute_of(now);
        let shard = self.breaker.turn.fetch_add(1, Ordering::Relaxed) % SHARDS;
        let keys = [minute_bucket(minute, shard), hour_bucket(minute, 0, shard)];
        let window = bucket_window();
        let record = FailureRecord::new(&keys, client, now, &window).counters_only();
        self.timed_store().record_failure(record).await?;
        let mut seen = self.breaker.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.minute == minute {
            // What it knew of the other buckets holds; this one grew.
            seen.this_minute += 1;
        }
        Ok(())
    }

    /// Whether the breaker asks the attempt of `client` for the challenge:
    /// it is tripped, and the client has no trust.
    pub(crate) async fn breaker_asks(
        &self,
        client: &ClientInfo,
        request: Option<&RequestInfo>,
    ) -> Result<bool, AxesError> {
        if self.config().site_breaker.is_none() || !self.breaker_tripped().await? {
            return Ok(false);
        }
        Ok(!self.trusted_site_wide(client, request).await?)
    }

    /// Whether the failure rate is past the budget now.
    async fn breaker_tripped(&self) -> Result<bool, AxesError> {
        let Some(breaker) = self.config().site_breaker else {
            return Ok(false);
        };
        let now = self.now();
        let minute = minute_of(now);
        let cached = *self.breaker.seen.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = cached.minute == minute
            && to_millis(now).saturating_sub(cached.at_ms) < FRESH.as_millis() as i64;
        let seen = if fresh {
            cached
        } else {
            let counters = self.timed_store().counters(&bucket_keys(minute)).await?;
            // The sum of the `bucket`th bucket's counters.
            let count = |bucket: usize| -> u64 {
                counters
                    .chunks(SHARDS as usize)
                    .nth(bucket)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|counter: &Counter| counter.failures)
                    .sum()
            };
            Seen {
                at_ms: to_millis(now),
                minute,
                this_minute: count(0),
                last_minute: count(1),
                last_hour: count(2),
                tripped: cached.tripped,
            }
        };
        // The last minute, as much of it as is still within a minute.
        let into = now
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64()
            % 60.0;
        let rate = seen.this_minute as f64 + seen.last_minute as f64 * (1.0 - into / 60.0);
        let budget = breaker.budget(seen.last_hour);
        let tripped = rate > budget as f64;
        *self.breaker.seen.lock().unwrap_or_else(|e| e.into_inner()) = Seen { tripped, ..seen };
        if tripped != cached.tripped {
            self.tell_breaker(tripped, rate as u64, budget, now);
        }
        Ok(tripped)
    }

    /// A log line, an event and the gauge for a trip or a clear.
    fn tell_breaker(&self, tripped: bool, rate: u64, budget: u64, at: SystemTime) {
        #[cfg(feature = "metrics")]
        crate::metrics::breaker(tripped);
        if tripped {
            tracing::warn!(target: "axes", failures_per_minute = rate, budget, "site breaker tripped: clients without trust must pass the challenge");
            self.emit(|| AxesEvent::BreakerTripped {
                failures_per_minute: rate,
                budget,
                at,
            });
        } else {
            tracing::info!(target: "axes", failures_per_minute = rate, budget, "site breaker cleared");
            self.emit(|| AxesEvent::BreakerCleared {
                failures_per_minute: rate,
                budget,
                at,
            });
        }
    }

    /// Whether `client` has trust: a device cookie that vouches for its
    /// username, or a login of that username from its address and user
    /// agent within `trusted_client_window` (30 days without it).
    async fn trusted_site_wide(
        &self,
        client: &ClientInfo,
        request: Option<&RequestInfo>,
    ) -> Result<bool, AxesError> {
        let Some(username) = client.username() else {
            return Ok(false);
        };
        let window = self.config().trusted_client_window.unwrap_or(DEFAULT_TRUST);
        self.known_device(client, request, username, window).await
    }
}
