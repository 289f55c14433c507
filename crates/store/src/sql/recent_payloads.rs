//! Recent webhook bodies per tenant (see [`crate::recent_payloads`]): recorded in batches and
//! trimmed to the newest, listed, pruned by age.

use crate::{recent_payloads, rows, NewRecentPayload, RecentPayload, StoreError};
use chrono::{DateTime, Utc};
use uuid::Uuid;

sql_impl! {
    pub(super) async fn record_recent_payloads(
        &self,
        payloads: &[NewRecentPayload],
        keep: u32,
    ) -> Result<u64, StoreError> {
        if payloads.is_empty() {
            return Ok(0);
        }
        // One transaction: the batch and the trims of every tenant it touched commit together.
        let mut tx = self.pool.begin().await?;
        let mut inserted = 0;
        let mut tenants = std::collections::BTreeSet::new();
        for payload in payloads {
            let done = sqlx::query(recent_payloads::INSERT)
                .bind(Uuid::now_v7())
                .bind(payload.tenant_id)
                .bind(rows::micros(payload.received_at))
                .bind(payload.content_type.as_deref())
                .bind(payload.event_id.as_deref())
                .bind(payload.body.as_slice())
                .bind(payload.outcome.as_str())
                .bind(payload.error.as_deref())
                .execute(&mut *tx)
                .await?;
            inserted += D::rows_affected(&done);
            tenants.insert(payload.tenant_id);
        }
        for tenant_id in tenants {
            sqlx::query(recent_payloads::TRIM)
                .bind(tenant_id)
                .bind(i64::from(keep))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(inserted)
    }

    pub(super) async fn recent_payloads(
        &self,
        tenant_id: Uuid,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<RecentPayload>, StoreError> {
        Ok(sqlx::query_as::<_, RecentPayload>(recent_payloads::LIST)
            .bind(tenant_id)
            .bind(rows::micros(since))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?)
    }
}
