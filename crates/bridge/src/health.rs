//! `/healthz` (the process answers) and `/readyz` (queue and database reachable, migrations
//! applied). On the public listener `/readyz` says only ready or not; the error text of the
//! queue and the database (hosts, driver messages) is served on the metrics listener and the
//! admin listener ([`detailed_router`]) and logged.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use bridge_queue::EventQueue;
use bridge_store::Store;
use serde_json::json;
use std::sync::Arc;

#[derive(Clone)]
struct Backends {
    store: Arc<dyn Store>,
    queue: Arc<dyn EventQueue>,
    /// Show the queue's and the database's error text.
    detailed: bool,
}

/// The public listener's health routes: generic answers.
pub fn router(store: Arc<dyn Store>, queue: Arc<dyn EventQueue>) -> Router {
    routes(store, queue, false)
}

/// The private listeners' health routes: `/readyz` names what failed and why.
pub fn detailed_router(store: Arc<dyn Store>, queue: Arc<dyn EventQueue>) -> Router {
    routes(store, queue, true)
}

fn routes(store: Arc<dyn Store>, queue: Arc<dyn EventQueue>, detailed: bool) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(Backends {
            store,
            queue,
            detailed,
        })
}

async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(b): State<Backends>) -> impl IntoResponse {
    let queue = b.queue.ready().await;
    let store = b.store.ready().await;
    let status = if queue.is_ok() && store.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let detailed = b.detailed;
    let describe = |what: &str, r: Result<(), String>| match r {
        Ok(()) => json!("ok"),
        Err(e) => {
            tracing::warn!(component = what, error = %e, "not ready");
            if detailed {
                json!(e)
            } else {
                json!("unavailable")
            }
        }
    };
    (
        status,
        Json(json!({
            "status": if status == StatusCode::OK { "ready" } else { "not_ready" },
            "queue": describe("queue", queue.map_err(|e| e.to_string())),
            "database": describe("database", store.map_err(|e| e.to_string())),
        })),
    )
}
