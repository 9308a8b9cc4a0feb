//! A passed challenge (`challenge_after`): the client's keys credited with
//! `challenge_attempts` further attempts. Failed challenges are failures,
//! recorded as any other.

use super::error::AxesError;
use super::prepare::Prepared;
use super::state::Engine;
use crate::policy::challenge;
use crate::store::FailureRecord;

impl Engine {
    /// Records a passed challenge, for an attempt whose check asked for
    /// it: one write, a pass on each of its keys, kept as long as their
    /// failures are.
    pub(crate) async fn record_pass(&self, prepared: &Prepared) -> Result<(), AxesError> {
        let keys = challenge::pass_keys(self.config(), &prepared.keys);
        if keys.is_empty() {
            return Ok(());
        }
        let window = prepared.rules(self.config()).window();
        let record = FailureRecord::new(&keys, &prepared.client, self.now(), &window)
            .counters_only()
            .locking(1, self.retention(&window));
        self.timed_store().record_failure(record).await?;
        let client = &prepared.client;
        tracing::debug!(target: "axes", ip = %self.logged_ip(client.ip_address()), username = %self.logged_name(client.username()), "challenge passed");
        #[cfg(feature = "metrics")]
        crate::metrics::challenge("passed");
        Ok(())
    }
}
