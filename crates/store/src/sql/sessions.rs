//! Signed-out admin sessions, kept where every replica looks until they would have expired.

use crate::rows;
use crate::StoreError;
use chrono::{DateTime, Utc};

sql_impl! {
    pub(super) async fn sign_out_admin_session(
        &self,
        session_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM admin_signouts WHERE expires_at < $1")
            .bind(rows::now())
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO admin_signouts (session_hash, expires_at) VALUES ($1, $2) \
             ON CONFLICT (session_hash) DO NOTHING",
        )
        .bind(session_hash)
        .bind(rows::micros(expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn admin_session_signed_out(
        &self,
        session_hash: &str,
    ) -> Result<bool, StoreError> {
        let found: Option<String> =
            sqlx::query_scalar("SELECT session_hash FROM admin_signouts WHERE session_hash = $1")
                .bind(session_hash)
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }
}
