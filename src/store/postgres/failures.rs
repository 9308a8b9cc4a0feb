//! Failures on PostgreSQL, sent in batches: each bumps its counters and its
//! attempt record and gives back its slots in one call of
//! `axes_record_failures` with the failures queued beside it.

use sqlx::PgPool;

use super::query::{ends, flattened};
use super::rows::{by_request, counter_from_row};
use super::slots::keys_and_ids;
use super::{encode, fetch, in_key_order, millis, retry_conflicts};
use crate::policy::Counter;
use crate::store::changes::FailureRecord;
use crate::store::codec::to_millis;
use crate::store::error::StoreError;
use crate::store::sql::db_count;

/// One failure, as a batch carries it ([`FailureRecord`], encoded).
pub(super) struct Failure {
    keys: Vec<String>,
    at: i64,
    steps_from: Vec<i64>,
    steps_window: Vec<i64>,
    longest: Option<i64>,
    keep: i32,
    attempt_key: Option<String>,
    username: Option<String>,
    ip: String,
    user_agent: String,
    path: String,
    accept: String,
    get_data: String,
    post_data: String,
    owner: String,
    release_keys: Vec<String>,
    release_ids: Vec<i64>,
}

impl Failure {
    /// `failure`, encoded for `axes_record_failures`.
    pub(super) fn of(failure: &FailureRecord<'_>) -> Self {
        let window = failure.window;
        let (steps_from, steps_window) = window
            .steps()
            .iter()
            .map(|(from, length)| (db_count(*from), millis(*length)))
            .unzip();
        let client = failure.client;
        let (release_keys, release_ids) =
            keys_and_ids(failure.release.map_or(&[][..], |slots| slots.slots));
        Self {
            keys: encode(failure.keys),
            at: to_millis(failure.at),
            steps_from,
            steps_window,
            longest: window.longest().map(millis),
            keep: window
                .keep()
                .map_or(0, |keep| i32::try_from(keep).unwrap_or(i32::MAX)),
            attempt_key: failure
                .record_attempt
                .then(|| client.attempt_key().encode()),
            username: client.username().map(str::to_owned),
            ip: client.ip_address().to_string(),
            user_agent: client.user_agent().to_owned(),
            path: client.path().to_owned(),
            accept: client.http_accept().to_owned(),
            get_data: failure.get_data.to_owned(),
            post_data: failure.post_data.to_owned(),
            owner: failure
                .release
                .map_or_else(String::new, |slots| slots.owner.to_owned()),
            release_keys,
            release_ids,
        }
    }
}

/// The failures of `batch`, in one call; each one's counters, in the order
/// of its keys.
pub(super) async fn record_failures(
    pool: PgPool,
    batch: Vec<Failure>,
) -> Result<Vec<Vec<Counter>>, StoreError> {
    let column = |field: fn(&Failure) -> &str| -> Vec<&str> { batch.iter().map(field).collect() };
    let (keys, keys_end) = flattened(&batch, |failure| &failure.keys);
    let (release_keys, release_end) = flattened(&batch, |failure| &failure.release_keys);
    let steps_end = ends(&batch, |failure| failure.steps_from.len());
    let numbers = |field: fn(&Failure) -> &[i64]| -> Vec<i64> {
        batch
            .iter()
            .flat_map(|failure| field(failure).iter().copied())
            .collect()
    };
    let (steps_from, steps_window, release_ids) = (
        numbers(|failure| &failure.steps_from),
        numbers(|failure| &failure.steps_window),
        numbers(|failure| &failure.release_ids),
    );
    let at: Vec<i64> = batch.iter().map(|failure| failure.at).collect();
    let longest: Vec<Option<i64>> = batch.iter().map(|failure| failure.longest).collect();
    let keep: Vec<i32> = batch.iter().map(|failure| failure.keep).collect();
    let attempt_keys: Vec<Option<&str>> = batch
        .iter()
        .map(|failure| failure.attempt_key.as_deref())
        .collect();
    let usernames: Vec<Option<&str>> = batch
        .iter()
        .map(|failure| failure.username.as_deref())
        .collect();
    let rows = retry_conflicts(|| {
        let query = sqlx::query(
            "SELECT * FROM axes_record_failures($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
             $12, $13, $14, $15, $16, $17, $18, $19, $20)",
        )
        .bind(&keys)
        .bind(&keys_end)
        .bind(&at)
        .bind(&steps_from)
        .bind(&steps_window)
        .bind(&steps_end)
        .bind(&longest)
        .bind(&keep)
        .bind(&attempt_keys)
        .bind(&usernames)
        .bind(column(|failure| &failure.ip))
        .bind(column(|failure| &failure.user_agent))
        .bind(column(|failure| &failure.path))
        .bind(column(|failure| &failure.accept))
        .bind(column(|failure| &failure.get_data))
        .bind(column(|failure| &failure.post_data))
        .bind(column(|failure| &failure.owner))
        .bind(&release_keys)
        .bind(&release_ids)
        .bind(&release_end);
        fetch(query, &pool)
    })
    .await?;
    let rows_of = by_request(rows, batch.len(), 4)?;
    batch
        .iter()
        .zip(rows_of)
        .map(|(failure, rows)| in_key_order(&failure.keys, &rows, counter_from_row))
        .collect()
}
