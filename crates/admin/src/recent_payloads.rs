//! `GET /admin/v1/tenants/{id}/payloads`: the tenant's recent webhook bodies (newest first, at
//! most `BRIDGE_RECENT_PAYLOADS`, none older than 7 days), each with what the parser makes of
//! it now — the kind, each meaning found and the path it came from, the keys nothing matched,
//! warnings, and whether it maps — and what became of its event (delivered, dead letter, or
//! still on its way).
//!
//! The analysis is computed here, at read time, with the tenant's current settings and field
//! map: the webhook path stores the raw body only, and a saved field map shows its effect on
//! the payloads at once. The bodies hold personal data: admin-only (docs/security.md).

use std::collections::HashMap;

use axum::extract::RawQuery;
use axum::Json;
use base64::Engine as _;
use bridge_store::{BodyRefusal, RecentPayload, RECENT_PAYLOADS_MAX_AGE};
use bridge_store::{OUTCOME_ACCEPTED, OUTCOME_REJECTED};
use chrono::{DateTime, Utc};
use leadback_model::{EventId, FieldMap, TenantSettings};
use serde::Serialize;
use uuid::Uuid;

use crate::api::ApiTenant;
use crate::error::ApiError;
use crate::reading::{self, ParsedView};
use crate::reasons::Reason;
use crate::AdminState;

/// Most payloads one listing returns (the store keeps at most `BRIDGE_RECENT_PAYLOADS`, ≤ 1000).
pub const MAX_LISTED: u32 = 1000;

/// One recent payload as the API and the page show it.
#[derive(Debug, Clone, Serialize)]
pub struct RecentPayloadView {
    pub id: Uuid,
    pub received_at: DateTime<Utc>,
    pub content_type: Option<String>,
    /// `None` when the ingress refused the body before reading one.
    pub event_id: Option<String>,
    /// The body as text (invalid UTF-8 replaced; then `body_base64` has the exact bytes).
    pub body: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_base64: Option<String>,
    /// `accepted` (queued) or `rejected` (the ingress answered 400, 413 or 408).
    pub ingress: String,
    /// Why the ingress refused it (English).
    pub ingress_error: Option<String>,
    /// The kind of refusal, stable for programs: `unreadable` (400), `too_large` (413),
    /// `body_timeout` (408).
    pub ingress_code: Option<&'static str>,
    /// A body refused before it was read whole: its size as far as the ingress saw it (its
    /// declared length or the bytes that arrived). No byte of such a body is kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_seen: Option<u64>,
    /// Why it was refused, for the pages to say in their language.
    #[serde(skip)]
    pub refusal: Option<Reason>,
    /// What the parser makes of it with the tenant's current settings and field map.
    pub parsed: ParsedView,
    /// What became of its event; `None` for a refused body.
    pub delivery: Option<DeliveryView>,
}

/// What became of a recorded event.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryView {
    /// `delivered`, `dead_letter` or `pending` (queued, being retried, or a refused body).
    pub state: &'static str,
    pub comagic_id: Option<i64>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub dead_letter_id: Option<Uuid>,
    pub class: Option<String>,
    pub mnemonic: Option<String>,
    pub message: Option<String>,
}

pub(crate) async fn list(
    ApiTenant { ctx, tenant }: ApiTenant,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<RecentPayloadView>>, ApiError> {
    let limit = match crate::api::query_value(query, "limit") {
        None => MAX_LISTED,
        Some(text) => match text.parse::<u32>() {
            Ok(n) if (1..=MAX_LISTED).contains(&n) => n,
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "limit must be 1..={MAX_LISTED}"
                )))
            }
        },
    };
    Ok(Json(recent_payloads(&ctx.app, tenant.id, limit).await?))
}

/// The tenant's recent payloads, newest first, at most `limit`: for the API and the page.
/// [`ApiError::NotFound`] for an unknown tenant.
pub async fn recent_payloads(
    app: &AdminState,
    tenant_id: Uuid,
    limit: u32,
) -> Result<Vec<RecentPayloadView>, ApiError> {
    let tenant = crate::api::tenant_of(app, tenant_id).await?;
    let field_map = app.store.get_field_map(tenant_id).await?;
    let since = Utc::now() - RECENT_PAYLOADS_MAX_AGE;
    let stored = app.store.recent_payloads(tenant_id, since, limit).await?;
    let outcomes = delivery_states(app, tenant_id, &stored).await?;
    Ok(stored
        .into_iter()
        .map(|payload| {
            let delivery = payload
                .recorded
                .event_id
                .as_ref()
                .map(|event_id| outcomes.get(event_id).cloned().unwrap_or_else(pending));
            view(&tenant.settings, &field_map, payload, delivery)
        })
        .collect())
}

fn pending() -> DeliveryView {
    DeliveryView {
        state: "pending",
        comagic_id: None,
        delivered_at: None,
        dead_letter_id: None,
        class: None,
        mnemonic: None,
        message: None,
    }
}

/// The ledger entry or open dead letter of each recorded event (absent: still on its way).
async fn delivery_states(
    app: &AdminState,
    tenant_id: Uuid,
    stored: &[RecentPayload],
) -> Result<HashMap<String, DeliveryView>, ApiError> {
    let mut event_ids: Vec<String> = stored
        .iter()
        .filter_map(|p| p.recorded.event_id.clone())
        .collect();
    event_ids.sort_unstable();
    event_ids.dedup();
    // An id that does not parse was never queued, so it has no ledger entry to find.
    let keys: Vec<(Uuid, EventId)> = event_ids
        .iter()
        .filter_map(|e| e.parse().ok().map(|id| (tenant_id, id)))
        .collect();
    let mut states = HashMap::new();
    for entry in app.store.ledger_get_many(&keys).await? {
        states.insert(
            entry.event_id.to_string(),
            DeliveryView {
                state: "delivered",
                comagic_id: entry.comagic_id,
                delivered_at: Some(entry.delivered_at),
                ..pending()
            },
        );
    }
    for event_id in event_ids {
        if states.contains_key(&event_id) {
            continue;
        }
        if let Some(dead) = app.store.dead_letter_of_event(tenant_id, &event_id).await? {
            if dead.resolved_at.is_none() {
                states.insert(
                    event_id,
                    DeliveryView {
                        state: "dead_letter",
                        dead_letter_id: Some(dead.id),
                        class: Some(dead.class),
                        mnemonic: dead.mnemonic,
                        message: Some(dead.message),
                        ..pending()
                    },
                );
            }
        }
    }
    Ok(states)
}

fn view(
    settings: &TenantSettings,
    field_map: &FieldMap,
    RecentPayload {
        id,
        recorded: payload,
    }: RecentPayload,
    delivery: Option<DeliveryView>,
) -> RecentPayloadView {
    let cut_off = BodyRefusal::of_row(&payload.outcome, payload.error.as_deref());
    // A body refused unread has nothing to parse (its empty stand-in would read as a ping).
    let parsed = match cut_off {
        Some(_) => ParsedView::default(),
        None => analyse_body(
            settings,
            field_map,
            payload.content_type.as_deref(),
            &payload.body,
        ),
    };
    let (ingress_code, ingress_error, refusal) = match (cut_off, payload.outcome.as_str()) {
        (Some(refusal), _) => {
            let reason = Reason::CutOff(refusal);
            (
                Some(refusal.outcome()),
                Some(reason.english()),
                Some(reason),
            )
        }
        (None, OUTCOME_REJECTED) => {
            // The ingress's reason is the parser's, which reads the kept body the same way.
            let reason = parsed
                .problem
                .as_ref()
                .filter(|p| p.stage == "body")
                .map(|p| p.reason.clone());
            (Some("unreadable"), payload.error, reason)
        }
        (None, _) => (None, payload.error, None),
    };
    let (body, body_base64) = match String::from_utf8(payload.body) {
        Ok(text) => (text, None),
        Err(e) => {
            let bytes = e.into_bytes();
            (
                String::from_utf8_lossy(&bytes).into_owned(),
                Some(base64::engine::general_purpose::STANDARD.encode(&bytes)),
            )
        }
    };
    RecentPayloadView {
        id,
        received_at: payload.received_at,
        content_type: payload.content_type,
        event_id: payload.event_id,
        body,
        body_base64,
        ingress: if payload.outcome == OUTCOME_ACCEPTED {
            OUTCOME_ACCEPTED
        } else {
            OUTCOME_REJECTED
        }
        .to_owned(),
        ingress_error,
        ingress_code,
        bytes_seen: cut_off.map(|r| match r {
            BodyRefusal::TooLarge { bytes_seen, .. }
            | BodyRefusal::BodyTimeout { bytes_seen, .. } => bytes_seen,
        }),
        refusal,
        parsed,
        delivery,
    }
}

/// What the parser makes of one body for a tenant (pure): the kind, meanings with their
/// paths, unmatched keys, warnings, and whether and why not it maps.
pub fn analyse_body(
    settings: &TenantSettings,
    field_map: &FieldMap,
    content_type: Option<&str>,
    body: &[u8],
) -> ParsedView {
    reading::read(settings, field_map, content_type, body).parsed
}
