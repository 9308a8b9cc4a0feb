//! Real IPv6 peers: the demo server in a network namespace the test makes,
//! with two /64 prefixes routed to its loopback (and any address of them
//! bindable), so a client sends from any address of them: the TCP peer
//! itself, not a forwarded header.
//!
//! Needs `ip` and the right to make a namespace (root); elsewhere the test
//! says it was skipped, unless `AXES_TEST_NETNS=1` (as `.ci/run` sets)
//! makes that a failure.

use std::process::Command;

use crate::common::process::Demo;

/// A network namespace, deleted when dropped.
struct Namespace(String);

impl Namespace {
    /// A namespace with its loopback up and `prefixes` routed to it; `None`
    /// when this machine does not let the test make one.
    fn new(prefixes: &[&str]) -> Option<Self> {
        let name = format!("axes-v6-{}", std::process::id());
        let ip = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .output()
                .is_ok_and(|out| out.status.success())
        };
        if !ip(&["netns", "add", &name]) {
            return None;
        }
        let namespace = Self(name);
        assert!(ip(&["-n", &namespace.0, "link", "set", "lo", "up"]));
        // Any address of a prefix routed to the loopback may be bound.
        let sysctl = ["netns", "exec", &namespace.0, "sysctl", "-qw"];
        assert!(ip(&[&sysctl[..], &["net.ipv6.ip_nonlocal_bind=1"]].concat()));
        for prefix in prefixes {
            let route = [
                "-n",
                &namespace.0,
                "-6",
                "route",
                "add",
                "local",
                prefix,
                "dev",
                "lo",
            ];
            assert!(ip(&route), "route {prefix}");
        }
        Some(namespace)
    }
}

/// A login to `server` from the address `from`, inside the namespace
/// `namespace`: the status.
fn login(namespace: &str, server: std::net::SocketAddr, from: &str, password: &str) -> u16 {
    let body = format!(r#"{{"username":"alice","password":"{password}"}}"#);
    let out = Command::new("ip")
        .args(["netns", "exec", namespace, "curl", "-sg", "-o", "/dev/null"])
        .args(["-w", "%{http_code}", "--interface", from])
        .args(["-H", "content-type: application/json", "-d", &body])
        .arg(format!("http://{server}/login"))
        .output()
        .expect("curl runs");
    String::from_utf8_lossy(&out.stdout)
        .parse()
        .unwrap_or_else(|_| panic!("a status from curl: {out:?}"))
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Ten addresses of one /64, three wrong passwords each, then the right
/// password from an eleventh: by default the /64 is one client, locked
/// after its third failure, so every later attempt from it is refused and
/// the eleventh address does not log in — while another /64 does. With
/// `ipv6_prefix_length = 128` (each address alone, as django-axes counts)
/// the same attack gets thirty guesses and the eleventh address logs in.
#[tokio::test]
async fn a_64_is_one_client_by_default() {
    let Some(namespace) = Namespace::new(&["2001:db8:7:7::/64", "2001:db8:7:8::/64"]) else {
        assert!(
            std::env::var_os("AXES_TEST_NETNS").is_none(),
            "AXES_TEST_NETNS is set but no network namespace could be made"
        );
        eprintln!("skipped: no network namespace (needs `ip` and root)");
        return;
    };
    let wrapper = ["ip", "netns", "exec", namespace.0.as_str()];
    for (policy, per_address) in [("", false), ("ipv6_prefix_length = 128", true)] {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("axes.toml");
        std::fs::write(&config, policy).unwrap();
        let bind = [("AXES_BIND", "[2001:db8:7:7::1]:0")];
        let demo = Demo::start_in(&wrapper, "memory:", &config, &bind);
        let server = demo.addr;
        let name = namespace.0.clone();
        let (statuses, eleventh, elsewhere) = tokio::task::spawn_blocking(move || {
            let mut statuses = Vec::new();
            for host in 0x10..0x1a {
                let from = format!("2001:db8:7:7::{host:x}");
                for _ in 0..3 {
                    statuses.push(login(&name, server, &from, "wrong"));
                }
            }
            let eleventh = login(&name, server, "2001:db8:7:7::ffff", "wonderland");
            let elsewhere = login(&name, server, "2001:db8:7:8::10", "wonderland");
            (statuses, eleventh, elsewhere)
        })
        .await
        .unwrap();
        if per_address {
            assert!(
                statuses.iter().all(|s| *s == 403 || *s == 429),
                "{statuses:?}"
            );
            assert_eq!(
                statuses.iter().filter(|s| **s == 403).count(),
                20,
                "two guesses per address"
            );
            assert_eq!(eleventh, 200, "per address, the eleventh logs in");
        } else {
            assert_eq!(
                &statuses[..3],
                [403, 403, 429],
                "the third failure locks the /64"
            );
            assert!(statuses[3..].iter().all(|s| *s == 429), "{statuses:?}");
            assert_eq!(eleventh, 429, "the eleventh address of the /64 is refused");
        }
        assert_eq!(elsewhere, 200, "another /64 is another client");
        drop(demo);
    }
}
