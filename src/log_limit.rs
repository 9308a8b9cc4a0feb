//! [`Every`]: at most one log line per interval for events a client can
//! repeat at will (refusals, store errors), with a count of the rest, so a
//! flood cannot write one line per request.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Counts occurrences and says when one is due for a log line.
#[derive(Debug)]
pub(crate) struct Every {
    interval_ms: i64,
    last_ms: AtomicI64,
    count: AtomicU64,
}

impl Every {
    pub(crate) const fn new(interval: Duration) -> Self {
        Self {
            interval_ms: interval.as_millis() as i64,
            last_ms: AtomicI64::new(i64::MIN),
            count: AtomicU64::new(0),
        }
    }

    /// Counts one occurrence at `now`; when a line is due (the first time,
    /// then at most once per interval), how many occurred since the last
    /// line, this one included.
    pub(crate) fn tick(&self, now: SystemTime) -> Option<u64> {
        self.count.fetch_add(1, Ordering::Relaxed);
        let now_ms = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let last = self.last_ms.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last) < self.interval_ms {
            return None;
        }
        self.last_ms
            .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
            .ok()?;
        Some(self.count.swap(0, Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_the_count() {
        let every = Every::new(Duration::from_secs(60));
        let t = |s| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(every.tick(t(1000)), Some(1));
        for s in 1001..1060 {
            assert_eq!(every.tick(t(s)), None);
        }
        assert_eq!(every.tick(t(1060)), Some(60));
        assert_eq!(every.tick(t(1061)), None);
    }
}
