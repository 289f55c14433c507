//! `/healthz` (the process answers) and `/readyz` (queue and database reachable, migrations
//! applied) on the public listener.

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
}

pub fn router(store: Arc<dyn Store>, queue: Arc<dyn EventQueue>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(Backends { store, queue })
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
    let describe = |r: Result<(), String>| match r {
        Ok(()) => json!("ok"),
        Err(e) => json!(e),
    };
    (
        status,
        Json(json!({
            "status": if status == StatusCode::OK { "ready" } else { "not_ready" },
            "queue": describe(queue.map_err(|e| e.to_string())),
            "database": describe(store.map_err(|e| e.to_string())),
        })),
    )
}
