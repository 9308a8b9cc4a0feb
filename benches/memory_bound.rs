//! Resident memory after 1,000,000 distinct failing clients on the memory
//! store with its default bounds: each client a new address and username,
//! each failure recorded as the layer records it (counter, attempt record,
//! failure log). Prints the store's byte count and the process's peak
//! resident memory, read from `/proc/self/status`.
//!
//! ```text
//! cargo bench --bench memory_bound
//! ```

use std::net::{IpAddr, Ipv4Addr};

use axes::{Axes, AxesConfig, ClientInfo, Credentials, MemoryStore, Report};

const CLIENTS: u32 = 1_000_000;

fn status(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|line| line.starts_with(field))
                .map(|line| line[field.len()..].trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let store = std::sync::Arc::new(MemoryStore::new());
        let axes = Axes::new(AxesConfig::default(), store.clone());
        for i in 0..CLIENTS {
            let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            let client = ClientInfo::new(ip)
                .with_username(format!("victim{i}"))
                .with_user_agent("Mozilla/5.0 (X11; Linux x86_64) bench/1.0")
                .with_path("/login");
            axes.attempt(client)
                .report(Report::failed(Credentials::default()))
                .await
                .expect("a recorded failure");
        }
        println!(
            "clients={CLIENTS} store_bytes={} counters={} rss={} peak_rss={}",
            store.bytes_used(),
            store.counter_count(),
            status("VmRSS:"),
            status("VmHWM:")
        );
    });
}
