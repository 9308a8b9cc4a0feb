-- wrk script for scripts/bench.sh: POST /login to the demo server, the client
-- address in X-Forwarded-For (the demo trusts one proxy in the benchmarks).
--
--   wrk ... -s scripts/bench/login.lua -- CASE
--
-- CASE is one of
--   refused  one locked-out client (alice at 203.0.113.7) guessing
--   success  correct logins of 1,000 users from random addresses
--   office   correct logins of one user from one address
--   nat      correct logins of 1,000 users from one address (an office)
--   failing  wrong passwords for 100,000 usernames from random addresses
local case = "success"
local n = 0

function init(args)
  case = args[1] or case
  -- A different sequence per thread.
  math.randomseed(os.time() + (wrk.thread and tonumber(tostring(wrk.thread):match("0x(%x+)"), 16) or 0))
end

local function address()
  return string.format("10.%d.%d.%d", math.random(0, 255), math.random(0, 255), math.random(1, 254))
end

local function post(username, password, from)
  local body = string.format('{"username":"%s","password":"%s"}', username, password)
  local headers = {
    ["Content-Type"] = "application/json",
    ["X-Forwarded-For"] = from .. ", 127.0.0.1",
  }
  return wrk.format("POST", "/login", headers, body)
end

function request()
  n = n + 1
  if case == "refused" then
    return post("alice", "guess-" .. n, "203.0.113.7")
  elseif case == "office" then
    return post("alice", "wonderland", "198.51.100.2")
  elseif case == "nat" then
    return post("user" .. math.random(0, 999), "wonderland", "198.51.100.1")
  elseif case == "failing" then
    return post("victim" .. math.random(0, 99999), "guess-" .. n, address())
  else
    return post("user" .. math.random(0, 999), "wonderland", address())
  end
end

function done(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_us=%d p99_us=%d non_2xx=%d socket_errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
