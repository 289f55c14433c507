//! Tenant activity (see [`crate::tenant_activity`]): gathered updates written one row per
//! tenant, and read back.

use crate::tenant_activity::{self, ActivityRow};
use crate::{rows, StoreError, TenantActivity};
use uuid::Uuid;

sql_impl! {
    pub(super) async fn record_activity(
        &self,
        seen: &[TenantActivity],
    ) -> Result<(), StoreError> {
        if seen.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for u in seen {
            let e = u.last_error.as_ref();
            let l = u.limits.as_ref();
            sqlx::query(tenant_activity::UPSERT)
                .bind(u.tenant_id)
                .bind(u.last_accepted_at.map(rows::micros))
                .bind(u.last_delivered_at.map(rows::micros))
                .bind(e.map(|e| e.class.as_str()))
                .bind(e.and_then(|e| e.mnemonic.as_deref()))
                .bind(e.map(|e| e.message.as_str()))
                .bind(e.map(|e| rows::micros(e.at)))
                .bind(l.and_then(|l| l.minute_limit))
                .bind(l.and_then(|l| l.minute_remaining))
                .bind(l.and_then(|l| l.minute_reset_at))
                .bind(l.and_then(|l| l.day_limit))
                .bind(l.and_then(|l| l.day_remaining))
                .bind(l.and_then(|l| l.day_reset_at))
                .bind(l.map(|l| l.at))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn tenant_activity(
        &self,
        tenant_id: Option<Uuid>,
    ) -> Result<Vec<TenantActivity>, StoreError> {
        let columns = tenant_activity::COLUMNS;
        let rows = match tenant_id {
            Some(id) => {
                sqlx::query_as::<_, ActivityRow>(&format!(
                    "SELECT {columns} FROM tenant_activity WHERE tenant_id = $1"
                ))
                .bind(id)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query_as::<_, ActivityRow>(&format!("SELECT {columns} FROM tenant_activity"))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        Ok(rows.into_iter().map(TenantActivity::from).collect())
    }
}
