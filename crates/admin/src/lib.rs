//! The operator side of the bridge: a JSON admin API (`/admin/v1/…`, bearer token) and
//! server-rendered settings pages (`/admin/…`, cookie session + CSRF) to create tenants, pick
//! their defaults from lists loaded live from the tenant's own CoMagic account, rotate webhook
//! URLs, read the delivery ledger and inspect, replay or purge dead letters.
//!
//! The crate knows nothing of how the bridge is wired: the application builds an
//! [`AdminState`] and mounts [`admin_router`].

mod account;
mod api;
mod auth;
mod auth_throttle;
mod dead_letters;
mod error;
mod field_map;
mod health;
mod pages;
mod preview;
mod reading;
mod reasons;
mod recent_payloads;
mod strict_fields;
mod tenant_file;
mod tenant_problems;
mod test_request;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use bridge_metrics::Metrics;
use bridge_queue::EventQueue;
use bridge_store::Store;
use secrecy::SecretString;

pub use account::{ListKind, LIST_KINDS};
pub use api::api_routes;
pub use dead_letters::{
    dead_letter_detail, dead_letter_summary, replay_dead_letters, ReplayReport,
};
pub use error::ApiError;
pub use health::{
    status_of, tenant_health, tenant_statuses, BudgetView, BudgetWindow, ComagicCheck,
    DeadLettersView, StatusView, TenantHealth, TenantStatus, TimezoneCheck,
};
pub use preview::preview_body;
pub use reading::{ParseProblem, ParsedView};
pub use reasons::{Entity, FieldErrors, Fix, Reason};
pub use recent_payloads::{analyse_body, recent_payloads, DeliveryView, RecentPayloadView};
pub use tenant_file::{tenant_json, webhook_url, TenantFile, TenantFileError};
pub use test_request::{
    send_test_request, test_body, test_request_result, what_to_fix, TestRequestError,
    TestRequestResult, TEST_EVENT_PREFIX, TEST_ID_PREFIX, TEST_MESSAGE, TEST_NAME,
};

/// The OpenAPI 3.0 document of the JSON API, served at `/admin/v1/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("../../../docs/openapi.json");

/// Everything the admin side needs from the application.
#[derive(Clone)]
pub struct AdminState {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn EventQueue>,
    pub metrics: Metrics,
    /// Bearer token of the API and the sign-in secret of the pages.
    pub admin_token: SecretString,
    /// Base of generated webhook URLs, e.g. `https://bridge.example.com` (no trailing slash
    /// needed).
    pub public_url: String,
    /// Shared HTTP client for CoMagic calls, with the outbound address policy.
    pub http: comagic_client::Transport,
    /// Timeout of one CoMagic call made on an operator's behalf.
    pub comagic_timeout: Duration,
    /// Mark the session cookie `Secure` (set when the admin side is served over HTTPS).
    pub cookie_secure: bool,
}

/// What the handlers share: the application's state, the page sessions and the throttle of
/// failed authentications.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub app: Arc<AdminState>,
    pub sessions: auth::Sessions,
    pub auth_throttle: Arc<auth_throttle::AuthThrottle>,
}

/// Every admin route: the JSON API under `/admin/v1/`, the pages under `/admin/`.
pub fn admin_router(state: AdminState) -> Router {
    let ctx = Ctx {
        sessions: auth::Sessions::new(&state.admin_token).with_store(state.store.clone()),
        app: Arc::new(state),
        auth_throttle: Arc::default(),
    };
    api::router()
        .merge(pages::router())
        // A JSON 404 for unknown API paths without a router-wide fallback, which would swallow
        // the application's own 404s once this router is merged into it.
        .route(
            "/admin/v1/{*rest}",
            axum::routing::any(error::no_such_route),
        )
        .with_state(ctx)
}
