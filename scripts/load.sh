#!/usr/bin/env bash
# Load run against the release demo server: the same server with axes
# disabled (the baseline) and enabled on the memory and SQLite stores,
# measured in one run, reported as throughput ratios. Needs wrk.
#
#     scripts/load.sh [seconds per run, default 15] [connections, default 32]
#
# Not part of CI: timings on a shared machine are reported, never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-15}"
connections="${2:-32}"
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
cargo build --release --example json_login -q
demo="$PWD/target/release/examples/json_login"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

users=$(for i in $(seq 0 99); do printf 'user%d:wonderland,' "$i"; done)
users="${users%,}"
# No run reaches the limit: every request takes the full path.
common='failure_limit = 1000000
lockout_parameters = ["username"]'
printf '%s\nenabled = false\n' "$common" >"$work/off.toml"
printf '%s\n' "$common" >"$work/on.toml"

run() { # name, config, database url
    local port=$((3100 + RANDOM % 800))
    AXES_BIND="127.0.0.1:$port" AXES_CONFIG="$2" AXES_DATABASE_URL="$3" \
        AXES_DEMO_USERS="$users" RUST_LOG=warn "$demo" >"$work/server.log" 2>&1 &
    local pid=$!
    for _ in $(seq 100); do
        grep -q "listening on" "$work/server.log" 2>/dev/null && break
        sleep 0.1
    done
    local result
    result=$(wrk -t2 -c"$connections" -d"${seconds}s" -s scripts/load.lua "http://127.0.0.1:$port" | grep RESULT)
    local rss
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    echo "$1 ${result#RESULT } rss_kib=$rss"
}

{
    run baseline "$work/off.toml" "memory:"
    run memory "$work/on.toml" "memory:"
    run sqlite "$work/on.toml" "sqlite://$work/load.sqlite3"
} | tee "$work/results"
awk '
    { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[$1, kv[1]] = kv[2] } names[NR] = $1 }
    END {
        for (n = 2; n <= NR; n++) {
            name = names[n]
            printf "%s: %.2fx the baseline throughput, p99 %.2fx\n", name,
                v[name, "rps"] / v["baseline", "rps"], v[name, "p99_us"] / v["baseline", "p99_us"]
        }
    }' "$work/results"
