//! Tenant activity (`tenant_activity`): what the ingress and the worker last saw of a tenant
//! — the last accepted webhook, the last delivery, the last error, CoMagic's remaining budget —
//! for the tenant's health and status. One row per tenant, written by [`crate::ActivityRecorder`]
//! at most once a second per tenant and process, never per event; it goes with its tenant.
//!
//! Each writer sets only what it saw: an update's `None` parts keep the stored values, so the
//! ingress (accepted) and the worker (delivered, errors, limits) write the same row without
//! reading it first. Both backends share the SQL; the flows are in [`crate::sql`].

use chrono::{DateTime, Duration, Utc};
use leadback_model::comagic::Limits;
use leadback_model::LastError;
use serde::Serialize;
use uuid::Uuid;

use crate::{rows, StoreError};

/// CoMagic's `metadata.limits` as seen at `at`, resets turned into times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LimitsSeen {
    pub minute_limit: Option<i64>,
    pub minute_remaining: Option<i64>,
    pub minute_reset_at: Option<DateTime<Utc>>,
    pub day_limit: Option<i64>,
    pub day_remaining: Option<i64>,
    pub day_reset_at: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
}

impl LimitsSeen {
    /// `limits` of an answer received at `at` (resets are seconds from then).
    pub fn from_limits(limits: &Limits, at: DateTime<Utc>) -> LimitsSeen {
        let reset = |seconds: Option<i64>| {
            seconds.and_then(|s| at.checked_add_signed(Duration::seconds(s.clamp(0, 86_400 * 2))))
        };
        LimitsSeen {
            minute_limit: limits.minute_limit,
            minute_remaining: limits.minute_remaining,
            minute_reset_at: reset(limits.minute_reset).map(rows::micros),
            day_limit: limits.day_limit,
            day_remaining: limits.day_remaining,
            day_reset_at: reset(limits.day_reset).map(rows::micros),
            at: rows::micros(at),
        }
    }
}

/// What was seen of a tenant: as stored (every writer's merged), or as one process saw it since
/// its last write, which is what it writes (its `None`s keep the stored values).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TenantActivity {
    pub tenant_id: Uuid,
    pub last_accepted_at: Option<DateTime<Utc>>,
    pub last_delivered_at: Option<DateTime<Utc>>,
    pub last_error: Option<LastError>,
    pub limits: Option<LimitsSeen>,
}

impl TenantActivity {
    /// Nothing seen yet.
    pub fn new(tenant_id: Uuid) -> TenantActivity {
        TenantActivity {
            tenant_id,
            ..TenantActivity::default()
        }
    }
}

#[derive(sqlx::FromRow)]
pub struct ActivityRow {
    tenant_id: Uuid,
    last_accepted_at: Option<DateTime<Utc>>,
    last_delivered_at: Option<DateTime<Utc>>,
    last_error_class: Option<String>,
    last_error_mnemonic: Option<String>,
    last_error_message: Option<String>,
    last_error_at: Option<DateTime<Utc>>,
    minute_limit: Option<i64>,
    minute_remaining: Option<i64>,
    minute_reset_at: Option<DateTime<Utc>>,
    day_limit: Option<i64>,
    day_remaining: Option<i64>,
    day_reset_at: Option<DateTime<Utc>>,
    limits_at: Option<DateTime<Utc>>,
}

impl From<ActivityRow> for TenantActivity {
    fn from(row: ActivityRow) -> TenantActivity {
        let last_error = match (row.last_error_class, row.last_error_at) {
            (Some(class), Some(at)) => Some(LastError {
                class,
                mnemonic: row.last_error_mnemonic,
                message: row.last_error_message.unwrap_or_default(),
                at,
            }),
            _ => None,
        };
        let limits = row.limits_at.map(|at| LimitsSeen {
            minute_limit: row.minute_limit,
            minute_remaining: row.minute_remaining,
            minute_reset_at: row.minute_reset_at,
            day_limit: row.day_limit,
            day_remaining: row.day_remaining,
            day_reset_at: row.day_reset_at,
            at,
        });
        TenantActivity {
            tenant_id: row.tenant_id,
            last_accepted_at: row.last_accepted_at,
            last_delivered_at: row.last_delivered_at,
            last_error,
            limits,
        }
    }
}

pub(crate) const COLUMNS: &str =
    "tenant_id, last_accepted_at, last_delivered_at, last_error_class, \
     last_error_mnemonic, last_error_message, last_error_at, minute_limit, minute_remaining, \
     minute_reset_at, day_limit, day_remaining, day_reset_at, limits_at";

/// `column = …` of the upsert for columns written as a whole with `stamp`: the new values when
/// the update carries a `stamp` (even `NULL` ones: a new error without a mnemonic clears the
/// old mnemonic), the stored ones otherwise.
macro_rules! whole_with {
    ($stamp:literal: $($column:literal),+) => {
        concat!($(
            $column, " = CASE WHEN excluded.", $stamp, " IS NULL THEN tenant_activity.", $column,
            " ELSE excluded.", $column, " END, ",
        )+)
    };
}

/// A tenant deleted meanwhile is skipped (`WHERE EXISTS`, which SQLite also needs to parse
/// `ON CONFLICT` after a `SELECT`). The error and the limits are each written as a whole.
pub(crate) const UPSERT: &str = concat!(
    "INSERT INTO tenant_activity (tenant_id, last_accepted_at, \
     last_delivered_at, last_error_class, last_error_mnemonic, last_error_message, last_error_at, \
     minute_limit, minute_remaining, minute_reset_at, day_limit, day_remaining, day_reset_at, \
     limits_at) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14 \
     WHERE EXISTS (SELECT 1 FROM tenants WHERE id = $1) \
     ON CONFLICT (tenant_id) DO UPDATE SET \
     last_accepted_at = COALESCE(excluded.last_accepted_at, tenant_activity.last_accepted_at), \
     last_delivered_at = COALESCE(excluded.last_delivered_at, tenant_activity.last_delivered_at), ",
    whole_with!("last_error_at": "last_error_class", "last_error_mnemonic", "last_error_message"),
    whole_with!("limits_at": "minute_limit", "minute_remaining", "minute_reset_at", "day_limit",
        "day_remaining", "day_reset_at"),
    "last_error_at = COALESCE(excluded.last_error_at, tenant_activity.last_error_at), \
     limits_at = COALESCE(excluded.limits_at, tenant_activity.limits_at)"
);

/// Open dead letters per tenant and class.
pub(crate) const DEAD_LETTER_COUNTS: &str = "SELECT tenant_id, class, COUNT(*) FROM dead_letters \
     WHERE resolved_at IS NULL GROUP BY tenant_id, class ORDER BY tenant_id, class";
pub(crate) const DEAD_LETTER_COUNTS_OF: &str =
    "SELECT tenant_id, class, COUNT(*) FROM dead_letters \
     WHERE resolved_at IS NULL AND tenant_id = $1 GROUP BY tenant_id, class ORDER BY class";

/// Open dead letters of one tenant and class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetterCount {
    pub tenant_id: Uuid,
    pub class: String,
    pub count: u64,
}

pub(crate) fn counts(rows: Vec<(Uuid, String, i64)>) -> Result<Vec<DeadLetterCount>, StoreError> {
    rows.into_iter()
        .map(|(tenant_id, class, n)| {
            Ok(DeadLetterCount {
                tenant_id,
                class,
                count: rows::count_to_u64(n)?,
            })
        })
        .collect()
}
