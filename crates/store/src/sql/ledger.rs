//! The delivery ledger: what reached CoMagic (and which steps are done), read and written in
//! chunks of one statement each, and pruned by age.

use crate::rows;
use crate::{LedgerEntry, LedgerProgress, StoreError, UploadRecord};
use leadback_model::EventId;
use uuid::Uuid;

sql_impl! {
    pub(super) async fn ledger_get_many(
        &self,
        keys: &[(Uuid, EventId)],
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let mut found = Vec::new();
        for chunk in keys.chunks(rows::LEDGER_LOOKUP_CHUNK) {
            // One statement per row count: kept out of the connection's statement cache.
            let query = rows::ledger_select_many::<D::Db>(chunk);
            found.extend(D::fetch_built::<LedgerEntry>(&self.pool, query, false).await?);
        }
        Ok(found)
    }

    pub(super) async fn ledger_record_uploads(
        &self,
        uploads: &[UploadRecord],
    ) -> Result<Vec<bool>, StoreError> {
        // One statement (one round trip, one commit) per chunk of the batch;
        // RETURNING names the rows that were new.
        let mut inserted = Vec::with_capacity(uploads.len());
        for chunk in uploads.chunks(rows::LEDGER_INSERT_CHUNK) {
            // One statement per row count: kept out of the connection's statement cache.
            let query = rows::ledger_insert::<D::Db>(chunk);
            let returned = D::fetch_built::<(Uuid, String)>(&self.pool, query, false).await?;
            let new: Vec<bool> = rows::ledger_new_rows(chunk, returned).collect();
            let delivered = rows::newly_delivered(chunk, &new);
            if !delivered.is_empty() {
                // The event got through after all: its dead letter (if any) is resolved.
                let query = rows::resolve_dead_letters::<D::Db>(delivered, rows::now());
                D::execute_built(&self.pool, query, false).await?;
            }
            inserted.extend(new);
        }
        Ok(inserted)
    }

    pub(super) async fn ledger_progress_many(
        &self,
        steps: &[LedgerProgress],
    ) -> Result<Vec<bool>, StoreError> {
        // One statement (one commit) per chunk.
        let mut found = Vec::with_capacity(steps.len());
        for chunk in steps.chunks(rows::LEDGER_PROGRESS_CHUNK) {
            // One statement per row count: kept out of the connection's statement cache.
            let query = rows::ledger_progress::<D::Db>(chunk, &D::PROGRESS);
            let returned = D::fetch_built::<(Uuid, String)>(&self.pool, query, false).await?;
            found.extend(rows::ledger_found(chunk, returned));
        }
        Ok(found)
    }

    pub(super) async fn recent_deliveries(
        &self,
        tenant_id: Uuid,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let sql = format!(
            "SELECT {} FROM ledger WHERE tenant_id = $1 \
             ORDER BY delivered_at DESC, event_id DESC LIMIT $2",
            rows::LEDGER_COLUMNS
        );
        Ok(sqlx::query_as::<_, LedgerEntry>(&sql)
            .bind(tenant_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?)
    }
}
