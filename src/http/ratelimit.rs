//! The `RateLimit-Policy` and `RateLimit` headers of the IETF
//! httpapi-ratelimit-headers draft (draft-ietf-httpapi-ratelimit-headers-11),
//! with `ratelimit_headers`: one policy, `"axes"`, whose quota `q` is the
//! failure limit and whose window `w` the cool-off; `r` is the attempts
//! left, `t` the seconds until they reset, when that is known; `pk`, the
//! partition key, a Byte Sequence that names the client's partition (a
//! hash of its lockout keys: the same for every request counted together,
//! and nothing of its address or username in clear).
//!
//! ```text
//! RateLimit-Policy: "axes";q=5;w=900;pk=:dGFnc3RhZ3M=:
//! RateLimit: "axes";r=2;t=900;pk=:dGFnc3RhZ3M=:
//! ```

use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use http::header::{HeaderMap, HeaderName, HeaderValue};

use axum::response::Response;

use crate::config::LockoutResponseMode;
use crate::engine::{Answer, Axes, FailureOutcome, Headroom, Verdict};
use crate::policy::Lockout;

const POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// What the headers of one response say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quota {
    limit: u32,
    window: Option<Duration>,
    remaining: u64,
    reset: Option<Duration>,
    partition: Option<u64>,
}

impl Quota {
    /// Where a checked attempt stands (`None` when no lockout comes).
    pub fn of(headroom: Headroom) -> Option<Self> {
        Some(Self {
            limit: headroom.failure_limit,
            window: headroom.cooloff,
            remaining: headroom.attempts_left?,
            reset: None,
            partition: headroom.partition,
        })
    }

    /// After a recorded failure: its attempts left, reset one cool-off on.
    pub fn after_failure(
        headroom: Headroom,
        outcome: &FailureOutcome,
        now: SystemTime,
    ) -> Option<Self> {
        if let Some(lockout) = &outcome.lockout {
            return Self::refused(headroom, lockout, now);
        }
        Some(Self {
            remaining: outcome.attempts_left?,
            reset: headroom.cooloff,
            ..Self::of(headroom)?
        })
    }

    /// After the verdict on a reported attempt.
    pub fn of_verdict(headroom: Headroom, verdict: &Verdict, now: SystemTime) -> Option<Self> {
        match (verdict.failure(), verdict.answer()) {
            (Some(outcome), _) => Self::after_failure(headroom, outcome, now),
            (None, Answer::Refused(lockout)) => Self::refused(headroom, lockout, now),
            (None, _) => Self::of(headroom),
        }
    }

    /// A refusal: none left, until the lockout ends.
    pub fn refused(headroom: Headroom, lockout: &Lockout, now: SystemTime) -> Option<Self> {
        Some(Self {
            limit: headroom.failure_limit,
            window: headroom.cooloff,
            remaining: 0,
            partition: headroom.partition,
            reset: lockout
                .locked_until
                .map(|until| until.duration_since(now).unwrap_or_default()),
        })
    }

    /// Sets the headers of `quota`, if any, on `response`.
    pub fn apply_to(quota: Option<Self>, axes: &Axes, response: &mut Response) {
        if let Some(quota) = quota {
            quota.apply(axes, response.headers_mut());
        }
    }

    /// Sets the headers on `headers`, when `ratelimit_headers` asks for
    /// them and the lockout response does not hide them.
    fn apply(self, axes: &Axes, headers: &mut HeaderMap) {
        let config = axes.config();
        if !config.ratelimit_headers
            || config.lockout_response == LockoutResponseMode::Indistinguishable
        {
            return;
        }
        let mut policy = format!("\"axes\";q={}", self.limit);
        if let Some(window) = self.window {
            policy.push_str(&format!(";w={}", window.as_secs().max(1)));
        }
        let mut state = format!("\"axes\";r={}", self.remaining);
        if let Some(reset) = self.reset {
            // Rounded up: a client waiting `t` seconds finds the reset done.
            let secs = reset.as_secs() + u64::from(reset.subsec_nanos() > 0);
            state.push_str(&format!(";t={secs}"));
        }
        if let Some(partition) = self.partition {
            let key = format!(";pk=:{}:", STANDARD.encode(partition.to_be_bytes()));
            policy.push_str(&key);
            state.push_str(&key);
        }
        for (name, value) in [(POLICY, policy), (RATELIMIT, state)] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
    }
}
