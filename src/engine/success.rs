//! Recording a success (django-axes' `user_logged_in`) and a logout
//! (`user_logged_out`): the access log entry, and the attempt's slots
//! given back with it.

use super::error::AxesError;
use super::events::AxesEvent;
use super::flight::Flight;
use super::state::Engine;
use crate::identity::{session_hash, LoginAttempt};
use crate::policy::trust;
use crate::store::{AccessLog, AttemptFilter, Slot, Slots};

impl Engine {
    /// Records a success of an attempt in flight, whose slots go back with
    /// the access log entry.
    pub(crate) async fn succeeded(
        &self,
        attempt: &LoginAttempt<'_>,
        username: &str,
        flight: Option<&mut Flight>,
    ) -> Result<(), AxesError> {
        let Some(flight) = flight else {
            return self.record_success(attempt, username, &[]).await;
        };
        // No guess any more: its slots go to those waiting at once, and
        // the rest back to the store with the write.
        let back = flight.hand_on();
        let result = self.record_success(attempt, username, &back).await;
        flight.written_back(&back, result.is_ok());
        result
    }

    /// The steps of a success: the reset with `reset_on_success`, the
    /// access log entry and the store slots `back` given back in one write.
    async fn record_success(
        &self,
        attempt: &LoginAttempt<'_>,
        username: &str,
        back: &[Slot],
    ) -> Result<(), AxesError> {
        let config = self.config();
        if !config.enabled {
            return Ok(());
        }
        let client = attempt.client();
        if config.reset_on_success && !username.is_empty() {
            let filter = self.counted_filter(AttemptFilter::IpAndUsername(
                client.ip_address(),
                username.to_owned(),
            ));
            // The lockout histories of the user's own keys go too; those of
            // keys shared with other users (the IP's) stay.
            let removed = self
                .reset_counted(
                    &filter,
                    |key| key.username().is_some(),
                    super::reset::every_key,
                )
                .await?;
            tracing::debug!(target: "axes", ip = %self.logged_ip(client.ip_address()), username = %self.logged_name(Some(username)), removed, "reset on success");
        }
        let owner = self.keeper().map_or("", |keeper| keeper.owner());
        let slots = (!back.is_empty()).then(|| Slots::new(owner, back));
        let entry = (!config.disable_access_log).then(|| {
            // Kept as counted, as attempt records are: the trusted-client
            // check looks the client up in those terms.
            let named = client.clone().with_username(username);
            let counted = self.counted(&named);
            AccessLog::login(
                &counted,
                counted.username().unwrap_or(username),
                &session_hash(attempt.session_id()),
                self.now(),
            )
        });
        self.timed_store()
            .record_success(entry.as_ref(), slots)
            .await?;
        tracing::debug!(target: "axes", ip = %self.logged_ip(client.ip_address()), username = %self.logged_name(Some(username)), "login succeeded");
        #[cfg(feature = "metrics")]
        crate::metrics::attempt("success");
        self.emit(|| AxesEvent::LoggedIn {
            client: client.clone(),
            username: username.to_owned(),
            at: self.now(),
        });
        Ok(())
    }

    /// Records a logout (django-axes' `user_logged_out`): the access log
    /// entry of the attempt's session closed.
    pub(crate) async fn logged_out(
        &self,
        attempt: &LoginAttempt<'_>,
        username: Option<&str>,
    ) -> Result<(), AxesError> {
        let config = self.config();
        if !config.enabled {
            return Ok(());
        }
        let client = attempt.client();
        if let (false, Some(username)) = (config.disable_access_log, username) {
            let named = client.clone().with_username(username);
            let counted = self.counted(&named);
            self.timed_store()
                .record_logout(
                    counted.username().unwrap_or(username),
                    &session_hash(attempt.session_id()),
                    self.now(),
                )
                .await?;
        }
        tracing::debug!(target: "axes", ip = %self.logged_ip(client.ip_address()), username = %self.logged_name(username), "logged out");
        self.emit(|| AxesEvent::LoggedOut {
            client: client.clone(),
            username: username.map(str::to_owned),
            at: self.now(),
        });
        Ok(())
    }

    /// After a success of `username`, with `device_cookie` and
    /// `trusted_client_window`: the trusted-device token that makes the
    /// attempt's device a trusted client of the username, renewing the one
    /// the request sent.
    pub(crate) fn device_token(
        &self,
        attempt: &LoginAttempt<'_>,
        username: &str,
    ) -> Option<String> {
        let config = self.config();
        let (Some(name), Some(window)) = (&config.device_cookie, config.trusted_client_window)
        else {
            return None;
        };
        let named = attempt.client().clone().with_username(username);
        let username = self.counted(&named).username()?.to_owned();
        let previous = attempt.request().and_then(|request| request.cookie(name));
        trust::renewed(self.secret(), previous, &username, self.now(), window)
    }
}
