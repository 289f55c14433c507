//! [`ApiError`]: every failure of the JSON API as a status and a small JSON body. Bodies name
//! the problem for an operator; they never carry a secret (CoMagic errors are already scrubbed
//! by the client, store errors are summarised).

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::reasons::{fields_json, FieldErrors, Reason};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or wrong admin token")]
    Unauthorized,
    /// Too many failed authentications from this address.
    #[error("too many failed authentications")]
    Throttled { retry_after_secs: u64 },
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// Per-field problems of submitted settings (`fields`: field → its reasons).
    #[error("invalid settings")]
    InvalidSettings {
        fields: FieldErrors,
        warnings: Vec<Reason>,
    },
    /// CoMagic refused the tenant's credentials (or the bridge's address).
    #[error("CoMagic refused the credentials: {message}")]
    CredentialsRefused {
        mnemonic: Option<String>,
        message: String,
    },
    /// Any other CoMagic failure while reading the account.
    #[error("CoMagic error: {message}")]
    Comagic {
        mnemonic: Option<String>,
        class: &'static str,
        message: String,
    },
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::InvalidSettings { .. } | ApiError::CredentialsRefused { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::Comagic { .. } => StatusCode::BAD_GATEWAY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn body(&self) -> Value {
        match self {
            ApiError::Unauthorized => json!({"error": "unauthorized",
                "message": "send Authorization: Bearer <admin token>"}),
            ApiError::Throttled { retry_after_secs } => json!({"error": "throttled",
                "message": format!("too many failed authentications; retry in {retry_after_secs} s")}),
            ApiError::BadRequest(reason) => json!({"error": "bad_request", "message": reason}),
            ApiError::NotFound(what) => {
                json!({"error": "not_found", "message": format!("no such {what}")})
            }
            ApiError::InvalidSettings { fields, warnings } => {
                let codes: BTreeMap<&str, Vec<&str>> = fields
                    .iter()
                    .map(|(field, reasons)| {
                        (field.as_str(), reasons.iter().map(Reason::code).collect())
                    })
                    .collect();
                json!({"error": "invalid_settings", "fields": fields_json(fields),
                    "field_codes": codes, "warnings": warnings})
            }
            ApiError::CredentialsRefused { mnemonic, message } => json!({
                "error": "invalid_settings",
                "fields": {"comagic": format!("CoMagic refused the credentials: {message}")},
                "mnemonic": mnemonic,
            }),
            ApiError::Comagic {
                mnemonic,
                class,
                message,
            } => {
                json!({"error": "comagic_error", "mnemonic": mnemonic, "class": class, "message": message})
            }
            ApiError::Internal(_) => {
                json!({"error": "internal", "message": "internal error; see the bridge's log"})
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(error = %detail, "admin API internal error");
        }
        let mut response = (self.status(), Json(self.body())).into_response();
        if let ApiError::Throttled { retry_after_secs } = self {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(retry_after_secs),
            );
        }
        response
    }
}

impl From<bridge_store::StoreError> for ApiError {
    fn from(e: bridge_store::StoreError) -> Self {
        match e {
            bridge_store::StoreError::NotFound(_) => ApiError::NotFound("tenant"),
            bridge_store::StoreError::Invalid(reason) => ApiError::BadRequest(reason),
            other => ApiError::Internal(format!("store: {other}")),
        }
    }
}

/// JSON 404 for paths under `/admin/v1/` that no route serves.
pub(crate) async fn no_such_route() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": "no_such_route"})),
    )
        .into_response()
}
