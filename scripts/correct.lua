-- wrk script: correct logins of one user from one address (an office behind
-- NAT), for scripts/load.sh. Every answer must be 200: a lockout layer that
-- refuses legitimate users under load is broken.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"username":"alice","password":"wonderland"}'
wrk.path = "/login"

done = function(summary, latency, requests)
  local statuses = summary.errors.status
  io.write(string.format("RESULT rps=%.1f p50_us=%d p99_us=%d status_400_or_more=%d socket_errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), statuses,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
