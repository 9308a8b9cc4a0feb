//! [`RedisStore`]: one lockout state shared by many app servers, on Redis.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{AsyncCommands, Script, ScriptInvocation};
use async_trait::async_trait;

use super::lease::{Leases, Renew};
use super::{
    decode_times, from_millis, to_millis, AccessAttempt, AccessFailureLog, AccessLog, Admitted,
    AttemptFilter, Counter, FailureRecord, SlotRequest, Slots, Store, StoreError,
};
use crate::client::LockoutKey;
use crate::config::LockoutGroup;

/// How long Redis may take to answer one command.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);

/// Extra life given to a counter key past the window of its count, so the
/// key outlives every decision made with it.
const TTL_MARGIN_MS: u64 = 60_000;

/// Records a failure: bumps (or restarts) every counter and the attempt
/// record, by the window of each one's current count; under a sliding
/// window (keep > 0) a counter also keeps its failure times (field `r`).
///
/// KEYS: counters…, attempt hash, attempts zset, counters set, ip set, user set (or ""),
///       in-flight hashes of the slots to give back….
/// ARGV: at, margin, n_counters, n_steps, (from, window)…, attempt key, ip, ua,
///       path, accept, get, post, username (or "" with has_username = 0), has_username,
///       keep (0: not sliding), record_attempt (1/0), n_release, slot field.
/// Returns {count, last, times} per counter.
const RECORD_FAILURE: &str = r#"
local at = tonumber(ARGV[1])
local margin = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local steps = tonumber(ARGV[4])
local function window(count)
  local w = nil
  for i = 1, steps do
    if count >= tonumber(ARGV[3 + 2 * i]) then w = tonumber(ARGV[4 + 2 * i]) end
  end
  return w
end
local function bump(key, count_field, time_field)
  local old = redis.call('HMGET', key, count_field, time_field)
  local count = tonumber(old[1]) or 0
  local last = tonumber(old[2]) or at
  if count > 0 then
    local w = window(count)
    if w and last + w < at then count = 0 end
  end
  count = count + 1
  if at > last then last = at end
  redis.call('HSET', key, count_field, count, time_field, last)
  return {count, last}
end
local a = 4 + 2 * steps
local keep = tonumber(ARGV[a + 10])
local function slide(key, count)
  local longest = nil
  for i = 1, steps do
    local w = tonumber(ARGV[4 + 2 * i])
    if not longest or w > longest then longest = w end
  end
  local times = {}
  local text = redis.call('HGET', key, 'r')
  if text and text ~= '' then
    for t in string.gmatch(text, '[^,]+') do times[#times + 1] = tonumber(t) end
  end
  local kept = {}
  for i = math.max(1, #times - (count - 1) + 1), #times do
    if not longest or times[i] + longest >= at then kept[#kept + 1] = times[i] end
  end
  kept[#kept + 1] = at
  table.sort(kept)
  while #kept > keep do table.remove(kept, 1) end
  local joined = {}
  for i = 1, #kept do joined[i] = string.format('%d', kept[i]) end
  text = table.concat(joined, ',')
  redis.call('HSET', key, 'f', #kept, 'r', text)
  return #kept, text
end
local out = {}
for i = 1, n do
  local result = bump(KEYS[i], 'f', 'l')
  local text = ''
  if keep > 0 then result[1], text = slide(KEYS[i], result[1]) end
  local w = window(result[1])
  if w then redis.call('PEXPIRE', KEYS[i], w + margin) else redis.call('PERSIST', KEYS[i]) end
  redis.call('SADD', KEYS[n + 3], KEYS[i])
  out[i] = {result[1], result[2], text}
end
for i = 1, tonumber(ARGV[a + 12]) do
  redis.call('HDEL', KEYS[n + 5 + i], ARGV[a + 13])
end
if ARGV[a + 11] ~= '1' then return out end
local attempt = KEYS[n + 1]
local result = bump(attempt, 'failures', 'time')
redis.call('HSET', attempt, 'ip', ARGV[a + 2], 'ua', ARGV[a + 3], 'path', ARGV[a + 4],
  'accept', ARGV[a + 5], 'get', ARGV[a + 6], 'post', ARGV[a + 7])
if ARGV[a + 9] == '1' then
  redis.call('HSET', attempt, 'username', ARGV[a + 8])
  redis.call('SADD', KEYS[n + 5], attempt)
end
redis.call('SADD', KEYS[n + 4], attempt)
redis.call('ZADD', KEYS[n + 2], result[2], attempt)
return out
"#;

/// Deletes attempt records and takes their failures off counters.
///
/// KEYS: attempts zset, counters set.
/// ARGV: prefix, then per record: record key, ip set, user set (or ""),
///       n_counters, counter keys….
/// Returns the number of records deleted.
const RESET: &str = r#"
local removed = 0
local i = 2
while i <= #ARGV do
  local record, ip_set, user_set = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local n = tonumber(ARGV[i + 3])
  local failures = tonumber(redis.call('HGET', record, 'failures'))
  if failures then
    for j = 1, n do
      local counter = ARGV[i + 3 + j]
      -- A reset gives back the slots of the keys it resets.
      redis.call('DEL', ARGV[1] .. 'i:' .. string.sub(counter, #ARGV[1] + 3))
      local left = tonumber(redis.call('HGET', counter, 'f'))
      if left then
        left = left - failures
        if left <= 0 then
          redis.call('DEL', counter)
          redis.call('SREM', KEYS[2], counter)
        else
          redis.call('HSET', counter, 'f', left)
        end
      end
    end
    redis.call('DEL', record)
    redis.call('ZREM', KEYS[1], record)
    redis.call('SREM', ip_set, record)
    if user_set ~= '' then redis.call('SREM', user_set, record) end
    removed = removed + 1
  end
  i = i + 4 + n
end
return removed
"#;

/// Adds a failure log entry and deletes its user's oldest entries beyond
/// the limit, in one step.
///
/// KEYS: id counter, all-entries zset, the user's zset.
/// ARGV: entry key prefix, time, per-user limit, (field, value)….
const RECORD_FAILURE_LOG: &str = r#"
local id = redis.call('INCR', KEYS[1])
local key = ARGV[1] .. id
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', key, unpack(fields))
redis.call('ZADD', KEYS[2], tonumber(ARGV[2]), key)
redis.call('ZADD', KEYS[3], id, key)
local excess = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[3])
if excess > 0 then
  for _, old in ipairs(redis.call('ZRANGE', KEYS[3], 0, excess - 1)) do
    redis.call('DEL', old)
    redis.call('ZREM', KEYS[2], old)
    redis.call('ZREM', KEYS[3], old)
  end
end
return id
"#;

/// An admission: the counters of the keys read, and the live slots under
/// each key held, taking one for this attempt first when asked. A slot is a
/// field `<instance>:<attempt>` of the key's in-flight hash; it counts while
/// its instance's lease key exists, and is deleted once it lapsed.
///
/// KEYS: counters read…, in-flight hashes…, this instance's lease key, the
///       set of in-flight hashes.
/// ARGV: n_read, n_hold, instance, slot field, take (1/0), lease (ms), the
///       lease key prefix.
/// Returns {failures, last, times} per key read, then one count per key held.
const ADMIT: &str = r#"
local n_read, n_hold = tonumber(ARGV[1]), tonumber(ARGV[2])
local instance, field, take = ARGV[3], ARGV[4], ARGV[5] == '1'
local lease, lease_prefix = tonumber(ARGV[6]), ARGV[7]
local out = {}
for i = 1, n_read do
  local c = redis.call('HMGET', KEYS[i], 'f', 'l', 'r')
  out[#out + 1] = c[1]
  out[#out + 1] = c[2]
  out[#out + 1] = c[3]
end
if n_hold == 0 then return out end
redis.call('SET', KEYS[n_read + n_hold + 1], '1', 'PX', lease)
local alive = {[instance] = true}
for j = 1, n_hold do
  local key = KEYS[n_read + j]
  if take then
    redis.call('HSET', key, field, '1')
    redis.call('SADD', KEYS[n_read + n_hold + 2], key)
  end
  local count = 0
  for _, slot in ipairs(redis.call('HKEYS', key)) do
    local owner = string.match(slot, '^(.*):[^:]*$') or slot
    if alive[owner] == nil then
      alive[owner] = redis.call('EXISTS', lease_prefix .. owner) == 1
    end
    if alive[owner] then count = count + 1 else redis.call('HDEL', key, slot) end
  end
  out[#out + 1] = count
end
return out
"#;

/// A successful login: its access log entry (unless none is kept) and the
/// attempt's slots given back, in one step.
///
/// KEYS: log id counter, logs zset, open-sessions set, trust hash,
///       in-flight hashes….
/// ARGV: log entry prefix, time, trust field, has_entry (1/0), logged_out
///       (1/0), slot field, n_fields, (field, value)….
const RECORD_SUCCESS: &str = r#"
local n_fields = tonumber(ARGV[7])
for i = 5, #KEYS do redis.call('HDEL', KEYS[i], ARGV[6]) end
if ARGV[4] ~= '1' then return 0 end
local id = redis.call('INCR', KEYS[1])
local key = ARGV[1] .. id
local fields = {}
for i = 8, 7 + 2 * n_fields do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', key, unpack(fields))
redis.call('HSET', key, 'tk', KEYS[4], 'tf', ARGV[3])
redis.call('HSET', KEYS[4], ARGV[3], ARGV[2])
redis.call('ZADD', KEYS[2], tonumber(ARGV[2]), key)
if ARGV[5] ~= '1' then redis.call('SADD', KEYS[3], key) end
return id
"#;

/// Deletes access log entries and forgets the trusted-client index entries
/// they were the newest of.
///
/// KEYS: the log's zset. ARGV: entry keys….
const PURGE_ACCESS_LOGS: &str = r#"
for i = 1, #ARGV do
  local entry = ARGV[i]
  local found = redis.call('HMGET', entry, 'tk', 'tf', 'time')
  if found[1] and found[2] then
    local latest = tonumber(redis.call('HGET', found[1], found[2]))
    if latest and latest <= tonumber(found[3]) then redis.call('HDEL', found[1], found[2]) end
  end
  redis.call('DEL', entry)
  redis.call('ZREM', KEYS[1], entry)
end
return #ARGV
"#;

/// A store in Redis, for deployments where several app servers share one
/// lockout state.
///
/// What it keeps, under a key prefix (default `axes:`):
///
/// | key | holds | lifetime |
/// |---|---|---|
/// | `c:<lockout key>` | hash: failures, last failure (ms) | the window of its count, plus a minute; none for a lockout that lasts until reset |
/// | `i:<lockout key>` | hash: one field per slot in flight, `<instance>:<attempt>` | its slots; lapsed ones go when seen |
/// | `lease:<instance>` | an app server's lease on its slots | `in_flight_lease`, renewed while it holds slots |
/// | `a:<attempt key>` | hash: one attempt record | until reset or purged |
/// | `attempts`, `counters` | sorted set of records by time, set of counter keys | kept with them |
/// | `ip:<ip>`, `user:<username>` | sets of record keys, for resets and listings | kept with them |
/// | `log:<id>`, `logs`, `open:<user>:<session hash>` | access log entries, by time, open ones | until `reset_logs` |
/// | `trust:<user>` | hash: the newest login of each (IP, user agent) client of the user, for the trusted-client check | with the entries |
/// | `flog:<id>`, `flogs:all`, `flogs-of:<user>` | failure log entries, by time, per user | capped per user; until `reset_failure_logs` |
///
/// Every failure is one Lua script, atomic across processes. The connection
/// reconnects on its own after a break; a command that takes longer than
/// three seconds fails.
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
    leases: Arc<Leases>,
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

impl RedisStore {
    /// Connects to `url` (`redis://…`) with the key prefix `axes:`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with_prefix(url, "axes:").await
    }

    /// Connects to `url`, keeping every key under `prefix`.
    pub async fn connect_with_prefix(url: &str, prefix: &str) -> Result<Self, StoreError> {
        let client = ::redis::Client::open(url).map_err(backend)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(backend)?;
        Ok(Self {
            connection,
            prefix: prefix.to_owned(),
            leases: Leases::new(),
        })
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

    /// The field of this instance's slot for attempt `id`.
    fn slot_field(&self, id: u64) -> String {
        format!("{}:{id}", self.leases.instance())
    }

    fn renewer(&self) -> RedisLeases {
        RedisLeases {
            connection: self.connection.clone(),
            lease_prefix: self.key("lease", ""),
        }
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
        let script = Script::new(RECORD_FAILURE);
        let mut call = script.prepare_invoke();
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
        let release = failure.release.map_or(&[][..], |slots| slots.keys);
        for key in release {
            call.key(self.in_flight_key(key));
        }
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
            .arg(if failure.record_attempt { "1" } else { "0" })
            .arg(release.len())
            .arg(
                failure
                    .release
                    .map(|slots| self.slot_field(slots.id))
                    .unwrap_or_default(),
            );
        let result: Result<Vec<(i64, i64, String)>, _> =
            call.invoke_async(&mut self.connection.clone()).await;
        // Given back with the write; after an error, the engine releases
        // them again (a release is idempotent and retried until it lands).
        let counters = result.map_err(backend)?;
        if let Some(slots) = failure.release {
            self.leases.given_back(slots.id);
        }
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

    async fn reset(
        &self,
        filter: &AttemptFilter,
        groups: &[LockoutGroup],
    ) -> Result<u64, StoreError> {
        let records = self.read_records(&self.record_keys(filter).await?).await?;
        let script = Script::new(RESET);
        let every = *filter == AttemptFilter::All;
        let removed: u64 = self
            .reset_call(&script, &records, |record| {
                // Resetting everything deletes every counter below.
                if every {
                    Vec::new()
                } else {
                    record
                        .lockout_keys(groups)
                        .map(|k| self.counter_key(&k))
                        .collect()
                }
            })
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(backend)?;
        if *filter == AttemptFilter::All {
            let mut con = self.connection.clone();
            let counters: Vec<String> = con
                .smembers(self.key("counters", "all"))
                .await
                .map_err(backend)?;
            let mut pipe = ::redis::pipe();
            for counter in &counters {
                pipe.del(counter).ignore();
            }
            pipe.del(self.key("counters", "all")).ignore();
            let in_flight: Vec<String> = con
                .smembers(self.key("inflight", "all"))
                .await
                .map_err(backend)?;
            for key in &in_flight {
                pipe.del(key).ignore();
            }
            pipe.del(self.key("inflight", "all")).ignore();
            pipe.query_async::<()>(&mut con).await.map_err(backend)?;
        }
        Ok(removed)
    }

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
        let before_ms = to_millis(before);
        let mut con = self.connection.clone();
        let old: Vec<String> = con
            .zrangebyscore(self.key("attempts", "all"), "-inf", format!("({before_ms}"))
            .await
            .map_err(backend)?;
        let records = self.read_records(&old).await?;
        let script = Script::new(RESET);
        // Expired counters are deleted by their own time below.
        let removed: u64 = self
            .reset_call(&script, &records, |_| Vec::new())
            .invoke_async(&mut con)
            .await
            .map_err(backend)?;
        let all_counters = self.key("counters", "all");
        let counters: Vec<String> = con.smembers(&all_counters).await.map_err(backend)?;
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

    async fn record_login(&self, entry: &AccessLog) -> Result<(), StoreError> {
        self.record_success(Some(entry), None).await
    }

    async fn record_logout(
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

    async fn access_logs(&self, filter: &AttemptFilter) -> Result<Vec<AccessLog>, StoreError> {
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

    async fn latest_login(
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

    async fn purge_access_logs(&self, before: SystemTime) -> Result<u64, StoreError> {
        let mut con = self.connection.clone();
        let all = self.key("logs", "all");
        let old: Vec<String> = con
            .zrangebyscore(&all, "-inf", format!("({}", to_millis(before)))
            .await
            .map_err(backend)?;
        if old.is_empty() {
            return Ok(0);
        }
        let script = Script::new(PURGE_ACCESS_LOGS);
        let mut call = script.prepare_invoke();
        call.key(&all);
        for key in &old {
            call.arg(key);
        }
        call.invoke_async(&mut con).await.map_err(backend)
    }

    async fn record_failure_log(
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
        let script = Script::new(RECORD_FAILURE_LOG);
        let mut call = script.prepare_invoke();
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

    async fn failure_logs(
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

    async fn purge_failure_logs(&self, before: SystemTime) -> Result<u64, StoreError> {
        self.purge_logs("flogs", before).await
    }

    fn shares_in_flight(&self) -> bool {
        true
    }

    async fn admit(
        &self,
        read: &[LockoutKey],
        slots: Option<SlotRequest<'_>>,
    ) -> Result<Admitted, StoreError> {
        let script = Script::new(ADMIT);
        let mut call = script.prepare_invoke();
        for key in read {
            call.key(self.counter_key(key));
        }
        let hold = slots.map_or(&[][..], |request| request.slots.keys);
        for key in hold {
            call.key(self.in_flight_key(key));
        }
        call.key(self.key("lease", self.leases.instance()))
            .key(self.key("inflight", "all"));
        call.arg(read.len())
            .arg(hold.len())
            .arg(self.leases.instance())
            .arg(
                slots
                    .map(|r| self.slot_field(r.slots.id))
                    .unwrap_or_default(),
            )
            .arg(if slots.is_some_and(|r| r.take) {
                "1"
            } else {
                "0"
            })
            .arg(slots.map_or(0, |r| ms(r.lease).max(1)))
            .arg(self.key("lease", ""));
        let values: Vec<::redis::Value> = call
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(backend)?;
        if let Some(request) = slots.filter(|r| r.take && !hold.is_empty()) {
            self.leases
                .taken(request.slots.id, request.lease, &self.renewer());
        }
        let text = |value: &::redis::Value| -> Result<Option<String>, StoreError> {
            match value {
                ::redis::Value::Nil => Ok(None),
                other => ::redis::from_redis_value_ref(other)
                    .map(Some)
                    .map_err(|e| StoreError::InvalidData(e.to_string())),
            }
        };
        let mut counters = Vec::with_capacity(read.len());
        for chunk in values.chunks(3).take(read.len()) {
            let [f, l, r] = chunk else {
                return Err(StoreError::InvalidData("a short admission reply".into()));
            };
            counters.push(match (text(f)?, text(l)?) {
                (Some(f), Some(l)) => Some(
                    Counter::new(f.parse().unwrap_or(0), from_millis(l.parse().unwrap_or(0)))
                        .with_recent(decode_times(text(r)?.as_deref().unwrap_or(""))?),
                ),
                _ => None,
            });
        }
        let holders = slots.map(|_| {
            values[3 * read.len()..]
                .iter()
                .map(|v| ::redis::from_redis_value_ref::<u64>(v).unwrap_or(0))
                .collect()
        });
        Ok(Admitted::new(counters, holders))
    }

    async fn release(&self, slots: Slots<'_>) -> Result<(), StoreError> {
        let keys: Vec<String> = slots.keys.iter().map(|k| self.in_flight_key(k)).collect();
        self.leases.given_back(slots.id);
        let renewer = self.renewer();
        if let Err(error) = renewer
            .release(self.leases.instance(), &keys, slots.id)
            .await
        {
            self.leases.retry_later(keys, slots.id);
            return Err(error);
        }
        Ok(())
    }

    async fn record_success(
        &self,
        entry: Option<&AccessLog>,
        release: Option<Slots<'_>>,
    ) -> Result<(), StoreError> {
        let release_keys: Vec<String> = release
            .map(|slots| slots.keys.iter().map(|k| self.in_flight_key(k)).collect())
            .unwrap_or_default();
        if entry.is_none() && release_keys.is_empty() {
            return Ok(());
        }
        let script = Script::new(RECORD_SUCCESS);
        let mut call = script.prepare_invoke();
        let (username, ip, user_agent) = entry.map_or(("", None, ""), |e| {
            (e.username.as_str(), e.ip_address, e.user_agent.as_str())
        });
        let (trust_key, trust_field) = self.trust_field(username, ip, user_agent);
        let open =
            entry.map(|e| self.key("open", &format!("{}:{}", part(&e.username), e.session_hash)));
        call.key(self.key("log", "id"))
            .key(self.key("logs", "all"))
            .key(open.unwrap_or_default())
            .key(&trust_key);
        for key in &release_keys {
            call.key(key);
        }
        let fields: Vec<(&str, String)> = match entry {
            Some(e) => {
                let mut fields = vec![
                    ("username", e.username.clone()),
                    (
                        "ip",
                        e.ip_address.map(|ip| ip.to_string()).unwrap_or_default(),
                    ),
                    ("ua", e.user_agent.clone()),
                    ("path", e.path_info.clone()),
                    ("accept", e.http_accept.clone()),
                    ("session", e.session_hash.clone()),
                    ("time", to_millis(e.attempt_time).to_string()),
                ];
                if let Some(logout) = e.logout_time {
                    fields.push(("logout", to_millis(logout).to_string()));
                }
                fields
            }
            None => Vec::new(),
        };
        call.arg(self.key("log", ""))
            .arg(entry.map_or(0, |e| to_millis(e.attempt_time)))
            .arg(&trust_field)
            .arg(if entry.is_some() { "1" } else { "0" })
            .arg(if entry.is_some_and(|e| e.logout_time.is_some()) {
                "1"
            } else {
                "0"
            })
            .arg(release.map(|s| self.slot_field(s.id)).unwrap_or_default())
            .arg(fields.len());
        for (name, value) in &fields {
            call.arg(*name).arg(value);
        }
        let result = call.invoke_async::<i64>(&mut self.connection.clone()).await;
        result.map_err(backend)?;
        if let Some(slots) = release {
            self.leases.given_back(slots.id);
        }
        Ok(())
    }
}

/// Renews this store's lease and retries its releases.
#[derive(Clone)]
struct RedisLeases {
    connection: ConnectionManager,
    lease_prefix: String,
}

#[async_trait]
impl Renew for RedisLeases {
    async fn renew(&self, instance: &str, lease: Duration) -> Result<(), StoreError> {
        let key = format!("{}{instance}", self.lease_prefix);
        ::redis::cmd("SET")
            .arg(key)
            .arg("1")
            .arg("PX")
            .arg(ms(lease).max(1))
            .query_async::<()>(&mut self.connection.clone())
            .await
            .map_err(backend)
    }

    async fn release(&self, instance: &str, keys: &[String], slot: u64) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let field = format!("{instance}:{slot}");
        let mut pipe = ::redis::pipe();
        for key in keys {
            pipe.hdel(key, &field).ignore();
        }
        pipe.query_async::<()>(&mut self.connection.clone())
            .await
            .map_err(backend)
    }
}

impl RedisStore {
    /// The entries of a log (`logs` or `flogs`), newest first.
    async fn read_log_maps(&self, log: &str) -> Result<Vec<HashMap<String, String>>, StoreError> {
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
        Ok(maps.into_iter().filter(|m| !m.is_empty()).collect())
    }

    /// Deletes log entries logged before `before`.
    async fn purge_logs(&self, log: &str, before: SystemTime) -> Result<u64, StoreError> {
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
