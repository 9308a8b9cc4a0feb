#!/usr/bin/env bash
# Load runs against the release demo server, measured in one run:
#
#   mixed    100 usernames, one request in four a success (the others 403s
#            by design), every store against the same server with axes
#            disabled (the baseline), reported as throughput ratios;
#   correct  correct logins of one user from one address (an office behind
#            NAT), where every answer must be 200.
#
#     scripts/load.sh [seconds per run, default 10] [connections, default 64]
#
# PostgreSQL and Redis are measured when AXES_TEST_POSTGRES_URL /
# AXES_TEST_REDIS_URL are set. Needs wrk. Not part of CI: timings on a
# shared machine are reported, never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
connections="${2:-64}"
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
cargo build --release --all-features --example json_login -q
demo="$PWD/target/release/examples/json_login"
work="$(mktemp -d)"
trap 'pkill -P $$ 2>/dev/null || true; rm -rf "$work"' EXIT

users="alice:wonderland$(for i in $(seq 0 99); do printf ',user%d:wonderland' "$i"; done)"
# No mixed run reaches the limit: every request takes the full path.
printf 'failure_limit = 1000000\nlockout_parameters = ["username"]\nenabled = false\n' >"$work/off.toml"
printf 'failure_limit = 1000000\nlockout_parameters = ["username"]\n' >"$work/on.toml"
# The correct-login runs keep the default policy.
: >"$work/default.toml"

stores=("memory=memory:" "sqlite=sqlite://$work/load.sqlite3")
[ -n "${AXES_TEST_POSTGRES_URL:-}" ] && stores+=("postgres=$AXES_TEST_POSTGRES_URL")
[ -n "${AXES_TEST_REDIS_URL:-}" ] && stores+=("redis=$AXES_TEST_REDIS_URL")

run() { # name, config, database url, wrk script
    local port=$((3100 + RANDOM % 800))
    AXES_BIND="127.0.0.1:$port" AXES_CONFIG="$2" AXES_DATABASE_URL="$3" AXES_DEMO_RESET=1 \
        AXES_DEMO_USERS="$users" RUST_LOG=warn "$demo" >"$work/server.log" 2>&1 &
    local pid=$!
    for _ in $(seq 100); do
        grep -q "listening on" "$work/server.log" 2>/dev/null && break
        sleep 0.1
    done
    local result
    result=$(wrk -t2 -c"$connections" -d"${seconds}s" -s "$4" "http://127.0.0.1:$port" | grep RESULT)
    local rss
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    echo "$1 ${result#RESULT } rss_kib=$rss"
}

{
    run baseline "$work/off.toml" "memory:" scripts/load.lua
    for store in "${stores[@]}"; do
        run "mixed-${store%%=*}" "$work/on.toml" "${store#*=}" scripts/load.lua
    done
    for store in "${stores[@]}"; do
        run "correct-${store%%=*}" "$work/default.toml" "${store#*=}" scripts/correct.lua
    done
} | tee "$work/results"
awk '
    { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[$1, kv[1]] = kv[2] } names[NR] = $1 }
    END {
        for (n = 2; n <= NR; n++) {
            name = names[n]
            if (name ~ /^mixed-/)
                printf "%s: %.2fx the baseline throughput, p99 %.2fx\n", name,
                    v[name, "rps"] / v["baseline", "rps"], v[name, "p99_us"] / v["baseline", "p99_us"]
            else
                printf "%s: %.0f logins/s, %d answered other than 200\n", name,
                    v[name, "rps"], v[name, "status_400_or_more"]
        }
    }' "$work/results"
