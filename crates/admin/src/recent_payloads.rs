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

use axum::extract::{Path, RawQuery, State};
use axum::Json;
use base64::Engine as _;
use bridge_store::{RecentPayload, RECENT_PAYLOADS_MAX_AGE};
use chrono::{DateTime, Utc};
use leadback_model::analysis::{analyse, FoundMeaning};
use leadback_model::{map, FieldMap, LeadbackEvent, RawPayload, TenantSettings};
use serde::Serialize;
use uuid::Uuid;

use crate::api::{load_tenant, Admin};
use crate::error::ApiError;
use crate::{AdminState, Ctx};

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
    /// `accepted` (queued) or `rejected` (the ingress answered 400).
    pub ingress: String,
    /// Why the ingress refused it.
    pub ingress_error: Option<String>,
    /// What the parser makes of it with the tenant's current settings and field map.
    pub parsed: ParsedView,
    /// What became of its event; `None` for a refused body.
    pub delivery: Option<DeliveryView>,
}

/// The parser's reading of one body.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ParsedView {
    /// `callback`, `chat`, `ping` (Leadback's save-time test), or `None` when unreadable.
    pub kind: Option<String>,
    /// Each meaning found, with its path and whether the field map or an alias found it.
    pub found: Vec<FoundMeaning>,
    /// Paths of values no meaning used: where an unknown shape keeps its phone or name.
    pub unmatched_keys: Vec<String>,
    pub warnings: Vec<String>,
    /// The worker would map it to CoMagic calls as things stand.
    pub mappable: bool,
    /// Why not, when it would not.
    pub problem: Option<ParseProblem>,
}

/// Where and why a body would not map.
#[derive(Debug, Clone, Serialize)]
pub struct ParseProblem {
    /// `body`, `event` or `mapping`.
    pub stage: &'static str,
    /// The dead-letter class it would get (`mapping`, `tenant_permanent`, …; `ping`).
    pub class: &'static str,
    pub reason: String,
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
    _: Admin,
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
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
    let tenant = load_tenant(&ctx.app, &id).await?;
    Ok(Json(recent_payloads(&ctx.app, tenant.id, limit).await?))
}

/// The tenant's recent payloads, newest first, at most `limit`: for the API and the page.
/// [`ApiError::NotFound`] for an unknown tenant.
pub async fn recent_payloads(
    app: &AdminState,
    tenant_id: Uuid,
    limit: u32,
) -> Result<Vec<RecentPayloadView>, ApiError> {
    let tenant = app
        .store
        .get_tenant(tenant_id)
        .await?
        .ok_or(ApiError::NotFound("tenant"))?;
    let field_map = app.store.get_field_map(tenant_id).await?;
    let since = Utc::now() - RECENT_PAYLOADS_MAX_AGE;
    let stored = app.store.recent_payloads(tenant_id, since, limit).await?;
    let outcomes = delivery_states(app, tenant_id, &stored).await?;
    Ok(stored
        .into_iter()
        .map(|payload| {
            let delivery = payload
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
    let mut event_ids: Vec<String> = stored.iter().filter_map(|p| p.event_id.clone()).collect();
    event_ids.sort_unstable();
    event_ids.dedup();
    let keys: Vec<(Uuid, String)> = event_ids.iter().map(|e| (tenant_id, e.clone())).collect();
    let mut states = HashMap::new();
    for entry in app.store.ledger_get_many(&keys).await? {
        states.insert(
            entry.event_id.clone(),
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
    payload: RecentPayload,
    delivery: Option<DeliveryView>,
) -> RecentPayloadView {
    let parsed = analyse_body(
        settings,
        field_map,
        payload.content_type.as_deref(),
        &payload.body,
    );
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
        id: payload.id,
        received_at: payload.received_at,
        content_type: payload.content_type,
        event_id: payload.event_id,
        body,
        body_base64,
        ingress: payload.outcome,
        ingress_error: payload.error,
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
    let refused = |stage, class, reason| ParseProblem {
        stage,
        class,
        reason,
    };
    let payload = match RawPayload::parse(content_type, body) {
        Ok(payload) => payload,
        Err(e) => {
            return ParsedView {
                problem: Some(refused("body", "mapping", format!("unparseable body: {e}"))),
                ..ParsedView::default()
            }
        }
    };
    let analysis = payload
        .value()
        .as_object()
        .map(|object| analyse(object, field_map))
        .unwrap_or_default();
    let mut parsed = ParsedView {
        found: analysis.found,
        unmatched_keys: analysis.unmatched_keys,
        ..ParsedView::default()
    };
    if payload.is_ping() {
        parsed.kind = Some("ping".into());
        parsed.problem = Some(refused(
            "body",
            "ping",
            "Leadback's save-time test request: answered, nothing uploaded".into(),
        ));
        return parsed;
    }
    let Some(zone) = settings.leadback_zone() else {
        parsed.problem = Some(refused(
            "event",
            "tenant_permanent",
            format!(
                "tenant leadback_timezone `{}` is not an IANA zone",
                settings.leadback_timezone
            ),
        ));
        return parsed;
    };
    let event = match LeadbackEvent::from_payload_mapped(&payload, zone, field_map) {
        Ok(event) => event,
        Err(e) => {
            parsed.problem = Some(refused(
                "event",
                "mapping",
                format!("cannot read the event: {e}"),
            ));
            return parsed;
        }
    };
    parsed.kind = Some(event.kind.as_str().to_owned());
    parsed.warnings = crate::preview::event_warnings(&event);
    let now = Utc::now();
    match map(&event.dated_at_receipt(now), settings, now) {
        Ok(_) => parsed.mappable = true,
        Err(e) => {
            // The class the worker dead-letters it with (its own reading of `e.class()`).
            let class = match e.class() {
                leadback_model::FailureClass::TenantPermanent => "tenant_permanent",
                _ => "mapping",
            };
            parsed.problem = Some(refused("mapping", class, e.to_string()));
        }
    }
    parsed
}
