//! [`AxesConfig::validate`]: values that parse but make no sense, each an
//! error naming its key.

use std::time::Duration;

use super::{AxesConfig, ConfigError};

impl AxesConfig {
    /// Checks values that parse but make no sense.
    ///
    /// ```
    /// let mut config = axes::AxesConfig::default();
    /// config.lockout_parameters.clear();
    /// assert_eq!(config.validate().unwrap_err().key, "lockout_parameters");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.failure_limit == 0 {
            return Err(ConfigError::new(
                "failure_limit",
                "must be at least 1 (0 would lock out every client)",
            ));
        }
        if self.cooloff_time == Some(Duration::ZERO) {
            return Err(ConfigError::new(
                "cooloff_time",
                "must be longer than zero; leave it out for a lockout that lasts until reset",
            ));
        }
        for tier in &self.lockout_tiers {
            if tier.failures == 0 {
                return Err(ConfigError::new(
                    "lockout_tiers",
                    "a tier's `failures` must be at least 1",
                ));
            }
            if tier.cooloff.is_zero() {
                return Err(ConfigError::new(
                    "lockout_tiers",
                    "a tier's `cooloff` must be longer than zero",
                ));
            }
            if self
                .lockout_tiers
                .iter()
                .filter(|t| t.failures == tier.failures)
                .count()
                > 1
            {
                return Err(ConfigError::new(
                    "lockout_tiers",
                    format!("two tiers start at {} failures", tier.failures),
                ));
            }
        }
        if self.use_attempt_expiration && !self.has_cooloff() {
            return Err(ConfigError::new(
                "use_attempt_expiration",
                "needs cooloff_time or lockout_tiers: each failure expires one cool-off after it happened",
            ));
        }
        if self.lockout_parameters.is_empty() {
            return Err(ConfigError::new(
                "lockout_parameters",
                "must name at least one parameter",
            ));
        }
        if self
            .lockout_parameters
            .iter()
            .any(|g| g.parameters().is_empty())
        {
            return Err(ConfigError::new(
                "lockout_parameters",
                "a combination must not be empty",
            ));
        }
        if !(400..=599).contains(&self.http_response_code) {
            return Err(ConfigError::new(
                "http_response_code",
                format!(
                    "{} is not an error status (expected 400 to 599)",
                    self.http_response_code
                ),
            ));
        }
        if !(100..=599).contains(&self.bad_credentials_status) {
            return Err(ConfigError::new(
                "bad_credentials_status",
                format!("{} is not an HTTP status", self.bad_credentials_status),
            ));
        }
        if let Some(content_type) = &self.bad_credentials_content_type {
            if http::HeaderValue::from_str(content_type).is_err() {
                return Err(ConfigError::new(
                    "bad_credentials_content_type",
                    "is not a valid header value",
                ));
            }
        }
        if self.username_form_field.trim().is_empty() {
            return Err(ConfigError::new("username_form_field", "must not be empty"));
        }
        if self.password_form_field.trim().is_empty() {
            return Err(ConfigError::new("password_form_field", "must not be empty"));
        }
        for name in &self.ipware_meta_precedence_order {
            crate::identity::validate_source(name)
                .map_err(|m| ConfigError::new("ipware_meta_precedence_order", m))?;
        }
        if let Some(url) = &self.lockout_url {
            if url.is_empty() || http::HeaderValue::from_str(url).is_err() {
                return Err(ConfigError::new(
                    "lockout_url",
                    "must be a non-empty URL of visible ASCII characters",
                ));
            }
        }
        if matches!(self.ipv6_prefix_length, Some(0) | Some(129..)) {
            return Err(ConfigError::new(
                "ipv6_prefix_length",
                "must be between 1 and 128",
            ));
        }
        if let Some((key, message)) = super::checks::contradictions(self) {
            return Err(ConfigError::new(key, message));
        }
        if let Some(spray) = &self.spray_limit {
            if spray.distinct_usernames == 0 || spray.window.is_zero() {
                return Err(ConfigError::new(
                    "spray_limit",
                    "distinct_usernames and window must be more than zero",
                ));
            }
        }
        if self.trusted_client_window == Some(Duration::ZERO) {
            return Err(ConfigError::new(
                "trusted_client_window",
                "must be longer than zero",
            ));
        }
        if self.trusted_client_window.is_some() && self.disable_access_log {
            return Err(ConfigError::new(
                "trusted_client_window",
                "trusted clients are found in the access log, which disable_access_log turns off",
            ));
        }
        if let Some(name) = &self.device_cookie {
            if self.trusted_client_window.is_none() {
                return Err(ConfigError::new(
                    "device_cookie",
                    "needs trusted_client_window: it says how long a device stays trusted",
                ));
            }
            let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            if name.is_empty() || !name.chars().all(token) {
                return Err(ConfigError::new(
                    "device_cookie",
                    format!("`{name}` is not a cookie name (letters, digits and !#$%&'*+-.^_`|~)"),
                ));
            }
        }
        if self.min_interval_between_failures == Some(Duration::ZERO) {
            return Err(ConfigError::new(
                "min_interval_between_failures",
                "must be longer than zero",
            ));
        }
        if self.quick_failure_wait.is_zero() {
            return Err(ConfigError::new(
                "quick_failure_wait",
                "must be longer than zero",
            ));
        }
        self.validate_escalation()?;
        self.validate_beyond()?;
        if self.store_timeout.is_zero() {
            return Err(ConfigError::new(
                "store_timeout",
                "must be longer than zero",
            ));
        }
        if self.body_read_timeout.is_zero() {
            return Err(ConfigError::new(
                "body_read_timeout",
                "must be longer than zero",
            ));
        }
        if self.max_body_bytes == 0 {
            return Err(ConfigError::new("max_body_bytes", "must be at least 1"));
        }
        if self.in_flight_lease < Duration::from_secs(1) {
            return Err(ConfigError::new(
                "in_flight_lease",
                "must be at least one second (servers renew it every third of it)",
            ));
        }
        Ok(())
    }

    fn validate_escalation(&self) -> Result<(), ConfigError> {
        let escalation = [
            ("cooloff_backoff", self.cooloff_backoff.is_some()),
            ("cooloff_jitter", self.cooloff_jitter.is_some()),
            (
                "max_temporary_lockouts",
                self.max_temporary_lockouts.is_some(),
            ),
        ];
        for (key, set) in escalation {
            if set && !self.has_cooloff() {
                return Err(ConfigError::new(
                    key,
                    "needs cooloff_time or lockout_tiers: without them every lockout already lasts until reset",
                ));
            }
        }
        if let Some(backoff) = &self.cooloff_backoff {
            if !backoff.factor.is_finite() || backoff.factor < 1.0 {
                return Err(ConfigError::new(
                    "cooloff_backoff",
                    "factor must be a number of at least 1",
                ));
            }
            if backoff.max.is_zero() {
                return Err(ConfigError::new(
                    "cooloff_backoff",
                    "max must be longer than zero",
                ));
            }
            if backoff.max > self.lockout_history {
                return Err(ConfigError::new(
                    "lockout_history",
                    format!(
                        "must be at least cooloff_backoff.max ({}): a lockout would outlast the history that escalated it",
                        humantime::format_duration(backoff.max)
                    ),
                ));
            }
        }
        if self.cooloff_jitter == Some(Duration::ZERO) {
            return Err(ConfigError::new(
                "cooloff_jitter",
                "must be longer than zero",
            ));
        }
        if self.max_temporary_lockouts == Some(0) {
            return Err(ConfigError::new(
                "max_temporary_lockouts",
                "must be at least 1; leave cooloff_time out for lockouts that all last until reset",
            ));
        }
        if self.lockout_history.is_zero() {
            return Err(ConfigError::new(
                "lockout_history",
                "must be longer than zero",
            ));
        }
        Ok(())
    }
}

impl AxesConfig {
    /// The defenses beyond django-axes: the warning, the challenge, unlock
    /// tokens.
    fn validate_beyond(&self) -> Result<(), ConfigError> {
        if let Some(breaker) = &self.site_breaker {
            let valid = match (breaker.failures_per_minute, breaker.baseline_multiple) {
                (Some(budget), None) => budget > 0,
                (None, Some(multiple)) => multiple.is_finite() && multiple > 1.0,
                _ => false,
            };
            if !valid {
                return Err(ConfigError::new(
                    "site_breaker",
                    "give failures_per_minute (at least 1) or baseline_multiple (above 1), not both",
                ));
            }
        }
        if self.warn_attempts_left == Some(0) {
            return Err(ConfigError::new(
                "warn_attempts_left",
                "must be at least 1 (the warning comes before the lockout)",
            ));
        }
        if let Some(after) = self.challenge_after {
            let first_lock = self
                .lockout_tiers
                .iter()
                .map(|tier| tier.failures)
                .min()
                .unwrap_or(self.failure_limit);
            if after == 0 || after >= first_lock {
                return Err(ConfigError::new(
                    "challenge_after",
                    format!(
                        "must be between 1 and {} (below the lockout)",
                        first_lock.saturating_sub(1)
                    ),
                ));
            }
            if !self.lock_out_at_failure {
                return Err(ConfigError::new(
                    "challenge_after",
                    "a challenge comes before a lockout, which lock_out_at_failure = false turns off",
                ));
            }
        }
        if self.challenge_attempts == 0 {
            return Err(ConfigError::new(
                "challenge_attempts",
                "must be at least 1 (a passed challenge buys at least one attempt)",
            ));
        }
        if self.unlock_token_lifetime.is_zero() {
            return Err(ConfigError::new(
                "unlock_token_lifetime",
                "must be longer than zero",
            ));
        }
        Ok(())
    }
}
