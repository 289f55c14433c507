//! The one SQL store: every query and every flow of [`Store`], written once over sqlx and
//! run on either database through a [`Dialect`] that holds only what really differs between
//! them (the migrator and its lock, how a migrations table is found, how other processes learn
//! of tenant changes, the JSON functions of the ledger's tag merge).
//!
//! One module per flow (tenants, sessions, ledger, dead letters, recent payloads, activity),
//! each an `impl` block of [`SqlStore`]; the [`Store`] implementation here is a table that hands
//! each call to its flow. The sqlx bounds a database must meet are listed once, in `sql_impl!`.

use crate::route_cache::RouteCache;
use crate::rows;
use crate::{
    DeadLetter, DeadLetterCount, DeadLetterFilter, LedgerEntry, LedgerProgress, NewDeadLetter,
    NewRecentPayload, RecentPayload, SecretKey, Store, StoreError, Tenant, TenantActivity,
    TenantInput, TenantRoute, TokenHash, UploadRecord, WebhookToken,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use leadback_model::{EventId, FieldMap};
use sqlx::Pool;
use std::sync::Arc;
use uuid::Uuid;

/// An `impl` block of [`SqlStore`] with the sqlx bounds every flow needs of the database,
/// written once: `sql_impl! { fns… }` is an inherent block, `sql_impl! { #[async_trait] impl
/// Store; fns… }` the [`Store`] implementation. Rust has no trait alias whose bounds on other
/// types (`Uuid: Encode<'q, Db>`) are implied, so without this each flow's block would repeat
/// the list. rustfmt leaves macro calls alone: format the blocks as plain `impl` blocks.
macro_rules! sql_impl {
    (#[$attr:meta] impl $trait_:ident; $($body:tt)*) => {
        sql_impl!(@bounded [#[$attr] impl<D: $crate::sql::Dialect> $trait_ for] $($body)*);
    };
    (@bounded [$($head:tt)*] $($body:tt)*) => {
        $($head)* $crate::sql::SqlStore<D>
        where
            for<'c> &'c mut <D::Db as ::sqlx::Database>::Connection:
                ::sqlx::Executor<'c, Database = D::Db>,
            for<'q> <D::Db as ::sqlx::Database>::Arguments<'q>:
                ::sqlx::IntoArguments<'q, D::Db>,
            for<'r> $crate::rows::TenantRow: ::sqlx::FromRow<'r, <D::Db as ::sqlx::Database>::Row>,
            for<'r> $crate::LedgerEntry: ::sqlx::FromRow<'r, <D::Db as ::sqlx::Database>::Row>,
            for<'r> $crate::DeadLetter: ::sqlx::FromRow<'r, <D::Db as ::sqlx::Database>::Row>,
            for<'r> $crate::RecentPayload: ::sqlx::FromRow<'r, <D::Db as ::sqlx::Database>::Row>,
            for<'r> $crate::tenant_activity::ActivityRow:
                ::sqlx::FromRow<'r, <D::Db as ::sqlx::Database>::Row>,
            usize: ::sqlx::ColumnIndex<<D::Db as ::sqlx::Database>::Row>,
            for<'q> ::uuid::Uuid:
                ::sqlx::Encode<'q, D::Db> + ::sqlx::Decode<'q, D::Db> + ::sqlx::Type<D::Db>,
            for<'q> String:
                ::sqlx::Encode<'q, D::Db> + ::sqlx::Decode<'q, D::Db> + ::sqlx::Type<D::Db>,
            for<'q> &'q str: ::sqlx::Encode<'q, D::Db> + ::sqlx::Type<D::Db>,
            for<'q> &'q String: ::sqlx::Encode<'q, D::Db> + ::sqlx::Type<D::Db>,
            for<'q> bool:
                ::sqlx::Encode<'q, D::Db> + ::sqlx::Decode<'q, D::Db> + ::sqlx::Type<D::Db>,
            for<'q> i64:
                ::sqlx::Encode<'q, D::Db> + ::sqlx::Decode<'q, D::Db> + ::sqlx::Type<D::Db>,
            for<'q> Option<i64>: ::sqlx::Encode<'q, D::Db> + ::sqlx::Type<D::Db>,
            for<'q> Option<&'q str>: ::sqlx::Encode<'q, D::Db> + ::sqlx::Type<D::Db>,
            for<'q> &'q [u8]: ::sqlx::Encode<'q, D::Db> + ::sqlx::Type<D::Db>,
            for<'q> Vec<u8>: ::sqlx::Decode<'q, D::Db> + ::sqlx::Type<D::Db>,
            for<'q> ::chrono::DateTime<::chrono::Utc>:
                ::sqlx::Encode<'q, D::Db> + ::sqlx::Type<D::Db>,
            for<'q> Option<::chrono::DateTime<::chrono::Utc>>:
                ::sqlx::Encode<'q, D::Db> + ::sqlx::Type<D::Db>,
            for<'q> ::sqlx::types::Json<&'q ::leadback_model::TenantSettings>:
                ::sqlx::Encode<'q, D::Db> + ::sqlx::Type<D::Db>,
            for<'q> ::sqlx::types::Json<&'q ::serde_json::Value>:
                ::sqlx::Encode<'q, D::Db> + ::sqlx::Type<D::Db>,
            for<'q> ::sqlx::types::Json<&'q [i64]>: ::sqlx::Encode<'q, D::Db> + ::sqlx::Type<D::Db>,
            for<'q> ::sqlx::types::Json<::serde_json::Value>:
                ::sqlx::Encode<'q, D::Db> + ::sqlx::Decode<'q, D::Db> + ::sqlx::Type<D::Db>,
        {
            $($body)*
        }
    };
    ($($body:tt)*) => {
        // The bounds name the crate's row types; no method of these blocks leaves the crate.
        sql_impl!(@bounded [#[allow(private_bounds)] impl<D: $crate::sql::Dialect>] $($body)*);
    };
}

mod activity;
mod dead_letters;
mod dialect;
mod ledger;
mod recent_payloads;
mod sessions;
mod tenants;

pub(crate) use dialect::{built_queries, embedded_migrator};
pub use dialect::{Built, Dialect};

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

sql_impl! {
    /// The `columns` of the row of `table` for one event of one tenant: its ledger entry
    /// ([`Store::ledger_get`]) or dead letter ([`Store::dead_letter_of_event`]).
    async fn event_row<R>(
        &self,
        columns: &str,
        table: &str,
        tenant_id: Uuid,
        event_id: &str,
    ) -> Result<Option<R>, StoreError>
    where
        R: for<'r> sqlx::FromRow<'r, <D::Db as sqlx::Database>::Row> + Send + Unpin,
    {
        let sql = format!("SELECT {columns} FROM {table} WHERE tenant_id = $1 AND event_id = $2");
        Ok(sqlx::query_as::<_, R>(&sql)
            .bind(tenant_id)
            .bind(event_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Retention: runs `sql`, a `DELETE` of rows stored before `$1` (at most `$2` of them when
    /// `limit` is given: ledger entries; every one: recent payloads); how many went.
    async fn prune(
        &self,
        sql: &str,
        before: DateTime<Utc>,
        limit: Option<u32>,
    ) -> Result<u64, StoreError> {
        // Cut to the microseconds both databases keep, as every stored time is.
        let mut query = sqlx::query(sql).bind(rows::micros(before));
        if let Some(limit) = limit {
            query = query.bind(i64::from(limit));
        }
        Ok(D::rows_affected(&query.execute(&self.pool).await?))
    }

    /// The one count `sql` selects: ledger entries, open dead letters, replays.
    async fn count(&self, sql: &str) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(sql).fetch_one(&self.pool).await?;
        rows::count_to_u64(n)
    }
}

/// The [`Store`] implementation from a table: each `fn name(args) -> T` becomes the trait
/// method returning `Result<T, StoreError>` that runs the [`SqlStore`] method of the same name
/// (a flow's inherent method: inherent methods are found before the trait's, so this is no
/// recursion), or the call written after `=`.
macro_rules! store_impl {
    (@call $store:ident $name:ident($($arg:ident),*)) => {
        $store.$name($($arg),*).await
    };
    (@call $store:ident $name:ident($($arg:ident),*) $target:ident($($targ:expr),*)) => {
        $store.$target($($targ),*).await
    };
    ($(fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty $(= $target:ident($($targ:expr),*))?;)*) => {
        sql_impl! {
            #[async_trait]
            impl Store;

            $(
                async fn $name(&self, $($arg: $ty),*) -> Result<$ret, StoreError> {
                    store_impl!(@call self $name($($arg),*) $($target($($targ),*))?)
                }
            )*
        }
    };
}

// Migrations and readiness.
sql_impl! {
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
}

store_impl! {
    fn migrate() -> ();
    fn ready() -> ();
    fn check_schema() -> ();

    // tenants.rs
    fn create_tenant(input: TenantInput) -> (Tenant, WebhookToken);
    fn update_tenant(id: Uuid, input: TenantInput) -> Tenant;
    fn get_tenant(id: Uuid) -> Option<Tenant> = tenant_where("id", id);
    fn list_tenants() -> Vec<Tenant>;
    fn tenant_by_token(hash: &TokenHash) -> Option<Tenant>
        = tenant_where("token_hash", hash.as_str().to_owned());
    fn tenant_route_by_token(hash: &TokenHash) -> Option<TenantRoute>;
    fn rotate_token(id: Uuid) -> WebhookToken;
    fn set_active(id: Uuid, active: bool) -> ();
    fn delete_tenant(id: Uuid) -> ();
    fn get_field_map(tenant_id: Uuid) -> FieldMap;
    fn set_field_map(tenant_id: Uuid, map: &FieldMap) -> ();

    // sessions.rs
    fn sign_out_admin_session(session_hash: &str, expires_at: DateTime<Utc>) -> ();
    fn admin_session_signed_out(session_hash: &str) -> bool;

    // ledger.rs
    fn ledger_get(tenant_id: Uuid, event_id: &str) -> Option<LedgerEntry>
        = event_row(rows::LEDGER_COLUMNS, "ledger", tenant_id, event_id);
    fn ledger_get_many(keys: &[(Uuid, EventId)]) -> Vec<LedgerEntry>;
    fn ledger_record_uploads(uploads: &[UploadRecord]) -> Vec<bool>;
    fn ledger_progress_many(steps: &[LedgerProgress]) -> Vec<bool>;
    fn recent_deliveries(tenant_id: Uuid, limit: u32) -> Vec<LedgerEntry>;
    fn ledger_count() -> u64 = count(rows::LEDGER_COUNT);
    fn ledger_prune(before: DateTime<Utc>, limit: u32) -> u64
        = prune(rows::LEDGER_PRUNE, before, Some(limit));

    // dead_letters.rs
    fn add_dead_letter(dead: &NewDeadLetter) -> DeadLetter;
    fn list_dead_letters(filter: &DeadLetterFilter) -> Vec<DeadLetter>;
    fn get_dead_letter(id: Uuid) -> Option<DeadLetter>;
    fn remove_dead_letters(ids: &[Uuid]) -> u64;
    fn remove_replayed_dead_letters(ids: &[Uuid]) -> u64;
    fn replay_count() -> u64 = count(rows::REPLAY_COUNT);
    fn dead_letter_count() -> u64 = count(rows::DEAD_LETTER_COUNT);
    fn dead_letter_of_event(tenant_id: Uuid, event_id: &str) -> Option<DeadLetter>
        = event_row(rows::DEAD_LETTER_COLUMNS, "dead_letters", tenant_id, event_id);
    fn dead_letter_counts(tenant_id: Option<Uuid>) -> Vec<DeadLetterCount>;

    // recent_payloads.rs
    fn record_recent_payloads(payloads: &[NewRecentPayload], keep: u32) -> u64;
    fn recent_payloads(tenant_id: Uuid, since: DateTime<Utc>, limit: u32) -> Vec<RecentPayload>;
    fn prune_recent_payloads(before: DateTime<Utc>) -> u64
        = prune(crate::recent_payloads::PRUNE, before, None);

    // activity.rs
    fn record_activity(seen: &[TenantActivity]) -> ();
    fn tenant_activity(tenant_id: Option<Uuid>) -> Vec<TenantActivity>;
}
