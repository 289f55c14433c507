//! Recent payloads (`recent_payloads`): the last raw webhook bodies of each tenant, as the
//! ingress received them, so an operator can see what Leadback actually sends. Written in
//! batches by the ingress's background recorder (never per request), bounded per tenant by
//! count at every write and by age by [`crate::Store::prune_recent_payloads`]; the rows go
//! with their tenant (foreign key, `ON DELETE CASCADE`).
//!
//! Both backends share the SQL (`$n` works in SQLite too); the flows are in [`crate::sql`].

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// How long a payload is kept at most, whatever the count (and how far back listings look).
pub const RECENT_PAYLOADS_MAX_AGE: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// Deletes the recent payloads received before `now` minus [`RECENT_PAYLOADS_MAX_AGE`] and
/// logs how many went (or why none could): the age pass of the ingress's recorder and of the
/// worker, which runs it too so a worker without an ingress deletes them as well. Returns how
/// many were deleted (0 when the store refused; the next pass retries).
pub async fn prune_expired_recent_payloads(store: &dyn crate::Store, now: DateTime<Utc>) -> u64 {
    match store
        .prune_recent_payloads(now - RECENT_PAYLOADS_MAX_AGE)
        .await
    {
        Ok(deleted) => {
            if deleted > 0 {
                tracing::info!(deleted, "recent payloads past 7 days deleted");
            }
            deleted
        }
        Err(error) => {
            tracing::warn!(%error, "cannot delete old recent payloads; the next pass retries");
            0
        }
    }
}

/// Whether the ingress queued the body or refused it.
pub const OUTCOME_ACCEPTED: &str = "accepted";
/// The ingress answered 400 (the body could not be read); `error` says why.
pub const OUTCOME_REJECTED: &str = "rejected";

/// A body the ingress refused before reading it whole — 413 (too large) or 408 (too slow) —
/// kept without its bytes (they are personal data, and a refused one may be huge): the row's
/// `outcome` is [`BodyRefusal::outcome`], its `error` the numbers as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum BodyRefusal {
    /// Over the body limit: its declared length, or the bytes that arrived, whichever is more.
    TooLarge { bytes_seen: u64, limit: u64 },
    /// Not received within the body timeout: the bytes that had arrived.
    BodyTimeout { bytes_seen: u64, after_ms: u64 },
}

impl BodyRefusal {
    /// The row's `outcome`.
    pub fn outcome(&self) -> &'static str {
        match self {
            BodyRefusal::TooLarge { .. } => "too_large",
            BodyRefusal::BodyTimeout { .. } => "body_timeout",
        }
    }

    /// The row's `error`.
    pub fn error(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The refusal a row records, if it records one.
    pub fn of_row(outcome: &str, error: Option<&str>) -> Option<BodyRefusal> {
        let refusal: BodyRefusal = serde_json::from_str(error?).ok()?;
        (refusal.outcome() == outcome).then_some(refusal)
    }
}

/// A body to record.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct NewRecentPayload {
    pub tenant_id: Uuid,
    pub received_at: DateTime<Utc>,
    pub content_type: Option<String>,
    /// `None` when the ingress could not read an event id (a refused body).
    pub event_id: Option<String>,
    pub body: Vec<u8>,
    /// [`OUTCOME_ACCEPTED`], [`OUTCOME_REJECTED`] or a [`BodyRefusal::outcome`].
    pub outcome: String,
    /// Why the ingress refused it.
    pub error: Option<String>,
}

/// A recorded body, read back: its row's id and what was recorded.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RecentPayload {
    pub id: Uuid,
    #[sqlx(flatten)]
    pub recorded: NewRecentPayload,
}

/// A row whose tenant is gone (deleted while the batch waited) is skipped, not an error that
/// would lose the whole batch.
pub(crate) const INSERT: &str = "INSERT INTO recent_payloads \
     (id, tenant_id, received_at, content_type, event_id, body, outcome, error) \
     SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE EXISTS (SELECT 1 FROM tenants WHERE id = $2)";
/// Keeps the tenant's `$2` newest.
pub(crate) const TRIM: &str = "DELETE FROM recent_payloads WHERE tenant_id = $1 AND id NOT IN (\
     SELECT id FROM recent_payloads WHERE tenant_id = $1 \
     ORDER BY received_at DESC, id DESC LIMIT $2)";
pub(crate) const LIST: &str =
    "SELECT id, tenant_id, received_at, content_type, event_id, body, outcome, \
     error FROM recent_payloads WHERE tenant_id = $1 AND received_at >= $2 \
     ORDER BY received_at DESC, id DESC LIMIT $3";
pub(crate) const PRUNE: &str = "DELETE FROM recent_payloads WHERE received_at < $1";
