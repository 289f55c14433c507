//! The PostgreSQL backend, for deployments with a shared database.

use crate::route_cache::RouteCache;
use crate::rows::{self, DeadLetterRow, LedgerRow, TenantRow};
use crate::{
    DeadLetter, DeadLetterFilter, LedgerEntry, LedgerProgress, NewDeadLetter, SecretKey, Store,
    StoreError, Tenant, TenantInput, TenantRoute, TokenHash, UploadRecord, WebhookToken,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::types::Json;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// `ignore_missing`: a database migrated by a newer release (a rollback, or an old pod restarting
/// mid-rollout) holds migrations this binary does not know; they are additive, so this binary
/// still runs on it instead of refusing to start.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate::Migrator {
    ignore_missing: true,
    ..sqlx::migrate!("./migrations/postgres")
};

/// The ledger's tag merge in this backend's JSON functions: the union of the tag ids, sorted,
/// without duplicates.
const PROGRESS: rows::ProgressDialect = rows::ProgressDialect {
    casts: ["::uuid", "::text", "::jsonb", "::boolean"],
    merged_tags: "(SELECT COALESCE(jsonb_agg(v ORDER BY v), '[]'::jsonb) FROM (\
         SELECT jsonb_array_elements(ledger.tagged) AS v \
         UNION SELECT jsonb_array_elements(s.tags)) AS merged)",
};

/// [`Store`] on PostgreSQL. Credentials are decrypted with `key` as rows are read.
pub struct PgStore {
    pool: PgPool,
    key: SecretKey,
    /// Token → tenant routes for the ingress, emptied on every tenant change.
    routes: Arc<RouteCache>,
}

impl PgStore {
    /// Connects (failing fast when the server cannot be reached within 10 s).
    pub async fn connect(url: &str, key: SecretKey) -> Result<PgStore, StoreError> {
        Self::connect_with_pool(url, key, crate::DEFAULT_MAX_CONNECTIONS).await
    }

    /// [`PgStore::connect`] with at most `max_connections` connections (at least 1).
    pub async fn connect_with_pool(
        url: &str,
        key: SecretKey,
        max_connections: u32,
    ) -> Result<PgStore, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        Ok(Self::from_pool(pool, key))
    }

    /// Wraps a pool the caller configured.
    pub fn from_pool(pool: PgPool, key: SecretKey) -> PgStore {
        PgStore {
            pool,
            key,
            routes: Arc::new(RouteCache::new()),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes every connection and waits for them to finish (graceful shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn fetch_tenant(
        &self,
        sql_where: &str,
        bind: TenantKey<'_>,
    ) -> Result<Option<Tenant>, StoreError> {
        let sql = format!(
            "SELECT {} FROM tenants WHERE {sql_where}",
            rows::TENANT_COLUMNS
        );
        let query = sqlx::query_as::<_, TenantRow>(&sql);
        let row = match bind {
            TenantKey::Id(id) => query.bind(id),
            TenantKey::Hash(hash) => query.bind(hash.as_str()),
        }
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| r.into_tenant(&self.key)).transpose()
    }
}

enum TenantKey<'a> {
    Id(Uuid),
    Hash(&'a TokenHash),
}

#[async_trait]
impl Store for PgStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn ready(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        self.check_schema().await
    }

    async fn check_schema(&self) -> Result<(), StoreError> {
        let has_table: bool =
            sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                .fetch_one(&self.pool)
                .await?;
        if !has_table {
            return Err(StoreError::Migration(
                "the database has no migrations applied; run the migrate command".into(),
            ));
        }
        let applied: Vec<(i64, Vec<u8>)> = sqlx::query_as(rows::APPLIED_MIGRATIONS)
            .fetch_all(&self.pool)
            .await?;
        rows::check_applied(&MIGRATOR, &applied)
    }

    async fn create_tenant(
        &self,
        input: TenantInput,
    ) -> Result<(Tenant, WebhookToken), StoreError> {
        let credentials = input
            .credentials
            .ok_or_else(|| StoreError::Invalid("a new tenant needs CoMagic credentials".into()))?;
        let id = Uuid::new_v4();
        let token = WebhookToken::generate();
        let sealed = self.key.seal_credentials(id, &credentials)?;
        let now = rows::now();
        sqlx::query(rows::INSERT_TENANT)
            .bind(id)
            .bind(&input.name)
            .bind(input.active)
            .bind(Json(&input.settings))
            .bind(&credentials.api_url)
            .bind(credentials.auth.kind())
            .bind(&sealed)
            .bind(token.hash().as_str())
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(|e| rows::conflict_or(e, "a tenant with this token"))?;
        let tenant = Tenant {
            id,
            name: input.name,
            active: input.active,
            settings: input.settings,
            credentials,
            created_at: now,
            updated_at: now,
        };
        Ok((tenant, token))
    }

    async fn update_tenant(&self, id: Uuid, input: TenantInput) -> Result<Tenant, StoreError> {
        let now = rows::now();
        let done = match &input.credentials {
            Some(credentials) => {
                let sealed = self.key.seal_credentials(id, credentials)?;
                sqlx::query(rows::UPDATE_TENANT_WITH_CREDENTIALS)
                    .bind(id)
                    .bind(&input.name)
                    .bind(input.active)
                    .bind(Json(&input.settings))
                    .bind(now)
                    .bind(&credentials.api_url)
                    .bind(credentials.auth.kind())
                    .bind(&sealed)
                    .execute(&self.pool)
                    .await?
            }
            None => {
                sqlx::query(rows::UPDATE_TENANT)
                    .bind(id)
                    .bind(&input.name)
                    .bind(input.active)
                    .bind(Json(&input.settings))
                    .bind(now)
                    .execute(&self.pool)
                    .await?
            }
        };
        // Other processes learn of the change from the trigger's notification.
        self.routes.invalidate();
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("tenant {id}")));
        }
        self.get_tenant(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("tenant {id}")))
    }

    async fn get_tenant(&self, id: Uuid) -> Result<Option<Tenant>, StoreError> {
        self.fetch_tenant("id = $1", TenantKey::Id(id)).await
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let sql = format!(
            "SELECT {} FROM tenants ORDER BY created_at, id",
            rows::TENANT_COLUMNS
        );
        sqlx::query_as::<_, TenantRow>(&sql)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|r| r.into_tenant(&self.key))
            .collect()
    }

    async fn tenant_by_token(&self, hash: &TokenHash) -> Result<Option<Tenant>, StoreError> {
        self.fetch_tenant("token_hash = $1", TenantKey::Hash(hash))
            .await
    }

    async fn tenant_route_by_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<TenantRoute>, StoreError> {
        self.routes.ensure_listening(&self.pool);
        if let Some(route) = self.routes.get(hash.as_str()) {
            return Ok(Some(route));
        }
        let generation = self.routes.generation();
        let row: Option<(Uuid, bool)> = sqlx::query_as(rows::TENANT_ROUTE)
            .bind(hash.as_str())
            .fetch_optional(&self.pool)
            .await?;
        let route = row.map(|(id, active)| TenantRoute { id, active });
        if let Some(route) = route {
            self.routes.insert(generation, hash.as_str(), route);
        }
        Ok(route)
    }

    async fn rotate_token(&self, id: Uuid) -> Result<WebhookToken, StoreError> {
        let token = WebhookToken::generate();
        let done = sqlx::query(rows::ROTATE_TOKEN)
            .bind(id)
            .bind(token.hash().as_str())
            .bind(rows::now())
            .execute(&self.pool)
            .await
            .map_err(|e| rows::conflict_or(e, "a tenant with this token"))?;
        // The old token stops routing here before this returns.
        self.routes.invalidate();
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("tenant {id}")));
        }
        Ok(token)
    }

    async fn set_active(&self, id: Uuid, active: bool) -> Result<(), StoreError> {
        let done = sqlx::query(rows::SET_ACTIVE)
            .bind(id)
            .bind(active)
            .bind(rows::now())
            .execute(&self.pool)
            .await?;
        self.routes.invalidate();
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("tenant {id}")));
        }
        Ok(())
    }

    async fn delete_tenant(&self, id: Uuid) -> Result<(), StoreError> {
        let done = sqlx::query(rows::DELETE_TENANT)
            .bind(id)
            .execute(&self.pool)
            .await?;
        self.routes.invalidate();
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("tenant {id}")));
        }
        Ok(())
    }

    async fn get_field_map(&self, tenant_id: Uuid) -> Result<leadback_model::FieldMap, StoreError> {
        crate::field_maps::get_postgres(&self.pool, tenant_id).await
    }

    async fn set_field_map(
        &self,
        tenant_id: Uuid,
        map: &leadback_model::FieldMap,
    ) -> Result<(), StoreError> {
        crate::field_maps::set_postgres(&self.pool, tenant_id, map).await
    }

    async fn ledger_get(
        &self,
        tenant_id: Uuid,
        event_id: &str,
    ) -> Result<Option<LedgerEntry>, StoreError> {
        let sql = format!(
            "SELECT {} FROM ledger WHERE tenant_id = $1 AND event_id = $2",
            rows::LEDGER_COLUMNS
        );
        sqlx::query_as::<_, LedgerRow>(&sql)
            .bind(tenant_id)
            .bind(event_id)
            .fetch_optional(&self.pool)
            .await?
            .map(LedgerEntry::try_from)
            .transpose()
    }

    async fn ledger_get_many(
        &self,
        keys: &[(Uuid, String)],
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let mut found = Vec::new();
        for chunk in keys.chunks(rows::LEDGER_LOOKUP_CHUNK) {
            for row in rows::ledger_select_many::<sqlx::Postgres>(chunk)
                .build_query_as::<LedgerRow>()
                // One statement per row count: kept out of the connection's statement cache.
                .persistent(false)
                .fetch_all(&self.pool)
                .await?
            {
                found.push(LedgerEntry::try_from(row)?);
            }
        }
        Ok(found)
    }

    async fn ledger_record_uploads(
        &self,
        uploads: &[UploadRecord],
    ) -> Result<Vec<bool>, StoreError> {
        // One statement (one round trip, one commit) per chunk of the batch;
        // RETURNING names the rows that were new.
        let mut inserted = Vec::with_capacity(uploads.len());
        for chunk in uploads.chunks(rows::LEDGER_INSERT_CHUNK) {
            let returned = rows::ledger_insert::<sqlx::Postgres>(chunk)
                .build_query_as::<(Uuid, String)>()
                // One statement per row count: kept out of the connection's statement cache.
                .persistent(false)
                .fetch_all(&self.pool)
                .await?;
            let new: Vec<bool> = rows::ledger_new_rows(chunk, returned).collect();
            let delivered = rows::newly_delivered(chunk, &new);
            if !delivered.is_empty() {
                // The event got through after all: its dead letter (if any) is resolved.
                rows::resolve_dead_letters::<sqlx::Postgres>(delivered, rows::now())
                    .build()
                    .persistent(false)
                    .execute(&self.pool)
                    .await?;
            }
            inserted.extend(new);
        }
        Ok(inserted)
    }

    async fn ledger_progress_many(
        &self,
        steps: &[LedgerProgress],
    ) -> Result<Vec<bool>, StoreError> {
        // One statement (one commit) per chunk.
        let mut found = Vec::with_capacity(steps.len());
        for chunk in steps.chunks(rows::LEDGER_PROGRESS_CHUNK) {
            let returned = rows::ledger_progress::<sqlx::Postgres>(chunk, &PROGRESS)
                .build_query_as::<(Uuid, String)>()
                // One statement per row count: kept out of the connection's statement cache.
                .persistent(false)
                .fetch_all(&self.pool)
                .await?;
            found.extend(rows::ledger_found(chunk, returned));
        }
        Ok(found)
    }

    async fn recent_deliveries(
        &self,
        tenant_id: Uuid,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let sql = format!(
            "SELECT {} FROM ledger WHERE tenant_id = $1 \
             ORDER BY delivered_at DESC, event_id DESC LIMIT $2",
            rows::LEDGER_COLUMNS
        );
        sqlx::query_as::<_, LedgerRow>(&sql)
            .bind(tenant_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(LedgerEntry::try_from)
            .collect()
    }

    async fn ledger_count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(rows::LEDGER_COUNT)
            .fetch_one(&self.pool)
            .await?;
        rows::count_to_u64(n)
    }

    async fn ledger_prune(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, StoreError> {
        // Cut to the microseconds both databases keep, as every stored time is.
        let done = sqlx::query(rows::LEDGER_PRUNE)
            .bind(rows::micros(before))
            .bind(i64::from(limit))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn add_dead_letter(&self, dead: &NewDeadLetter) -> Result<DeadLetter, StoreError> {
        let stored = rows::dead_letter_from_new(dead);
        sqlx::query_as::<_, DeadLetterRow>(rows::UPSERT_DEAD_LETTER)
            .bind(stored.id)
            .bind(stored.tenant_id)
            .bind(&stored.event_id)
            .bind(&stored.class)
            .bind(&stored.mnemonic)
            .bind(&stored.message)
            .bind(i64::from(stored.attempts))
            .bind(stored.first_attempt_at)
            .bind(stored.last_attempt_at)
            .bind(stored.dead_at)
            .bind(Json(&stored.envelope))
            .fetch_one(&self.pool)
            .await?
            .try_into()
    }

    async fn list_dead_letters(
        &self,
        filter: &DeadLetterFilter,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        rows::dead_letter_query::<sqlx::Postgres>(filter)
            .build_query_as::<DeadLetterRow>()
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(DeadLetter::try_from)
            .collect()
    }

    async fn get_dead_letter(&self, id: Uuid) -> Result<Option<DeadLetter>, StoreError> {
        let sql = format!(
            "SELECT {} FROM dead_letters WHERE id = $1",
            rows::DEAD_LETTER_COLUMNS
        );
        sqlx::query_as::<_, DeadLetterRow>(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(DeadLetter::try_from)
            .transpose()
    }

    async fn remove_dead_letters(&self, ids: &[Uuid]) -> Result<u64, StoreError> {
        let mut removed = 0;
        for chunk in ids.chunks(rows::DELETE_CHUNK) {
            removed += rows::delete_dead_letters_query::<sqlx::Postgres>(chunk)
                .build()
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        Ok(removed)
    }

    async fn dead_letter_count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(rows::DEAD_LETTER_COUNT)
            .fetch_one(&self.pool)
            .await?;
        rows::count_to_u64(n)
    }

    async fn dead_letter_of_event(
        &self,
        tenant_id: Uuid,
        event_id: &str,
    ) -> Result<Option<DeadLetter>, StoreError> {
        crate::tenant_activity::dead_letter_postgres(&self.pool, tenant_id, event_id).await
    }

    async fn dead_letter_counts(
        &self,
        tenant_id: Option<Uuid>,
    ) -> Result<Vec<crate::DeadLetterCount>, StoreError> {
        crate::tenant_activity::dead_counts_postgres(&self.pool, tenant_id).await
    }

    async fn record_recent_payloads(
        &self,
        payloads: &[crate::NewRecentPayload],
        keep: u32,
    ) -> Result<u64, StoreError> {
        crate::recent_payloads::record_postgres(&self.pool, payloads, keep).await
    }

    async fn recent_payloads(
        &self,
        tenant_id: Uuid,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<crate::RecentPayload>, StoreError> {
        crate::recent_payloads::list_postgres(&self.pool, tenant_id, since, limit).await
    }

    async fn prune_recent_payloads(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        crate::recent_payloads::prune_postgres(&self.pool, before).await
    }

    async fn record_activity(&self, updates: &[crate::ActivityUpdate]) -> Result<(), StoreError> {
        crate::tenant_activity::record_postgres(&self.pool, updates).await
    }

    async fn tenant_activity(
        &self,
        tenant_id: Option<Uuid>,
    ) -> Result<Vec<crate::TenantActivity>, StoreError> {
        crate::tenant_activity::get_postgres(&self.pool, tenant_id).await
    }
}
