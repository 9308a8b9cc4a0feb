//! Attempts in flight on PostgreSQL: one row per slot in `axes_slots`,
//! owned by an app server (`axes_instances`) under a lease it renews while
//! it holds slots; an admission takes and counts them in one call of
//! `axes_admit`, and a slot given back under a key another server waits on
//! (`axes_waiting`) is notified (migration `0008`).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;

use super::rows::{counter_from_row, get};
use super::{count_of, encode, execute, fetch, millis, retry_conflicts, PostgresStore};
use crate::identity::LockoutKey;
use crate::store::codec::to_millis;
use crate::store::error::StoreError;
use crate::store::records::AccessLog;
use crate::store::slots::{Admitted, SharedSlots, Slot, SlotRequest, Slots};
use crate::store::sql::db_count;

/// The keys and ids of `slots`, as the functions take them.
pub(super) fn keys_and_ids(slots: &[Slot]) -> (Vec<String>, Vec<i64>) {
    slots
        .iter()
        .map(|slot| (slot.key.encode(), db_count(slot.id)))
        .unzip()
}

#[async_trait]
impl SharedSlots for PostgresStore {
    async fn admit(
        &self,
        read: &[LockoutKey],
        request: SlotRequest<'_>,
    ) -> Result<Admitted, StoreError> {
        let read_keys = encode(read);
        let count = encode(request.count);
        let (take_keys, take_ids) = keys_and_ids(request.take);
        let rows = retry_conflicts(|| {
            let query = sqlx::query("SELECT * FROM axes_admit($1, $2, $3, $4, $5, $6)")
                .bind(&read_keys)
                .bind(request.owner)
                .bind(&take_keys)
                .bind(&take_ids)
                .bind(&count)
                .bind(millis(request.lease));
            fetch(query, &self.pool)
        })
        .await?;
        let mut counters = HashMap::with_capacity(read.len());
        let mut holders = HashMap::with_capacity(count.len());
        for row in &rows {
            let key: String = get(row, 0)?;
            match get::<_, Option<i64>>(row, 4)? {
                Some(held) => {
                    let waited = get::<_, Option<bool>>(row, 5)?.unwrap_or(false);
                    holders.insert(key, (count_of(held), waited));
                }
                None => {
                    counters.insert(key, counter_from_row(row)?);
                }
            }
        }
        let (held, waited) = count
            .iter()
            .map(|key| holders.get(key).copied().unwrap_or((0, false)))
            .unzip();
        Ok(Admitted::new(
            read_keys.iter().map(|key| counters.remove(key)).collect(),
            held,
            waited,
        ))
    }

    async fn release(&self, slots: Slots<'_>) -> Result<(), StoreError> {
        if slots.is_empty() {
            return Ok(());
        }
        let (keys, ids) = keys_and_ids(slots.slots);
        let query = sqlx::query("SELECT axes_release($1, $2, $3)")
            .bind(slots.owner)
            .bind(&keys)
            .bind(&ids);
        execute(query, &self.pool).await.map(drop)
    }

    async fn record_success(
        &self,
        slots: Slots<'_>,
        login: Option<&AccessLog>,
    ) -> Result<(), StoreError> {
        self.record_login_releasing(login, Some(slots)).await
    }

    async fn renew(&self, owner: &str, lease: Duration) -> Result<(), StoreError> {
        let query = sqlx::query(
            "INSERT INTO axes_instances AS i (instance, lease_until_ms) \
             VALUES ($1, axes_now_ms() + $2) \
             ON CONFLICT (instance) DO UPDATE \
             SET lease_until_ms = GREATEST(i.lease_until_ms, excluded.lease_until_ms)",
        )
        .bind(owner)
        .bind(millis(lease));
        execute(query, &self.pool).await.map(drop)
    }

    async fn sweep(&self, owner: &str, keep: &[u64], upto: u64) -> Result<u64, StoreError> {
        let keep: Vec<i64> = keep.iter().copied().map(db_count).collect();
        // This server's slots nobody holds, and those of servers whose
        // lease lapsed (which no admission counts).
        let query = sqlx::query(
            "WITH swept AS (DELETE FROM axes_slots \
             WHERE instance = $1 AND slot <= $2 AND NOT (slot = ANY($3)) RETURNING lockout_key), \
             lapsed AS (DELETE FROM axes_slots AS s WHERE s.instance <> $1 AND NOT EXISTS \
             (SELECT 1 FROM axes_instances AS i \
             WHERE i.instance = s.instance AND i.lease_until_ms >= axes_now_ms()) \
             RETURNING s.lockout_key) \
             SELECT (SELECT count(*) FROM swept), \
             axes_wake(ARRAY(SELECT lockout_key FROM swept UNION SELECT lockout_key FROM lapsed), $1)::TEXT",
        )
        .bind(owner)
        .bind(db_count(upto))
        .bind(&keep);
        let rows = fetch(query, &self.pool).await?;
        Ok(match rows.first() {
            Some(row) => count_of(get(row, 0)?),
            None => 0,
        })
    }

    async fn wait_for(
        &self,
        owner: &str,
        keys: &[LockoutKey],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let query = sqlx::query(
            "WITH marked AS (INSERT INTO axes_waiting AS w (lockout_key, instance, until_ms) \
             SELECT k, $2, axes_now_ms() + $3 FROM unnest($1::TEXT[]) AS k \
             ON CONFLICT (lockout_key, instance) DO UPDATE \
             SET until_ms = GREATEST(w.until_ms, excluded.until_ms) RETURNING w.lockout_key) \
             SELECT pg_notify(axes_channel(), \
             'w ' || $2 || ' ' || string_agg(axes_wake_tag(lockout_key), ' '))::TEXT FROM marked",
        )
        .bind(encode(keys))
        .bind(owner)
        .bind(millis(ttl));
        execute(query, &self.pool).await.map(drop)
    }
}

impl PostgresStore {
    /// A success: its access log entry, if any, and `release` given back,
    /// in one call.
    pub(super) async fn record_login_releasing(
        &self,
        entry: Option<&AccessLog>,
        release: Option<Slots<'_>>,
    ) -> Result<(), StoreError> {
        let release = release.filter(|slots| !slots.is_empty());
        if entry.is_none() && release.is_none() {
            return Ok(());
        }
        let (keys, ids) = keys_and_ids(release.map_or(&[][..], |slots| slots.slots));
        let query = sqlx::query(
            "SELECT axes_record_login($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(release.map_or("", |slots| slots.owner))
        .bind(&keys)
        .bind(&ids)
        .bind(entry.is_some())
        .bind(entry.map(|e| e.username.as_str()))
        .bind(entry.and_then(|e| e.ip_address).map(|ip| ip.to_string()))
        .bind(entry.map(|e| e.user_agent.as_str()))
        .bind(entry.map(|e| e.path_info.as_str()))
        .bind(entry.map(|e| e.http_accept.as_str()))
        .bind(entry.map(|e| e.session_hash.as_str()))
        .bind(entry.map(|e| to_millis(e.attempt_time)))
        .bind(entry.and_then(|e| e.logout_time).map(to_millis));
        execute(query, &self.pool).await.map(drop)
    }
}
