//! Attempts in flight on PostgreSQL: one row per slot in `axes_slots`,
//! owned by an app server (`axes_instances`) under a lease it renews while
//! it holds slots; an admission takes and counts them in one call of
//! `axes_admit`, and a slot given back under a key another server waits on
//! (`axes_waiting`) is notified (migration `0008`).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;

use sqlx::postgres::PgRow;
use sqlx::PgPool;

use super::query::flattened;
use super::rows::{by_request, counter_from_row, get};
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
        let (take_keys, take_ids) = keys_and_ids(request.take);
        let admission = Admission {
            owner: request.owner.to_owned(),
            lease: millis(request.lease),
            read: encode(read),
            take_keys,
            take_ids,
            count: encode(request.count),
        };
        self.admissions.call(admission).await
    }

    async fn release(&self, slots: Slots<'_>) -> Result<(), StoreError> {
        self.record_login_releasing(None, Some(slots)).await
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
    /// in the next batch of them.
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
        let login = Login {
            owner: release.map_or_else(String::new, |slots| slots.owner.to_owned()),
            keys,
            ids,
            entry: entry.cloned(),
        };
        self.logins.call(login).await
    }
}

/// One admission, as a batch carries it ([`SharedSlots::admit`]'s
/// arguments, encoded).
pub(super) struct Admission {
    owner: String,
    lease: i64,
    read: Vec<String>,
    take_keys: Vec<String>,
    take_ids: Vec<i64>,
    count: Vec<String>,
}

/// The admissions of `batch`, in one call of `axes_admit_many`.
pub(super) async fn admit_many(
    pool: PgPool,
    batch: Vec<Admission>,
) -> Result<Vec<Admitted>, StoreError> {
    let owners: Vec<&str> = batch.iter().map(|a| a.owner.as_str()).collect();
    let leases: Vec<i64> = batch.iter().map(|a| a.lease).collect();
    let (read, read_end) = flattened(&batch, |a| &a.read);
    let (take_keys, take_end) = flattened(&batch, |a| &a.take_keys);
    let take_ids: Vec<i64> = batch
        .iter()
        .flat_map(|a| a.take_ids.iter().copied())
        .collect();
    let (count, count_end) = flattened(&batch, |a| &a.count);
    let rows = retry_conflicts(|| {
        let query =
            sqlx::query("SELECT * FROM axes_admit_many($1, $2, $3, $4, $5, $6, $7, $8, $9)")
                .bind(&owners)
                .bind(&leases)
                .bind(&read)
                .bind(&read_end)
                .bind(&take_keys)
                .bind(&take_ids)
                .bind(&take_end)
                .bind(&count)
                .bind(&count_end);
        fetch(query, &pool)
    })
    .await?;
    let rows_of = by_request(rows, batch.len(), 6)?;
    batch
        .iter()
        .zip(rows_of)
        .map(|(admission, rows)| admitted(admission, &rows))
        .collect()
}

/// What `admission` read, from its `rows` of `axes_admit`.
fn admitted(admission: &Admission, rows: &[PgRow]) -> Result<Admitted, StoreError> {
    let mut counters = HashMap::with_capacity(admission.read.len());
    let mut holders = HashMap::with_capacity(admission.count.len());
    for row in rows {
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
    let (held, waited) = admission
        .count
        .iter()
        .map(|key| holders.get(key).copied().unwrap_or((0, false)))
        .unzip();
    Ok(Admitted::new(
        admission
            .read
            .iter()
            .map(|key| counters.remove(key))
            .collect(),
        held,
        waited,
    ))
}

/// One success or release, as a batch carries it.
pub(super) struct Login {
    owner: String,
    keys: Vec<String>,
    ids: Vec<i64>,
    entry: Option<AccessLog>,
}

/// The slots given back and the access log entries of `batch`, in one call
/// of `axes_record_logins`.
pub(super) async fn record_logins(pool: PgPool, batch: Vec<Login>) -> Result<Vec<()>, StoreError> {
    let mut owners = Vec::new();
    let (mut keys, mut ids) = (Vec::new(), Vec::new());
    for login in &batch {
        owners.extend(login.keys.iter().map(|_| login.owner.as_str()));
        keys.extend(login.keys.iter().map(String::as_str));
        ids.extend_from_slice(&login.ids);
    }
    let entries: Vec<&AccessLog> = batch
        .iter()
        .filter_map(|login| login.entry.as_ref())
        .collect();
    let column = |field: fn(&AccessLog) -> &str| -> Vec<&str> {
        entries.iter().map(|entry| field(entry)).collect()
    };
    let ips: Vec<Option<String>> = entries
        .iter()
        .map(|entry| entry.ip_address.map(|ip| ip.to_string()))
        .collect();
    let at: Vec<i64> = entries
        .iter()
        .map(|entry| to_millis(entry.attempt_time))
        .collect();
    let logout: Vec<Option<i64>> = entries
        .iter()
        .map(|entry| entry.logout_time.map(to_millis))
        .collect();
    let (usernames, agents, paths, accepts, sessions) = (
        column(|entry| &entry.username),
        column(|entry| &entry.user_agent),
        column(|entry| &entry.path_info),
        column(|entry| &entry.http_accept),
        column(|entry| &entry.session_hash),
    );
    retry_conflicts(|| {
        let query =
            sqlx::query("SELECT axes_record_logins($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
                .bind(&owners)
                .bind(&keys)
                .bind(&ids)
                .bind(&usernames)
                .bind(&ips)
                .bind(&agents)
                .bind(&paths)
                .bind(&accepts)
                .bind(&sessions)
                .bind(&at)
                .bind(&logout);
        execute(query, &pool)
    })
    .await?;
    Ok(vec![(); batch.len()])
}
