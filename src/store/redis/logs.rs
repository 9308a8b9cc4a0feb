//! The access and failure logs on Redis: entries as hashes indexed by time
//! and by user, and the trusted-client index of each user's latest logins.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::SystemTime;

use ::redis::AsyncCommands;

use super::scripts::{PURGE_ACCESS_LOGS, RECORD_FAILURE_LOG};
use super::{backend, field, ip, number, part, RedisStore};
use crate::store::codec::{from_millis, to_millis};
use crate::store::error::StoreError;
use crate::store::records::{AccessFailureLog, AccessLog, AttemptFilter};

impl RedisStore {
    pub(super) async fn close_sessions(
        &self,
        username: &str,
        session_hash: &str,
        at: SystemTime,
    ) -> Result<u64, StoreError> {
        let mut con = self.connection.clone();
        let open = self.key("open", &format!("{}:{session_hash}", part(username)));
        let keys: Vec<String> = con.smembers(&open).await.map_err(backend)?;
        let mut pipe = ::redis::pipe();
        pipe.atomic();
        for key in &keys {
            pipe.hset(key, "logout", to_millis(at)).ignore();
        }
        pipe.del(&open).ignore();
        pipe.query_async::<()>(&mut con).await.map_err(backend)?;
        Ok(keys.len() as u64)
    }

    pub(super) async fn read_access_logs(
        &self,
        filter: &AttemptFilter,
    ) -> Result<Vec<AccessLog>, StoreError> {
        let maps = self.read_log_maps("logs").await?;
        let mut logs = Vec::with_capacity(maps.len());
        for map in maps {
            let entry = AccessLog {
                username: field(&map, "username")?.to_owned(),
                ip_address: ip(field(&map, "ip")?)?,
                user_agent: field(&map, "ua")?.to_owned(),
                path_info: field(&map, "path")?.to_owned(),
                http_accept: field(&map, "accept")?.to_owned(),
                session_hash: field(&map, "session")?.to_owned(),
                attempt_time: from_millis(number(&map, "time")?),
                logout_time: map
                    .contains_key("logout")
                    .then(|| number(&map, "logout"))
                    .transpose()?
                    .map(from_millis),
            };
            if filter.matches_parts(entry.ip_address, Some(&entry.username)) {
                logs.push(entry);
            }
        }
        Ok(logs)
    }

    pub(super) async fn read_latest_login(
        &self,
        username: &str,
        ip: IpAddr,
        user_agent: &str,
    ) -> Result<Option<SystemTime>, StoreError> {
        let (key, field) = self.trust_field(username, Some(ip), user_agent);
        let latest: Option<i64> = self
            .connection
            .clone()
            .hget(key, field)
            .await
            .map_err(backend)?;
        Ok(latest.map(from_millis))
    }

    pub(super) async fn purge_access_log_entries(
        &self,
        before: SystemTime,
    ) -> Result<u64, StoreError> {
        let mut con = self.connection.clone();
        let all = self.key("logs", "all");
        let old: Vec<String> = con
            .zrangebyscore(&all, "-inf", format!("({}", to_millis(before)))
            .await
            .map_err(backend)?;
        if old.is_empty() {
            return Ok(0);
        }
        let mut call = PURGE_ACCESS_LOGS.prepare_invoke();
        call.key(&all);
        for key in &old {
            call.arg(key);
        }
        call.invoke_async(&mut con).await.map_err(backend)
    }

    pub(super) async fn add_failure_log_entry(
        &self,
        entry: &AccessFailureLog,
        per_user_limit: u64,
    ) -> Result<(), StoreError> {
        // Its own kind: a user named "all" must not share `flogs:all`.
        let per_user = self.key(
            "flogs-of",
            &entry.username.as_deref().map(part).unwrap_or_default(),
        );
        let mut fields = vec![
            (
                "ip",
                entry
                    .ip_address
                    .map(|ip| ip.to_string())
                    .unwrap_or_default(),
            ),
            ("ua", entry.user_agent.clone()),
            ("path", entry.path_info.clone()),
            ("accept", entry.http_accept.clone()),
            ("time", to_millis(entry.attempt_time).to_string()),
            ("locked", u8::from(entry.locked_out).to_string()),
        ];
        if let Some(username) = &entry.username {
            fields.push(("username", username.clone()));
        }
        let mut call = RECORD_FAILURE_LOG.prepare_invoke();
        call.key(self.key("flog", "id"))
            .key(self.key("flogs", "all"))
            .key(&per_user)
            .arg(self.key("flog", ""))
            .arg(to_millis(entry.attempt_time))
            .arg(per_user_limit);
        for (name, value) in &fields {
            call.arg(*name).arg(value);
        }
        call.invoke_async::<u64>(&mut self.connection.clone())
            .await
            .map_err(backend)?;
        Ok(())
    }

    pub(super) async fn read_failure_logs(
        &self,
        filter: &AttemptFilter,
    ) -> Result<Vec<AccessFailureLog>, StoreError> {
        let maps = self.read_log_maps("flogs").await?;
        let mut logs = Vec::with_capacity(maps.len());
        for map in maps {
            let entry = AccessFailureLog {
                username: map.get("username").cloned(),
                ip_address: ip(field(&map, "ip")?)?,
                user_agent: field(&map, "ua")?.to_owned(),
                path_info: field(&map, "path")?.to_owned(),
                http_accept: field(&map, "accept")?.to_owned(),
                attempt_time: from_millis(number(&map, "time")?),
                locked_out: field(&map, "locked")? == "1",
            };
            if filter.matches_parts(entry.ip_address, entry.username.as_deref()) {
                logs.push(entry);
            }
        }
        Ok(logs)
    }
    /// The entries of a log (`logs` or `flogs`), newest first.
    pub(super) async fn read_log_maps(
        &self,
        log: &str,
    ) -> Result<Vec<HashMap<String, String>>, StoreError> {
        let entries = self.log_entries(log).await?;
        Ok(entries.into_iter().map(|(_, map)| map).collect())
    }

    /// The entries of a log (`logs` or `flogs`), newest first, each with
    /// its key.
    async fn log_entries(
        &self,
        log: &str,
    ) -> Result<Vec<(String, HashMap<String, String>)>, StoreError> {
        let mut con = self.connection.clone();
        let keys: Vec<String> = con
            .zrevrange(self.key(log, "all"), 0, -1)
            .await
            .map_err(backend)?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = ::redis::pipe();
        for key in &keys {
            pipe.hgetall(key);
        }
        let maps: Vec<HashMap<String, String>> =
            pipe.query_async(&mut con).await.map_err(backend)?;
        Ok(keys
            .into_iter()
            .zip(maps)
            .filter(|(_, map)| !map.is_empty())
            .collect())
    }

    /// Deletes the access log entries `filter` covers, each from the log's
    /// index, its client's latest login and its open session.
    pub(super) async fn erase_access_log_entries(
        &self,
        filter: &AttemptFilter,
    ) -> Result<u64, StoreError> {
        let all = self.key("logs", "all");
        let mut pipe = ::redis::pipe();
        pipe.atomic();
        let mut erased = 0;
        for (key, map) in self.log_entries("logs").await? {
            let (username, address) = (field(&map, "username")?, ip(field(&map, "ip")?)?);
            if !filter.matches_parts(address, Some(username)) {
                continue;
            }
            let (trust_key, trust_field) = self.trust_field(username, address, field(&map, "ua")?);
            let session = format!("{}:{}", part(username), field(&map, "session")?);
            pipe.del(&key)
                .ignore()
                .zrem(&all, &key)
                .ignore()
                .hdel(trust_key, trust_field)
                .ignore()
                .srem(self.key("open", &session), &key)
                .ignore();
            erased += 1;
        }
        self.run_erasure(pipe, erased).await
    }

    /// Deletes the failure log entries `filter` covers, each from the log's
    /// index and its username's.
    pub(super) async fn erase_failure_log_entries(
        &self,
        filter: &AttemptFilter,
    ) -> Result<u64, StoreError> {
        let all = self.key("flogs", "all");
        let mut pipe = ::redis::pipe();
        pipe.atomic();
        let mut erased = 0;
        for (key, map) in self.log_entries("flogs").await? {
            let username = map.get("username").map(String::as_str);
            if !filter.matches_parts(ip(field(&map, "ip")?)?, username) {
                continue;
            }
            let per_user = self.key("flogs-of", &username.map(part).unwrap_or_default());
            pipe.del(&key)
                .ignore()
                .zrem(&all, &key)
                .ignore()
                .zrem(per_user, &key)
                .ignore();
            erased += 1;
        }
        self.run_erasure(pipe, erased).await
    }

    /// Runs the erasure `pipe` deletes `erased` entries with, if any.
    async fn run_erasure(&self, pipe: ::redis::Pipeline, erased: u64) -> Result<u64, StoreError> {
        if erased > 0 {
            let mut con = self.connection.clone();
            pipe.query_async::<()>(&mut con).await.map_err(backend)?;
        }
        Ok(erased)
    }

    /// Deletes log entries logged before `before`.
    pub(super) async fn purge_logs(
        &self,
        log: &str,
        before: SystemTime,
    ) -> Result<u64, StoreError> {
        let mut con = self.connection.clone();
        let all = self.key(log, "all");
        let old: Vec<String> = con
            .zrangebyscore(&all, "-inf", format!("({}", to_millis(before)))
            .await
            .map_err(backend)?;
        let mut pipe = ::redis::pipe();
        pipe.atomic();
        for key in &old {
            pipe.del(key).ignore().zrem(&all, key).ignore();
        }
        pipe.query_async::<()>(&mut con).await.map_err(backend)?;
        Ok(old.len() as u64)
    }
}
