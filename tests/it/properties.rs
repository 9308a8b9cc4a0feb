//! Property tests: key building, client IP resolution, body parsing and the
//! lockout policy hold for arbitrary input, and nothing panics.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axes::{
    AttemptFilter, Axes, AxesConfig, ClientInfo, Clock, LockoutGroup, LockoutKey,
    LockoutParameter::*, ManualClock, MemoryStore,
};
use proptest::prelude::*;

fn any_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u16; 8]>().prop_map(IpAddr::from),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Different parts never share a key, whatever characters they hold.
    #[test]
    fn keys_are_injective(
        a in (any_ip(), ".{0,12}", ".{0,12}"),
        b in (any_ip(), ".{0,12}", ".{0,12}"),
    ) {
        let group = LockoutGroup::combination([IpAddress, Username, UserAgent]);
        let key = |(ip, user, agent): &(IpAddr, String, String)| {
            LockoutKey::for_group(&group, Some(*ip), Some(user), Some(agent))
        };
        let (ka, kb) = (key(&a), key(&b));
        let canonical = |(ip, user, agent): &(IpAddr, String, String)| (ip.to_canonical(), user.clone(), agent.clone());
        if let (Some(ka), Some(kb)) = (ka, kb) {
            prop_assert_eq!(ka.encode() == kb.encode(), canonical(&a) == canonical(&b));
        }
    }

    /// With the default settings, no header changes the client address.
    #[test]
    fn headers_never_choose_the_address_by_default(value in ".{0,200}", peer in any_ip()) {
        let proxies = AxesConfig::default().proxies();
        let mut headers = http::HeaderMap::new();
        if let Ok(v) = http::HeaderValue::from_str(&value) {
            headers.insert("x-forwarded-for", v.clone());
            headers.insert("forwarded", v);
        }
        prop_assert_eq!(proxies.client_ip(&headers, peer), peer.to_canonical());
    }

    /// A configured header yields the peer or an address written in it.
    #[test]
    fn a_believed_header_yields_only_addresses_it_holds(
        entries in proptest::collection::vec(prop_oneof![any_ip().prop_map(|ip| ip.to_string()), ".{0,20}"], 0..6),
        peer in any_ip(),
        count in proptest::option::of(0u32..4),
    ) {
        let mut config = AxesConfig::default();
        config.ipware_meta_precedence_order = vec!["X-Forwarded-For".into(), "REMOTE_ADDR".into()];
        config.ipware_proxy_count = count;
        let proxies = config.proxies();
        let value = entries.join(", ");
        let mut headers = http::HeaderMap::new();
        if let Ok(v) = http::HeaderValue::from_str(&value) {
            headers.insert("x-forwarded-for", v);
        }
        let ip = proxies.client_ip(&headers, peer);
        let held: Vec<IpAddr> = entries.iter().filter_map(|e| e.trim().parse::<IpAddr>().ok()).map(|ip| ip.to_canonical()).collect();
        prop_assert!(ip == peer.to_canonical() || held.contains(&ip), "{ip} from {value:?}");
    }

    /// More failures never unlock; cool-off expiry and reset always do.
    #[test]
    fn the_policy_is_monotonic_and_always_unlockable(
        limit in 1u32..6,
        failures in 0usize..12,
        cooloff_secs in proptest::option::of(1u64..100),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let mut builder = AxesConfig::builder().failure_limit(limit);
            if let Some(secs) = cooloff_secs {
                builder = builder.cooloff_time(Duration::from_secs(secs));
            }
            let clock = ManualClock::new();
            let axes = Axes::builder(builder.build().unwrap(), MemoryStore::new()).clock(clock.clone()).build();
            let client = ClientInfo::new("192.0.2.1".parse().unwrap());
            let mut locked_before = false;
            for n in 1..=failures {
                let outcome = crate::common::record_failure(&axes, &client).await;
                let locked = outcome.lockout.is_some();
                prop_assert!(!locked_before || locked, "failure {n} unlocked");
                prop_assert_eq!(locked, n as u32 >= limit);
                locked_before = locked;
            }
            if let Some(secs) = cooloff_secs {
                clock.advance(Duration::from_secs(secs) + Duration::from_millis(1));
                prop_assert!(crate::common::check(&axes, &client).await.lockout().is_none(), "expiry unlocks");
            }
            axes.reset(AttemptFilter::Ip(client.ip_address())).await.unwrap();
            prop_assert!(crate::common::check(&axes, &client).await.lockout().is_none(), "reset unlocks");
            let _ = clock.now();
            Ok(())
        })?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Arbitrary bodies and headers through the layer: a clear status, no panic.
    #[test]
    fn arbitrary_requests_get_an_answer(
        body in proptest::collection::vec(any::<u8>(), 0..512),
        content_type in prop_oneof![Just("application/json".to_owned()), Just("application/x-www-form-urlencoded".to_owned()), Just("text/plain".to_owned()), ".{0,30}"],
        agent in proptest::collection::vec(any::<u8>(), 0..300),
        xff in ".{0,60}",
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let app = crate::common::App::new("max_body_bytes = 256\nipware_meta_precedence_order = [\"X-Forwarded-For\", \"REMOTE_ADDR\"]\nipware_proxy_count = 0");
            let mut request = axum::http::Request::post("/login").body(axum::body::Body::from(body)).unwrap();
            if let Ok(v) = http::HeaderValue::from_str(&content_type) {
                request.headers_mut().insert("content-type", v);
            }
            if let Ok(v) = http::HeaderValue::from_bytes(&agent) {
                request.headers_mut().insert("user-agent", v);
            }
            if let Ok(v) = http::HeaderValue::from_str(&xff) {
                request.headers_mut().insert("x-forwarded-for", v);
            }
            request.extensions_mut().insert(axum::extract::ConnectInfo(SocketAddr::from(([192, 0, 2, 1], 1))));
            let status = app.send(request).await.status().as_u16();
            prop_assert!([200, 400, 403, 413].contains(&status), "status {status}");
            Ok(())
        })?;
    }
}
