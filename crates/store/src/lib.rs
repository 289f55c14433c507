//! Everything the bridge keeps between requests: tenants (settings, CoMagic credentials
//! encrypted at rest, webhook token hashes), the delivery ledger that makes delivery
//! exactly-once, and the dead letters operators inspect and replay.
//!
//! One trait, [`Store`], implemented once over sqlx ([`SqlStore`], in `sql`) for a PostgreSQL
//! backend (`postgres`) and an embedded SQLite backend (`sqlite`); each backend module holds only
//! its [`Dialect`] (migrations and their lock, route-cache upkeep, the few statements that differ)
//! and how to connect. [`open`] picks one from a URL.

mod activity_recorder;
mod crypto;
mod error;
mod field_maps;
mod recent_payloads;
mod route_cache;
mod rows;
mod sql;
mod tenant_activity;
mod token;
mod types;

pub mod postgres;
pub mod sqlite;

pub use activity_recorder::{ActivityRecorder, ACTIVITY_FLUSH_EVERY};
pub use crypto::SecretKey;
pub use error::{DatabaseError, StoreError};
pub use recent_payloads::{
    prune_expired_recent_payloads, BodyRefusal, NewRecentPayload, RecentPayload, OUTCOME_ACCEPTED,
    OUTCOME_REJECTED, RECENT_PAYLOADS_MAX_AGE,
};
pub use sql::{Built, Dialect, SqlStore};
pub use tenant_activity::{DeadLetterCount, LimitsSeen, TenantActivity};
pub use token::{TokenHash, WebhookToken};
pub use types::{
    DeadLetter, DeadLetterFilter, LedgerEntry, LedgerProgress, NewDeadLetter, Tenant, TenantInput,
    TenantRoute, UploadRecord,
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use leadback_model::EventId;
use std::sync::Arc;
use uuid::Uuid;

/// Connections a PostgreSQL store opens at most unless told otherwise
/// (`BRIDGE_DATABASE_MAX_CONNECTIONS`).
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// Opens the store named by `database_url` (`postgres://…` or `sqlite://path`), creating a
/// SQLite file (and its folder) when missing. Migrations are not run here: call
/// [`Store::migrate`].
pub async fn open(database_url: &str, key: SecretKey) -> Result<Arc<dyn Store>, StoreError> {
    open_with_pool(database_url, key, DEFAULT_MAX_CONNECTIONS).await
}

/// [`open`] with at most `max_connections` PostgreSQL connections (a SQLite file keeps its own
/// small pool: one writer at a time whatever the size).
pub async fn open_with_pool(
    database_url: &str,
    key: SecretKey,
    max_connections: u32,
) -> Result<Arc<dyn Store>, StoreError> {
    if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        Ok(Arc::new(
            postgres::PgStore::connect_with_pool(database_url, key, max_connections).await?,
        ))
    } else if database_url.starts_with("sqlite:") {
        Ok(Arc::new(
            sqlite::SqliteStore::open(database_url, key).await?,
        ))
    } else {
        Err(StoreError::Config(
            "database URL must start with postgres://, postgresql:// or sqlite:".into(),
        ))
    }
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies pending migrations (idempotent).
    async fn migrate(&self) -> Result<(), StoreError>;
    /// Reachable and every migration applied (for `/readyz`).
    async fn ready(&self) -> Result<(), StoreError>;
    /// Every migration this binary knows is applied ([`StoreError::Migration`] naming the first
    /// missing one otherwise). Migrations applied by a newer release are no error: a rolled-back
    /// binary runs on the newer schema.
    async fn check_schema(&self) -> Result<(), StoreError>;

    // --- tenants ---------------------------------------------------------------------------
    /// Creates a tenant with a fresh webhook token; the token is returned once, only its hash
    /// is kept.
    async fn create_tenant(&self, input: TenantInput)
        -> Result<(Tenant, WebhookToken), StoreError>;
    /// Replaces settings, name and active flag. `credentials: None` keeps the stored ones.
    async fn update_tenant(&self, id: Uuid, input: TenantInput) -> Result<Tenant, StoreError>;
    async fn get_tenant(&self, id: Uuid) -> Result<Option<Tenant>, StoreError>;
    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError>;
    /// The tenant whose current token hashes to `hash` (active or not).
    async fn tenant_by_token(&self, hash: &TokenHash) -> Result<Option<Tenant>, StoreError>;
    /// Only the id and active flag of the tenant whose current token hashes to `hash`: what
    /// the ingress needs per webhook, without parsing settings or decrypting credentials.
    async fn tenant_route_by_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<TenantRoute>, StoreError>;
    /// Issues a new token; the old one stops matching at once.
    async fn rotate_token(&self, id: Uuid) -> Result<WebhookToken, StoreError>;
    async fn set_active(&self, id: Uuid, active: bool) -> Result<(), StoreError>;
    /// Removes the tenant and its token; ledger rows and dead letters stay for audit.
    async fn delete_tenant(&self, id: Uuid) -> Result<(), StoreError>;
    /// Records that an admin session (by the SHA-256 of its id) was signed out, until it would
    /// have expired anyway; drops records of sessions expired by now.
    async fn sign_out_admin_session(
        &self,
        session_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Whether the admin session was signed out (by any process).
    async fn admin_session_signed_out(&self, session_hash: &str) -> Result<bool, StoreError>;
    /// The tenant's field map (empty: the built-in aliases alone).
    async fn get_field_map(&self, tenant_id: Uuid) -> Result<leadback_model::FieldMap, StoreError>;
    /// Replaces the tenant's field map (empty: back to the defaults) and touches the tenant, so
    /// caches of it refresh as after a settings change.
    async fn set_field_map(
        &self,
        tenant_id: Uuid,
        map: &leadback_model::FieldMap,
    ) -> Result<(), StoreError>;

    // --- delivery ledger (key: tenant id + event id) ----------------------------------------
    async fn ledger_get(
        &self,
        tenant_id: Uuid,
        event_id: &str,
    ) -> Result<Option<LedgerEntry>, StoreError>;
    /// The entries of several events at once (tenant id, event id); events with no entry are
    /// left out. The worker looks up every delivery in flight with one call.
    async fn ledger_get_many(
        &self,
        keys: &[(Uuid, EventId)],
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let mut found = Vec::new();
        for (tenant_id, event_id) in keys {
            found.extend(self.ledger_get(*tenant_id, event_id.as_str()).await?);
        }
        Ok(found)
    }
    /// Records that the record reached CoMagic. Idempotent: a second call for the same event
    /// keeps the first row and returns `false`.
    async fn ledger_record_upload(&self, upload: &UploadRecord) -> Result<bool, StoreError> {
        let inserted = self
            .ledger_record_uploads(std::slice::from_ref(upload))
            .await?;
        Ok(inserted.first().copied().unwrap_or(false))
    }
    /// [`Store::ledger_record_upload`] for a whole upload batch in one transaction (one
    /// commit instead of one per event); `true` for each record that was new.
    async fn ledger_record_uploads(
        &self,
        uploads: &[UploadRecord],
    ) -> Result<Vec<bool>, StoreError>;
    /// Adds tag ids to the set already put on the record.
    async fn ledger_add_tags(
        &self,
        tenant_id: Uuid,
        event_id: &EventId,
        tag_ids: &[i64],
    ) -> Result<(), StoreError> {
        progress_one(self, tenant_id, event_id, tag_ids, false).await
    }
    /// Marks every step done: a redelivery is acked with no CoMagic call at all.
    async fn ledger_complete(&self, tenant_id: Uuid, event_id: &EventId) -> Result<(), StoreError> {
        progress_one(self, tenant_id, event_id, &[], true).await
    }
    /// [`Store::ledger_add_tags`] and [`Store::ledger_complete`] of many events in one
    /// statement (one commit); `true` for each step whose entry exists. Give each event one
    /// step: two steps for the same entry in one call may apply only one of them.
    async fn ledger_progress_many(&self, steps: &[LedgerProgress])
        -> Result<Vec<bool>, StoreError>;
    /// Newest first, at most `limit`.
    async fn recent_deliveries(
        &self,
        tenant_id: Uuid,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>, StoreError>;
    async fn ledger_count(&self) -> Result<u64, StoreError>;
    /// Retention: deletes at most `limit` complete entries delivered before `before`, oldest
    /// first, and returns how many went. Entries whose tags are still pending stay, whatever
    /// their age. Call it repeatedly for more: each call is one short write.
    async fn ledger_prune(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, StoreError>;

    // --- dead letters ---------------------------------------------------------------------------
    async fn add_dead_letter(&self, dead: &NewDeadLetter) -> Result<DeadLetter, StoreError>;
    /// Newest first.
    async fn list_dead_letters(
        &self,
        filter: &DeadLetterFilter,
    ) -> Result<Vec<DeadLetter>, StoreError>;
    async fn get_dead_letter(&self, id: Uuid) -> Result<Option<DeadLetter>, StoreError>;
    /// Deletes the given dead letters; returns how many existed.
    async fn remove_dead_letters(&self, ids: &[Uuid]) -> Result<u64, StoreError>;
    /// Deletes dead letters that were just replayed and adds how many existed to the store's
    /// replay count, in one transaction; returns that number. Every process that replays (the
    /// admin API, the pages, `dlq replay`) goes through here, so the count is every replay.
    async fn remove_replayed_dead_letters(&self, ids: &[Uuid]) -> Result<u64, StoreError>;
    /// Dead letters replayed so far by any process (see
    /// [`Store::remove_replayed_dead_letters`]): what `replays_total` reports.
    async fn replay_count(&self) -> Result<u64, StoreError>;
    async fn dead_letter_count(&self) -> Result<u64, StoreError>;
    /// The dead letter of one event (resolved or not).
    async fn dead_letter_of_event(
        &self,
        tenant_id: Uuid,
        event_id: &str,
    ) -> Result<Option<DeadLetter>, StoreError>;
    /// Open dead letters per tenant and class; `None`: every tenant.
    async fn dead_letter_counts(
        &self,
        tenant_id: Option<Uuid>,
    ) -> Result<Vec<DeadLetterCount>, StoreError>;

    // --- recent payloads (issue 16; see `recent_payloads.rs`) -----------------------------------
    /// Records a batch of webhook bodies (those of tenants deleted meanwhile are skipped) and
    /// keeps each tenant it touched to its `keep` newest; one transaction. How many were kept.
    async fn record_recent_payloads(
        &self,
        payloads: &[NewRecentPayload],
        keep: u32,
    ) -> Result<u64, StoreError>;
    /// The tenant's payloads received at `since` or later, newest first, at most `limit`.
    async fn recent_payloads(
        &self,
        tenant_id: Uuid,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<RecentPayload>, StoreError>;
    /// Deletes every tenant's payloads received before `before`; how many went.
    async fn prune_recent_payloads(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    // --- tenant activity (issue 16; see `tenant_activity.rs`) ----------------------------------
    /// Writes gathered activity, one row per tenant (see [`ActivityRecorder`]); `None`s keep
    /// the stored values.
    async fn record_activity(&self, seen: &[TenantActivity]) -> Result<(), StoreError>;
    /// Stored activity of one tenant, or of every tenant (`None`).
    async fn tenant_activity(
        &self,
        tenant_id: Option<Uuid>,
    ) -> Result<Vec<TenantActivity>, StoreError>;
}

/// One event's [`Store::ledger_progress_many`]; [`StoreError::NotFound`] when it has no ledger
/// entry. The single-event ledger writes of every backend.
async fn progress_one<S: Store + ?Sized>(
    store: &S,
    tenant_id: Uuid,
    event_id: &EventId,
    add_tags: &[i64],
    complete: bool,
) -> Result<(), StoreError> {
    let step = LedgerProgress::new(tenant_id, event_id, add_tags, complete);
    match store
        .ledger_progress_many(std::slice::from_ref(&step))
        .await?[..]
    {
        [true] => Ok(()),
        _ => Err(StoreError::NotFound(format!(
            "ledger entry {event_id} of tenant {tenant_id}"
        ))),
    }
}
