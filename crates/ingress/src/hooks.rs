//! `/hooks/leadback/{token}`: POST, GET and HEAD.

use crate::body::{read_limited, BodyRead};
use crate::lookups::TokenMemory;
use crate::recent::{RecentPayloads, Recorded};
use crate::response::IngressOutcome;
use crate::throttle::UnknownTokenThrottle;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{header, HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::on;
use axum::routing::MethodFilter;
use axum::{Extension, Router};
use bridge_metrics::Metrics;
use bridge_queue::{Envelope, EventQueue};
use bridge_store::{ActivityRecorder, BodyRefusal, Store, TokenHash, WebhookToken};
use leadback_model::RawPayload;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// Ingress tunables; one place, filled from the command line / environment by the app.
#[derive(Debug, Clone)]
pub struct IngressConfig {
    /// Largest accepted body (default 256 KiB).
    pub body_limit: usize,
    /// How long a publish may wait for the queue's confirm before the answer is 503.
    pub publish_timeout: Duration,
    /// Time to receive the whole body once the tenant is known; a slower sender gets 408
    /// (default 10 s: Leadback's bodies are a few KiB).
    pub body_timeout: Duration,
    /// Time to receive the request head; applied by the server ([`crate::serve`]).
    pub header_timeout: Duration,
    /// Unknown-token requests allowed per client address and minute before 429 (0: no limit).
    pub unknown_token_per_minute: u32,
    /// Most client connections open at once; applied by the server ([`crate::serve`]).
    pub max_connections: usize,
    /// Webhook bodies kept per tenant for the admin side (`BRIDGE_RECENT_PAYLOADS`; 0: none,
    /// and those kept earlier are deleted). See [`crate::RecentPayloads`].
    pub recent_payloads: u32,
}

impl Default for IngressConfig {
    fn default() -> Self {
        Self {
            body_limit: 256 * 1024,
            publish_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            unknown_token_per_minute: 20,
            max_connections: 1024,
            recent_payloads: 50,
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
    /// Keeps accepted and refused bodies for the admin side (`None`: recording is off).
    pub recent_payloads: Option<RecentPayloads>,
    /// Notes each tenant's last accepted webhook for its health (`None`: not noted).
    pub activity: Option<ActivityRecorder>,
}

impl IngressState {
    /// Hands a body to the recent-payloads recorder, if recording (never waits).
    fn keep(&self, recorded: impl FnOnce() -> Recorded) {
        if let Some(recent) = &self.recent_payloads {
            recent.record(recorded());
        }
    }
}

/// What the handler holds: the app's state plus the ingress's own throttle. Behind `Arc`s:
/// axum clones the state for every request, and `Metrics` is dozens of handles.
#[derive(Clone)]
struct HookState {
    inner: Arc<IngressState>,
    throttle: Arc<UnknownTokenThrottle>,
    memory: Arc<TokenMemory>,
}

/// The webhook route alone; the app adds health, admin and layers around it. Serve it with
/// `ConnectInfo<SocketAddr>` (as [`crate::serve`] does) for the unknown-token throttle to work;
/// without it nothing is throttled.
pub fn hook_router(state: IngressState) -> Router {
    let throttle = Arc::new(UnknownTokenThrottle::new(
        state.config.unknown_token_per_minute,
    ));
    let state = HookState {
        inner: Arc::new(state),
        throttle,
        memory: Arc::new(TokenMemory::default()),
    };
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
    State(HookState {
        inner: state,
        throttle,
        memory,
    }): State<HookState>,
    Path(token): Path<String>,
    method: Method,
    RawQuery(query): RawQuery,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let guard = Guard {
        client: client.map(|Extension(ConnectInfo(addr))| addr.ip()),
        throttle: &throttle,
        memory: &memory,
    };
    let span = crate::trace::webhook_span(&method);
    let mut outcome = accept(&state, &guard, &token, &method, query, &headers, body)
        .instrument(span.clone())
        .await;
    if let (IngressOutcome::UnknownToken, Some(ip)) = (&outcome, guard.client) {
        if let Err(wait) = throttle.spend(ip) {
            outcome = IngressOutcome::Throttled {
                retry_after_secs: wait.as_secs().max(1),
            };
        }
    }
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
        // Logged in `accept`, where the tenant is known.
        IngressOutcome::Accepted { .. } => {}
        IngressOutcome::Unavailable { reason } => {
            tracing::warn!(outcome = label, reason = %reason, "webhook refused: queue unavailable")
        }
        IngressOutcome::Throttled { .. } => {
            tracing::debug!(
                outcome = label,
                "webhook refused: too many unknown-token requests"
            )
        }
        other => tracing::debug!(outcome = other.label(), "webhook answered"),
    }
    let response = outcome.into_response();
    crate::trace::answered(&span, label, response.status().as_u16());
    if method == Method::HEAD {
        // HEAD answers carry the status only.
        return response.status().into_response();
    }
    response
}

/// The request's client address and what the ingress remembers about tokens and addresses.
struct Guard<'a> {
    client: Option<std::net::IpAddr>,
    throttle: &'a UnknownTokenThrottle,
    memory: &'a TokenMemory,
}

async fn accept(
    state: &IngressState,
    guard: &Guard<'_>,
    token: &str,
    method: &Method,
    query: Option<String>,
    headers: &HeaderMap,
    body: Body,
) -> IngressOutcome {
    if !WebhookToken::looks_valid(token) {
        return IngressOutcome::UnknownToken;
    }
    let hash = TokenHash::of(token);
    if guard.memory.recently_unknown(&hash) {
        return IngressOutcome::UnknownToken;
    }
    // An address past its unknown-token budget gets no lookup for a token this process has
    // not routed recently: a scan costs the database nothing once throttled.
    if let Some(wait) = guard.client.and_then(|ip| guard.throttle.blocked(ip)) {
        if !guard.memory.recently_known(&hash) {
            return IngressOutcome::Throttled {
                retry_after_secs: wait.as_secs().max(1),
            };
        }
    }
    // Only the id and the active flag: no settings parsed, no credentials decrypted per request.
    let tenant = match state.store.tenant_route_by_token(&hash).await {
        Ok(Some(tenant)) => {
            guard.memory.remember_known(&hash);
            tenant
        }
        Ok(None) => {
            guard.memory.remember_unknown(&hash);
            return IngressOutcome::UnknownToken;
        }
        Err(e) => {
            return IngressOutcome::Unavailable {
                reason: format!("tenant store unavailable: {e}"),
            }
        }
    };
    crate::trace::tenant_known(tenant.id);
    if !tenant.active {
        return IngressOutcome::Inactive;
    }

    // Read under the limit (a declared length over it is refused unread) and under a deadline
    // (a client dripping bytes would otherwise hold the request for the 30 s timeout).
    let limit = state.config.body_limit;
    let after = state.config.body_timeout;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = match read_limited(body, headers, limit, after).await {
        BodyRead::Complete(bytes) => bytes,
        BodyRead::Failed(reason) => return IngressOutcome::BadRequest { reason },
        BodyRead::TooLarge { bytes_seen } => {
            let refusal = BodyRefusal::TooLarge {
                bytes_seen,
                limit: limit as u64,
            };
            state.keep(|| Recorded::cut_off(tenant.id, content_type, refusal));
            return IngressOutcome::TooLarge { limit };
        }
        BodyRead::TimedOut { bytes_seen } => {
            let refusal = BodyRefusal::BodyTimeout {
                bytes_seen,
                after_ms: u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
            };
            state.keep(|| Recorded::cut_off(tenant.id, content_type, refusal));
            return IngressOutcome::BodyTimeout { after };
        }
    };

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
            let reason = e.to_string();
            // What Leadback sent that could not be read is what an operator needs to see.
            state.keep(|| Recorded::rejected(tenant.id, content_type, raw, reason.clone()));
            return IngressOutcome::BadRequest { reason };
        }
    };
    if payload.is_ping() || *method == Method::HEAD {
        return IngressOutcome::Ping;
    }

    let event_id = payload.event_id();
    let received_at = chrono::Utc::now();
    // Kept only when recording: the envelope takes the original.
    let recorded_type = state
        .recent_payloads
        .as_ref()
        .and_then(|_| content_type.clone());
    let mut envelope = Envelope::new(
        event_id.clone(),
        tenant.id,
        content_type,
        raw.to_vec(),
        received_at,
    );
    let span = crate::trace::publish_span(&mut envelope, state.queue_backend);
    let started = Instant::now();
    let published =
        tokio::time::timeout(state.config.publish_timeout, state.queue.publish(&envelope))
            .instrument(span.clone())
            .await;
    state
        .metrics
        .publish_confirm_duration_seconds
        .with_label_values(&[state.queue_backend])
        .observe(started.elapsed().as_secs_f64());
    match published {
        Ok(Ok(())) => {
            tracing::info!(tenant_id = %tenant.id, event_id = %event_id, "webhook accepted");
            // Neither waits: an in-memory note and a `try_send` (see recent.rs).
            if let Some(activity) = &state.activity {
                activity.accepted(tenant.id, received_at);
            }
            let id = event_id.to_string();
            state.keep(|| Recorded::accepted(tenant.id, received_at, recorded_type, id, raw));
            IngressOutcome::Accepted {
                event_id: event_id.to_string(),
            }
        }
        Ok(Err(e)) => {
            crate::trace::publish_failed(&span);
            IngressOutcome::Unavailable {
                reason: e.to_string(),
            }
        }
        Err(_) => {
            crate::trace::publish_failed(&span);
            IngressOutcome::Unavailable {
                reason: format!(
                    "queue did not confirm within {:?}",
                    state.config.publish_timeout
                ),
            }
        }
    }
}
