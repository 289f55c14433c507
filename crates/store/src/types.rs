//! What the store holds.

use chrono::{DateTime, Utc};
use leadback_model::{ComagicCredentials, EventId, EventKind, TenantSettings};
use serde::Serialize;
use uuid::Uuid;

/// A tenant as read back, credentials decrypted (they print as `[REDACTED]`).
#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: Uuid,
    pub name: String,
    pub active: bool,
    pub settings: TenantSettings,
    pub credentials: ComagicCredentials,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What an operator saves for a tenant.
#[derive(Debug, Clone)]
pub struct TenantInput {
    pub name: String,
    pub active: bool,
    pub settings: TenantSettings,
    /// Required on create; on update `None` keeps the stored credentials (write-only field).
    pub credentials: Option<ComagicCredentials>,
}

/// What happened to an uploaded record since, for [`crate::Store::ledger_progress_many`]: tags
/// now set on it, and whether every step is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerProgress {
    pub tenant_id: Uuid,
    pub event_id: EventId,
    /// Added to the tag ids already recorded (may be empty).
    pub add_tags: Vec<i64>,
    /// Every step is done: the entry becomes complete (never the other way).
    pub complete: bool,
}

impl LedgerProgress {
    /// `add_tags` set on the event's record and, when `complete`, every step done.
    pub fn new(tenant_id: Uuid, event_id: &EventId, add_tags: &[i64], complete: bool) -> Self {
        Self {
            tenant_id,
            event_id: event_id.clone(),
            add_tags: add_tags.to_vec(),
            complete,
        }
    }
}

/// A record the worker uploaded.
#[derive(Debug, Clone)]
pub struct UploadRecord {
    pub tenant_id: Uuid,
    pub event_id: EventId,
    pub kind: EventKind,
    /// The `ext_id` sent to CoMagic.
    pub ext_id: String,
    /// CoMagic's id of the record; `None` when CoMagic answered `duplicate_entity`.
    pub comagic_id: Option<i64>,
    pub attempts: u32,
    pub received_at: DateTime<Utc>,
    pub delivered_at: DateTime<Utc>,
    /// Nothing is left after the upload (no tags to set): the entry is complete at once,
    /// which saves [`crate::Store::ledger_complete`]'s separate write.
    pub complete: bool,
}

/// What the ingress needs to route a webhook: the tenant behind a token, and whether it is
/// active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantRoute {
    pub id: Uuid,
    pub active: bool,
}

/// Read straight from the `ledger` row ([`crate::rows::LEDGER_COLUMNS`]).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct LedgerEntry {
    pub tenant_id: Uuid,
    #[sqlx(try_from = "String")]
    pub event_id: EventId,
    #[sqlx(try_from = "String")]
    pub kind: EventKind,
    pub ext_id: String,
    pub comagic_id: Option<i64>,
    #[sqlx(try_from = "i64")]
    pub attempts: u32,
    #[sqlx(json)]
    pub tagged: Vec<i64>,
    pub complete: bool,
    pub received_at: DateTime<Utc>,
    pub delivered_at: DateTime<Utc>,
}

/// An event that cannot succeed, with the reason.
#[derive(Debug, Clone)]
pub struct NewDeadLetter {
    pub tenant_id: Uuid,
    pub event_id: EventId,
    /// The error class (`event_permanent`, `tenant_permanent`, `exhausted`, `mapping`, …).
    pub class: String,
    pub mnemonic: Option<String>,
    pub message: String,
    pub attempts: u32,
    pub first_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: DateTime<Utc>,
    /// The whole queue envelope (raw body included) as JSON, so a replay starts from it.
    pub envelope: serde_json::Value,
}

/// Read straight from the `dead_letters` row ([`crate::rows::DEAD_LETTER_COLUMNS`]).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DeadLetter {
    pub id: Uuid,
    pub tenant_id: Uuid,
    #[sqlx(try_from = "String")]
    pub event_id: EventId,
    pub class: String,
    pub mnemonic: Option<String>,
    pub message: String,
    #[sqlx(try_from = "i64")]
    pub attempts: u32,
    pub first_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: DateTime<Utc>,
    pub dead_at: DateTime<Utc>,
    #[sqlx(json)]
    pub envelope: serde_json::Value,
    /// When a later delivery of the same event succeeded; the row stays for audit.
    pub resolved_at: Option<DateTime<Utc>>,
}

/// Which dead letters an operator means. Empty filter = all unresolved ones (at most the
/// default limit per listing).
#[derive(Debug, Clone, Default)]
pub struct DeadLetterFilter {
    pub ids: Vec<Uuid>,
    pub tenant_id: Option<Uuid>,
    pub class: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub limit: Option<u32>,
    /// Also list dead letters whose event was later delivered (hidden by default).
    pub include_resolved: bool,
    /// Keyset paging: only dead letters listed after this one (its `dead_at` and id) in the
    /// newest-first order.
    pub after: Option<(DateTime<Utc>, Uuid)>,
}
