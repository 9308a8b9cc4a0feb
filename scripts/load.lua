-- wrk script for the demo server: POST /login for 100 usernames, one
-- request in four with the right password (the other three are 403s by
-- design, counted in status_400_or_more). Used by scripts/load.sh.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local counter = 0

request = function()
  counter = counter + 1
  local user = "user" .. (counter % 100)
  local password = (counter % 4 == 0) and "wonderland" or "wrong"
  local body = string.format('{"username":"%s","password":"%s"}', user, password)
  return wrk.format(nil, "/login", nil, body)
end

done = function(summary, latency, requests)
  local statuses = summary.errors.status
  io.write(string.format("RESULT rps=%.1f p50_us=%d p99_us=%d status_400_or_more=%d socket_errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), statuses,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
