//! The one SQL store: every query and every flow of [`Store`], written once over sqlx and
//! run on either database through a [`Dialect`] that holds only what really differs between
//! them (the migrator and its lock, how a migrations table is found, how other processes learn
//! of tenant changes, the JSON functions of the ledger's tag merge).
//!
//! The sqlx bounds a database must meet are listed once, on the [`Store`] implementation.

use crate::route_cache::RouteCache;
use crate::rows::{self, DeadLetterRow, LedgerRow, TenantRow};
use crate::tenant_activity::{self, ActivityRow};
use crate::{
    field_maps, recent_payloads, ActivityUpdate, DeadLetter, DeadLetterCount, DeadLetterFilter,
    LedgerEntry, LedgerProgress, NewDeadLetter, NewRecentPayload, RecentPayload, SecretKey, Store,
    StoreError, Tenant, TenantActivity, TenantInput, TenantRoute, TokenHash, UploadRecord,
    WebhookToken,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use leadback_model::{FieldMap, TenantSettings};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{
    ColumnIndex, Database, Decode, Encode, Executor, FromRow, IntoArguments, Pool, QueryBuilder,
    Type,
};
use std::sync::Arc;
use uuid::Uuid;

/// What differs between the databases the store runs on.
#[async_trait]
pub trait Dialect: Send + Sync + 'static {
    type Db: Database;

    /// The migrations this binary embeds for the database.
    const MIGRATOR: &'static sqlx::migrate::Migrator;
    /// Applies pending migrations, serialized with other processes doing the same.
    async fn migrate(pool: &Pool<Self::Db>) -> Result<(), StoreError>;
    /// One boolean: sqlx's migrations table exists.
    const HAS_MIGRATIONS_TABLE: &'static str;
    /// The ledger's tag merge in this database's JSON functions.
    const PROGRESS: rows::ProgressDialect;
    /// A fresh token → route cache, with this database's way of hearing about changes other
    /// processes make.
    fn route_cache() -> RouteCache;
    /// Called before the route cache is read: starts whatever keeps it current.
    fn watch_routes(_routes: &Arc<RouteCache>, _pool: &Pool<Self::Db>) {}
    /// Rows a statement changed (sqlx has no common accessor). Written by [`built_queries`].
    fn rows_affected(done: &<Self::Db as Database>::QueryResult) -> u64;
    /// Runs a built statement and decodes its rows; `persistent: false` keeps it out of the
    /// connection's statement cache (one statement per row count). Written by [`built_queries`].
    fn fetch_built<'a, O>(
        pool: &'a Pool<Self::Db>,
        query: QueryBuilder<'a, Self::Db>,
        persistent: bool,
    ) -> Built<'a, Vec<O>>
    where
        O: for<'r> FromRow<'r, <Self::Db as Database>::Row> + Send + Unpin + 'a;
    /// Runs a built statement; the rows it changed. Written by [`built_queries`].
    fn execute_built<'a>(
        pool: &'a Pool<Self::Db>,
        query: QueryBuilder<'a, Self::Db>,
        persistent: bool,
    ) -> Built<'a, u64>;
}

/// [`Dialect::rows_affected`], [`Dialect::fetch_built`] and [`Dialect::execute_built`], the same
/// text for every database,
/// expanded where the database is concrete: only there may a built statement's arguments
/// (`Arguments<'a>`) be shortened to the borrow of its builder; over a generic database the
/// lifetime is invariant and the builder would stay borrowed past its own drop.
macro_rules! built_queries {
    () => {
        fn rows_affected(done: &<Self::Db as sqlx::Database>::QueryResult) -> u64 {
            done.rows_affected()
        }

        fn fetch_built<'a, O>(
            pool: &'a sqlx::Pool<Self::Db>,
            query: sqlx::QueryBuilder<'a, Self::Db>,
            persistent: bool,
        ) -> $crate::sql::Built<'a, Vec<O>>
        where
            O: for<'r> sqlx::FromRow<'r, <Self::Db as sqlx::Database>::Row> + Send + Unpin + 'a,
        {
            Box::pin(async move {
                let mut query = query;
                query
                    .build_query_as::<O>()
                    .persistent(persistent)
                    .fetch_all(pool)
                    .await
            })
        }

        fn execute_built<'a>(
            pool: &'a sqlx::Pool<Self::Db>,
            query: sqlx::QueryBuilder<'a, Self::Db>,
            persistent: bool,
        ) -> $crate::sql::Built<'a, u64> {
            Box::pin(async move {
                let mut query = query;
                let done = query.build().persistent(persistent).execute(pool).await?;
                Ok(Self::rows_affected(&done))
            })
        }
    };
}
pub(crate) use built_queries;

/// What [`Dialect::fetch_built`] and [`Dialect::execute_built`] return.
pub type Built<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, sqlx::Error>> + Send + 'a>>;

/// [`Store`] on the database of `D`. Credentials are decrypted with `key` as rows are read.
pub struct SqlStore<D: Dialect> {
    pool: Pool<D::Db>,
    key: SecretKey,
    /// Token → tenant routes for the ingress, emptied on every tenant change made here (see
    /// [`crate::route_cache`] for changes made elsewhere).
    routes: Arc<RouteCache>,
}

impl<D: Dialect> SqlStore<D> {
    /// Wraps a pool the caller configured.
    pub fn from_pool(pool: Pool<D::Db>, key: SecretKey) -> Self {
        SqlStore {
            pool,
            key,
            routes: Arc::new(D::route_cache()),
        }
    }

    pub fn pool(&self) -> &Pool<D::Db> {
        &self.pool
    }

    /// Closes every connection and waits for them to finish (graceful shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// After a write to `tenants`: routes change at once in this process (other processes
    /// learn as [`Dialect::route_cache`] says), then a write that matched no row is
    /// [`StoreError::NotFound`]. The cache is emptied whether or not the row was there: a
    /// tenant found missing may have been deleted elsewhere while its route is still cached.
    fn tenant_changed(&self, id: Uuid, rows_affected: u64) -> Result<(), StoreError> {
        self.routes.invalidate();
        if rows_affected == 0 {
            return Err(StoreError::NotFound(format!("tenant {id}")));
        }
        Ok(())
    }
}

#[async_trait]
impl<D: Dialect> Store for SqlStore<D>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'r> TenantRow: sqlx::FromRow<'r, <D::Db as Database>::Row>,
    for<'r> LedgerRow: sqlx::FromRow<'r, <D::Db as Database>::Row>,
    for<'r> DeadLetterRow: sqlx::FromRow<'r, <D::Db as Database>::Row>,
    for<'r> RecentPayload: sqlx::FromRow<'r, <D::Db as Database>::Row>,
    for<'r> ActivityRow: sqlx::FromRow<'r, <D::Db as Database>::Row>,
    usize: ColumnIndex<<D::Db as Database>::Row>,
    for<'q> Uuid: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> bool: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<i64>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q [u8]: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Vec<u8>: Decode<'q, D::Db> + Type<D::Db>,
    for<'q> DateTime<Utc>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<DateTime<Utc>>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Json<&'q TenantSettings>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Json<&'q Value>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Json<&'q [i64]>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Json<Value>: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
{
    async fn migrate(&self) -> Result<(), StoreError> {
        D::migrate(&self.pool).await
    }

    async fn ready(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        self.check_schema().await
    }

    async fn check_schema(&self) -> Result<(), StoreError> {
        let has_table: bool = sqlx::query_scalar(D::HAS_MIGRATIONS_TABLE)
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
        rows::check_applied(D::MIGRATOR, &applied)
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
            .bind(input.name.as_str())
            .bind(input.active)
            .bind(Json(&input.settings))
            .bind(credentials.api_url.as_str())
            .bind(credentials.auth.kind())
            .bind(sealed.as_slice())
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
                    .bind(input.name.as_str())
                    .bind(input.active)
                    .bind(Json(&input.settings))
                    .bind(now)
                    .bind(credentials.api_url.as_str())
                    .bind(credentials.auth.kind())
                    .bind(sealed.as_slice())
                    .execute(&self.pool)
                    .await?
            }
            None => {
                sqlx::query(rows::UPDATE_TENANT)
                    .bind(id)
                    .bind(input.name.as_str())
                    .bind(input.active)
                    .bind(Json(&input.settings))
                    .bind(now)
                    .execute(&self.pool)
                    .await?
            }
        };
        self.tenant_changed(id, D::rows_affected(&done))?;
        self.get_tenant(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("tenant {id}")))
    }

    async fn get_tenant(&self, id: Uuid) -> Result<Option<Tenant>, StoreError> {
        let sql = format!("SELECT {} FROM tenants WHERE id = $1", rows::TENANT_COLUMNS);
        sqlx::query_as::<_, TenantRow>(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.into_tenant(&self.key))
            .transpose()
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
        let sql = format!(
            "SELECT {} FROM tenants WHERE token_hash = $1",
            rows::TENANT_COLUMNS
        );
        sqlx::query_as::<_, TenantRow>(&sql)
            .bind(hash.as_str())
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.into_tenant(&self.key))
            .transpose()
    }

    async fn tenant_route_by_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<TenantRoute>, StoreError> {
        D::watch_routes(&self.routes, &self.pool);
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
        self.tenant_changed(id, D::rows_affected(&done))?;
        Ok(token)
    }

    async fn set_active(&self, id: Uuid, active: bool) -> Result<(), StoreError> {
        let done = sqlx::query(rows::SET_ACTIVE)
            .bind(id)
            .bind(active)
            .bind(rows::now())
            .execute(&self.pool)
            .await?;
        self.tenant_changed(id, D::rows_affected(&done))
    }

    async fn delete_tenant(&self, id: Uuid) -> Result<(), StoreError> {
        let done = sqlx::query(rows::DELETE_TENANT)
            .bind(id)
            .execute(&self.pool)
            .await?;
        self.tenant_changed(id, D::rows_affected(&done))
    }

    async fn get_field_map(&self, tenant_id: Uuid) -> Result<FieldMap, StoreError> {
        let stored: Option<Json<Value>> = sqlx::query_scalar(field_maps::GET)
            .bind(tenant_id)
            .fetch_optional(&self.pool)
            .await?;
        field_maps::decode(tenant_id, stored)
    }

    /// The map is written before the tenant is touched, so a process that sees the new
    /// `updated_at` reads the new map.
    async fn set_field_map(&self, tenant_id: Uuid, map: &FieldMap) -> Result<(), StoreError> {
        let now = rows::now();
        if map.is_empty() {
            sqlx::query(field_maps::DELETE)
                .bind(tenant_id)
                .execute(&self.pool)
                .await?;
        } else {
            sqlx::query(field_maps::UPSERT)
                .bind(tenant_id)
                .bind(Json(map.to_json()))
                .bind(now)
                .execute(&self.pool)
                .await?;
        }
        let touched = sqlx::query(field_maps::TOUCH_TENANT)
            .bind(tenant_id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        if D::rows_affected(&touched) == 0 {
            return Err(StoreError::NotFound(format!("tenant {tenant_id}")));
        }
        Ok(())
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
            // One statement per row count: kept out of the connection's statement cache.
            let query = rows::ledger_select_many::<D::Db>(chunk);
            for row in D::fetch_built::<LedgerRow>(&self.pool, query, false).await? {
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

    async fn ledger_progress_many(
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
        Ok(D::rows_affected(&done))
    }

    async fn add_dead_letter(&self, dead: &NewDeadLetter) -> Result<DeadLetter, StoreError> {
        let stored = rows::dead_letter_from_new(dead);
        sqlx::query_as::<_, DeadLetterRow>(rows::UPSERT_DEAD_LETTER)
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
            .await?
            .try_into()
    }

    async fn list_dead_letters(
        &self,
        filter: &DeadLetterFilter,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        let query = rows::dead_letter_query::<D::Db>(filter);
        D::fetch_built::<DeadLetterRow>(&self.pool, query, true)
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
            let query = rows::delete_dead_letters_query::<D::Db>(chunk);
            removed += D::execute_built(&self.pool, query, true).await?;
        }
        Ok(removed)
    }

    async fn dead_letter_count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(rows::DEAD_LETTER_COUNT)
            .fetch_one(&self.pool)
            .await?;
        rows::count_to_u64(n)
    }

    async fn sign_out_admin_session(
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

    async fn admin_session_signed_out(&self, session_hash: &str) -> Result<bool, StoreError> {
        let found: Option<String> =
            sqlx::query_scalar("SELECT session_hash FROM admin_signouts WHERE session_hash = $1")
                .bind(session_hash)
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }

    async fn dead_letter_of_event(
        &self,
        tenant_id: Uuid,
        event_id: &str,
    ) -> Result<Option<DeadLetter>, StoreError> {
        let sql = format!(
            "SELECT {} FROM dead_letters WHERE tenant_id = $1 AND event_id = $2",
            rows::DEAD_LETTER_COLUMNS
        );
        sqlx::query_as::<_, DeadLetterRow>(&sql)
            .bind(tenant_id)
            .bind(event_id)
            .fetch_optional(&self.pool)
            .await?
            .map(DeadLetter::try_from)
            .transpose()
    }

    async fn dead_letter_counts(
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

    async fn record_recent_payloads(
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

    async fn recent_payloads(
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

    async fn prune_recent_payloads(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query(recent_payloads::PRUNE)
            .bind(rows::micros(before))
            .execute(&self.pool)
            .await?;
        Ok(D::rows_affected(&done))
    }

    async fn record_activity(&self, updates: &[ActivityUpdate]) -> Result<(), StoreError> {
        if updates.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for u in updates {
            let e = u.error.as_ref();
            let l = u.limits.as_ref();
            sqlx::query(tenant_activity::UPSERT)
                .bind(u.tenant_id)
                .bind(u.accepted_at.map(rows::micros))
                .bind(u.delivered_at.map(rows::micros))
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

    async fn tenant_activity(
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
