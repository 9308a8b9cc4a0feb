//! [`RedisStore`]: one lockout state shared by many app servers, on Redis.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{AsyncCommands, Script, ScriptInvocation};
use async_trait::async_trait;
use tokio::sync::broadcast;

use super::changes::{FailureRecord, Reset};
use super::clock_sync::{ClockSync, StoreTime};
use super::codec::{decode_times, from_millis, to_millis};
use super::contract::{AccessLogs, AttemptRecords, FailureLogs, Store};
use super::error::StoreError;
use super::notice::{Notifications, RESET as RESET_PAYLOAD};
use super::records::{AccessAttempt, AccessFailureLog, AccessLog, AttemptFilter};
use super::slots::{SharedSlots, StoreEvent};
use crate::identity::LockoutKey;
use crate::policy::Counter;

/// How long Redis may take to answer one command.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);

/// Extra life given to a counter key past the window of its count, so the
/// key outlives every decision made with it.
const TTL_MARGIN_MS: u64 = 60_000;

/// A store in Redis, for deployments where several app servers share one
/// lockout state.
///
/// What it keeps, under a key prefix (default `axes:`):
///
/// | key | holds | lifetime |
/// |---|---|---|
/// | `c:<lockout key>` | hash: failures, last failure (ms) | the window of its count, plus a minute; none for a lockout that lasts until reset |
/// | `i:<lockout key>` | hash: one field per slot in flight, `<owner>:<id>` | its slots; lapsed ones go when seen |
/// | `lease:<owner>` | an app server's lease on its slots | `in_flight_lease`, renewed while it holds slots |
/// | `inflight:all` | set: the in-flight hashes holding slots | kept with them |
/// | `w:<tag>` | a key another app server waits on for a slot (by wake tag) | a few seconds |
/// | `a:<attempt key>` | hash: one attempt record | until reset or purged |
/// | `attempts`, `counters` | sorted set of records by time, set of counter keys | kept with them |
/// | `ip:<ip>`, `user:<username>` | sets of record keys, for resets and listings | kept with them |
/// | `log:<id>`, `logs`, `open:<user>:<session hash>` | access log entries, by time, open ones | until `reset_logs` |
/// | `trust:<user>` | hash: the newest login of each (IP, user agent) client of the user, for the trusted-client check | with the entries |
/// | `flog:<id>`, `flogs:all`, `flogs-of:<user>` | failure log entries, by time, per user | capped per user; until `reset_failure_logs` |
///
/// Every failure is one Lua script, atomic across processes. The connection
/// reconnects on its own after a break; a command that takes longer than
/// three seconds fails. Notifications (slots given back under a key other
/// servers wait on, resets) go out on the channel `<prefix>events`.
///
/// **Redis must not evict keys.** A counter evicted under memory pressure
/// is a lockout forgotten: [`connect`](Self::connect) reads
/// `maxmemory-policy` and refuses a server whose policy is not
/// `noeviction`, unless told to accept the risk
/// ([`RedisOptions::allow_eviction`], or `?allow_eviction=true` on the
/// URL). A Redis without persistence (neither RDB snapshots nor AOF) loses
/// every lockout when it restarts: that is logged as a warning.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use axes::{Axes, AxesConfig, RedisStore};
/// let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
/// let axes = Axes::new(AxesConfig::default(), store);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    prefix: String,
    /// The server's clock less this machine's.
    clock: Arc<ClockSync>,
    /// What other app servers did, from the subscription.
    notifications: Arc<Notifications>,
    /// Where the next purge goes on through the set of counters.
    purge_cursor: Arc<std::sync::atomic::AtomicU64>,
}

/// How many attempt records and counters one purge looks at, at most: a
/// purge's cost is bounded whatever the store holds, and the next one goes
/// on where it stopped.
const PURGE_BATCH: usize = 1000;

/// How [`RedisStore::connect_with`] connects.
///
/// ```
/// let options = axes::store::RedisOptions::default().prefix("myapp:axes:");
/// assert_eq!(options.key_prefix(), "myapp:axes:");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisOptions {
    prefix: String,
    allow_eviction: bool,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            prefix: "axes:".to_owned(),
            allow_eviction: false,
        }
    }
}

impl RedisOptions {
    /// Keeps every key under `prefix` (default `axes:`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The key prefix.
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    /// Connects to a server whose `maxmemory-policy` may evict keys, with
    /// a warning instead of an error: under memory pressure it may forget
    /// lockouts.
    ///
    /// ```
    /// let options = axes::store::RedisOptions::default().allow_eviction(true);
    /// # drop(options);
    /// ```
    pub fn allow_eviction(mut self, allow: bool) -> Self {
        self.allow_eviction = allow;
        self
    }
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn backend(error: ::redis::RedisError) -> StoreError {
    StoreError::backend(error)
}

/// A component of a key: URL-encoded, so no value can forge a separator.
fn part(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

mod logs;
mod notify;
mod scripts;
mod slots;

use scripts::{RECORD_FAILURE, RESET};

impl RedisStore {
    /// Connects to `url` (`redis://…`) with the key prefix `axes:`. The
    /// URL may end in `?allow_eviction=true` (see
    /// [`RedisOptions::allow_eviction`]).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), axes::StoreError> {
    /// let store = axes::RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, RedisOptions::default()).await
    }

    /// Connects to `url`, keeping every key under `prefix`.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), axes::StoreError> {
    /// let store = axes::RedisStore::connect_with_prefix("redis://127.0.0.1:6379", "app:").await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect_with_prefix(url: &str, prefix: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, RedisOptions::default().prefix(prefix)).await
    }

    /// Connects to `url` with `options`: reads the server's eviction
    /// policy and persistence (see the type's documentation), measures its
    /// clock and subscribes to the store's notifications.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), axes::StoreError> {
    /// use axes::store::RedisOptions;
    /// let options = RedisOptions::default().prefix("app:axes:");
    /// let store = axes::RedisStore::connect_with("redis://127.0.0.1:6379", options).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect_with(url: &str, options: RedisOptions) -> Result<Self, StoreError> {
        let (url, allow_eviction) = strip_allow_eviction(url);
        let allow_eviction = allow_eviction || options.allow_eviction;
        let client = ::redis::Client::open(url.as_str()).map_err(backend)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let mut connection = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(backend)?;
        check_server(&mut connection, allow_eviction).await?;
        let clock = Arc::new(ClockSync::default());
        let time = ServerTime(connection.clone());
        clock.measure(&time).await?;
        clock.keep_measuring(time);
        let channel = format!("{}events", options.prefix);
        Ok(Self {
            notifications: Arc::new(notify::subscribe(client, channel)),
            connection,
            prefix: options.prefix,
            clock,
            purge_cursor: Arc::default(),
        })
    }

    /// The channel notifications go out on.
    fn channel(&self) -> String {
        format!("{}events", self.prefix)
    }

    fn key(&self, kind: &str, name: &str) -> String {
        format!("{}{kind}:{name}", self.prefix)
    }

    fn counter_key(&self, key: &LockoutKey) -> String {
        self.key("c", &key.encode())
    }

    fn in_flight_key(&self, key: &LockoutKey) -> String {
        self.key("i", &key.encode())
    }

    fn ip_set(&self, ip: IpAddr) -> String {
        self.key("ip", &ip.to_canonical().to_string())
    }

    fn user_set(&self, username: &str) -> String {
        self.key("user", &part(username))
    }

    /// The trusted-client index of `username` and its field for a client.
    fn trust_field(
        &self,
        username: &str,
        ip: Option<IpAddr>,
        user_agent: &str,
    ) -> (String, String) {
        let ip = ip
            .map(|ip| ip.to_canonical().to_string())
            .unwrap_or_default();
        (
            self.key("trust", &part(username)),
            format!("{ip}|{}", part(user_agent)),
        )
    }

    /// The record keys `filter` covers.
    async fn record_keys(&self, filter: &AttemptFilter) -> Result<Vec<String>, StoreError> {
        let mut con = self.connection.clone();
        let keys: Vec<String> = match filter {
            AttemptFilter::All => con
                .zrange(self.key("attempts", "all"), 0, -1)
                .await
                .map_err(backend)?,
            AttemptFilter::Ip(ip) => con.smembers(self.ip_set(*ip)).await.map_err(backend)?,
            AttemptFilter::Username(u) => con.smembers(self.user_set(u)).await.map_err(backend)?,
            AttemptFilter::IpAndUsername(ip, u) => con
                .sinter(&[self.ip_set(*ip), self.user_set(u)])
                .await
                .map_err(backend)?,
            AttemptFilter::IpOrUsername(ip, u) => con
                .sunion(&[self.ip_set(*ip), self.user_set(u)])
                .await
                .map_err(backend)?,
        };
        Ok(keys)
    }

    /// Reads records by key, skipping any deleted meanwhile.
    /// The call of the RESET script that deletes `records` and takes each
    /// one's failures off the counters `counters_of` names.
    fn reset_call<'s>(
        &self,
        script: &'s Script,
        records: &[(String, AccessAttempt)],
        counters_of: impl Fn(&AccessAttempt) -> Vec<String>,
    ) -> ScriptInvocation<'s> {
        let mut call = script.prepare_invoke();
        call.key(self.key("attempts", "all"))
            .key(self.key("counters", "all"))
            .arg(&self.prefix);
        for (key, record) in records {
            let counters = counters_of(record);
            let ip_set = record.ip_address.map(|ip| self.ip_set(ip));
            let user_set = record.username.as_deref().map(|u| self.user_set(u));
            call.arg(key)
                .arg(ip_set.unwrap_or_default())
                .arg(user_set.unwrap_or_default())
                .arg(counters.len());
            for counter in counters {
                call.arg(counter);
            }
        }
        call
    }

    async fn read_records(
        &self,
        keys: &[String],
    ) -> Result<Vec<(String, AccessAttempt)>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = ::redis::pipe();
        for key in keys {
            pipe.hgetall(key);
        }
        let maps: Vec<HashMap<String, String>> = pipe
            .query_async(&mut self.connection.clone())
            .await
            .map_err(backend)?;
        let mut records = Vec::with_capacity(keys.len());
        for (key, map) in keys.iter().zip(maps) {
            if map.is_empty() {
                continue;
            }
            records.push((key.clone(), attempt_from_map(&map)?));
        }
        Ok(records)
    }

    /// Deletes every attempt record, counter and slot there was when it
    /// began, [`PURGE_BATCH`] at a time: however many there are, no call
    /// reads or deletes more, and Redis serves others in between.
    async fn reset_all(&self) -> Result<u64, StoreError> {
        let mut con = self.connection.clone();
        let all = self.key("attempts", "all");
        let mut removed = 0;
        let mut left: usize = con.zcard(&all).await.map_err(backend)?;
        while left > 0 {
            let keys: Vec<String> = con
                .zrange(&all, 0, PURGE_BATCH as isize - 1)
                .await
                .map_err(backend)?;
            if keys.is_empty() {
                break;
            }
            left = left.saturating_sub(keys.len());
            let records = self.read_records(&keys).await?;
            // Every counter goes below: the records' own are not named.
            let deleted: u64 = self
                .reset_call(&RESET, &records, |_| Vec::new())
                .invoke_async(&mut con)
                .await
                .map_err(backend)?;
            removed += deleted;
            // An entry whose record is gone already leaves the index too.
            con.zrem::<_, _, ()>(&all, &keys).await.map_err(backend)?;
        }
        for set in [self.key("counters", "all"), self.key("inflight", "all")] {
            let mut left: usize = con.scard(&set).await.map_err(backend)?;
            while left > 0 {
                let keys: Vec<String> = ::redis::cmd("SPOP")
                    .arg(&set)
                    .arg(PURGE_BATCH)
                    .query_async(&mut con)
                    .await
                    .map_err(backend)?;
                if keys.is_empty() {
                    break;
                }
                left = left.saturating_sub(keys.len());
                con.del::<_, ()>(&keys).await.map_err(backend)?;
            }
        }
        Ok(removed)
    }
}

fn field<'a>(map: &'a HashMap<String, String>, name: &str) -> Result<&'a str, StoreError> {
    map.get(name)
        .map(String::as_str)
        .ok_or_else(|| StoreError::InvalidData(format!("a record has no `{name}`")))
}

fn number(map: &HashMap<String, String>, name: &str) -> Result<i64, StoreError> {
    let text = field(map, name)?;
    text.parse()
        .map_err(|_| StoreError::InvalidData(format!("`{name}` is not a number: {text}")))
}

fn ip(text: &str) -> Result<Option<IpAddr>, StoreError> {
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| StoreError::InvalidData(format!("`{text}` is not an IP address")))
}

fn attempt_from_map(map: &HashMap<String, String>) -> Result<AccessAttempt, StoreError> {
    Ok(AccessAttempt {
        username: map.get("username").cloned(),
        ip_address: ip(field(map, "ip")?)?,
        user_agent: field(map, "ua")?.to_owned(),
        path_info: field(map, "path")?.to_owned(),
        http_accept: field(map, "accept")?.to_owned(),
        get_data: field(map, "get")?.to_owned(),
        post_data: field(map, "post")?.to_owned(),
        failures: u64::try_from(number(map, "failures")?).unwrap_or(0),
        attempt_time: from_millis(number(map, "time")?),
    })
}

fn ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[async_trait]
impl Store for RedisStore {
    async fn counters(&self, keys: &[LockoutKey]) -> Result<Vec<Option<Counter>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = ::redis::pipe();
        for key in keys {
            pipe.cmd("HMGET")
                .arg(self.counter_key(key))
                .arg("f")
                .arg("l")
                .arg("r");
        }
        let values: Vec<(Option<i64>, Option<i64>, Option<String>)> = pipe
            .query_async(&mut self.connection.clone())
            .await
            .map_err(backend)?;
        values
            .into_iter()
            .map(|value| match value {
                (Some(failures), Some(last), times) => Ok(Some(
                    Counter::new(u64::try_from(failures).unwrap_or(0), from_millis(last))
                        .with_recent(decode_times(times.as_deref().unwrap_or(""))?),
                )),
                _ => Ok(None),
            })
            .collect()
    }

    async fn record_failure(&self, failure: FailureRecord<'_>) -> Result<Vec<Counter>, StoreError> {
        let client = failure.client;
        let record = self.key("a", &client.attempt_key().encode());
        let mut call = RECORD_FAILURE.prepare_invoke();
        for key in failure.keys {
            call.key(self.counter_key(key));
        }
        call.key(&record)
            .key(self.key("attempts", "all"))
            .key(self.key("counters", "all"))
            .key(self.ip_set(client.ip_address()))
            .key(
                client
                    .username()
                    .map(|u| self.user_set(u))
                    .unwrap_or_default(),
            );
        call.arg(to_millis(failure.at))
            .arg(TTL_MARGIN_MS)
            .arg(failure.keys.len())
            .arg(failure.window.steps().len());
        for (from, window) in failure.window.steps() {
            call.arg(*from).arg(ms(*window));
        }
        call.arg(&record)
            .arg(client.ip_address().to_string())
            .arg(client.user_agent())
            .arg(client.path())
            .arg(client.http_accept())
            .arg(failure.get_data)
            .arg(failure.post_data)
            .arg(client.username().unwrap_or(""))
            .arg(if client.username().is_some() {
                "1"
            } else {
                "0"
            })
            .arg(failure.window.keep().unwrap_or(0))
            .arg(if failure.record_attempt { "1" } else { "0" });
        self.release_args(&mut call, failure.release);
        let result: Result<Vec<(i64, i64, String)>, _> =
            call.invoke_async(&mut self.connection.clone()).await;
        // Given back with the write; after an error, the engine releases
        // them again (a release is idempotent).
        let counters = result.map_err(backend)?;
        counters
            .into_iter()
            .map(|(failures, last, times)| {
                Ok(
                    Counter::new(u64::try_from(failures).unwrap_or(0), from_millis(last))
                        .with_recent(decode_times(&times)?),
                )
            })
            .collect()
    }

    async fn reset(&self, reset: &Reset<'_>) -> Result<u64, StoreError> {
        let filter = reset.filter;
        if *filter == AttemptFilter::All {
            return self.reset_all().await;
        }
        let records = self.read_records(&self.record_keys(filter).await?).await?;
        self.reset_call(&RESET, &records, |record| {
            reset
                .counters_of(record)
                .iter()
                .map(|k| self.counter_key(k))
                .collect()
        })
        .invoke_async(&mut self.connection.clone())
        .await
        .map_err(backend)
    }

    async fn delete_counters(&self, keys: &[LockoutKey]) -> Result<u64, StoreError> {
        if keys.is_empty() {
            return Ok(0);
        }
        let counter_keys: Vec<String> = keys.iter().map(|key| self.counter_key(key)).collect();
        let in_flight: Vec<String> = keys.iter().map(|key| self.in_flight_key(key)).collect();
        let (deleted, _, _): (u64, u64, u64) = ::redis::pipe()
            .atomic()
            .del(&counter_keys)
            .srem(self.key("counters", "all"), &counter_keys)
            .del(&in_flight)
            .query_async(&mut self.connection.clone())
            .await
            .map_err(backend)?;
        Ok(deleted)
    }

    async fn purge_expired(&self, before: SystemTime) -> Result<u64, StoreError> {
        use std::sync::atomic::Ordering;
        let before_ms = to_millis(before);
        let mut con = self.connection.clone();
        // The oldest records first, a batch at a time.
        let old: Vec<String> = con
            .zrangebyscore_limit(
                self.key("attempts", "all"),
                "-inf",
                format!("({before_ms}"),
                0,
                PURGE_BATCH as isize,
            )
            .await
            .map_err(backend)?;
        let records = self.read_records(&old).await?;
        // Expired counters are deleted by their own time below.
        let removed: u64 = self
            .reset_call(&RESET, &records, |_| Vec::new())
            .invoke_async(&mut con)
            .await
            .map_err(backend)?;
        // A slice of the counters, from where the last purge stopped.
        let all_counters = self.key("counters", "all");
        let (next, counters): (u64, Vec<String>) = ::redis::cmd("SSCAN")
            .arg(&all_counters)
            .arg(self.purge_cursor.load(Ordering::Relaxed))
            .arg("COUNT")
            .arg(PURGE_BATCH)
            .query_async(&mut con)
            .await
            .map_err(backend)?;
        self.purge_cursor.store(next, Ordering::Relaxed);
        if counters.is_empty() {
            return Ok(removed);
        }
        let mut pipe = ::redis::pipe();
        for counter in &counters {
            pipe.hget(counter, "l");
        }
        let lasts: Vec<Option<i64>> = pipe.query_async(&mut con).await.map_err(backend)?;
        let mut pipe = ::redis::pipe();
        for (counter, last) in counters.iter().zip(lasts) {
            if last.is_none_or(|last| last < before_ms) {
                pipe.del(counter)
                    .ignore()
                    .srem(&all_counters, counter)
                    .ignore();
            }
        }
        pipe.query_async::<()>(&mut con).await.map_err(backend)?;
        Ok(removed)
    }

    fn shared_slots(&self) -> Option<&dyn SharedSlots> {
        Some(self)
    }

    fn subscribe(&self) -> Option<broadcast::Receiver<StoreEvent>> {
        Some(self.notifications.subscribe())
    }

    async fn announce_reset(&self) -> Result<(), StoreError> {
        self.notifications.send(StoreEvent::Reset);
        self.connection
            .clone()
            .publish::<_, _, i64>(self.channel(), RESET_PAYLOAD)
            .await
            .map_err(backend)
            .map(drop)
    }

    fn clock_offset_ms(&self) -> i64 {
        self.clock.offset_ms()
    }

    fn records(&self) -> Option<&dyn AttemptRecords> {
        Some(self)
    }

    fn access_log(&self) -> Option<&dyn AccessLogs> {
        Some(self)
    }

    fn failure_log(&self) -> Option<&dyn FailureLogs> {
        Some(self)
    }
}

#[async_trait]
impl AttemptRecords for RedisStore {
    async fn attempts(&self, filter: &AttemptFilter) -> Result<Vec<AccessAttempt>, StoreError> {
        let mut records: Vec<AccessAttempt> = self
            .read_records(&self.record_keys(filter).await?)
            .await?
            .into_iter()
            .map(|(_, record)| record)
            .collect();
        records.sort_by_key(|r| std::cmp::Reverse(r.attempt_time));
        Ok(records)
    }
}

#[async_trait]
impl AccessLogs for RedisStore {
    async fn record_login(&self, entry: &AccessLog) -> Result<(), StoreError> {
        self.record_login_releasing(Some(entry), None).await
    }

    async fn record_logout(
        &self,
        username: &str,
        session_hash: &str,
        at: SystemTime,
    ) -> Result<u64, StoreError> {
        self.close_sessions(username, session_hash, at).await
    }

    async fn access_logs(&self, filter: &AttemptFilter) -> Result<Vec<AccessLog>, StoreError> {
        self.read_access_logs(filter).await
    }

    async fn latest_login(
        &self,
        username: &str,
        ip: IpAddr,
        user_agent: &str,
    ) -> Result<Option<SystemTime>, StoreError> {
        self.read_latest_login(username, ip, user_agent).await
    }

    async fn purge_access_logs(&self, before: SystemTime) -> Result<u64, StoreError> {
        self.purge_access_log_entries(before).await
    }

    async fn erase_access_logs(&self, filter: &AttemptFilter) -> Result<u64, StoreError> {
        self.erase_access_log_entries(filter).await
    }
}

#[async_trait]
impl FailureLogs for RedisStore {
    async fn record_failure_log(
        &self,
        entry: &AccessFailureLog,
        per_user_limit: u64,
    ) -> Result<(), StoreError> {
        self.add_failure_log_entry(entry, per_user_limit).await
    }

    async fn failure_logs(
        &self,
        filter: &AttemptFilter,
    ) -> Result<Vec<AccessFailureLog>, StoreError> {
        self.read_failure_logs(filter).await
    }

    async fn purge_failure_logs(&self, before: SystemTime) -> Result<u64, StoreError> {
        self.purge_logs("flogs", before).await
    }

    async fn erase_failure_logs(&self, filter: &AttemptFilter) -> Result<u64, StoreError> {
        self.erase_failure_log_entries(filter).await
    }
}

/// `url` without its `allow_eviction` query parameter, and whether that
/// was `true`.
fn strip_allow_eviction(url: &str) -> (String, bool) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), false);
    };
    let mut allow = false;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.split_once('=') {
            Some(("allow_eviction", value)) => {
                allow = matches!(value, "true" | "1" | "yes");
                false
            }
            _ => !pair.is_empty(),
        })
        .collect();
    if rest.is_empty() {
        (base.to_owned(), allow)
    } else {
        (format!("{base}?{}", rest.join("&")), allow)
    }
}

/// Refuses a server that may evict keys (unless `allow_eviction`), and
/// warns about one that keeps nothing across a restart.
async fn check_server(
    connection: &mut ConnectionManager,
    allow_eviction: bool,
) -> Result<(), StoreError> {
    let memory: String = ::redis::cmd("INFO")
        .arg("memory")
        .query_async(connection)
        .await
        .map_err(backend)?;
    let policy = info_field(&memory, "maxmemory_policy").unwrap_or("noeviction");
    if policy != "noeviction" {
        let why = format!(
            "Redis evicts keys under memory pressure (maxmemory-policy = {policy}), so it may \
             forget lockouts; set `maxmemory-policy noeviction`"
        );
        if !allow_eviction {
            return Err(StoreError::Misconfigured(format!(
                "{why}, or accept the risk with `?allow_eviction=true` on the URL \
                 (RedisOptions::allow_eviction)"
            )));
        }
        tracing::warn!(target: "axes", "{why} (allowed by allow_eviction)");
    }
    let persistence: String = ::redis::cmd("INFO")
        .arg("persistence")
        .query_async(connection)
        .await
        .map_err(backend)?;
    let aof = info_field(&persistence, "aof_enabled") == Some("1");
    let saves: Vec<String> = ::redis::cmd("CONFIG")
        .arg("GET")
        .arg("save")
        .query_async(connection)
        .await
        .unwrap_or_default();
    let rdb = saves.get(1).is_some_and(|save| !save.trim().is_empty());
    if !aof && !rdb {
        tracing::warn!(target: "axes", "Redis keeps nothing on disk (no RDB snapshots, no AOF): a restart of Redis forgets every lockout");
    }
    Ok(())
}

/// The value of `name` in the text of `INFO`.
fn info_field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines().find_map(|line| {
        line.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::trim)
    })
}

/// The server's clock (`TIME`).
struct ServerTime(ConnectionManager);

#[async_trait]
impl StoreTime for ServerTime {
    async fn store_time_ms(&self) -> Result<i64, StoreError> {
        let (seconds, micros): (i64, i64) = ::redis::cmd("TIME")
            .query_async(&mut self.0.clone())
            .await
            .map_err(backend)?;
        Ok(seconds * 1000 + micros / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_eviction_is_read_off_the_url() {
        assert_eq!(
            strip_allow_eviction("redis://h:6379/2"),
            ("redis://h:6379/2".to_owned(), false)
        );
        assert_eq!(
            strip_allow_eviction("redis://h/2?allow_eviction=true"),
            ("redis://h/2".to_owned(), true)
        );
        assert_eq!(
            strip_allow_eviction("redis://h/2?protocol=resp3&allow_eviction=1"),
            ("redis://h/2?protocol=resp3".to_owned(), true)
        );
        assert_eq!(
            strip_allow_eviction("redis://h/2?allow_eviction=false&x=y"),
            ("redis://h/2?x=y".to_owned(), false)
        );
    }

    #[test]
    fn info_fields_are_found_by_name() {
        let info = "# Memory\r\nused_memory:1\r\nmaxmemory_policy:allkeys-lru\r\n";
        assert_eq!(info_field(info, "maxmemory_policy"), Some("allkeys-lru"));
        assert_eq!(info_field(info, "maxmemory"), None);
    }
}
