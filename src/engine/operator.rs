//! The operator's API on [`Axes`]: resets, listings, the lockouts in force,
//! unlock tokens and the attempts in flight — what the CLI and the admin
//! call. Each forwards to the step module that does it.

use std::time::Duration;

use super::axes::Axes;
use super::erase::Erased;
use super::error::AxesError;
use super::lockouts::CurrentLockout;
use super::prepare::show_given;
use super::unlock::UnlockError;
use crate::identity::LockoutKey;
use crate::store::{AccessAttempt, AccessFailureLog, AccessLog, AttemptFilter};

impl Axes {
    /// Deletes the attempt records `filter` covers and lifts the lockouts
    /// they caused, like `axes.utils.reset`: on every app server sharing
    /// the store. Returns how many records were deleted. An empty username
    /// is refused rather than read as "everything".
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), axes::AxesError> {
    /// use axes::{AttemptFilter, Axes, AxesConfig, ClientInfo, MemoryStore, Report};
    /// let axes = Axes::new(AxesConfig::from_toml_str("failure_limit = 1").unwrap(), MemoryStore::new());
    /// let client = ClientInfo::new("192.0.2.1".parse().unwrap());
    /// axes.attempt(client.clone()).report(Report::failed("alice")).await?;
    /// assert!(axes.attempt(client.clone()).check().await?.lockout().is_some());
    /// assert_eq!(axes.reset(AttemptFilter::Username("alice".into())).await?, 1);
    /// assert!(axes.attempt(client).check().await?.lockout().is_none());
    /// # Ok(()) }
    /// ```
    pub async fn reset(&self, filter: AttemptFilter) -> Result<u64, AxesError> {
        self.engine.reset(filter).await
    }

    /// Erases everything stored of the clients `filter` names — a
    /// request to erase someone's personal data: what [`reset`](Self::reset)
    /// deletes (their attempt records and counters, their lockouts lifted),
    /// their access and failure log entries, and the lockouts of them this
    /// process remembers ([`Axes::activity`]). Log lines already written
    /// and events already sent are the application's to erase.
    /// [`AttemptFilter::All`] is refused: an erasure names someone.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), axes::AxesError> {
    /// use axes::{AttemptFilter, Axes, AxesConfig, ClientInfo, MemoryStore, Report};
    /// let config = AxesConfig::from_toml_str("enable_access_failure_log = true").unwrap();
    /// let axes = Axes::new(config, MemoryStore::new());
    /// let client = ClientInfo::new("192.0.2.1".parse().unwrap());
    /// axes.attempt(client.clone()).report(Report::failed("alice")).await?;
    /// axes.attempt(client).report(Report::succeeded("alice")).await?;
    /// let erased = axes.erase(AttemptFilter::Username("alice".into())).await?;
    /// assert_eq!((erased.access_logs, erased.failure_logs), (1, 1));
    /// assert!(axes.access_logs(AttemptFilter::All).await?.is_empty());
    /// assert!(axes.erase(AttemptFilter::All).await.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn erase(&self, filter: AttemptFilter) -> Result<Erased, AxesError> {
        self.engine.erase(filter).await
    }

    /// Lists the attempt records `filter` covers, most recent first.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), axes::AxesError> {
    /// use axes::{AttemptFilter, Axes, AxesConfig, ClientInfo, MemoryStore, Report};
    /// let axes = Axes::new(AxesConfig::default(), MemoryStore::new());
    /// let client = ClientInfo::new("192.0.2.1".parse().unwrap());
    /// axes.attempt(client).report(Report::failed("alice")).await?;
    /// let records = axes.attempts(AttemptFilter::All).await?;
    /// assert_eq!((records[0].username.as_deref(), records[0].failures), (Some("alice"), 1));
    /// # Ok(()) }
    /// ```
    pub async fn attempts(&self, filter: AttemptFilter) -> Result<Vec<AccessAttempt>, AxesError> {
        let given = self.engine.given_name(&filter);
        let mut found = self.engine.attempts(filter).await?;
        for record in &mut found {
            show_given(given.as_ref(), record.username.as_mut());
        }
        Ok(found)
    }

    /// The attempt records `filter` covers whose client is locked out now,
    /// most recent first: each record's client checked as a login by it
    /// would be (its IP, username and user agent), one read per record.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use axes::{AttemptFilter, Axes, AxesConfig, ClientInfo, MemoryStore, Report};
    /// let axes = Axes::new(AxesConfig::from_toml_str("failure_limit = 1")?, MemoryStore::new());
    /// axes.attempt(ClientInfo::new("192.0.2.1".parse()?)).report(Report::failed("alice")).await?;
    /// let now = axes.lockouts(AttemptFilter::All).await?;
    /// assert_eq!(now[0].attempt.username.as_deref(), Some("alice"));
    /// # Ok(()) }
    /// ```
    pub async fn lockouts(&self, filter: AttemptFilter) -> Result<Vec<CurrentLockout>, AxesError> {
        let given = self.engine.given_name(&filter);
        let mut found = self.engine.lockouts(filter).await?;
        for locked in &mut found {
            show_given(given.as_ref(), locked.attempt.username.as_mut());
            show_given(given.as_ref(), locked.lockout.username.as_mut());
        }
        Ok(found)
    }

    /// Lists the access log entries `filter` covers, most recent first.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), axes::AxesError> {
    /// use axes::{AttemptFilter, Axes, AxesConfig, ClientInfo, MemoryStore, Report};
    /// let axes = Axes::new(AxesConfig::default(), MemoryStore::new());
    /// let client = ClientInfo::new("192.0.2.1".parse().unwrap());
    /// axes.attempt(client).report(Report::succeeded("alice")).await?;
    /// assert_eq!(axes.access_logs(AttemptFilter::All).await?[0].username, "alice");
    /// # Ok(()) }
    /// ```
    pub async fn access_logs(&self, filter: AttemptFilter) -> Result<Vec<AccessLog>, AxesError> {
        let given = self.engine.given_name(&filter);
        let mut found = self.engine.access_logs(filter).await?;
        for entry in &mut found {
            show_given(given.as_ref(), Some(&mut entry.username));
        }
        Ok(found)
    }

    /// Lists the failure log entries `filter` covers, most recent first
    /// (kept with `enable_access_failure_log`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), axes::AxesError> {
    /// use axes::{AttemptFilter, Axes, AxesConfig, ClientInfo, MemoryStore, Report};
    /// let config = AxesConfig::from_toml_str("enable_access_failure_log = true").unwrap();
    /// let axes = Axes::new(config, MemoryStore::new());
    /// let client = ClientInfo::new("192.0.2.1".parse().unwrap());
    /// axes.attempt(client).report(Report::failed("alice")).await?;
    /// assert_eq!(axes.failure_logs(AttemptFilter::All).await?.len(), 1);
    /// # Ok(()) }
    /// ```
    pub async fn failure_logs(
        &self,
        filter: AttemptFilter,
    ) -> Result<Vec<AccessFailureLog>, AxesError> {
        let given = self.engine.given_name(&filter);
        let mut found = self.engine.failure_logs(filter).await?;
        for entry in &mut found {
            show_given(given.as_ref(), entry.username.as_mut());
        }
        Ok(found)
    }

    /// Deletes access log entries older than `age` (`axes_reset_logs`);
    /// returns how many went.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), axes::AxesError> {
    /// let axes = axes::Axes::new(axes::AxesConfig::default(), axes::MemoryStore::new());
    /// assert_eq!(axes.reset_logs(std::time::Duration::from_secs(30 * 86_400)).await?, 0);
    /// # Ok(()) }
    /// ```
    pub async fn reset_logs(&self, age: Duration) -> Result<u64, AxesError> {
        self.engine.reset_logs(age).await
    }

    /// Deletes failure log entries older than `age`
    /// (`axes_reset_failure_logs`); returns how many went.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), axes::AxesError> {
    /// let axes = axes::Axes::new(axes::AxesConfig::default(), axes::MemoryStore::new());
    /// assert_eq!(axes.reset_failure_logs(std::time::Duration::ZERO).await?, 0);
    /// # Ok(()) }
    /// ```
    pub async fn reset_failure_logs(&self, age: Duration) -> Result<u64, AxesError> {
        self.engine.reset_failure_logs(age).await
    }

    /// A token that lifts `username`'s lockouts once, for the application
    /// to send its owner (on [`AxesEvent::LockedOut`](crate::AxesEvent::LockedOut),
    /// say) through a channel only they control. It holds for
    /// `unlock_token_lifetime`, until it is redeemed, until the username is
    /// reset, or until a newer token is issued for it: the latest one is
    /// the one that counts. It carries no username in clear. App servers
    /// that share the store and the secret
    /// ([`AxesBuilder::secret`](crate::AxesBuilder::secret)) redeem each
    /// other's tokens.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), axes::UnlockError> {
    /// use axes::{Axes, AxesConfig, ClientInfo, LockoutParameter, MemoryStore, Report, UnlockError};
    /// let config = AxesConfig::builder()
    ///     .lockout_parameters([LockoutParameter::Username])
    ///     .build()
    ///     .unwrap();
    /// let axes = Axes::builder(config, MemoryStore::new()).secret(b"sixteen+ bytes of secret").build();
    /// let attacker = ClientInfo::new("203.0.113.9".parse().unwrap()).with_username("alice");
    /// for _ in 0..3 {
    ///     axes.attempt(attacker.clone()).report(Report::failed("alice")).await?;
    /// }
    /// assert!(axes.attempt(attacker.clone()).check().await?.lockout().is_some());
    ///
    /// let token = axes.unlock_token("alice").await?;
    /// assert!(!token.contains("alice"));
    /// assert_eq!(axes.redeem_unlock(&token).await?, "alice");
    /// assert!(axes.attempt(attacker).check().await?.lockout().is_none());
    /// assert!(matches!(axes.redeem_unlock(&token).await, Err(UnlockError::Revoked | UnlockError::Used)));
    /// # Ok(()) }
    /// ```
    pub async fn unlock_token(&self, username: &str) -> Result<String, UnlockError> {
        self.engine.unlock_token(username).await
    }

    /// Redeems a token from [`unlock_token`](Self::unlock_token): lifts the
    /// lockouts of its username — the username's own counters and those of
    /// every combination with it, their records and histories — and none
    /// of an IP's or a user agent's alone, so the owner can log in while the
    /// attacker's address stays locked. The username's count starts again.
    /// Returns the username unlocked.
    ///
    /// A token is refused when it is altered or sealed under another
    /// secret, expired, used already (even by a request racing this one),
    /// or revoked by a later reset of the username or a newer token.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let axes = axes::Axes::builder(axes::AxesConfig::default(), axes::MemoryStore::new())
    ///     .secret(b"sixteen+ bytes of secret")
    ///     .build();
    /// let refused = axes.redeem_unlock("not a token").await;
    /// assert!(matches!(refused, Err(axes::UnlockError::Invalid)));
    /// # }
    /// ```
    pub async fn redeem_unlock(&self, token: &str) -> Result<String, UnlockError> {
        self.engine.redeem_unlock(token).await
    }

    /// Lifts `username`'s lockouts, as its owner's unlock token would —
    /// the username's own keys and every combination with it, their records
    /// and histories — and none of an IP's or a user agent's alone: what an
    /// application calls once the owner has proved who they are (a
    /// completed password reset, say), letting them back in while the
    /// attacker's address stays locked. Revokes the username's unlock
    /// tokens; returns how many attempt records went.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), axes::AxesError> {
    /// use axes::{Axes, AxesConfig, ClientInfo, MemoryStore, Report};
    /// let config = AxesConfig::from_toml_str(r#"lockout_parameters = ["ip_address", "username"]"#).unwrap();
    /// let axes = Axes::new(config, MemoryStore::new());
    /// let attacker = ClientInfo::new("203.0.113.9".parse().unwrap()).with_username("alice");
    /// for _ in 0..3 {
    ///     axes.attempt(attacker.clone()).report(Report::failed("alice")).await?;
    /// }
    /// let owner = ClientInfo::new("192.0.2.1".parse().unwrap()).with_username("alice");
    /// assert!(axes.attempt(owner.clone()).check().await?.lockout().is_some());
    /// axes.unlock("alice").await?; // the password was reset
    /// assert!(axes.attempt(owner).check().await?.lockout().is_none());
    /// assert!(axes.attempt(attacker).check().await?.lockout().is_some(), "the address stays locked");
    /// # Ok(()) }
    /// ```
    pub async fn unlock(&self, username: &str) -> Result<u64, AxesError> {
        self.engine.unlock(username).await
    }

    /// How many attempts hold a slot under `key` now: on a store that
    /// shares attempts in flight, those of every app server using it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), axes::AxesError> {
    /// use axes::{Axes, AxesConfig, ClientInfo, LockoutGroup, LockoutParameter, MemoryStore};
    /// let axes = Axes::new(AxesConfig::default(), MemoryStore::new());
    /// let client = ClientInfo::new("192.0.2.1".parse().unwrap());
    /// let key = client.lockout_key(&LockoutGroup::single(LockoutParameter::IpAddress)).unwrap();
    /// let mut attempt = axes.attempt(client);
    /// attempt.admit().await?;
    /// assert_eq!(axes.in_flight(&key).await?, 1);
    /// attempt.finish().await;
    /// assert_eq!(axes.in_flight(&key).await?, 0);
    /// # Ok(()) }
    /// ```
    pub async fn in_flight(&self, key: &LockoutKey) -> Result<u64, AxesError> {
        self.engine.in_flight(key).await
    }
}
