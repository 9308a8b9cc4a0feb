//! The Lua scripts of the Redis store: each operation that must be atomic
//! across app servers is one script.
//!
//! The scripts are built once ([`LazyLock`]) and sent by hash. Those that
//! give back or count slots share the functions of [`PRELUDE`].
//!
//! `RECORD_FAILURE` restates the windowing rule of
//! [`Window`](crate::store::Window) (its `window` function is
//! `Window::for_count`, its `bumped` is `FailureRecord::bump`, its `slide` is
//! `Window::slide`); the store conformance suite holds it to the Rust one.

use std::sync::LazyLock;

use ::redis::Script;

/// The functions the slot scripts share.
///
/// `now_ms()`: the server's clock. `waited_by_others(marks, owner, now)`:
/// whether an owner other than `owner` waits on the key whose waiting mark
/// is `marks` (a sorted set of owners by the time their wait ends).
///
/// `release_slots(k, a)` gives back slots and tells those waiting on their
/// keys: it reads the in-flight set at `KEYS[k]`, the in-flight hashes from
/// `KEYS[k + 1]` on, and from `ARGV[a]` on: owner, channel, waiting-mark
/// prefix, n, then (id, wake tag) per slot. A slot is the field
/// `<owner>:<id>` of its key's in-flight hash; a hash left empty leaves the
/// in-flight set. The tags of keys another owner waits on (`w:<tag>`) are
/// published on the channel as `f <tag> <tag>…`.
const PRELUDE: &str = r#"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function waited_by_others(marks, owner, now)
  for _, who in ipairs(redis.call('ZRANGEBYSCORE', marks, now, '+inf')) do
    if who ~= owner then return true end
  end
  return false
end
local function release_slots(k, a)
  local owner, channel, marks = ARGV[a], ARGV[a + 1], ARGV[a + 2]
  local woken, now = {}, nil
  for i = 1, tonumber(ARGV[a + 3]) do
    local key = KEYS[k + i]
    local id, tag = ARGV[a + 2 + 2 * i], ARGV[a + 3 + 2 * i]
    redis.call('HDEL', key, owner .. ':' .. id)
    if redis.call('EXISTS', key) == 0 then redis.call('SREM', KEYS[k], key) end
    if redis.call('EXISTS', marks .. tag) == 1 then
      now = now or now_ms()
      if waited_by_others(marks .. tag, owner, now) then woken[#woken + 1] = tag end
    end
  end
  if #woken > 0 then redis.call('PUBLISH', channel, 'f ' .. table.concat(woken, ' ')) end
end
"#;

/// A script of `body` after [`PRELUDE`].
fn with_prelude(body: &str) -> Script {
    Script::new(&format!("{PRELUDE}{body}"))
}

/// Records a failure: bumps (or restarts) every counter and the attempt
/// record, by the window of each one's current count; under a sliding
/// window (keep > 0) a counter also keeps its failure times (field `r`);
/// gives back the attempt's slots.
///
/// KEYS: counters…, attempt hash, attempts zset, counters set, ip set, user set (or ""),
///       then the slots to give back (see [`PRELUDE`]).
/// ARGV: at, margin, n_counters, n_steps, (from, window)…, attempt key, ip, ua,
///       path, accept, get, post, username (or "" with has_username = 0), has_username,
///       keep (0: not sliding), record_attempt (1/0), then the slots to give back.
/// Returns {count, last, times} per counter.
pub(super) static RECORD_FAILURE: LazyLock<Script> =
    LazyLock::new(|| with_prelude(RECORD_FAILURE_BODY));

const RECORD_FAILURE_BODY: &str = r#"
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
local function bumped(key, count_field, time_field)
  local old = redis.call('HMGET', key, count_field, time_field)
  local count = tonumber(old[1]) or 0
  local last = tonumber(old[2]) or at
  if count > 0 then
    local w = window(count)
    if w and last + w < at then count = 0 end
  end
  count = count + 1
  if at > last then last = at end
  return {count, last}
end
local function bump(key, count_field, time_field)
  local result = bumped(key, count_field, time_field)
  redis.call('HSET', key, count_field, result[1], time_field, result[2])
  return result
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
release_slots(n + 6, a + 12)
if ARGV[a + 11] ~= '1' then return out end
local attempt = KEYS[n + 1]
local result = bumped(attempt, 'failures', 'time')
local fields = {'failures', result[1], 'time', result[2], 'ip', ARGV[a + 2], 'ua', ARGV[a + 3],
  'path', ARGV[a + 4], 'accept', ARGV[a + 5], 'get', ARGV[a + 6], 'post', ARGV[a + 7]}
if ARGV[a + 9] == '1' then
  fields[#fields + 1] = 'username'
  fields[#fields + 1] = ARGV[a + 8]
  redis.call('SADD', KEYS[n + 5], attempt)
end
redis.call('HSET', attempt, unpack(fields))
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
pub(super) static RESET: LazyLock<Script> = LazyLock::new(|| Script::new(RESET_BODY));

const RESET_BODY: &str = r#"
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
pub(super) static RECORD_FAILURE_LOG: LazyLock<Script> =
    LazyLock::new(|| Script::new(RECORD_FAILURE_LOG_BODY));

const RECORD_FAILURE_LOG_BODY: &str = r#"
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

/// An admission: the counters of the keys read, the slots asked for
/// taken, and the live slots under each key counted, with whether another
/// owner waits on it. A slot counts while its owner's lease key exists,
/// and is deleted once it lapsed.
///
/// KEYS: counters read…, in-flight hashes of the keys counted…, the owner's
///       lease key, the in-flight set.
/// ARGV: n_read, n_count, owner, lease (ms), the lease key prefix, the
///       waiting-mark prefix, n_take, then per slot taken: the index of its
///       key among those counted (from 1) and its id; then the wake tag of
///       each key counted.
/// Returns {failures, last, times} per key read, then {count, waited (1/0)}
/// per key counted.
pub(super) static ADMIT: LazyLock<Script> = LazyLock::new(|| with_prelude(ADMIT_BODY));

const ADMIT_BODY: &str = r#"
local n_read, n_count = tonumber(ARGV[1]), tonumber(ARGV[2])
local owner, lease, lease_prefix, marks = ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6]
local n_take = tonumber(ARGV[7])
local out = {}
for i = 1, n_read do
  local c = redis.call('HMGET', KEYS[i], 'f', 'l', 'r')
  out[#out + 1] = c[1]
  out[#out + 1] = c[2]
  out[#out + 1] = c[3]
end
if n_count == 0 then return out end
local base = n_read + n_count
if n_take > 0 then
  redis.call('SET', KEYS[base + 1], '1', 'PX', lease)
  for t = 1, n_take do
    local key = KEYS[n_read + tonumber(ARGV[6 + 2 * t])]
    redis.call('HSET', key, owner .. ':' .. ARGV[7 + 2 * t], '1')
    redis.call('SADD', KEYS[base + 2], key)
  end
end
local now = now_ms()
local alive = {[owner] = true}
for j = 1, n_count do
  local key = KEYS[n_read + j]
  local count = 0
  for _, slot in ipairs(redis.call('HKEYS', key)) do
    local who = string.match(slot, '^(.*):[^:]*$') or slot
    if alive[who] == nil then
      alive[who] = redis.call('EXISTS', lease_prefix .. who) == 1
    end
    if alive[who] then count = count + 1 else redis.call('HDEL', key, slot) end
  end
  if count == 0 then redis.call('SREM', KEYS[base + 2], key) end
  out[#out + 1] = count
  local tag = ARGV[7 + 2 * n_take + j]
  out[#out + 1] = waited_by_others(marks .. tag, owner, now) and 1 or 0
end
return out
"#;

/// Marks keys as waited on by an owner, and publishes `w <owner> <tag>…`.
///
/// KEYS: the waiting marks of the keys (`w:<tag>`)…
/// ARGV: owner, how long (ms), channel, the keys' wake tags….
pub(super) static WAIT_FOR: LazyLock<Script> = LazyLock::new(|| with_prelude(WAIT_FOR_BODY));

const WAIT_FOR_BODY: &str = r#"
local now = now_ms()
local tags = {}
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now + tonumber(ARGV[2]), ARGV[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', '(' .. now)
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[2]))
  tags[i] = ARGV[3 + i]
end
redis.call('PUBLISH', ARGV[3], 'w ' .. ARGV[1] .. ' ' .. table.concat(tags, ' '))
return 0
"#;

/// Gives back slots. KEYS and ARGV: the slots (see [`PRELUDE`]).
pub(super) static RELEASE: LazyLock<Script> =
    LazyLock::new(|| with_prelude("release_slots(1, 1)\nreturn 0"));

/// Deletes an owner's slots with ids up to a bound that are not kept, from
/// the in-flight hashes that hold slots. (Nobody is told: a waiter on one
/// of their keys asks again on its own within half a second.)
///
/// KEYS: the in-flight set.
/// ARGV: owner, upto, the ids kept….
/// Returns how many slots were deleted.
pub(super) static SWEEP: LazyLock<Script> = LazyLock::new(|| Script::new(SWEEP_BODY));

const SWEEP_BODY: &str = r#"
local owner, upto = ARGV[1], tonumber(ARGV[2])
local keep = {}
for i = 3, #ARGV do keep[ARGV[i]] = true end
local mine = '^' .. string.gsub(owner, '%W', '%%%0') .. ':(%d+)$'
local swept = 0
for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  for _, field in ipairs(redis.call('HKEYS', key)) do
    local id = string.match(field, mine)
    if id and tonumber(id) <= upto and not keep[id] then
      redis.call('HDEL', key, field)
      swept = swept + 1
    end
  end
  if redis.call('EXISTS', key) == 0 then redis.call('SREM', KEYS[1], key) end
end
return swept
"#;

/// A successful login: its access log entry (unless none is kept) and the
/// attempt's slots given back, in one step.
///
/// KEYS: log id counter, logs zset, open-sessions set, trust hash, then the
///       slots to give back (see [`PRELUDE`]).
/// ARGV: log entry prefix, time, trust field, has_entry (1/0), logged_out
///       (1/0), n_fields, (field, value)…, then the slots to give back.
pub(super) static RECORD_SUCCESS: LazyLock<Script> =
    LazyLock::new(|| with_prelude(RECORD_SUCCESS_BODY));

const RECORD_SUCCESS_BODY: &str = r#"
local n_fields = tonumber(ARGV[6])
release_slots(5, 7 + 2 * n_fields)
if ARGV[4] ~= '1' then return 0 end
local id = redis.call('INCR', KEYS[1])
local key = ARGV[1] .. id
local fields = {'tk', KEYS[4], 'tf', ARGV[3]}
for i = 7, 6 + 2 * n_fields do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', key, unpack(fields))
redis.call('HSET', KEYS[4], ARGV[3], ARGV[2])
redis.call('ZADD', KEYS[2], tonumber(ARGV[2]), key)
if ARGV[5] ~= '1' then redis.call('SADD', KEYS[3], key) end
return id
"#;

/// Deletes access log entries and forgets the trusted-client index entries
/// they were the newest of.
///
/// KEYS: the log's zset. ARGV: entry keys….
pub(super) static PURGE_ACCESS_LOGS: LazyLock<Script> =
    LazyLock::new(|| Script::new(PURGE_ACCESS_LOGS_BODY));

const PURGE_ACCESS_LOGS_BODY: &str = r#"
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
