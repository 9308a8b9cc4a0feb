//! [`AccessLogBuffer`]: the memory store's access log, bounded, with its
//! open entries indexed by (username, session hash), so that a logout
//! closes its entries without reading the whole log.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::SystemTime;

use super::budget;
use crate::store::AccessLog;

#[derive(Debug, Default)]
pub(crate) struct AccessLogBuffer {
    entries: VecDeque<AccessLog>,
    /// The sequence number of `entries[0]`; each entry's is its position
    /// plus this.
    first: u64,
    /// The sequence numbers of the entries not logged out yet, oldest
    /// first, by (username, session hash).
    open: HashMap<(String, String), VecDeque<u64>>,
    /// For each (username, IP, user agent) client, its entries' (time,
    /// sequence number) whose time no later entry of the client exceeds,
    /// oldest first: the front is the client's latest login, kept right as
    /// the oldest entries go (a sliding-window maximum).
    latest: HashMap<Client, VecDeque<(SystemTime, u64)>>,
    /// What the entries and their index entries cost, about.
    bytes: usize,
}

/// A client of the access log: (username, IP, user agent).
type Client = (String, Option<IpAddr>, String);

fn client_of(entry: &AccessLog) -> Client {
    (
        entry.username.clone(),
        entry.ip_address,
        entry.user_agent.clone(),
    )
}

impl AccessLogBuffer {
    pub fn iter(&self) -> impl Iterator<Item = &AccessLog> {
        self.entries.iter()
    }

    /// What the log costs, about.
    pub fn bytes(&self) -> usize {
        self.bytes
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
        if entry.logout_time.is_none() {
            self.open
                .entry((entry.username.clone(), entry.session_hash.clone()))
                .or_default()
                .push_back(seq);
        }
        let latest = self.latest.entry(client_of(&entry)).or_default();
        while latest
            .back()
            .is_some_and(|(at, _)| *at <= entry.attempt_time)
        {
            latest.pop_back();
        }
        latest.push_back((entry.attempt_time, seq));
        self.entries.push_back(entry);
    }

    /// When the client last logged in, if an entry of it is kept.
    pub fn latest_login(&self, username: &str, ip: IpAddr, user_agent: &str) -> Option<SystemTime> {
        let client = (username.to_owned(), Some(ip), user_agent.to_owned());
        self.latest.get(&client)?.front().map(|(at, _)| *at)
    }

    /// Sets the logout time of the open entries of `username` with
    /// `session_hash`; how many were closed.
    pub fn log_out(&mut self, username: &str, session_hash: &str, at: SystemTime) -> u64 {
        let key = (username.to_owned(), session_hash.to_owned());
        let Some(seqs) = self.open.remove(&key) else {
            return 0;
        };
        let mut closed = 0;
        for seq in seqs {
            let index = seq.checked_sub(self.first).map(|i| i as usize);
            if let Some(entry) = index.and_then(|i| self.entries.get_mut(i)) {
                entry.logout_time = Some(at);
                closed += 1;
            }
        }
        closed
    }

    /// Keeps the entries logged at or after `since`; how many were dropped.
    pub fn retain_since(&mut self, since: SystemTime) -> u64 {
        let before = self.entries.len();
        let kept: Vec<AccessLog> = self
            .entries
            .drain(..)
            .filter(|e| e.attempt_time >= since)
            .collect();
        let dropped = (before - kept.len()) as u64;
        self.first += before as u64;
        self.open.clear();
        self.latest.clear();
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
        let client = client_of(&entry);
        if let Some(latest) = self.latest.get_mut(&client) {
            if latest.front().is_some_and(|(_, s)| *s == seq) {
                latest.pop_front();
            }
            if latest.is_empty() {
                self.latest.remove(&client);
            }
        }
        if entry.logout_time.is_none() {
            let key = (entry.username, entry.session_hash);
            if let Some(seqs) = self.open.get_mut(&key) {
                if seqs.front() == Some(&seq) {
                    seqs.pop_front();
                }
                if seqs.is_empty() {
                    self.open.remove(&key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
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
    }

    proptest! {
        #[test]
        fn behaves_like_a_scan_of_a_bounded_log(
            max in 1usize..6,
            ops in proptest::collection::vec(prop_oneof![
                4 => (0u8..3, 0u8..2, 0u64..50).prop_map(|(u, s, t)| Op::Login(u, s, t)),
                3 => (0u8..3, 0u8..2, 50u64..100).prop_map(|(u, s, t)| Op::Logout(u, s, t)),
                1 => (0u64..50).prop_map(Op::RetainSince),
            ], 0..80),
        ) {
            let mut buffer = AccessLogBuffer::default();
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
                            e.username == format!("user{u}") && e.session_hash == format!("s{s}") && e.logout_time.is_none()
                        }) {
                            e.logout_time = Some(at(t));
                            expected += 1;
                        }
                        prop_assert_eq!(closed, expected);
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
        }
    }
}
