//! `POST /admin/v1/tenants/{id}/preview`: what the worker would make of a raw webhook body for
//! this tenant (its settings and field map), without calling CoMagic or queueing anything. The
//! answer is the parsed event, the CoMagic calls with their params (the client adds the access
//! token at call time, so no secret is in them) and warnings; or the stage at which it could
//! not be mapped and why.

use axum::body::Bytes;
use axum::extract::RawQuery;
use axum::http::{header, HeaderMap};
use axum::Json;
use leadback_model::comagic::{
    methods, UploadChatsParams, UploadOfflineMessagesParams, UploadSessionsParams,
};
use leadback_model::{ComagicPlan, FieldMap, LeadbackEvent, PlannedRecord, TenantSettings};
use serde_json::{json, Value};

use crate::api::ApiTenant;
use crate::error::ApiError;
use crate::reading::{self, Reading};
use crate::reasons::Reason;

pub(crate) async fn preview_api(
    ApiTenant { ctx, tenant }: ApiTenant,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let field_map = ctx.app.store.get_field_map(tenant.id).await?;
    // `?content_type=` lets a caller preview a form body while sending it as a file.
    let from_query = query.as_deref().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "content_type")
            .map(|(_, v)| v.into_owned())
    });
    let content_type = from_query.or_else(|| {
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    Ok(Json(preview_body(
        &tenant.settings,
        &field_map,
        content_type.as_deref(),
        &body,
    )))
}

/// The preview of one body for a tenant: pure, so the CLI and the API answer alike.
pub fn preview_body(
    settings: &TenantSettings,
    field_map: &FieldMap,
    content_type: Option<&str>,
    body: &[u8],
) -> Value {
    preview_json(&preview(settings, field_map, content_type, body))
}

/// The reading a preview shows: [`reading::read`] plus, once there is an event, the note that
/// times are shown in Moscow's zone while the account's is not stored (the worker writes them
/// in the account's zone, read from CoMagic).
pub(crate) fn preview(
    settings: &TenantSettings,
    field_map: &FieldMap,
    content_type: Option<&str>,
    body: &[u8],
) -> Reading {
    let mut reading = reading::read(settings, field_map, content_type, body);
    if let Some(problem) = &mut reading.parsed.problem {
        // The preview names the mapping failure's own class (`event_permanent` for an event
        // that cannot be delivered as it is).
        if let Reason::Unmappable(e) = &problem.reason {
            problem.class = e.class().as_str();
        }
    }
    if reading.event.is_some() && settings.timezone.is_none() {
        reading.parsed.warnings.push(Reason::NoAccountZoneStored);
    }
    reading
}

/// The API's answer: the event, calls, warnings, meanings found and unmatched keys; or why
/// not (`stage`, `class`, `reason`, `code`), with the event and the rest when it was read.
pub(crate) fn preview_json(reading: &Reading) -> Value {
    let parsed = &reading.parsed;
    let mut answer = match (&reading.plan, &parsed.problem) {
        (_, Some(problem)) => json!({"mappable": false, "stage": problem.stage,
            "class": problem.class, "reason": problem.reason, "code": problem.code}),
        (Some(plan), None) => json!({"mappable": true, "calls": calls(plan)}),
        (None, None) => json!({"mappable": false}),
    };
    if let Some(event) = &reading.event {
        answer["event"] = event_json(event);
        answer["warnings"] = json!(parsed.warnings);
        answer["found"] = json!(parsed.analysis.found);
        answer["unmatched_keys"] = json!(parsed.analysis.unmatched_keys);
    }
    answer
}

fn event_json(event: &LeadbackEvent) -> Value {
    json!({
        "kind": event.kind,
        "event_id": event.id.to_string(),
        "leadback_id": event.leadback_id,
        "created_at": event.created_at,
        "contact": event.contact,
        "comment": event.comment,
        "site": event.site,
        "page_url": event.page_url,
        "referrer": event.referrer,
        "ip": event.ip,
        "utm": event.utm,
        "comagic_session_id": event.comagic_session_id,
        "messages": event.messages,
        "callback": event.callback,
    })
}

/// The calls in the order the worker makes them: the session (if any; the record is then
/// attributed to the session id CoMagic answers), the record, then one call per tag.
fn calls(plan: &ComagicPlan) -> Vec<Value> {
    let mut calls = Vec::new();
    if let Some(session) = &plan.session {
        let params = UploadSessionsParams {
            sessions: vec![session.clone()],
        };
        calls.push(json!({"method": methods::UPLOAD_SESSIONS, "params": params,
            "note": "the record is then attributed to the session_id CoMagic answers"}));
    }
    let record = match plan.record() {
        PlannedRecord::OfflineMessage(item) => json!({
            "method": methods::UPLOAD_OFFLINE_MESSAGES,
            "params": UploadOfflineMessagesParams { offline_messages: vec![item.clone()] },
        }),
        PlannedRecord::Chat(item) => json!({
            "method": methods::UPLOAD_CHATS,
            "params": UploadChatsParams { chats: vec![item.clone()] },
        }),
    };
    calls.push(record);
    for params in plan.tag_params(plan.tag_ids()) {
        calls.push(json!({"method": methods::SET_TAG_COMMUNICATIONS, "params": params}));
    }
    calls
}
