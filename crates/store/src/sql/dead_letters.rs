//! Dead letters: one per event (a later failure updates it), listed by filter with keyset
//! paging, removed, counted per tenant and class.

use crate::rows;
use crate::{
    tenant_activity, DeadLetter, DeadLetterCount, DeadLetterFilter, NewDeadLetter, StoreError,
};
use sqlx::types::Json;
use uuid::Uuid;

sql_impl! {
    pub(super) async fn add_dead_letter(
        &self,
        dead: &NewDeadLetter,
    ) -> Result<DeadLetter, StoreError> {
        let stored = rows::dead_letter_from_new(dead);
        Ok(sqlx::query_as::<_, DeadLetter>(rows::UPSERT_DEAD_LETTER)
            .bind(stored.id)
            .bind(stored.tenant_id)
            .bind(stored.event_id.as_str())
            .bind(stored.class.as_str())
            .bind(stored.mnemonic.as_deref())
            .bind(stored.message.as_str())
            .bind(i64::from(stored.attempts))
            .bind(stored.first_attempt_at)
            .bind(stored.last_attempt_at)
            .bind(stored.dead_at)
            .bind(Json(&stored.envelope))
            .fetch_one(&self.pool)
            .await?)
    }

    pub(super) async fn list_dead_letters(
        &self,
        filter: &DeadLetterFilter,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        let query = rows::dead_letter_query::<D::Db>(filter);
        Ok(D::fetch_built::<DeadLetter>(&self.pool, query, true).await?)
    }

    pub(super) async fn get_dead_letter(&self, id: Uuid) -> Result<Option<DeadLetter>, StoreError> {
        let sql = format!(
            "SELECT {} FROM dead_letters WHERE id = $1",
            rows::DEAD_LETTER_COLUMNS
        );
        Ok(sqlx::query_as::<_, DeadLetter>(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub(super) async fn remove_dead_letters(&self, ids: &[Uuid]) -> Result<u64, StoreError> {
        let mut removed = 0;
        for chunk in ids.chunks(rows::DELETE_CHUNK) {
            let query = rows::delete_dead_letters_query::<D::Db>(chunk);
            removed += D::execute_built(&self.pool, query, true).await?;
        }
        Ok(removed)
    }

    /// The removal and the count commit together: a replay whose removal failed is not
    /// counted, and one that was removed is.
    pub(super) async fn remove_replayed_dead_letters(
        &self,
        ids: &[Uuid],
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut removed = 0;
        for id in ids {
            let done = sqlx::query(rows::DELETE_DEAD_LETTER)
                .bind(*id)
                .execute(&mut *tx)
                .await?;
            removed += D::rows_affected(&done);
        }
        if removed > 0 {
            sqlx::query(rows::ADD_REPLAYS)
                .bind(i64::try_from(removed).unwrap_or(i64::MAX))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(removed)
    }

    pub(super) async fn dead_letter_counts(
        &self,
        tenant_id: Option<Uuid>,
    ) -> Result<Vec<DeadLetterCount>, StoreError> {
        let rows: Vec<(Uuid, String, i64)> = match tenant_id {
            Some(id) => {
                sqlx::query_as(tenant_activity::DEAD_LETTER_COUNTS_OF)
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query_as(tenant_activity::DEAD_LETTER_COUNTS)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        tenant_activity::counts(rows)
    }
}
