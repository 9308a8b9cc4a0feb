use super::*;

#[test]
fn defaults_match_django_axes() {
    let c = AxesConfig::from_toml_str("").unwrap();
    assert_eq!(c, AxesConfig::default());
    assert_eq!(c.failure_limit, 3);
    assert_eq!(c.http_response_code, 429);
    assert_eq!(c.cooloff_time, None);
    assert_eq!(
        c.lockout_parameters,
        vec![LockoutGroup::single(LockoutParameter::IpAddress)]
    );
    assert_eq!(
        c.reset_cool_off_on_failure_during_lockout,
        DuringLockout::RecordReported
    );
}

#[test]
fn full_document_parses() {
    let c = AxesConfig::from_toml_str(
        r#"
        enabled = true
        failure_limit = 5
        lock_out_at_failure = false
        cooloff_time = "1h 30m"
        lockout_parameters = ["ip_address", ["user_agent", "username"]]
        reset_on_success = true
        reset_cool_off_on_failure_during_lockout = false
        http_response_code = 403
        username_form_field = "email"
        password_form_field = "passphrase"
        ip_whitelist = ["127.0.0.9", "10.0.0.0/8", "::1"]
        ip_blacklist = ["192.0.2.1"]
        never_lockout_whitelist = true
        only_whitelist = false
        never_lockout_get = true
        max_body_bytes = 1024
        on_store_error = "fail_open"
        disable_access_log = true
        enable_access_failure_log = true
        access_failure_log_per_user_limit = 10
        sensitive_parameters = ["otp"]
        ipware_proxy_count = 1
        ipware_meta_precedence_order = ["HTTP_X_FORWARDED_FOR", "X-Real-IP", "REMOTE_ADDR"]
        ipware_proxy_order = "right-most"
        ipware_proxy_trusted_ips = ["127.0.0.1", "10.0.0.0/8"]
        "#,
    )
    .unwrap();
    assert_eq!(c.cooloff_time, Some(Duration::from_secs(5400)));
    assert_eq!(
        c.lockout_parameters[1],
        LockoutGroup::combination([LockoutParameter::Username, LockoutParameter::UserAgent])
    );
    assert!(c.is_listed_in_whitelist("10.200.0.1".parse().unwrap()));
    assert!(c.is_blacklisted("192.0.2.1".parse().unwrap()));
    assert!(!c.is_blacklisted("192.0.2.2".parse().unwrap()));
}

#[test]
fn errors_name_the_key() {
    for (doc, key) in [
        ("nope = 1", "nope"),
        ("failure_limit = -1", "failure_limit"),
        ("failure_limit = \"three\"", "failure_limit"),
        ("cooloff_time = \"soon\"", "cooloff_time"),
        ("lockout_parameters = [\"password\"]", "lockout_parameters"),
        ("lockout_parameters = [[]]", "lockout_parameters"),
        ("lockout_parameters = []", "lockout_parameters"),
        ("ip_blacklist = [\"localhost\"]", "ip_blacklist"),
        ("http_response_code = 200", "http_response_code"),
        ("username_form_field = \"\"", "username_form_field"),
        ("cooloff_time = \"0s\"", "cooloff_time"),
        ("ipware_proxy_order = \"middle\"", "ipware_proxy_order"),
        ("ipware_meta_precedence_order = [\"bad header\"]", "ipware_meta_precedence_order"),
        ("ipware_proxy_trusted_ips = [\"proxy.local\"]", "ipware_proxy_trusted_ips"),
        ("ipware_proxy_count = 1", "ipware_proxy_count"),
        ("only_whitelist = true", "only_whitelist"),
        ("ipv6_prefix_length = 129", "ipv6_prefix_length"),
        ("username_normalization = \"lower\"", "username_normalization"),
        ("lockout_tiers = [{ failures = 0, cooloff = \"1s\" }]", "lockout_tiers"),
        ("lockout_tiers = [{ failures = 3 }]", "lockout_tiers"),
        ("lockout_tiers = [{ failures = 3, cooloff = \"1s\", extra = 1 }]", "lockout_tiers.extra"),
        ("lockout_tiers = [{ failures = 3, cooloff = \"1s\" }, { failures = 3, cooloff = \"2s\" }]", "lockout_tiers"),
    ] {
        let err = AxesConfig::from_toml_str(doc).unwrap_err();
        assert_eq!(err.key, key, "{doc}: {err}");
        assert!(err.to_string().contains(key), "{err}");
    }
}

#[test]
fn tiers_set_the_limit_and_the_cooloff_by_count() {
    let c = AxesConfig::from_toml_str(
        r#"
        failure_limit = 50
        cooloff_time = "1s"
        lockout_tiers = [
            { failures = 10, cooloff = "1d" },
            { failures = 3, cooloff = "15m" },
            { failures = 6, cooloff = "2h" },
        ]
        "#,
    )
    .unwrap();
    assert_eq!(c.effective_failure_limit(), 3);
    let minutes = |n| c.cooloff_for(n).unwrap().as_secs() / 60;
    assert_eq!(
        [0, 2, 3, 5, 6, 7, 10, 100].map(minutes),
        [15, 15, 15, 15, 120, 120, 1440, 1440]
    );
    assert!(c.has_cooloff());
    assert_eq!(AxesConfig::default().cooloff_for(5), None);
}

#[test]
fn whitelist_is_not_substring_matching() {
    let c =
        AxesConfig::from_toml_str("ip_whitelist = [\"10.0.0.10\"]\nonly_whitelist = true").unwrap();
    assert!(c.is_blacklisted("10.0.0.1".parse().unwrap()));
    assert!(!c.is_blacklisted("10.0.0.10".parse().unwrap()));
}

#[test]
fn ipv4_mapped_addresses_match_ipv4_entries() {
    let c = AxesConfig::builder()
        .ip_blacklist(["127.0.0.66"])
        .unwrap()
        .build()
        .unwrap();
    assert!(c.is_blacklisted("::ffff:127.0.0.66".parse().unwrap()));
}

#[test]
fn groups_round_trip_through_serde() {
    let c = AxesConfig::from_toml_str(
        "lockout_parameters = [[\"username\", \"ip_address\"], \"user_agent\"]",
    )
    .unwrap();
    let text = toml::to_string(&c).unwrap();
    assert_eq!(AxesConfig::from_toml_str(&text).unwrap(), c);
}
