#!/usr/bin/env python3
"""Soak test for the demo server: mixed login traffic for a while, RSS sampled.

Not part of CI. Runs the release demo server on loopback with the memory and
the SQLite store in turn, sends a mix of wrong passwords, right passwords,
logouts, malformed bodies and GETs from many loopback source addresses, and
at the end checks that:

* the server's resident memory stayed flat (last quarter vs. second quarter
  of the run, within --rss-growth percent),
* no request failed at the transport level or got a 5xx,
* the failures counted match what was sent: every client that sent at least
  `failure_limit` failing attempts is locked out, and no other is.

    cargo build --release --example json_login
    python3 scripts/soak.py --minutes 10

The memory store keeps up to 100,000 access log entries: RSS grows until
they are reached (some minutes of this traffic), so a short run measures that
fill-up; `--setting "disable_access_log = true"` takes it out.

Standard library only; loopback addresses only; every loop is bounded.
"""
import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def request(port, client, method, path, body=None, timeout=5.0):
    data = b"" if body is None else json.dumps(body).encode()
    head = (
        f"{method} {path} HTTP/1.1\r\nhost: soak\r\ncontent-type: application/json\r\n"
        f"content-length: {len(data)}\r\nconnection: close\r\nuser-agent: soak/1.0\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(client, 0)) as sock:
        sock.sendall(head + data)
        answer = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return int(answer[9:12])


def start(binary, database_url, workdir, failure_limit, settings):
    config = os.path.join(workdir, "axes.toml")
    with open(config, "w") as f:
        f.write(f"failure_limit = {failure_limit}\n")
        for setting in settings:
            f.write(f"{setting}\n")
    env = dict(os.environ, AXES_BIND="127.0.0.1:0", AXES_CONFIG=config,
               AXES_DATABASE_URL=database_url, AXES_DEMO_USERS="alice:wonderland,bob:builder")
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        sys.exit(f"server did not start: {line!r}")
    return proc, int(line.rsplit(":", 1)[1])


def soak(binary, database_url, seconds, failure_limit, rss_growth, settings):
    with tempfile.TemporaryDirectory() as workdir:
        url = database_url.format(tmp=workdir)
        proc, port = start(binary, url, workdir, failure_limit, settings)
        rng = random.Random(7)
        sent_wrong = {}
        errors = 0
        samples = []
        requests = 0
        deadline = time.monotonic() + seconds
        next_sample = time.monotonic()
        try:
            while time.monotonic() < deadline:
                client = f"127.0.{rng.randrange(1, 3)}.{rng.randrange(1, 255)}"
                kind = rng.random()
                if client.endswith((".1", ".2", ".3")):
                    kind = 0.6 + kind * 0.2  # well-behaved clients: logins that succeed, logouts
                try:
                    if kind < 0.6:
                        status = request(port, client, "POST", "/login", {"username": "alice", "password": "nope"})
                        sent_wrong[client] = sent_wrong.get(client, 0) + 1
                    elif kind < 0.7:
                        status = request(port, client, "POST", "/login", {"username": "bob", "password": "builder"})
                    elif kind < 0.8:
                        status = request(port, client, "POST", "/logout", {"username": "bob"})
                    elif kind < 0.9:
                        status = request(port, client, "POST", "/login", "not an object")
                        sent_wrong[client] = sent_wrong.get(client, 0) + 1
                    else:
                        status = request(port, client, "GET", "/login")
                    if status >= 500:
                        errors += 1
                except OSError:
                    errors += 1
                requests += 1
                if time.monotonic() >= next_sample:
                    samples.append(rss_kib(proc.pid))
                    next_sample += 1.0
            locked = [c for c, n in sent_wrong.items() if n >= failure_limit]
            open_ = [c for c, n in sent_wrong.items() if n < failure_limit]
            open_ += [f"127.0.{a}.{b}" for a in (1, 2) for b in (1, 2, 3)]
            wrongly_open = sum(1 for c in locked
                               if request(port, c, "GET", "/login") != 429)
            wrongly_locked = sum(1 for c in open_
                                 if request(port, c, "GET", "/login") != 200)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        quarter = max(1, len(samples) // 4)
        early = sum(samples[quarter:2 * quarter]) / quarter
        late = sum(samples[-quarter:]) / quarter
        growth = 100.0 * (late - early) / early if early else 0.0
        print(f"{database_url}: {requests} requests, {errors} errors, RSS {early:.0f} -> {late:.0f} KiB "
              f"({growth:+.1f}%), {len(locked)} clients locked ({wrongly_open} not refused), "
              f"{len(open_)} open ({wrongly_locked} refused)")
        return errors == 0 and wrongly_open == 0 and wrongly_locked == 0 and growth <= rss_growth


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="per store (default 10)")
    parser.add_argument("--binary", default="target/release/examples/json_login")
    parser.add_argument("--failure-limit", type=int, default=5)
    parser.add_argument("--rss-growth", type=float, default=10.0, help="allowed RSS growth in percent")
    parser.add_argument("--stores", default="memory,sqlite", help="which stores, comma-separated")
    parser.add_argument("--setting", action="append", default=[],
                        help='an extra policy line, e.g. --setting "disable_access_log = true"')
    args = parser.parse_args()
    urls = {"memory": "memory:", "sqlite": "sqlite://{tmp}/axes.sqlite3"}
    ok = True
    for store in args.stores.split(","):
        ok &= soak(args.binary, urls[store], args.minutes * 60, args.failure_limit, args.rss_growth,
                   args.setting)
    print("soak passed" if ok else "soak FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
