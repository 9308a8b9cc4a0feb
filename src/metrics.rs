//! What the engine counts, through the [`metrics`](https://docs.rs/metrics)
//! facade (feature `metrics`): install any recorder (Prometheus, StatsD,
//! OpenTelemetry) and these appear. Without the feature, or without a
//! recorder, they cost nothing.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `axes_attempts_total` | counter | `outcome`: `success` or `failure` (a reported outcome) |
//! | `axes_refusals_total` | counter | `reason` ([`LockoutReason::as_str`](crate::LockoutReason::as_str)): an attempt answered with the lockout response |
//! | `axes_lockouts_total` | counter | `reason`: a lockout that began (as [`AxesEvent::LockedOut`](crate::AxesEvent::LockedOut)) |
//! | `axes_challenges_total` | counter | `outcome`: `passed`, `failed`, or `skipped` (an outcome reported without the challenge asked for) |
//! | `axes_unlocks_total` | counter | `outcome`: `redeemed`, or why a token was refused (`invalid`, `expired`, `used`, `revoked`; `error` when the store failed) |
//! | `axes_breaker_tripped` | gauge | 1 while the site-wide breaker is tripped (as this server saw it), 0 once cleared |
//! | `axes_store_errors_total` | counter | `operation`: a store call that failed or timed out |
//! | `axes_store_call_seconds` | histogram | `operation`: how long each store call took |
//!
//! No metric is labelled by username, IP address or any other value a
//! client chooses: their number of series is fixed.
//!
//! ```
//! // With the feature on, the names are constants too.
//! assert_eq!(axes::metrics::ATTEMPTS, "axes_attempts_total");
//! ```

use std::time::Duration;

use crate::policy::LockoutReason;

/// Reported outcomes, by `outcome`.
pub const ATTEMPTS: &str = "axes_attempts_total";
/// Attempts answered with the lockout response, by `reason`.
pub const REFUSALS: &str = "axes_refusals_total";
/// Lockouts that began, by `reason`.
pub const LOCKOUTS: &str = "axes_lockouts_total";
/// Challenges reported, by `outcome`.
pub const CHALLENGES: &str = "axes_challenges_total";
/// Unlock tokens redeemed or refused, by `outcome`.
pub const UNLOCKS: &str = "axes_unlocks_total";
/// 1 while the site-wide breaker is tripped, 0 once cleared.
pub const BREAKER_TRIPPED: &str = "axes_breaker_tripped";
/// Store calls that failed, by `operation`.
pub const STORE_ERRORS: &str = "axes_store_errors_total";
/// Store call durations in seconds, by `operation`.
pub const STORE_CALL_SECONDS: &str = "axes_store_call_seconds";

/// Counts a reported outcome: `"success"` or `"failure"`.
pub(crate) fn attempt(outcome: &'static str) {
    metrics::counter!(ATTEMPTS, "outcome" => outcome).increment(1);
}

/// Counts an attempt answered with the lockout response.
pub(crate) fn refusal(reason: LockoutReason) {
    metrics::counter!(REFUSALS, "reason" => reason.as_str()).increment(1);
}

/// Counts a lockout that began.
pub(crate) fn lockout(reason: LockoutReason) {
    metrics::counter!(LOCKOUTS, "reason" => reason.as_str()).increment(1);
}

/// Counts a challenge: `"passed"`, `"failed"` or `"skipped"`.
pub(crate) fn challenge(outcome: &'static str) {
    metrics::counter!(CHALLENGES, "outcome" => outcome).increment(1);
}

/// Sets the breaker's gauge.
pub(crate) fn breaker(tripped: bool) {
    metrics::gauge!(BREAKER_TRIPPED).set(f64::from(u8::from(tripped)));
}

/// Counts an unlock token redeemed (`"redeemed"`) or refused (why).
pub(crate) fn unlock(outcome: &'static str) {
    metrics::counter!(UNLOCKS, "outcome" => outcome).increment(1);
}

/// Records a store call: its duration, and whether it failed.
pub(crate) fn store_call(operation: &'static str, took: Duration, failed: bool) {
    metrics::histogram!(STORE_CALL_SECONDS, "operation" => operation).record(took.as_secs_f64());
    if failed {
        metrics::counter!(STORE_ERRORS, "operation" => operation).increment(1);
    }
}
