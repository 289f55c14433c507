//! `/hooks/leadback/{token}`: POST, GET and HEAD.

use crate::response::IngressOutcome;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::on;
use axum::routing::MethodFilter;
use axum::Router;
use bridge_metrics::Metrics;
use bridge_queue::{Envelope, EventQueue};
use bridge_store::{Store, TokenHash, WebhookToken};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use leadback_model::RawPayload;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Ingress tunables; one place, filled from the command line / environment by the app.
#[derive(Debug, Clone)]
pub struct IngressConfig {
    /// Largest accepted body (default 256 KiB).
    pub body_limit: usize,
    /// How long a publish may wait for the queue's confirm before the answer is 503.
    pub publish_timeout: Duration,
}

impl Default for IngressConfig {
    fn default() -> Self {
        Self {
            body_limit: 256 * 1024,
            publish_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Clone)]
pub struct IngressState {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn EventQueue>,
    pub metrics: Metrics,
    pub config: IngressConfig,
    /// `rabbitmq` or `embedded`, for the publish-confirm histogram.
    pub queue_backend: &'static str,
}

/// The webhook route alone; the app adds health, admin and layers around it.
pub fn hook_router(state: IngressState) -> Router {
    Router::new()
        .route(
            "/hooks/leadback/{token}",
            on(
                MethodFilter::POST
                    .or(MethodFilter::GET)
                    .or(MethodFilter::HEAD),
                handle_hook,
            ),
        )
        .with_state(state)
}

async fn handle_hook(
    State(state): State<IngressState>,
    Path(token): Path<String>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let outcome = accept(&state, &token, &method, query, &headers, body).await;
    let label = outcome.label();
    state
        .metrics
        .ingress_requests_total
        .with_label_values(&[label])
        .inc();
    state
        .metrics
        .ingress_request_duration_seconds
        .with_label_values(&[label])
        .observe(started.elapsed().as_secs_f64());
    match &outcome {
        IngressOutcome::Accepted { event_id } => {
            tracing::info!(outcome = label, event_id = %event_id, "webhook accepted")
        }
        IngressOutcome::Unavailable { reason } => {
            tracing::warn!(outcome = label, reason = %reason, "webhook refused: queue unavailable")
        }
        other => tracing::debug!(outcome = other.label(), "webhook answered"),
    }
    if method == Method::HEAD {
        // HEAD answers carry the status only.
        let status = outcome.into_response().status();
        return status.into_response();
    }
    outcome.into_response()
}

async fn accept(
    state: &IngressState,
    token: &str,
    method: &Method,
    query: Option<String>,
    headers: &HeaderMap,
    body: Body,
) -> IngressOutcome {
    if !WebhookToken::looks_valid(token) {
        return IngressOutcome::UnknownToken;
    }
    let tenant = match state.store.tenant_by_token(&TokenHash::of(token)).await {
        Ok(Some(tenant)) => tenant,
        Ok(None) => return IngressOutcome::UnknownToken,
        Err(e) => {
            return IngressOutcome::Unavailable {
                reason: format!("tenant store unavailable: {e}"),
            }
        }
    };
    if !tenant.active {
        return IngressOutcome::Inactive;
    }
    let span = tracing::info_span!("webhook", tenant_id = %tenant.id);
    let _guard = span.enter();

    // The body is read under the limit before anything else looks at it.
    let limit = state.config.body_limit;
    let body = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return IngressOutcome::TooLarge { limit }
        }
        Err(e) => {
            return IngressOutcome::BadRequest {
                reason: format!("could not read the body: {e}"),
            }
        }
    };
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
    {
        if len > limit {
            return IngressOutcome::TooLarge { limit };
        }
    }

    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (raw, content_type, parsed) = if *method == Method::POST && !body.is_empty() {
        let parsed = RawPayload::parse(content_type.as_deref(), &body);
        (body, content_type, parsed)
    } else {
        // GET/HEAD (or an empty POST): the event, if any, is in the query string.
        let query = query.unwrap_or_default();
        let parsed = RawPayload::from_query(&query);
        (
            Bytes::from(query.into_bytes()),
            Some("application/x-www-form-urlencoded".to_owned()),
            parsed,
        )
    };
    let payload = match parsed {
        Ok(payload) => payload,
        Err(e) => {
            return IngressOutcome::BadRequest {
                reason: e.to_string(),
            }
        }
    };
    if payload.is_ping() || *method == Method::HEAD {
        return IngressOutcome::Ping;
    }

    let event_id = payload.event_id().to_string();
    let envelope = Envelope::new(
        event_id.clone(),
        tenant.id,
        content_type,
        raw.to_vec(),
        chrono::Utc::now(),
    );
    let started = Instant::now();
    let published =
        tokio::time::timeout(state.config.publish_timeout, state.queue.publish(&envelope)).await;
    state
        .metrics
        .publish_confirm_duration_seconds
        .with_label_values(&[state.queue_backend])
        .observe(started.elapsed().as_secs_f64());
    match published {
        Ok(Ok(())) => IngressOutcome::Accepted { event_id },
        Ok(Err(e)) => IngressOutcome::Unavailable {
            reason: e.to_string(),
        },
        Err(_) => IngressOutcome::Unavailable {
            reason: format!(
                "queue did not confirm within {:?}",
                state.config.publish_timeout
            ),
        },
    }
}
