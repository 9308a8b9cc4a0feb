//! The access and failure logs on PostgreSQL.

use std::time::SystemTime;

use super::{execute, locked, PostgresStore};
use crate::store::codec::{from_millis, to_millis};
use crate::store::error::StoreError;
use crate::store::records::{AccessFailureLog, AccessLog, AttemptFilter};
use crate::store::sql;
use crate::store::sql::db_count;

impl PostgresStore {
    pub(super) async fn insert_login(&self, entry: &AccessLog) -> Result<(), StoreError> {
        let query = sqlx::query(
            "INSERT INTO axes_access_logs (username, ip_address, user_agent, path_info, \
             http_accept, session_hash, attempt_time_ms, logout_time_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&entry.username)
        .bind(entry.ip_address.map(|ip| ip.to_string()))
        .bind(&entry.user_agent)
        .bind(&entry.path_info)
        .bind(&entry.http_accept)
        .bind(&entry.session_hash)
        .bind(to_millis(entry.attempt_time))
        .bind(entry.logout_time.map(to_millis));
        execute(query, &self.pool).await.map(drop)
    }

    pub(super) async fn close_sessions(
        &self,
        username: &str,
        session_hash: &str,
        at: SystemTime,
    ) -> Result<u64, StoreError> {
        let open = "username = $2 AND session_hash = $3 AND logout_time_ms IS NULL";
        let statement = format!(
            "UPDATE axes_access_logs SET logout_time_ms = $1 WHERE {}",
            locked("axes_access_logs", "id", open, "id")
        );
        let query = sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
            .bind(to_millis(at))
            .bind(username)
            .bind(session_hash);
        execute(query, &self.pool).await
    }

    pub(super) async fn read_access_logs(
        &self,
        filter: &AttemptFilter,
    ) -> Result<Vec<AccessLog>, StoreError> {
        let rows = self
            .select_filtered(sql::ACCESS_LOG_COLUMNS, "axes_access_logs", filter)
            .await?;
        rows.iter().map(super::rows::access_log_from_row).collect()
    }

    pub(super) async fn read_latest_login(
        &self,
        username: &str,
        ip: std::net::IpAddr,
        user_agent: &str,
    ) -> Result<Option<SystemTime>, StoreError> {
        let latest: Option<i64> = sqlx::query_scalar("SELECT MAX(attempt_time_ms) FROM axes_access_logs WHERE username = $1 AND ip_address = $2 AND user_agent = $3")
            .bind(username)
            .bind(ip.to_string())
            .bind(user_agent)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        Ok(latest.map(from_millis))
    }

    pub(super) async fn insert_failure_log(
        &self,
        entry: &AccessFailureLog,
        per_user_limit: u64,
    ) -> Result<(), StoreError> {
        // `username IS NOT DISTINCT FROM $1`, in a form the index serves.
        let same_user = match entry.username {
            Some(_) => "username = $1",
            None => "username IS NULL",
        };
        let cap = format!(
            "DELETE FROM axes_failure_logs WHERE {}",
            locked("axes_failure_logs", "id", same_user, "id DESC OFFSET $2")
        );
        let insert = sqlx::query(
            "INSERT INTO axes_failure_logs (username, ip_address, user_agent, path_info, \
             http_accept, attempt_time_ms, locked_out) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&entry.username)
        .bind(entry.ip_address.map(|ip| ip.to_string()))
        .bind(&entry.user_agent)
        .bind(&entry.path_info)
        .bind(&entry.http_accept)
        .bind(to_millis(entry.attempt_time))
        .bind(entry.locked_out);
        let mut tx = self.pool.begin().await.map_err(StoreError::backend)?;
        execute(insert, &mut *tx).await?;
        let query = sqlx::query(sqlx::AssertSqlSafe(cap.clone()))
            .bind(&entry.username)
            .bind(db_count(per_user_limit));
        execute(query, &mut *tx).await?;
        tx.commit().await.map_err(StoreError::backend)
    }

    pub(super) async fn read_failure_logs(
        &self,
        filter: &AttemptFilter,
    ) -> Result<Vec<AccessFailureLog>, StoreError> {
        let rows = self
            .select_filtered(sql::FAILURE_LOG_COLUMNS, "axes_failure_logs", filter)
            .await?;
        rows.iter().map(super::rows::failure_log_from_row).collect()
    }
}
