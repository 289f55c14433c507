//! `POST /admin/v1/tenants/{id}/test-request`: a synthetic callback, marked as a test in its
//! name and message, sent through the real pipeline — the queue, the worker, the tenant's
//! CoMagic — as if Leadback had sent it; and `GET …/test-request/{event_id}` for its result:
//! CoMagic's record id (from the ledger), or the dead letter's error and what to fix.
//!
//! `?wait=SECONDS` (0..=60) on the POST waits that long for the result. The event is an
//! ordinary one from the worker's point of view: it is retried, dead-lettered and replayed
//! like any other.

use std::time::Duration;

use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bridge_queue::Envelope;
use chrono::{DateTime, Utc};
use leadback_model::RawPayload;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use crate::api::{query_value, ApiTenant};
use crate::error::ApiError;
use crate::reasons::{Fix, Reason};
use crate::AdminState;

/// Every test request's Leadback id starts with this; its event id (the kind, then the id, as
/// for every event) with [`TEST_EVENT_PREFIX`].
pub const TEST_ID_PREFIX: &str = "lbtest-";
/// The start of every test request's event id.
pub const TEST_EVENT_PREFIX: &str = "callback:lbtest-";
/// The visitor name of a test request.
pub const TEST_NAME: &str = "Тестовое обращение leadback-bridge";
/// Its message.
pub const TEST_MESSAGE: &str = "Это тестовое обращение: leadback-bridge проверяет связь с \
     CoMagic. Перезванивать не нужно, запись можно удалить. / This is a test request from \
     leadback-bridge checking the connection to CoMagic; no call-back needed.";
/// Its phone (a reserved-looking number nobody answers).
pub const TEST_PHONE: &str = "+7 900 000-00-00";
/// Longest `?wait=` accepted, seconds.
pub const MAX_WAIT_SECS: u64 = 60;

/// Where a test request is.
#[derive(Debug, Clone, Serialize)]
pub struct TestRequestResult {
    pub event_id: String,
    /// `pending` (queued or being retried), `delivered` or `failed` (dead letter).
    pub state: &'static str,
    /// CoMagic's id of the record (`None` while pending, on failure, or when CoMagic already
    /// had it).
    pub comagic_id: Option<i64>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub error: Option<TestRequestError>,
    /// What the operator can do about a failure (English; the pages say it in theirs).
    pub fix: Option<Reason>,
    /// The kind of `fix`, stable for programs (`fix_credentials`, `fix_settings`, …).
    pub fix_code: Option<&'static str>,
    /// Where to ask again.
    pub result_url: String,
}

/// The dead letter's error.
#[derive(Debug, Clone, Serialize)]
pub struct TestRequestError {
    pub class: String,
    pub mnemonic: Option<String>,
    pub message: String,
    pub dead_letter_id: Uuid,
}

pub(crate) async fn create(
    ApiTenant { ctx, tenant }: ApiTenant,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let wait = match query_value(query, "wait") {
        None => 0,
        Some(text) => match text.parse::<u64>() {
            Ok(n) if n <= MAX_WAIT_SECS => n,
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "wait must be 0..={MAX_WAIT_SECS} seconds"
                )))
            }
        },
    };
    let event_id = send_test_request(&ctx.app, tenant.id).await?;
    let mut result = test_request_result(&ctx.app, tenant.id, &event_id).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    while result.state == "pending" && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        result = test_request_result(&ctx.app, tenant.id, &event_id).await?;
    }
    Ok(answer(result))
}

pub(crate) async fn show(
    ApiTenant { ctx, tenant }: ApiTenant,
    Path((_, event_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    Ok(answer(
        test_request_result(&ctx.app, tenant.id, &event_id).await?,
    ))
}

/// 200 with a final result, 202 while pending.
fn answer(result: TestRequestResult) -> Response {
    let status = if result.state == "pending" {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    (status, Json(result)).into_response()
}

/// The synthetic callback's body (JSON, as Leadback sends) with `event_id`.
pub fn test_body(event_id: &str) -> Vec<u8> {
    json!({
        "event": "callback",
        "id": event_id,
        "callback_phone": TEST_PHONE,
        "name": TEST_NAME,
        "comment": TEST_MESSAGE,
    })
    .to_string()
    .into_bytes()
}

/// Queues a test request for the tenant and returns its event id. An inactive tenant is a 422
/// (its events would be dead-lettered at once); an unknown one a 404.
pub async fn send_test_request(app: &AdminState, tenant_id: Uuid) -> Result<String, ApiError> {
    let tenant = crate::api::tenant_of(app, tenant_id).await?;
    if !tenant.active {
        return Err(ApiError::InvalidSettings {
            fields: [("active".to_owned(), vec![Reason::InactiveForTest])].into(),
            warnings: Vec::new(),
        });
    }
    let event_id = format!("{TEST_ID_PREFIX}{}", Uuid::now_v7().simple());
    let body = test_body(&event_id);
    // The id as the ingress would read it from this body, so ledger and dead letters match.
    let event_id = RawPayload::parse(Some("application/json"), &body)
        .map_err(|e| ApiError::Internal(format!("test request body: {e}")))?
        .event_id();
    let envelope = Envelope::new(
        event_id.clone(),
        tenant_id,
        Some("application/json".into()),
        body,
        Utc::now(),
    );
    app.queue
        .publish(&envelope)
        .await
        .map_err(|e| ApiError::Internal(format!("cannot queue the test request: {e}")))?;
    tracing::info!(%tenant_id, event_id = %event_id, "test request queued via the admin API");
    Ok(event_id.to_string())
}

/// Where the tenant's test request `event_id` is: delivered (ledger), failed (dead letter) or
/// pending. [`ApiError::NotFound`] for an unknown tenant or an id that is no test request's.
pub async fn test_request_result(
    app: &AdminState,
    tenant_id: Uuid,
    event_id: &str,
) -> Result<TestRequestResult, ApiError> {
    if !event_id.starts_with(TEST_EVENT_PREFIX) {
        return Err(ApiError::NotFound("test request"));
    }
    if app.store.get_tenant(tenant_id).await?.is_none() {
        return Err(ApiError::NotFound("tenant"));
    }
    let mut result = TestRequestResult {
        event_id: event_id.to_owned(),
        state: "pending",
        comagic_id: None,
        delivered_at: None,
        error: None,
        fix: None,
        fix_code: None,
        result_url: format!("/admin/v1/tenants/{tenant_id}/test-request/{event_id}"),
    };
    if let Some(entry) = app.store.ledger_get(tenant_id, event_id).await? {
        result.state = "delivered";
        result.comagic_id = entry.comagic_id;
        result.delivered_at = Some(entry.delivered_at);
        return Ok(result);
    }
    if let Some(dead) = app.store.dead_letter_of_event(tenant_id, event_id).await? {
        if dead.resolved_at.is_none() {
            result.state = "failed";
            let fix = what_to_fix(&dead.class, dead.mnemonic.as_deref());
            result.fix_code = Some(fix.code());
            result.fix = Some(fix);
            result.error = Some(TestRequestError {
                class: dead.class,
                mnemonic: dead.mnemonic,
                message: dead.message,
                dead_letter_id: dead.id,
            });
        }
    }
    Ok(result)
}

/// An operator's next step for a dead letter of `class`.
pub fn what_to_fix(class: &str, mnemonic: Option<&str>) -> Reason {
    let auth = mnemonic.is_some_and(|m| {
        m.contains("auth") || m.contains("token") || m.contains("forbidden") || m.contains("login")
    });
    Reason::FixFor(match class {
        "tenant_permanent" if auth => Fix::Credentials,
        "tenant_permanent" => Fix::Settings,
        "event_permanent" => Fix::Record,
        "mapping" => Fix::Mapping,
        "exhausted" => Fix::Exhausted,
        _ => Fix::SeeLog,
    })
}
