//! The ingress's answers: one enum, one status and JSON body per outcome.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// What became of one webhook request; also the `outcome` label of
/// `leadback_bridge_ingress_requests_total`.
#[derive(Debug)]
pub enum IngressOutcome {
    Accepted {
        event_id: String,
    },
    Ping,
    UnknownToken,
    Inactive,
    BadRequest {
        reason: String,
    },
    TooLarge {
        limit: usize,
    },
    /// The body did not arrive within the body timeout.
    BodyTimeout {
        after: std::time::Duration,
    },
    /// Too many unknown-token requests from this client address.
    Throttled {
        retry_after_secs: u64,
    },
    Unavailable {
        reason: String,
    },
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
            IngressOutcome::BodyTimeout { .. } => "body_timeout",
            IngressOutcome::Throttled { .. } => "throttled",
            IngressOutcome::Unavailable { .. } => "unavailable",
        }
    }
}

/// `{"status": "accepted", "event_id": …}`.
#[derive(serde::Serialize)]
struct AcceptedBody<'a> {
    status: &'static str,
    event_id: &'a str,
}

impl IntoResponse for IngressOutcome {
    fn into_response(self) -> Response {
        match self {
            // The one answer of the hot path: written straight from a struct, no JSON tree.
            IngressOutcome::Accepted { event_id } => (
                StatusCode::OK,
                Json(AcceptedBody {
                    status: "accepted",
                    event_id: &event_id,
                }),
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
            // The body was drained as far as `crate::body` allows; the connection closes after.
            IngressOutcome::TooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                [(header::CONNECTION, "close")],
                Json(json!({"error": "too_large", "reason": format!("body exceeds {limit} bytes")})),
            )
                .into_response(),
            IngressOutcome::BodyTimeout { after } => (
                StatusCode::REQUEST_TIMEOUT,
                [(header::CONNECTION, "close")],
                Json(json!({"error": "body_timeout", "reason": format!("body not received within {after:?}")})),
            )
                .into_response(),
            IngressOutcome::Throttled { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, retry_after_secs.to_string())],
                Json(json!({"error": "throttled", "reason": "too many requests with unknown webhook URLs from this address"})),
            )
                .into_response(),
            // The reason (store or queue error text) goes to the log, not to the internet.
            IngressOutcome::Unavailable { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "5")],
                Json(json!({"error": "unavailable"})),
            )
                .into_response(),
        }
    }
}
