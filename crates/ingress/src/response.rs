//! The ingress's answers: one enum, one status and JSON body per outcome.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// What became of one webhook request; also the `outcome` label of
/// `leadback_bridge_ingress_requests_total`.
#[derive(Debug)]
pub enum IngressOutcome {
    Accepted { event_id: String },
    Ping,
    UnknownToken,
    Inactive,
    BadRequest { reason: String },
    TooLarge { limit: usize },
    Unavailable { reason: String },
}

impl IngressOutcome {
    pub fn label(&self) -> &'static str {
        match self {
            IngressOutcome::Accepted { .. } => "accepted",
            IngressOutcome::Ping => "ping",
            IngressOutcome::UnknownToken => "unknown_token",
            IngressOutcome::Inactive => "inactive",
            IngressOutcome::BadRequest { .. } => "bad_request",
            IngressOutcome::TooLarge { .. } => "too_large",
            IngressOutcome::Unavailable { .. } => "unavailable",
        }
    }
}

impl IntoResponse for IngressOutcome {
    fn into_response(self) -> Response {
        match self {
            IngressOutcome::Accepted { event_id } => (
                StatusCode::OK,
                Json(json!({"status": "accepted", "event_id": event_id})),
            )
                .into_response(),
            IngressOutcome::Ping => {
                (StatusCode::OK, Json(json!({"status": "ok"}))).into_response()
            }
            IngressOutcome::UnknownToken => (
                StatusCode::NOT_FOUND,
                Json(json!({"error": "unknown_token", "reason": "no integration has this webhook URL"})),
            )
                .into_response(),
            IngressOutcome::Inactive => (
                StatusCode::FORBIDDEN,
                Json(json!({"error": "inactive", "reason": "this integration is not active"})),
            )
                .into_response(),
            IngressOutcome::BadRequest { reason } => (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "bad_request", "reason": reason})),
            )
                .into_response(),
            IngressOutcome::TooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                Json(json!({"error": "too_large", "reason": format!("body exceeds {limit} bytes")})),
            )
                .into_response(),
            IngressOutcome::Unavailable { reason } => (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "5")],
                Json(json!({"error": "unavailable", "reason": reason})),
            )
                .into_response(),
        }
    }
}
