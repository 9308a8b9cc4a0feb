//! What the memory store's entries cost and how long they matter: the
//! byte estimates its budget counts, and each entry's [`Lifetime`].

use std::mem::size_of;
use std::time::SystemTime;

use crate::identity::LockoutKey;
use crate::policy::Counter;
use crate::store::records::{AccessAttempt, AccessFailureLog, AccessLog};

/// What a map slot and its allocations cost beyond their contents, about.
const SLOT: usize = 64;

/// How long an entry counts, and how long it must be kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Lifetime {
    /// When it stops counting (`None`: never, a window of forever).
    pub expires: Option<SystemTime>,
    /// It locks, or led to a lock: never evicted before this (`Some(None)`:
    /// until reset; `None`: not protected).
    pub protected: Option<Option<SystemTime>>,
}

impl Lifetime {
    /// Whether the entry may be evicted at `now`.
    pub fn evictable(&self, now: SystemTime) -> bool {
        match self.protected {
            None => true,
            Some(None) => false,
            Some(Some(until)) => until < now,
        }
    }

    /// Whether the entry stopped counting before `now` and may go.
    pub fn expired(&self, now: SystemTime) -> bool {
        self.expires.is_some_and(|at| at < now) && self.evictable(now)
    }

    /// Protects the entry until `until` too.
    pub fn protect(&mut self, until: Option<Option<SystemTime>>) {
        self.protected = later(self.protected, until);
    }
}

/// The later of two protections (`Some(None)`, until reset, is the latest).
pub(crate) fn later(
    a: Option<Option<SystemTime>>,
    b: Option<Option<SystemTime>>,
) -> Option<Option<SystemTime>> {
    match (a, b) {
        (None, other) | (other, None) => other,
        (Some(None), _) | (_, Some(None)) => Some(None),
        (Some(Some(a)), Some(Some(b))) => Some(Some(a.max(b))),
    }
}

fn text(value: &str) -> usize {
    value.len()
}

/// A lockout key: its parts.
pub(crate) fn key(key: &LockoutKey) -> usize {
    size_of::<LockoutKey>() + key.username().map_or(0, text) + key.user_agent().map_or(0, text)
}

/// A counter under a key of `key_len` bytes.
pub(crate) fn counter(key_len: usize, counter: &Counter) -> usize {
    SLOT + key_len
        + size_of::<(Counter, Lifetime)>()
        + counter.recent.capacity() * size_of::<SystemTime>()
}

/// An attempt record under its key, with its two index entries.
pub(crate) fn attempt(key: &str, record: &AccessAttempt) -> usize {
    3 * (SLOT + key.len())
        + size_of::<(AccessAttempt, Lifetime)>()
        + 2 * record.username.as_deref().map_or(0, text)
        + text(&record.user_agent)
        + text(&record.path_info)
        + text(&record.http_accept)
        + text(&record.get_data)
        + text(&record.post_data)
}

/// An access log entry, with its open-session and latest-login index entries.
pub(crate) fn access_log(entry: &AccessLog) -> usize {
    3 * SLOT
        + size_of::<AccessLog>()
        + 3 * text(&entry.username)
        + 2 * text(&entry.user_agent)
        + 2 * text(&entry.session_hash)
        + text(&entry.path_info)
        + text(&entry.http_accept)
}

/// A failure log entry.
pub(crate) fn failure_log(entry: &AccessFailureLog) -> usize {
    SLOT + size_of::<AccessFailureLog>()
        + entry.username.as_deref().map_or(0, text)
        + text(&entry.user_agent)
        + text(&entry.path_info)
        + text(&entry.http_accept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn protection_keeps_the_later_end_and_until_reset_wins() {
        let t = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let mut life = Lifetime {
            expires: Some(t(10)),
            protected: None,
        };
        assert!(life.expired(t(11)) && life.evictable(t(0)));
        life.protect(Some(Some(t(20))));
        life.protect(Some(Some(t(15))));
        assert!(!life.expired(t(11)) && !life.evictable(t(20)) && life.evictable(t(21)));
        life.protect(Some(None));
        life.protect(Some(Some(t(30))));
        assert!(!life.evictable(t(1_000_000)));
    }
}
