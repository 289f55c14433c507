//! `POST /admin/v1/tenants/{id}/preview`: what the worker would make of a raw webhook body for
//! this tenant (its settings and field map), without calling CoMagic or queueing anything. The
//! answer is the parsed event, the CoMagic calls with their params (the client adds the access
//! token at call time, so no secret is in them) and warnings; or the stage at which it could
//! not be mapped and why.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::Json;
use chrono::Utc;
use leadback_model::comagic::{
    methods, UploadChatsParams, UploadOfflineMessagesParams, UploadSessionsParams,
};
use leadback_model::{map, ComagicPlan, FieldMap, LeadbackEvent, PlannedRecord, RawPayload};
use leadback_model::{TenantSettings, DEFAULT_TIMEZONE};
use serde_json::{json, Value};

use crate::api::{load_tenant, Admin};
use crate::error::ApiError;
use crate::Ctx;

pub(crate) async fn preview(
    _: Admin,
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let tenant = load_tenant(&ctx.app, &id).await?;
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

/// Why the body could not be mapped, at which stage (`body`, `event`, `mapping`).
fn refused(stage: &str, class: &str, reason: String) -> Value {
    json!({"mappable": false, "stage": stage, "class": class, "reason": reason})
}

/// The preview of one body for a tenant: pure, so the CLI and the API answer alike.
pub fn preview_body(
    settings: &TenantSettings,
    field_map: &FieldMap,
    content_type: Option<&str>,
    body: &[u8],
) -> Value {
    let payload = match RawPayload::parse(content_type, body) {
        Ok(payload) => payload,
        Err(e) => return refused("body", "mapping", format!("unparseable body: {e}")),
    };
    if payload.is_ping() {
        return refused(
            "body",
            "ping",
            "this is Leadback's save-time test request: the bridge answers it and uploads nothing"
                .into(),
        );
    }
    let Some(zone) = settings.leadback_zone() else {
        return refused(
            "event",
            "tenant_permanent",
            format!(
                "tenant leadback_timezone `{}` is not an IANA zone",
                settings.leadback_timezone
            ),
        );
    };
    let now = Utc::now();
    let event = match LeadbackEvent::from_payload_mapped(&payload, zone, field_map) {
        Ok(event) => event,
        Err(e) => return refused("event", "mapping", format!("cannot read the event: {e}")),
    };
    let mut warnings = event_warnings(&event);
    let analysis = payload
        .value()
        .as_object()
        .map(|object| leadback_model::analysis::analyse(object, field_map))
        .unwrap_or_default();
    let event = event.dated_at_receipt(now);
    let event_json = event_json(&event);
    // The worker writes times in the account's zone (read from CoMagic); the preview uses the
    // zone stored with the settings.
    if settings.timezone.is_none() {
        warnings.push(format!(
            "no account time zone stored; times shown in {DEFAULT_TIMEZONE}"
        ));
    }
    match map(&event, settings, now) {
        Ok(plan) => json!({
            "mappable": true,
            "event": event_json,
            "calls": calls(&plan),
            "warnings": warnings,
            "found": analysis.found,
            "unmatched_keys": analysis.unmatched_keys,
        }),
        Err(e) => {
            let mut answer = refused("mapping", e.class().as_str(), e.to_string());
            answer["event"] = event_json;
            answer["warnings"] = json!(warnings);
            answer["found"] = json!(analysis.found);
            answer["unmatched_keys"] = json!(analysis.unmatched_keys);
            answer
        }
    }
}

pub(crate) fn event_warnings(event: &LeadbackEvent) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(raw) = &event.contact.phone_unparsed {
        warnings.push(format!(
            "the phone {raw:?} is not a valid number; kept in the message text"
        ));
    }
    if let Some(raw) = &event.contact.email_unparsed {
        warnings.push(format!(
            "the email {raw:?} is not a valid address; kept in the message text"
        ));
    }
    if event.created_at.is_none() {
        warnings.push("no creation time in the payload: dated when the bridge receives it".into());
    }
    if event.contact.phone.is_none() && event.contact.email.is_none() {
        warnings.push("no phone and no email found: map their paths in the field map".into());
    }
    warnings
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
