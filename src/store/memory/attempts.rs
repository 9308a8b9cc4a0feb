//! [`AttemptIndex`]: the memory store's attempt records, indexed by IP and
//! by username, so that a filtered read (password-spray detection reads
//! one IP's records on every failure) costs the records it returns, not
//! every record held.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use super::budget::{self, Lifetime};
use crate::store::records::{AccessAttempt, AttemptFilter};

/// An attempt record, how long it matters, and what it costs.
#[derive(Debug)]
pub(crate) struct Tracked {
    pub record: AccessAttempt,
    pub life: Lifetime,
    pub bytes: usize,
}

/// The records by key, and their keys by IP and by username; a key is
/// allocated once and shared by the three.
#[derive(Debug, Default)]
pub(crate) struct AttemptIndex {
    records: HashMap<Arc<str>, Tracked>,
    by_ip: HashMap<IpAddr, HashSet<Arc<str>>>,
    by_username: HashMap<String, HashSet<Arc<str>>>,
    bytes: usize,
}

impl AttemptIndex {
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// The bytes the records and their index entries take, about.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn get(&self, key: &str) -> Option<&Tracked> {
        self.records.get(key)
    }

    /// Updates the record under `key` in place (its indexed IP and username
    /// stay as they are) and its cost; `false` when there is none.
    pub fn update(
        &mut self,
        key: &str,
        change: impl FnOnce(&mut AccessAttempt, &mut Lifetime),
    ) -> bool {
        let Some(tracked) = self.records.get_mut(key) else {
            return false;
        };
        change(&mut tracked.record, &mut tracked.life);
        let bytes = budget::attempt(key, &tracked.record);
        self.bytes = self.bytes - tracked.bytes + bytes;
        tracked.bytes = bytes;
        true
    }

    pub fn values(&self) -> impl Iterator<Item = &Tracked> {
        self.records.values()
    }

    /// Adds (or replaces) the record under `key`.
    pub fn insert(&mut self, key: String, record: AccessAttempt, life: Lifetime) {
        self.remove(&key);
        let key: Arc<str> = key.into();
        if let Some(ip) = record.ip_address {
            self.by_ip.entry(ip).or_default().insert(key.clone());
        }
        if let Some(username) = &record.username {
            self.by_username
                .entry(username.clone())
                .or_default()
                .insert(key.clone());
        }
        let bytes = budget::attempt(&key, &record);
        self.bytes += bytes;
        self.records.insert(
            key,
            Tracked {
                record,
                life,
                bytes,
            },
        );
    }

    pub fn remove(&mut self, key: &str) -> Option<AccessAttempt> {
        let tracked = self.records.remove(key)?;
        self.bytes -= tracked.bytes;
        unindex(&mut self.by_ip, &mut self.by_username, key, &tracked.record);
        Some(tracked.record)
    }

    /// Keeps the records `keep` says to keep, in one pass; how many went.
    pub fn retain(&mut self, mut keep: impl FnMut(&Tracked) -> bool) -> usize {
        let before = self.records.len();
        let Self {
            records,
            by_ip,
            by_username,
            bytes,
        } = self;
        records.retain(|key, tracked| {
            let kept = keep(tracked);
            if !kept {
                *bytes -= tracked.bytes;
                unindex(by_ip, by_username, key, &tracked.record);
            }
            kept
        });
        before - self.records.len()
    }

    pub fn clear(&mut self) {
        self.bytes = 0;
        self.records.clear();
        self.by_ip.clear();
        self.by_username.clear();
    }

    /// The records `filter` covers, read through the index where it can.
    pub fn filtered<'a>(&'a self, filter: &AttemptFilter) -> Vec<(&'a str, &'a AccessAttempt)> {
        let of_ip = |ip: &IpAddr| self.by_ip.get(&ip.to_canonical());
        let of_user = |u: &str| self.by_username.get(u);
        let keys: Vec<&Arc<str>> = match filter {
            AttemptFilter::All => self.records.keys().collect(),
            AttemptFilter::Ip(ip) | AttemptFilter::IpAndUsername(ip, _) => {
                of_ip(ip).into_iter().flatten().collect()
            }
            AttemptFilter::Username(username) => of_user(username).into_iter().flatten().collect(),
            AttemptFilter::IpOrUsername(ip, username) => {
                let by_ip = of_ip(ip);
                let others = of_user(username)
                    .into_iter()
                    .flatten()
                    .filter(|key| !by_ip.is_some_and(|keys| keys.contains(*key)));
                by_ip.into_iter().flatten().chain(others).collect()
            }
        };
        keys.into_iter()
            .filter_map(|key| {
                let record = &self.records.get(key)?.record;
                filter.matches(record).then_some((&**key, record))
            })
            .collect()
    }
}

/// Takes `key` out of the IP and username indexes of `record`.
fn unindex(
    by_ip: &mut HashMap<IpAddr, HashSet<Arc<str>>>,
    by_username: &mut HashMap<String, HashSet<Arc<str>>>,
    key: &str,
    record: &AccessAttempt,
) {
    if let Some(ip) = record.ip_address {
        if let Some(keys) = by_ip.get_mut(&ip) {
            keys.remove(key);
            if keys.is_empty() {
                by_ip.remove(&ip);
            }
        }
    }
    if let Some(username) = &record.username {
        if let Some(keys) = by_username.get_mut(username) {
            keys.remove(key);
            if keys.is_empty() {
                by_username.remove(username);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::{Duration, SystemTime};

    use proptest::prelude::*;

    use super::*;

    const LIFE: Lifetime = Lifetime {
        expires: None,
        protected: None,
    };

    fn record(ip: u8, username: Option<u8>, time: u64) -> AccessAttempt {
        AccessAttempt {
            username: username.map(|u| format!("user{u}")),
            ip_address: Some(IpAddr::from([192, 0, 2, ip])),
            user_agent: String::new(),
            path_info: String::new(),
            http_accept: String::new(),
            get_data: String::new(),
            post_data: String::new(),
            failures: 1,
            attempt_time: SystemTime::UNIX_EPOCH + Duration::from_secs(time),
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, u8, Option<u8>, u64),
        Remove(u8),
        RetainAfter(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..12, 0u8..4, proptest::option::of(0u8..4), 0u64..100)
                .prop_map(|(k, ip, u, t)| Op::Insert(k, ip, u, t)),
            1 => (0u8..12).prop_map(Op::Remove),
            1 => (0u64..100).prop_map(Op::RetainAfter),
        ]
    }

    proptest! {
        #[test]
        fn filtered_reads_match_a_full_scan(ops in proptest::collection::vec(op(), 0..60)) {
            let mut index = AttemptIndex::default();
            for op in ops {
                match op {
                    Op::Insert(key, ip, username, time) => {
                        index.insert(format!("k{key}"), record(ip, username, time), LIFE);
                    }
                    Op::Remove(key) => {
                        index.remove(&format!("k{key}"));
                    }
                    Op::RetainAfter(time) => {
                        let cut = SystemTime::UNIX_EPOCH + Duration::from_secs(time);
                        index.retain(|t| t.record.attempt_time >= cut);
                    }
                }
            }
            let ip = IpAddr::from([192, 0, 2, 1]);
            let filters = [
                AttemptFilter::All,
                AttemptFilter::Ip(ip),
                AttemptFilter::Username("user1".into()),
                AttemptFilter::IpAndUsername(ip, "user1".into()),
                AttemptFilter::IpOrUsername(ip, "user2".into()),
            ];
            for filter in &filters {
                let indexed: Vec<&str> = index.filtered(filter).into_iter().map(|(k, _)| k).collect();
                let unique: BTreeSet<&str> = indexed.iter().copied().collect();
                prop_assert_eq!(unique.len(), indexed.len(), "no record twice");
                let scanned: BTreeSet<&str> = index
                    .records
                    .iter()
                    .filter(|(_, t)| filter.matches(&t.record))
                    .map(|(k, _)| &**k)
                    .collect();
                prop_assert_eq!(unique, scanned);
            }
            let indexed: usize = index.by_ip.values().map(HashSet::len).sum();
            prop_assert_eq!(indexed, index.len(), "every record indexed by IP once");
            let bytes: usize = index.records.iter().map(|(k, t)| budget::attempt(k, &t.record)).sum();
            prop_assert_eq!(index.bytes(), bytes, "the cost is the sum of the records'");
        }
    }
}
