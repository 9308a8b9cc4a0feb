//! [`AccessLogBuffer`]: the memory store's access log, bounded, with its
//! open entries indexed by (username, session hash), so that a logout
//! closes its entries without reading the whole log, and each client's
//! latest login indexed, so that the trusted-client check reads one entry.
//!
//! Each index is built when it is first used (the first logout, the first
//! trusted-client check) and kept from then on, so an application that
//! never logs out nor trusts clients pays for neither. Once built, appending
//! an entry allocates nothing beyond the entry itself for a client seen
//! before: the open entries are bucketed by a keyed hash of their
//! (username, session hash) and checked against the entry on use, and
//! clients are looked up by borrowed parts (a `dyn ClientKey`, which both
//! the owned and the borrowed client are).

use std::borrow::Borrow;
use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;
use std::time::SystemTime;

use super::budget;
use crate::store::records::AccessLog;

#[derive(Debug, Default)]
pub(crate) struct AccessLogBuffer<S = RandomState> {
    entries: VecDeque<AccessLog>,
    /// The sequence number of `entries[0]`; each entry's is its position
    /// plus this.
    first: u64,
    /// The sequence numbers of the entries not logged out yet, oldest
    /// first, bucketed by the keyed hash of their (username, session hash).
    /// A bucket may hold other sessions' entries (a hash collision): each
    /// is checked against the entry it names.
    open: Option<HashMap<u64, VecDeque<u64>>>,
    /// For each (username, IP, user agent) client, its entries' (time,
    /// sequence number) whose time no later entry of the client exceeds,
    /// oldest first: the front is the client's latest login, kept right as
    /// the oldest entries go (a sliding-window maximum).
    latest: Option<HashMap<Client, Logins, S>>,
    /// Keys the session hash.
    hasher: S,
    /// What the entries and their index entries cost, about.
    bytes: usize,
}

/// A client's logins that no later one of it outdates: (time, sequence
/// number), oldest first.
type Logins = VecDeque<(SystemTime, u64)>;

/// A client of the access log: (username, IP, user agent).
#[derive(Debug)]
struct Client {
    username: Box<str>,
    ip_address: Option<IpAddr>,
    user_agent: Box<str>,
}

/// A client by its borrowed parts.
struct ClientRef<'a> {
    username: &'a str,
    ip_address: Option<IpAddr>,
    user_agent: &'a str,
}

impl<'a> ClientRef<'a> {
    fn of(entry: &'a AccessLog) -> Self {
        Self {
            username: &entry.username,
            ip_address: entry.ip_address,
            user_agent: &entry.user_agent,
        }
    }

    fn owned(&self) -> Client {
        Client {
            username: self.username.into(),
            ip_address: self.ip_address,
            user_agent: self.user_agent.into(),
        }
    }
}

/// A client by its parts, owned or borrowed: what the map of latest
/// logins is keyed and looked up by, so that a lookup allocates nothing.
trait ClientKey {
    fn parts(&self) -> (&str, Option<IpAddr>, &str);
}

impl ClientKey for Client {
    fn parts(&self) -> (&str, Option<IpAddr>, &str) {
        (&self.username, self.ip_address, &self.user_agent)
    }
}

impl ClientKey for ClientRef<'_> {
    fn parts(&self) -> (&str, Option<IpAddr>, &str) {
        (self.username, self.ip_address, self.user_agent)
    }
}

impl Hash for dyn ClientKey + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parts().hash(state);
    }
}

impl PartialEq for dyn ClientKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn ClientKey + '_ {}

// The owned client hashes and compares as its borrowed form does.
impl Hash for Client {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self as &dyn ClientKey).hash(state);
    }
}

impl PartialEq for Client {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for Client {}

impl<'a> Borrow<dyn ClientKey + 'a> for Client {
    fn borrow(&self) -> &(dyn ClientKey + 'a) {
        self
    }
}

impl<S: BuildHasher + Clone> AccessLogBuffer<S> {
    pub fn iter(&self) -> impl Iterator<Item = &AccessLog> {
        self.entries.iter()
    }

    /// What the log costs, about.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The bucket of the open entries of `username` with `session_hash`.
    fn session(&self, username: &str, session_hash: &str) -> u64 {
        self.hasher.hash_one((username, session_hash))
    }

    fn is_session(entry: &AccessLog, username: &str, session_hash: &str) -> bool {
        entry.username == username && entry.session_hash == session_hash
    }

    /// Appends `entry`, dropping the oldest beyond `max` entries or
    /// `max_bytes` (an entry larger than that alone is not kept).
    pub fn push(&mut self, entry: AccessLog, max: usize, max_bytes: usize) {
        let cost = budget::access_log(&entry);
        if cost > max_bytes {
            return;
        }
        while self.entries.len() >= max.max(1) || self.bytes + cost > max_bytes {
            self.pop_front();
        }
        self.bytes += cost;
        let seq = self.first + self.entries.len() as u64;
        self.index(&entry, seq);
        self.entries.push_back(entry);
    }

    /// Adds `entry`, numbered `seq`, to the indexes built so far.
    fn index(&mut self, entry: &AccessLog, seq: u64) {
        if entry.logout_time.is_none() && self.open.is_some() {
            let bucket = self.session(&entry.username, &entry.session_hash);
            if let Some(open) = &mut self.open {
                open.entry(bucket).or_default().push_back(seq);
            }
        }
        let Some(latest) = &mut self.latest else {
            return;
        };
        let client = ClientRef::of(entry);
        let times = match latest.get_mut(&client as &dyn ClientKey) {
            Some(times) => times,
            None => latest.entry(client.owned()).or_default(),
        };
        while times
            .back()
            .is_some_and(|(at, _)| *at <= entry.attempt_time)
        {
            times.pop_back();
        }
        times.push_back((entry.attempt_time, seq));
    }

    /// Builds the indexes `open` and `latest` ask for, if not built yet.
    fn build(&mut self, open: bool, latest: bool) {
        let new_open = open && self.open.is_none();
        let new_latest = latest && self.latest.is_none();
        if !new_open && !new_latest {
            return;
        }
        let (old_open, old_latest) = (self.open.take(), self.latest.take());
        if new_open {
            self.open = Some(HashMap::new());
        }
        if new_latest {
            self.latest = Some(HashMap::with_hasher(self.hasher.clone()));
        }
        // Index every entry in the new indexes only.
        let entries = std::mem::take(&mut self.entries);
        for (i, entry) in entries.iter().enumerate() {
            self.index(entry, self.first + i as u64);
        }
        self.entries = entries;
        if !new_open {
            self.open = old_open;
        }
        if !new_latest {
            self.latest = old_latest;
        }
    }

    /// When the client last logged in, if an entry of it is kept.
    pub fn latest_login(
        &mut self,
        username: &str,
        ip: IpAddr,
        user_agent: &str,
    ) -> Option<SystemTime> {
        self.build(false, true);
        let client = ClientRef {
            username,
            ip_address: Some(ip),
            user_agent,
        };
        self.latest
            .as_ref()?
            .get(&client as &dyn ClientKey)?
            .front()
            .map(|(at, _)| *at)
    }

    /// Sets the logout time of the open entries of `username` with
    /// `session_hash`; how many were closed.
    pub fn log_out(&mut self, username: &str, session_hash: &str, at: SystemTime) -> u64 {
        self.build(true, false);
        let bucket = self.session(username, session_hash);
        let Some(open) = &mut self.open else {
            return 0;
        };
        let Some(seqs) = open.get_mut(&bucket) else {
            return 0;
        };
        let mut closed = 0;
        seqs.retain(|seq| {
            let index = seq.checked_sub(self.first).map(|i| i as usize);
            match index.and_then(|i| self.entries.get_mut(i)) {
                Some(entry) if Self::is_session(entry, username, session_hash) => {
                    entry.logout_time = Some(at);
                    closed += 1;
                    false
                }
                Some(_) => true,
                None => false,
            }
        });
        if seqs.is_empty() {
            open.remove(&bucket);
        }
        closed
    }

    /// Keeps the entries logged at or after `since`; how many were dropped.
    pub fn retain_since(&mut self, since: SystemTime) -> u64 {
        self.retain(|e| e.attempt_time >= since)
    }

    /// Keeps the entries `keep` keeps, and indexes only them; how many
    /// were dropped.
    pub fn retain(&mut self, keep: impl Fn(&AccessLog) -> bool) -> u64 {
        let before = self.entries.len();
        let kept: Vec<AccessLog> = self.entries.drain(..).filter(|e| keep(e)).collect();
        let dropped = (before - kept.len()) as u64;
        self.first += before as u64;
        if let Some(open) = &mut self.open {
            open.clear();
        }
        if let Some(latest) = &mut self.latest {
            latest.clear();
        }
        self.bytes = 0;
        for entry in kept {
            self.push(entry, usize::MAX, usize::MAX);
        }
        dropped
    }

    fn pop_front(&mut self) {
        let Some(entry) = self.entries.pop_front() else {
            return;
        };
        self.bytes -= budget::access_log(&entry);
        let seq = self.first;
        self.first += 1;
        if let Some(latest) = &mut self.latest {
            let client = ClientRef::of(&entry);
            if let Some(times) = latest.get_mut(&client as &dyn ClientKey) {
                if times.front().is_some_and(|(_, s)| *s == seq) {
                    times.pop_front();
                }
                if times.is_empty() {
                    latest.remove(&client as &dyn ClientKey);
                }
            }
        }
        if entry.logout_time.is_none() && self.open.is_some() {
            // The oldest entry is the first of its bucket.
            let bucket = self.session(&entry.username, &entry.session_hash);
            if let Some(open) = &mut self.open {
                if let Some(seqs) = open.get_mut(&bucket) {
                    if seqs.front() == Some(&seq) {
                        seqs.pop_front();
                    }
                    if seqs.is_empty() {
                        open.remove(&bucket);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::hash::Hasher;
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    fn entry(user: u8, session: u8, time: u64) -> AccessLog {
        AccessLog {
            username: format!("user{user}"),
            ip_address: Some(IP),
            user_agent: String::new(),
            path_info: String::new(),
            http_accept: String::new(),
            session_hash: format!("s{session}"),
            attempt_time: at(time),
            logout_time: None,
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Login(u8, u8, u64),
        Logout(u8, u8, u64),
        RetainSince(u64),
        /// Read every user's latest login (the first read builds its index).
        CheckLatest,
    }

    /// Hashes everything alike: every session shares one bucket.
    #[derive(Default, Clone)]
    struct Colliding;

    impl BuildHasher for Colliding {
        type Hasher = Constant;
        fn build_hasher(&self) -> Constant {
            Constant
        }
    }

    struct Constant;

    impl Hasher for Constant {
        fn finish(&self) -> u64 {
            7
        }
        fn write(&mut self, _: &[u8]) {}
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        proptest::collection::vec(
            prop_oneof![
                4 => (0u8..3, 0u8..2, 0u64..50).prop_map(|(u, s, t)| Op::Login(u, s, t)),
                3 => (0u8..3, 0u8..2, 50u64..100).prop_map(|(u, s, t)| Op::Logout(u, s, t)),
                1 => (0u64..50).prop_map(Op::RetainSince),
                1 => Just(Op::CheckLatest),
            ],
            0..80,
        )
    }

    proptest! {
        #[test]
        fn behaves_like_a_scan_of_a_bounded_log(max in 1usize..6, ops in ops()) {
            against_the_model(AccessLogBuffer::<RandomState>::default(), max, ops)?;
        }

        #[test]
        fn colliding_hashes_change_nothing(max in 1usize..6, ops in ops()) {
            against_the_model(AccessLogBuffer::<Colliding>::default(), max, ops)?;
        }
    }

    fn against_the_model<S: BuildHasher + Clone>(
        mut buffer: AccessLogBuffer<S>,
        max: usize,
        ops: Vec<Op>,
    ) -> Result<(), TestCaseError> {
        {
            let mut model: VecDeque<AccessLog> = VecDeque::new();
            for op in ops {
                match op {
                    Op::Login(u, s, t) => {
                        buffer.push(entry(u, s, t), max, usize::MAX);
                        if model.len() >= max {
                            model.pop_front();
                        }
                        model.push_back(entry(u, s, t));
                    }
                    Op::Logout(u, s, t) => {
                        let closed = buffer.log_out(&format!("user{u}"), &format!("s{s}"), at(t));
                        let mut expected = 0;
                        for e in model.iter_mut().filter(|e| {
                            e.username == format!("user{u}")
                                && e.session_hash == format!("s{s}")
                                && e.logout_time.is_none()
                        }) {
                            e.logout_time = Some(at(t));
                            expected += 1;
                        }
                        prop_assert_eq!(closed, expected);
                    }
                    Op::CheckLatest => {
                        for u in 0..3u8 {
                            let username = format!("user{u}");
                            let latest = model
                                .iter()
                                .filter(|e| e.username == username)
                                .map(|e| e.attempt_time)
                                .max();
                            prop_assert_eq!(buffer.latest_login(&username, IP, ""), latest);
                        }
                    }
                    Op::RetainSince(t) => {
                        let dropped = buffer.retain_since(at(t));
                        let before = model.len();
                        model.retain(|e| e.attempt_time >= at(t));
                        prop_assert_eq!(dropped, (before - model.len()) as u64);
                    }
                }
                let entries: Vec<&AccessLog> = buffer.iter().collect();
                let expected: Vec<&AccessLog> = model.iter().collect();
                prop_assert_eq!(entries, expected);
            }
        }
        Ok(())
    }
}
