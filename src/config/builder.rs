//! [`AxesConfigBuilder`]: an [`AxesConfig`] built in code.

use std::time::Duration;

use super::{
    AxesConfig, ConfigError, CooloffBackoff, DuringLockout, LockoutResponseMode, LockoutTier,
    OnStoreError, SiteBreaker, SprayLimit,
};
use crate::identity::{IpMatcher, LockoutGroup, ProxyOrder, UsernameNormalization};

/// Builds an [`AxesConfig`] in code; [`build`](Self::build) validates it.
///
/// ```
/// let config = axes::AxesConfig::builder()
///     .failure_limit(10)
///     .ip_blacklist(["192.0.2.0/24"])?
///     .build()?;
/// assert!(config.is_blacklisted("192.0.2.7".parse().unwrap()));
/// # Ok::<(), axes::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct AxesConfigBuilder {
    config: AxesConfig,
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, value: $ty) -> Self {
                self.config.$name = value;
                self
            }
        )*
    };
}

impl AxesConfigBuilder {
    setters! {
        /// See [`AxesConfig::enabled`].
        enabled: bool,
        /// See [`AxesConfig::failure_limit`].
        failure_limit: u32,
        /// See [`AxesConfig::lock_out_at_failure`].
        lock_out_at_failure: bool,
        /// See [`AxesConfig::reset_on_success`].
        reset_on_success: bool,
        /// See [`AxesConfig::use_attempt_expiration`].
        use_attempt_expiration: bool,
        /// See [`AxesConfig::reset_cool_off_on_failure_during_lockout`].
        reset_cool_off_on_failure_during_lockout: DuringLockout,
        /// See [`AxesConfig::http_response_code`].
        http_response_code: u16,
        /// See [`AxesConfig::enable_retry_after_header`].
        enable_retry_after_header: bool,
        /// See [`AxesConfig::never_lockout_whitelist`].
        never_lockout_whitelist: bool,
        /// See [`AxesConfig::only_whitelist`].
        only_whitelist: bool,
        /// See [`AxesConfig::never_lockout_get`].
        never_lockout_get: bool,
        /// See [`AxesConfig::max_body_bytes`].
        max_body_bytes: usize,
        /// See [`AxesConfig::on_store_error`].
        on_store_error: OnStoreError,
        /// See [`AxesConfig::body_read_timeout`].
        body_read_timeout: Duration,
        /// See [`AxesConfig::bound_in_flight`].
        bound_in_flight: bool,
        /// See [`AxesConfig::in_flight_wait`].
        in_flight_wait: Duration,
        /// See [`AxesConfig::in_flight_queue`].
        in_flight_queue: usize,
        /// See [`AxesConfig::in_flight_lease`].
        in_flight_lease: Duration,
        /// See [`AxesConfig::store_timeout`].
        store_timeout: Duration,
        /// See [`AxesConfig::lockout_response`].
        lockout_response: LockoutResponseMode,
        /// See [`AxesConfig::bad_credentials_status`].
        bad_credentials_status: u16,
        /// See [`AxesConfig::ipv6_prefix_length`].
        ipv6_prefix_length: Option<u8>,
        /// See [`AxesConfig::spray_limit`].
        spray_limit: Option<SprayLimit>,
        /// See [`AxesConfig::trusted_client_window`].
        trusted_client_window: Option<Duration>,
        /// See [`AxesConfig::min_interval_between_failures`].
        min_interval_between_failures: Option<Duration>,
        /// See [`AxesConfig::quick_failure_wait`].
        quick_failure_wait: Duration,
        /// See [`AxesConfig::username_normalization`].
        username_normalization: UsernameNormalization,
        /// See [`AxesConfig::cooloff_backoff`].
        cooloff_backoff: Option<CooloffBackoff>,
        /// See [`AxesConfig::cooloff_jitter`].
        cooloff_jitter: Option<Duration>,
        /// See [`AxesConfig::max_temporary_lockouts`].
        max_temporary_lockouts: Option<u32>,
        /// See [`AxesConfig::lockout_history`].
        lockout_history: Duration,
        /// See [`AxesConfig::disable_access_log`].
        disable_access_log: bool,
        /// See [`AxesConfig::enable_access_failure_log`].
        enable_access_failure_log: bool,
        /// See [`AxesConfig::access_failure_log_per_user_limit`].
        access_failure_log_per_user_limit: u64,
        /// See [`AxesConfig::ipware_proxy_count`].
        ipware_proxy_count: Option<u32>,
        /// See [`AxesConfig::ipware_proxy_order`].
        ipware_proxy_order: ProxyOrder,
        /// See [`AxesConfig::warn_attempts_left`].
        warn_attempts_left: Option<u32>,
        /// See [`AxesConfig::ratelimit_headers`].
        ratelimit_headers: bool,
        /// See [`AxesConfig::log_in_clear`].
        log_in_clear: bool,
        /// See [`AxesConfig::challenge_after`].
        challenge_after: Option<u32>,
        /// See [`AxesConfig::challenge_attempts`].
        challenge_attempts: u32,
        /// See [`AxesConfig::unlock_token_lifetime`].
        unlock_token_lifetime: Duration,
        /// See [`AxesConfig::second_factor_failure_limit`].
        second_factor_failure_limit: u32,
        /// See [`AxesConfig::second_factor_cooloff`].
        second_factor_cooloff: Option<Duration>,
        /// See [`AxesConfig::site_breaker`].
        site_breaker: Option<SiteBreaker>,
        /// See [`AxesConfig::private_usernames`].
        private_usernames: bool,
    }

    /// See [`AxesConfig::device_cookie`].
    pub fn device_cookie(mut self, name: impl Into<String>) -> Self {
        self.config.device_cookie = Some(name.into());
        self
    }

    /// See [`AxesConfig::ipware_meta_precedence_order`].
    pub fn ipware_meta_precedence_order<I, S>(mut self, sources: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.ipware_meta_precedence_order = sources.into_iter().map(Into::into).collect();
        self
    }

    /// See [`AxesConfig::ipware_proxy_trusted_ips`]; each entry an address or a network.
    pub fn ipware_proxy_trusted_ips<I, S>(mut self, entries: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.config.ipware_proxy_trusted_ips = parse_ip_list("ipware_proxy_trusted_ips", entries)?;
        Ok(self)
    }

    /// See [`AxesConfig::lockout_tiers`].
    pub fn lockout_tiers(mut self, tiers: impl IntoIterator<Item = LockoutTier>) -> Self {
        self.config.lockout_tiers = tiers.into_iter().collect();
        self
    }

    /// See [`AxesConfig::cooloff_time`].
    pub fn cooloff_time(mut self, cooloff: Duration) -> Self {
        self.config.cooloff_time = Some(cooloff);
        self
    }

    /// See [`AxesConfig::lockout_parameters`]: each item is a single
    /// [`LockoutParameter`](crate::LockoutParameter) or a [`LockoutGroup`](crate::LockoutGroup) combination.
    pub fn lockout_parameters<I, G>(mut self, groups: I) -> Self
    where
        I: IntoIterator<Item = G>,
        G: Into<LockoutGroup>,
    {
        self.config.lockout_parameters = groups.into_iter().map(Into::into).collect();
        self
    }

    /// See [`AxesConfig::cooloff_message`].
    pub fn cooloff_message(mut self, message: impl Into<String>) -> Self {
        self.config.cooloff_message = message.into();
        self
    }

    /// See [`AxesConfig::permalock_message`].
    pub fn permalock_message(mut self, message: impl Into<String>) -> Self {
        self.config.permalock_message = message.into();
        self
    }

    /// See [`AxesConfig::lockout_url`].
    pub fn lockout_url(mut self, url: impl Into<String>) -> Self {
        self.config.lockout_url = Some(url.into());
        self
    }

    /// See [`AxesConfig::username_form_field`].
    pub fn username_form_field(mut self, field: impl Into<String>) -> Self {
        self.config.username_form_field = field.into();
        self
    }

    /// See [`AxesConfig::password_form_field`].
    pub fn password_form_field(mut self, field: impl Into<String>) -> Self {
        self.config.password_form_field = field.into();
        self
    }

    /// See [`AxesConfig::ip_whitelist`]; each entry an address or a network.
    pub fn ip_whitelist<I, S>(mut self, entries: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.config.ip_whitelist = parse_ip_list("ip_whitelist", entries)?;
        Ok(self)
    }

    /// See [`AxesConfig::ip_blacklist`]; each entry an address or a network.
    pub fn ip_blacklist<I, S>(mut self, entries: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.config.ip_blacklist = parse_ip_list("ip_blacklist", entries)?;
        Ok(self)
    }

    /// Validates and returns the configuration.
    pub fn build(self) -> Result<AxesConfig, ConfigError> {
        self.config.validate()?;
        Ok(self.config)
    }
}

fn parse_ip_list<I, S>(key: &str, entries: I) -> Result<Vec<IpMatcher>, ConfigError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    entries
        .into_iter()
        .map(|e| e.as_ref().parse().map_err(|m| ConfigError::new(key, m)))
        .collect()
}
