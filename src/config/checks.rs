//! Configuration checks, like django-axes' system checks: settings that
//! parse but contradict each other or weaken the protection.

use std::fmt;

use crate::config::AxesConfig;
use crate::identity::LockoutParameter;

/// A setting that is allowed but probably not meant; logged as a `tracing`
/// warning when the [`Axes`](crate::Axes) is built.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigWarning {
    /// The settings involved.
    pub keys: Vec<&'static str>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.keys.join(", "), self.message)
    }
}

fn warning(keys: &[&'static str], message: impl Into<String>) -> ConfigWarning {
    ConfigWarning {
        keys: keys.to_vec(),
        message: message.into(),
    }
}

/// Whether a precedence entry names the TCP peer rather than a header.
fn is_peer(name: &str) -> bool {
    name.trim().eq_ignore_ascii_case("REMOTE_ADDR")
        || name.trim().eq_ignore_ascii_case("REMOTE-ADDR")
}

/// The warnings for `config`.
///
/// ```
/// let config = axes::AxesConfig::from_toml_str(r#"
///     lockout_parameters = ["username"]
///     cooloff_time = "1h"
///     lockout_tiers = [{ failures = 3, cooloff = "15m" }]
/// "#).unwrap();
/// let warnings = axes::config::config_warnings(&config);
/// assert!(warnings.iter().any(|w| w.keys.contains(&"lockout_parameters")));
/// assert!(warnings.iter().any(|w| w.keys == ["lockout_tiers", "cooloff_time"]));
/// ```
pub fn config_warnings(config: &AxesConfig) -> Vec<ConfigWarning> {
    let mut warnings = Vec::new();
    if !config
        .lockout_parameters
        .iter()
        .any(|g| g.contains(LockoutParameter::IpAddress))
    {
        warnings.push(warning(
            &["lockout_parameters"],
            "no entry counts by ip_address: rotating usernames or user agents escapes every limit",
        ));
    }
    if !config.lockout_tiers.is_empty() && config.cooloff_time.is_some() {
        warnings.push(warning(
            &["lockout_tiers", "cooloff_time"],
            "with lockout tiers, cooloff_time is not used",
        ));
    }
    if config
        .lockout_tiers
        .windows(2)
        .any(|pair| pair[0].failures > pair[1].failures)
    {
        warnings.push(warning(
            &["lockout_tiers"],
            "tiers are not in ascending order of failures; they are sorted",
        ));
    }
    if config
        .lockout_tiers
        .windows(2)
        .any(|pair| (pair[0].failures < pair[1].failures) != (pair[0].cooloff < pair[1].cooloff))
    {
        warnings.push(warning(
            &["lockout_tiers"],
            "a higher tier has a shorter cool-off than a lower one",
        ));
    }
    let whitelist_in_force = config.never_lockout_whitelist || config.only_whitelist;
    if whitelist_in_force
        && config
            .ip_whitelist
            .iter()
            .any(|m| m.to_string().ends_with("/0"))
    {
        warnings.push(warning(
            &["ip_whitelist"],
            "the whitelist covers every address: nobody is ever locked out",
        ));
    }
    let headers = config
        .ipware_meta_precedence_order
        .iter()
        .any(|name| !is_peer(name));
    if headers && config.ipware_proxy_count.is_none() && config.ipware_proxy_trusted_ips.is_empty()
    {
        warnings.push(warning(
            &["ipware_meta_precedence_order"],
            "a forwarding header is believed from any client: set ipware_proxy_count or ipware_proxy_trusted_ips, or clients choose their own address",
        ));
    }
    if !config.lock_out_at_failure {
        warnings.push(warning(
            &["lock_out_at_failure"],
            "failures are counted but nobody is ever locked out",
        ));
    } else if let Some(warning) = account_cap(config) {
        warnings.push(warning);
    }
    warnings
}

/// NIST SP 800-63B-4 caps the consecutive failed attempts on one account
/// at 100: a warning when nothing bounds them per account — no lockout
/// group counts by `username` — or the cool-offs forgive failures without
/// end (no `max_temporary_lockouts`), or the bound is above 100.
fn account_cap(config: &AxesConfig) -> Option<ConfigWarning> {
    let per_account = config
        .lockout_parameters
        .iter()
        .any(|group| group.contains(LockoutParameter::Username));
    if !per_account {
        return Some(warning(
            &["lockout_parameters"],
            "no entry counts by username: failed attempts on one account are not capped (NIST SP 800-63B-4 caps them at 100); add \"username\" (with trusted_client_window or device_cookie, so its owner is not locked out with the attacker)",
        ));
    }
    let limit = u64::from(config.effective_failure_limit());
    let cap = match (config.has_cooloff(), config.max_temporary_lockouts) {
        (false, _) => Some(limit),
        (true, Some(temporary)) => Some(limit * (u64::from(temporary) + 1)),
        (true, None) => None,
    };
    match cap {
        Some(cap) if cap <= 100 => None,
        Some(cap) => Some(warning(
            &["failure_limit", "max_temporary_lockouts"],
            format!("up to {cap} consecutive failed attempts on one account before it locks for good; NIST SP 800-63B-4 caps them at 100"),
        )),
        None => Some(warning(
            &["cooloff_time", "max_temporary_lockouts"],
            "each cool-off forgives an account's failures, without end: set max_temporary_lockouts so that at most 100 consecutive failures are allowed (NIST SP 800-63B-4)",
        )),
    }
}

/// Settings that contradict each other: errors when the configuration is
/// validated.
pub(crate) fn contradictions(config: &AxesConfig) -> Option<(&'static str, String)> {
    let headers = config
        .ipware_meta_precedence_order
        .iter()
        .any(|name| !is_peer(name));
    if (config.ipware_proxy_count.is_some() || !config.ipware_proxy_trusted_ips.is_empty())
        && !headers
    {
        return Some((
            "ipware_proxy_count",
            "proxy settings need a forwarding header in ipware_meta_precedence_order (e.g. \"X-Forwarded-For\")".to_owned(),
        ));
    }
    if config.only_whitelist && config.ip_whitelist.is_empty() {
        return Some((
            "only_whitelist",
            "with an empty ip_whitelist every client would be refused".to_owned(),
        ));
    }
    None
}
