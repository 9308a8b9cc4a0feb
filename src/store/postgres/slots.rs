//! Attempts in flight on PostgreSQL: one row per slot in `axes_slots`,
//! owned by an app server (`axes_instances`) under a lease it renews while
//! it holds slots; an admission takes and counts them in one call of
//! `axes_admit` (migration `0006`).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::PgPool;

use super::rows::{counter_from_row, get};
use super::{count_of, encode, execute, fetch, millis, retry_conflicts, PostgresStore};
use crate::identity::LockoutKey;
use crate::store::codec::to_millis;
use crate::store::lease::Renew;
use crate::store::sql::db_count;
use crate::store::{AccessLog, Admitted, SlotRequest, Slots, StoreError};

impl PostgresStore {
    pub(super) async fn admit_slots(
        &self,
        read: &[LockoutKey],
        slots: Option<SlotRequest<'_>>,
    ) -> Result<Admitted, StoreError> {
        let read_keys = encode(read);
        let (hold, slot, take, lease) = match slots {
            Some(request) => (
                encode(request.slots.keys),
                request.slots.id,
                request.take,
                request.lease,
            ),
            None => (Vec::new(), 0, false, Duration::ZERO),
        };
        let rows = retry_conflicts(|| {
            let query = sqlx::query("SELECT * FROM axes_admit($1, $2, $3, $4, $5, $6)")
                .bind(&read_keys)
                .bind(&hold)
                .bind(self.leases.instance())
                .bind(db_count(slot))
                .bind(take)
                .bind(millis(lease));
            fetch(query, &self.pool)
        })
        .await?;
        let mut counters = HashMap::with_capacity(read.len());
        let mut holders = HashMap::with_capacity(hold.len());
        for row in &rows {
            let key: String = get(row, 0)?;
            match get::<_, Option<i64>>(row, 4)? {
                Some(count) => {
                    holders.insert(key, count_of(count));
                }
                None => {
                    counters.insert(key, counter_from_row(row)?);
                }
            }
        }
        if take && !hold.is_empty() {
            self.leases.taken(slot, lease, &self.lease_renewer());
        }
        Ok(Admitted::new(
            read_keys.iter().map(|key| counters.remove(key)).collect(),
            slots.map(|_| {
                hold.iter()
                    .map(|key| holders.get(key).copied().unwrap_or(0))
                    .collect()
            }),
        ))
    }

    pub(super) async fn release_slots(&self, slots: Slots<'_>) -> Result<(), StoreError> {
        let keys = encode(slots.keys);
        self.leases.given_back(slots.id);
        let renewer = self.lease_renewer();
        if let Err(error) = renewer
            .release(self.leases.instance(), &keys, slots.id)
            .await
        {
            self.leases.retry_later(keys, slots.id);
            return Err(error);
        }
        Ok(())
    }

    pub(super) async fn record_login_releasing(
        &self,
        entry: Option<&AccessLog>,
        release: Option<Slots<'_>>,
    ) -> Result<(), StoreError> {
        let (keys, slot) = match release {
            Some(slots) => (encode(slots.keys), db_count(slots.id)),
            None => (Vec::new(), 0),
        };
        let released =
            "DELETE FROM axes_slots WHERE lockout_key = ANY($1) AND instance = $2 AND slot = $3";
        let result = match entry {
            Some(entry) => {
                let statement = format!(
                    "WITH released AS ({released}) \
                     INSERT INTO axes_access_logs (username, ip_address, user_agent, path_info, \
                     http_accept, session_hash, attempt_time_ms, logout_time_ms) \
                     VALUES ($4, $5, $6, $7, $8, $9, $10, $11)"
                );
                let query = sqlx::query(&statement)
                    .bind(&keys)
                    .bind(self.leases.instance())
                    .bind(slot)
                    .bind(&entry.username)
                    .bind(entry.ip_address.map(|ip| ip.to_string()))
                    .bind(&entry.user_agent)
                    .bind(&entry.path_info)
                    .bind(&entry.http_accept)
                    .bind(&entry.session_hash)
                    .bind(to_millis(entry.attempt_time))
                    .bind(entry.logout_time.map(to_millis));
                execute(query, &self.pool).await
            }
            None if release.is_some() => {
                let query = sqlx::query(released)
                    .bind(&keys)
                    .bind(self.leases.instance())
                    .bind(slot);
                execute(query, &self.pool).await
            }
            None => return Ok(()),
        };
        result?;
        if let Some(slots) = release {
            self.leases.given_back(slots.id);
        }
        Ok(())
    }
}

/// Renews this store's lease and retries its releases, on the pool.
#[derive(Clone)]
struct PgLeases {
    pool: PgPool,
}

#[async_trait]
impl Renew for PgLeases {
    async fn renew(&self, instance: &str, lease: Duration) -> Result<(), StoreError> {
        let query = sqlx::query(
            "UPDATE axes_instances SET lease_until_ms = GREATEST(lease_until_ms, axes_now_ms() + $2) \
             WHERE instance = $1",
        )
        .bind(instance)
        .bind(millis(lease));
        execute(query, &self.pool).await.map(|_| ())
    }

    async fn release(&self, instance: &str, keys: &[String], slot: u64) -> Result<(), StoreError> {
        let query = sqlx::query(
            "DELETE FROM axes_slots WHERE lockout_key = ANY($1) AND instance = $2 AND slot = $3",
        )
        .bind(keys)
        .bind(instance)
        .bind(db_count(slot));
        execute(query, &self.pool).await.map(|_| ())
    }
}

impl PostgresStore {
    fn lease_renewer(&self) -> PgLeases {
        PgLeases {
            pool: self.pool.clone(),
        }
    }
}
