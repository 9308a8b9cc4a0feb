//! A bounded mutation fuzzer over what the layer parses: login bodies (JSON
//! and form), `Content-Type`, `Content-Length`, `User-Agent`, `Accept`,
//! `X-Forwarded-For` and `Forwarded`. Seeds are realistic requests; each
//! round mutates them (bit flips, byte insertions and deletions, splices,
//! truncation, repetition) and sends them through `AxesLayer`.
//!
//! Every request must get an answer from a known set, never a panic, and the
//! store must stay consistent. `AXES_FUZZ_SECONDS` sets the budget (default
//! 3 s; `.ci/run` gives it more); `AXES_FUZZ_SEED` replays a run.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axes::AttemptFilter;
use axum::body::Body;
use axum::http::{HeaderValue, Request};

/// xorshift64*: small, fast, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const BODIES: &[&[u8]] = &[
    br#"{"username": "alice", "password": "wonderland"}"#,
    br#"{"username": "alice", "username": "mallory", "password": "x"}"#,
    br#"{"username": null, "password": ["x"], "extra": {"a": 1}}"#,
    b"username=alice&password=wonderland&username=bob",
    b"username=%E2%82%AC%00&password=%ZZ",
    b"\"alice\"",
    b"[1, 2, 3]",
];

const CONTENT_TYPES: &[&[u8]] = &[
    b"application/json",
    b"application/json; charset=utf-8",
    b"application/x-www-form-urlencoded",
    b"application/vnd.api+json",
    b"text/plain",
];

const FORWARDED: &[&[u8]] = &[
    b"203.0.113.7",
    b"203.0.113.7, 10.0.0.1, [2001:db8::1]:443",
    b"for=\"[2001:db8:cafe::17]:4711\";proto=https, for=198.51.100.2",
    b"unknown, _hidden",
];

fn mutate(rng: &mut Rng, seed: &[u8], max_len: usize) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let len = data.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(len + 1);
                data.insert(i, rng.next() as u8);
            }
            2 if len > 0 => {
                data.remove(rng.below(len));
            }
            3 => data.truncate(rng.below(len + 1)),
            4 => {
                let other = BODIES[rng.below(BODIES.len())];
                let at = rng.below(len + 1);
                data.splice(at..at, other.iter().copied());
            }
            5 if len > 0 => {
                let start = rng.below(len);
                let chunk: Vec<u8> = data[start..].iter().copied().take(16).collect();
                for _ in 0..rng.below(64) {
                    data.extend_from_slice(&chunk);
                }
            }
            _ => {
                let special = [b'\0', b'"', b'\\', b'{', b'}', b'&', b'=', b'%', 0xff, b','];
                let i = rng.below(len + 1);
                data.insert(i, special[rng.below(special.len())]);
            }
        }
    }
    data.truncate(max_len);
    data
}

fn header(rng: &mut Rng, seeds: &[&[u8]]) -> Option<HeaderValue> {
    let seed = seeds[rng.below(seeds.len())];
    let value = mutate(rng, seed, 4096);
    HeaderValue::from_bytes(&value).ok()
}

#[tokio::test]
async fn mutated_requests_always_get_an_answer() {
    let seconds: u64 = std::env::var("AXES_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let seed: u64 = std::env::var("AXES_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1
        });
    println!("fuzzing for {seconds} s with AXES_FUZZ_SEED={seed}");
    let app = crate::common::App::new(
        "max_body_bytes = 2048\nfailure_limit = 1000000\nlockout_parameters = [\"ip_address\", [\"username\", \"user_agent\"]]\nipware_meta_precedence_order = [\"X-Forwarded-For\", \"Forwarded\", \"REMOTE_ADDR\"]\nipware_proxy_count = 1\nusername_normalization = \"nfkc_casefold\"\nipv6_prefix_length = 64",
    );
    let mut rng = Rng(seed);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut rounds = 0u64;
    while Instant::now() < deadline {
        let seed_body = BODIES[rng.below(BODIES.len())];
        let body = mutate(&mut rng, seed_body, 4096);
        let body_len = body.len();
        let mut request = Request::post("/login").body(Body::from(body)).unwrap();
        let headers = request.headers_mut();
        if let Some(v) = header(&mut rng, CONTENT_TYPES) {
            headers.insert("content-type", v);
        }
        if rng.below(4) == 0 {
            let declared = [body_len, body_len + 10, 0, 1 << 40][rng.below(4)];
            headers.insert("content-length", HeaderValue::from(declared));
        }
        for name in ["user-agent", "accept"] {
            if let Some(v) = header(
                &mut rng,
                &[b"Mozilla/5.0 (X11)", b"application/json, text/html;q=0.9"],
            ) {
                headers.insert(name, v);
            }
        }
        for name in ["x-forwarded-for", "forwarded"] {
            if rng.below(2) == 0 {
                if let Some(v) = header(&mut rng, FORWARDED) {
                    headers.append(name, v);
                }
            }
        }
        let peer: SocketAddr = if rng.below(2) == 0 {
            ([192, 0, 2, rng.below(256) as u8], 1000).into()
        } else {
            (
                [
                    0x2001,
                    0xdb8,
                    0,
                    0,
                    rng.below(3) as u16,
                    0,
                    0,
                    rng.below(65536) as u16,
                ],
                1000,
            )
                .into()
        };
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        let status = app.send(request).await.status().as_u16();
        assert!(
            [200, 400, 403, 408, 413].contains(&status),
            "status {status} in round {rounds} (AXES_FUZZ_SEED={seed})"
        );
        rounds += 1;
    }
    let attempts = app.axes.attempts(AttemptFilter::All).await.unwrap();
    let recorded: u64 = attempts.iter().map(|a| a.failures).sum();
    assert!(
        recorded <= rounds,
        "more failures recorded than requests sent"
    );
    println!(
        "{rounds} requests, {recorded} failures recorded, {} attempt records",
        attempts.len()
    );
}
