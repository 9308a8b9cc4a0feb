//! A passed challenge (`challenge_after`): the client's keys credited with
//! `challenge_attempts` further attempts. Failed challenges are failures,
//! recorded as any other.

use super::prepare::Prepared;
use super::{Axes, AxesError};
use crate::identity::{ClientInfo, LoginAttempt};
use crate::policy::challenge;
use crate::store::FailureRecord;

impl Axes {
    /// Records that `client` passed the challenge its check asked for
    /// ([`Decision::ChallengeRequired`](crate::Decision::ChallengeRequired)):
    /// its next challenge, and its lockout, come `challenge_attempts`
    /// failures later. A challenge the check did not ask for buys nothing,
    /// so none can be banked in advance; returns whether this one counted.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), axes::AxesError> {
    /// use axes::{Axes, AxesConfig, ClientInfo, MemoryStore};
    /// let config = AxesConfig::builder()
    ///     .failure_limit(5)
    ///     .challenge_after(Some(2))
    ///     .challenge_attempts(2)
    ///     .build()
    ///     .unwrap();
    /// let axes = Axes::new(config, MemoryStore::new());
    /// let client = ClientInfo::new("192.0.2.1".parse().unwrap()).with_username("alice");
    /// assert!(!axes.challenge_passed(&client).await?, "none was asked for");
    /// axes.login_failed(&client).await?;
    /// let outcome = axes.login_failed(&client).await?;
    /// assert!(outcome.challenge_required);
    /// assert!(axes.check(&client).await?.challenge_required());
    ///
    /// assert!(axes.challenge_passed(&client).await?);
    /// assert!(!axes.check(&client).await?.challenge_required());
    /// # Ok(()) }
    /// ```
    pub async fn challenge_passed(&self, client: &ClientInfo) -> Result<bool, AxesError> {
        self.challenge_passed_attempt(&LoginAttempt::new(client))
            .await
    }

    /// [`challenge_passed`](Self::challenge_passed) for an attempt with its
    /// request, as the callables see it.
    pub async fn challenge_passed_attempt(
        &self,
        attempt: &LoginAttempt<'_>,
    ) -> Result<bool, AxesError> {
        let prepared = self.prepare(attempt);
        let (decision, _) = self.evaluate(&prepared).await?;
        if !decision.challenge_required() {
            return Ok(false);
        }
        self.record_pass(&prepared).await?;
        Ok(true)
    }

    /// Records a pass for an attempt whose check, made for this request,
    /// asked for the challenge.
    pub(crate) async fn challenge_passed_checked(
        &self,
        attempt: &LoginAttempt<'_>,
    ) -> Result<(), AxesError> {
        self.record_pass(&self.prepare(attempt)).await
    }

    /// One write: a pass on each of the attempt's keys, kept as long as
    /// their failures are.
    async fn record_pass(&self, prepared: &Prepared<'_, '_>) -> Result<(), AxesError> {
        let keys = challenge::pass_keys(self.config(), &prepared.keys);
        if keys.is_empty() {
            return Ok(());
        }
        let window = prepared.rules.window();
        let record = FailureRecord::new(&keys, &prepared.client, self.now(), &window)
            .counters_only()
            .locking(1, self.retention(&window));
        self.timed_store().record_failure(record).await?;
        let client = &prepared.client;
        tracing::debug!(target: "axes", ip = %client.ip_address(), username = ?client.username(), "challenge passed");
        #[cfg(feature = "metrics")]
        crate::metrics::challenge("passed");
        Ok(())
    }
}
