#!/usr/bin/env bash
# What the layer costs under load: every case on every store against the
# release demo server, each measured A/B/A/B against the same server with
# `enabled = false` (the baseline) in the same run, the server pinned to one
# core and wrk to the other; and, in the same run, what PostgreSQL and
# Redis do on their own at the same connection count (pgbench,
# redis-benchmark). Prints the tables, writes them to
# target/bench/results.md and into the README (between its bench markers).
#
#     scripts/bench.sh [seconds per run, default 5]
#
# Cases (scripts/bench/login.lua):
#   refused  a locked-out client's flood, 16 connections
#   success  correct logins of 1,000 users from random addresses, 64 connections
#   office   correct logins of one user from one address, 64 connections
#   nat      correct logins of 1,000 users from one address, 64 connections
#   failing  wrong passwords for 100,000 usernames from random addresses, 64 connections
#
# The stores' own rates: pgbench with scripts/bench/pgbench-insert.sql (a
# single-row insert, as an access log entry) and pgbench-upsert.sql (a
# counter upsert, as a failure), and redis-benchmark running an INCR and a
# PEXPIRE in one script, each at 64 connections.
#
# STORES (default: memory sqlite, plus postgres / redis when
# AXES_TEST_POSTGRES_URL / AXES_TEST_REDIS_URL are set) and CASES narrow a
# run; README=0 leaves the README alone; DEMO names another demo binary
# (to measure an older build the same way). Then the memory bound:
# resident memory after 1,000,000 distinct failing clients on the memory
# store. Needs wrk and taskset, and pgbench / redis-benchmark for the
# stores' rows. Not part of CI: timings are reported, never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-5}"
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
command -v taskset >/dev/null || { echo "taskset is required (util-linux)" >&2; exit 1; }
if [ -z "${DEMO:-}" ]; then
    cargo build --release --all-features --example json_login -q
fi
demo="${DEMO:-$PWD/target/release/examples/json_login}"
out="$PWD/target/bench"
mkdir -p "$out"
work="$(mktemp -d)"
trap 'pkill -P $$ 2>/dev/null || true; rm -rf "$work"' EXIT

# Two cores: the server on the first, wrk on the second (databases float).
server_cpu=0
client_cpu=$(($(nproc) > 1 ? 1 : 0))
connections=64

users="$(for i in $(seq 0 999); do printf 'user%d:wonderland,' "$i"; done)alice:wonderland"
# The client address is read from X-Forwarded-For, as behind one proxy.
proxy='ipware_meta_precedence_order = ["HTTP_X_FORWARDED_FOR"]
ipware_proxy_count = 1'
printf '%s\nenabled = false\n' "$proxy" >"$work/off.toml"
printf '%s\n' "$proxy" >"$work/on.toml"

default_stores="memory sqlite"
[ -n "${AXES_TEST_POSTGRES_URL:-}" ] && default_stores+=" postgres"
[ -n "${AXES_TEST_REDIS_URL:-}" ] && default_stores+=" redis"
read -r -a stores <<<"${STORES:-$default_stores}"
read -r -a cases <<<"${CASES:-refused success office nat failing}"

url_of() { # store, run number
    case "$1" in
    memory) echo "memory:" ;;
    sqlite) echo "sqlite://$work/bench-$2.sqlite3" ;;
    postgres) echo "$AXES_TEST_POSTGRES_URL" ;;
    redis) echo "$AXES_TEST_REDIS_URL" ;;
    esac
}

connections_of() { [ "$1" = refused ] && echo 16 || echo "$connections"; }

# Starts the demo server on a free port; sets $pid and $port.
start() { # config, database url
    AXES_BIND="127.0.0.1:0" AXES_CONFIG="$1" AXES_DATABASE_URL="$2" AXES_DEMO_RESET=1 \
        AXES_DEMO_USERS="$users" RUST_LOG=warn \
        taskset -c "$server_cpu" "$demo" >"$work/server.log" 2>&1 &
    pid=$!
    for _ in $(seq 200); do
        port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/server.log" 2>/dev/null)
        [ -n "$port" ] && return 0
        sleep 0.05
    done
    echo "the demo server did not start:" >&2
    cat "$work/server.log" >&2
    exit 1
}

lock_alice() { # the refused case's client reaches the limit first
    for i in 1 2 3; do
        curl -s -o /dev/null -X POST "http://127.0.0.1:$port/login" \
            -H 'Content-Type: application/json' -H 'X-Forwarded-For: 203.0.113.7, 127.0.0.1' \
            -d "{\"username\":\"alice\",\"password\":\"wrong-$i\"}"
    done
}

# The PostgreSQL tables with what earlier runs left vacuumed away: every
# run starts as with autovacuum keeping up (a server may run with it off).
vacuum() { # store
    [ "$1" = postgres ] || return 0
    psql -q "$AXES_TEST_POSTGRES_URL" -c 'VACUUM axes_slots, axes_counters, axes_attempts,
        axes_access_logs, axes_failure_logs, axes_waiting, axes_instances' 2>/dev/null || true
}

measure() { # label, config, store, case, run
    vacuum "$3"
    start "$2" "$(url_of "$3" "$5")"
    if [ "$4" = refused ] && [ "$2" = "$work/on.toml" ]; then lock_alice; fi
    local result rss
    result=$(taskset -c "$client_cpu" wrk -t1 -c"$(connections_of "$4")" -d"${seconds}s" \
        -s scripts/bench/login.lua "http://127.0.0.1:$port" -- "$4" | grep RESULT) || {
        echo "wrk measured nothing ($1 $3 $4); the server's log:" >&2
        cat "$work/server.log" >&2
        exit 1
    }
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    echo "$1 $3 $4 ${result#RESULT } rss_kib=$rss" | tee -a "$work/runs"
}

# The stores' own rates, at the same connection count.
store_rates() {
    for store in "${stores[@]}"; do
        case "$store" in
        postgres)
            command -v pgbench >/dev/null || { echo "pgbench is missing: no PostgreSQL row" >&2; continue; }
            psql -q "$AXES_TEST_POSTGRES_URL" -f scripts/bench/pgbench-setup.sql >/dev/null
            for script in insert upsert; do
                rps=$(taskset -c "$client_cpu" pgbench -n -c "$connections" -j 1 -T "$seconds" \
                    -f "scripts/bench/pgbench-$script.sql" "$AXES_TEST_POSTGRES_URL" 2>/dev/null |
                    awk -F'= ' '/^tps/ {print $2; exit}' | awk '{print $1}')
                echo "store postgres $script rps=$rps" | tee -a "$work/rates"
            done
            psql -q "$AXES_TEST_POSTGRES_URL" -c 'DROP SCHEMA axes_bench CASCADE' >/dev/null
            ;;
        redis)
            command -v redis-benchmark >/dev/null || { echo "redis-benchmark is missing: no Redis row" >&2; continue; }
            [[ "$AXES_TEST_REDIS_URL" =~ ^redis://([^:/]+):?([0-9]*) ]]
            host="${BASH_REMATCH[1]}"
            rport="${BASH_REMATCH[2]:-6379}"
            rps=$(taskset -c "$client_cpu" redis-benchmark -h "$host" -p "$rport" -c "$connections" \
                -n $((seconds * 40000)) -r 100000 -q \
                EVAL "redis.call('INCR', KEYS[1]) return redis.call('PEXPIRE', KEYS[1], 60000)" \
                1 axes-bench:__rand_int__ | awk '{for (i = 1; i <= NF; i++) if ($(i+1) == "requests") print $i}' | tail -1)
            redis-cli -h "$host" -p "$rport" --scan --pattern 'axes-bench:*' | xargs -r -n 1000 redis-cli -h "$host" -p "$rport" del >/dev/null
            echo "store redis incr-pexpire rps=$rps" | tee -a "$work/rates"
            ;;
        esac
    done
}

: >"$work/runs"
: >"$work/rates"
run=0
for store in "${stores[@]}"; do
    for case in "${cases[@]}"; do
        for round in 1 2; do
            run=$((run + 1))
            measure baseline "$work/off.toml" "$store" "$case" "$run"
            run=$((run + 1))
            measure axes "$work/on.toml" "$store" "$case" "$run"
        done
    done
done
store_rates

echo "-- memory bound"
memory=$(cargo bench -q --bench memory_bound 2>/dev/null | tail -1)
echo "$memory"

cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
{
    echo "Measured $(date -u +%F) on $(nproc) cores ($cpu), Linux $(uname -r):"
    echo "\`scripts/bench.sh $seconds\`, ${seconds} s per run, the server pinned to one core."
    echo
    echo "| store | case | baseline req/s | with axes req/s | ratio | p50 with axes | non-2xx with axes |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    awk '
        { for (i = 4; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
          key = $2 " " $3
          if (!(key in seen)) { seen[key] = 1; order[++n] = key }
          rps[$1, key] += v["rps"]
          if ($1 == "axes") { bad[key] += v["non_2xx"]; p50[key] += v["p50_us"] } }
        END {
          for (i = 1; i <= n; i++) {
            split(order[i], p, " ")
            printf "| %s | %s | %.0f | %.0f | %.2fx | %.1f ms | %s |\n", p[1], p[2],
              rps["baseline", order[i]] / 2, rps["axes", order[i]] / 2,
              rps["axes", order[i]] / rps["baseline", order[i]], p50[order[i]] / 2000,
              (p[2] == "refused" || p[2] == "failing") ? "all, by design" : bad[order[i]]
          }
        }' "$work/runs"
    if [ -s "$work/rates" ]; then
        echo
        echo "The stores on their own, in the same run, at $connections connections:"
        echo
        echo "| store | what | req/s |"
        echo "|---|---|---:|"
        awk '{ split($4, kv, "="); printf "| %s | %s | %.0f |\n", $2, $3, kv[2] }' "$work/rates"
        echo
        echo "Targets (with axes; a store's own rate is its lower one):"
        echo
        echo "| store | case | measured | against | ratio |"
        echo "|---|---|---:|---|---:|"
        awk '
            FNR == NR { split($4, kv, "="); r = kv[2] + 0
                        if (!($2 in own) || r < own[$2]) own[$2] = r; next }
            { for (i = 4; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
              if ($1 == "axes") { rps[$2, $3] += v["rps"] / 2; p50[$2, $3] += v["p50_us"] / 2 } }
            END {
              for (s in own) {
                base = own[s]; label = s " alone"
                if (rps["memory", "success"] > 0 && rps["memory", "success"] < base) {
                  base = rps["memory", "success"]; label = "memory store"
                }
                for (c = 1; c <= 2; c++) {
                  k = (c == 1) ? "success" : "failing"
                  if (rps[s, k] > 0) printf "| %s | %s | %.0f req/s | %s, %.0f req/s | %.2fx |\n", s, k, rps[s, k], label, base, rps[s, k] / base
                }
                for (c = 1; c <= 2; c++) {
                  k = (c == 1) ? "office" : "nat"
                  if (rps[s, k] > 0 && rps[s, "success"] > 0)
                    printf "| %s | %s (p50 %.1f ms) | %.0f req/s | its success case | %.2fx |\n", s, k, p50[s, k] / 1000, rps[s, k], rps[s, k] / rps[s, "success"]
                }
              }
            }' "$work/rates" "$work/runs" | sort
    fi
    echo
    echo "Memory store, 1,000,000 distinct failing clients with the default bounds: $memory"
} >"$out/results.md"
cat "$out/results.md"

if [ "${README:-1}" = 1 ]; then
    python3 - "$out/results.md" <<'EOF'
import re, sys
table = open(sys.argv[1]).read().strip()
readme = open("README.md").read()
begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
if not pattern.search(readme):
    sys.exit("README.md has no bench markers")
open("README.md", "w").write(pattern.sub(lambda _: f"{begin}\n{table}\n{end}", readme))
print("README.md: table written")
EOF
fi
