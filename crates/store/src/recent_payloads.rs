//! Recent payloads (`recent_payloads`): the last raw webhook bodies of each tenant, as the
//! ingress received them, so an operator can see what Leadback actually sends. Written in
//! batches by the ingress's background recorder (never per request), bounded per tenant by
//! count at every write and by age by [`crate::Store::prune_recent_payloads`]; the rows go
//! with their tenant (foreign key, `ON DELETE CASCADE`).
//!
//! Both backends share the SQL (`$n` works in SQLite too).

use chrono::{DateTime, Utc};
use std::collections::BTreeSet;
use uuid::Uuid;

use crate::{rows, StoreError};

/// How long a payload is kept at most, whatever the count (and how far back listings look).
pub const RECENT_PAYLOADS_MAX_AGE: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// Whether the ingress queued the body or refused it.
pub const OUTCOME_ACCEPTED: &str = "accepted";
/// The ingress answered 400 (the body could not be read); `error` says why.
pub const OUTCOME_REJECTED: &str = "rejected";

/// A body to record.
#[derive(Debug, Clone)]
pub struct NewRecentPayload {
    pub tenant_id: Uuid,
    pub received_at: DateTime<Utc>,
    pub content_type: Option<String>,
    /// `None` when the ingress could not read an event id (a refused body).
    pub event_id: Option<String>,
    pub body: Vec<u8>,
    /// [`OUTCOME_ACCEPTED`] or [`OUTCOME_REJECTED`].
    pub outcome: String,
    /// Why the ingress refused it.
    pub error: Option<String>,
}

/// A recorded body, read back.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RecentPayload {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub received_at: DateTime<Utc>,
    pub content_type: Option<String>,
    pub event_id: Option<String>,
    pub body: Vec<u8>,
    pub outcome: String,
    pub error: Option<String>,
}

/// A row whose tenant is gone (deleted while the batch waited) is skipped, not an error that
/// would lose the whole batch.
const INSERT: &str = "INSERT INTO recent_payloads \
     (id, tenant_id, received_at, content_type, event_id, body, outcome, error) \
     SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE EXISTS (SELECT 1 FROM tenants WHERE id = $2)";
/// Keeps the tenant's `$2` newest.
const TRIM: &str = "DELETE FROM recent_payloads WHERE tenant_id = $1 AND id NOT IN (\
     SELECT id FROM recent_payloads WHERE tenant_id = $1 \
     ORDER BY received_at DESC, id DESC LIMIT $2)";
const LIST: &str = "SELECT id, tenant_id, received_at, content_type, event_id, body, outcome, \
     error FROM recent_payloads WHERE tenant_id = $1 AND received_at >= $2 \
     ORDER BY received_at DESC, id DESC LIMIT $3";
const PRUNE: &str = "DELETE FROM recent_payloads WHERE received_at < $1";

/// The record, list and prune of one backend.
macro_rules! recent_payload_fns {
    ($record:ident, $list:ident, $prune:ident, $pool:ty) => {
        /// Inserts the batch and trims every tenant it touched to its `keep` newest, in one
        /// transaction (one commit). Returns how many rows were inserted.
        pub(crate) async fn $record(
            pool: &$pool,
            payloads: &[NewRecentPayload],
            keep: u32,
        ) -> Result<u64, StoreError> {
            if payloads.is_empty() {
                return Ok(0);
            }
            let mut tx = pool.begin().await?;
            let mut inserted = 0;
            let mut tenants = BTreeSet::new();
            for payload in payloads {
                inserted += sqlx::query(INSERT)
                    .bind(Uuid::now_v7())
                    .bind(payload.tenant_id)
                    .bind(rows::micros(payload.received_at))
                    .bind(&payload.content_type)
                    .bind(&payload.event_id)
                    .bind(&payload.body)
                    .bind(&payload.outcome)
                    .bind(&payload.error)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tenants.insert(payload.tenant_id);
            }
            for tenant_id in tenants {
                sqlx::query(TRIM)
                    .bind(tenant_id)
                    .bind(i64::from(keep))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(inserted)
        }

        /// The tenant's payloads received at `since` or later, newest first, at most `limit`.
        pub(crate) async fn $list(
            pool: &$pool,
            tenant_id: Uuid,
            since: DateTime<Utc>,
            limit: u32,
        ) -> Result<Vec<RecentPayload>, StoreError> {
            Ok(sqlx::query_as::<_, RecentPayload>(LIST)
                .bind(tenant_id)
                .bind(rows::micros(since))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?)
        }

        /// Deletes every payload received before `before` (all tenants); how many went.
        pub(crate) async fn $prune(pool: &$pool, before: DateTime<Utc>) -> Result<u64, StoreError> {
            Ok(sqlx::query(PRUNE)
                .bind(rows::micros(before))
                .execute(pool)
                .await?
                .rows_affected())
        }
    };
}

recent_payload_fns!(record_sqlite, list_sqlite, prune_sqlite, sqlx::SqlitePool);
recent_payload_fns!(record_postgres, list_postgres, prune_postgres, sqlx::PgPool);
