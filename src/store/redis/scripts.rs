//! The Lua scripts of the Redis store: each operation that must be atomic
//! across app servers is one script.
//!
//! `RECORD_FAILURE` restates the windowing rule of
//! [`Window`](crate::store::Window) (its `window` function is
//! `Window::for_count`, its `bump` is `FailureRecord::bump`, its `slide` is
//! `Window::slide`); the store conformance suite holds it to the Rust one.

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
pub(super) const RECORD_FAILURE: &str = r#"
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
pub(super) const RESET: &str = r#"
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
pub(super) const RECORD_FAILURE_LOG: &str = r#"
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
pub(super) const ADMIT: &str = r#"
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
pub(super) const RECORD_SUCCESS: &str = r#"
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
pub(super) const PURGE_ACCESS_LOGS: &str = r#"
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
