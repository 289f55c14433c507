//! HTTP side: the JSON-RPC endpoint (`POST /v2.0` and `POST /`), the `/_emulator/*` inspection
//! endpoints, fault application, and an accept loop that can really drop a connection.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tower::ServiceExt;

use crate::fault::Fault;
use crate::methods::{id_of, items_of, method_of};
use crate::rpc::{error_response, RpcError};
use crate::state::EmulatorState;

/// Requests larger than this are refused as unparseable (the API's own cap is 512 KB for sessions).
const MAX_BODY: usize = 8 * 1024 * 1024;

/// Lets a handler close the TCP connection it is being served on (set by the accept loop).
#[derive(Clone)]
struct ConnectionKill(Arc<Notify>);

/// The emulator's routes, for embedding in another server. Served this way, a
/// [`Fault::DropConnection`] cannot reach the socket and the call simply never answers.
pub fn router(state: EmulatorState) -> Router {
    Router::new()
        .route("/v2.0", post(rpc))
        .route("/", post(rpc))
        .route("/_emulator/records", get(records))
        .route("/_emulator/calls", get(calls))
        .route("/_emulator/uploads", get(uploads))
        .route("/_emulator/faults", post(faults))
        .route("/_emulator/reset", post(reset))
        .route("/_emulator/limits", post(limits))
        .route("/_emulator/expire_tokens", post(expire_tokens))
        .with_state(state)
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
        body.to_string(),
    )
        .into_response()
}

async fn rpc(State(state): State<EmulatorState>, request: Request) -> Response {
    let kill = request.extensions().get::<ConnectionKill>().cloned();
    let parsed = match to_bytes(request.into_body(), MAX_BODY).await {
        Ok(body) => serde_json::from_slice::<Value>(&body),
        Err(_) => {
            state.log_call("", "parse_error", 0, None);
            return json_response(
                StatusCode::OK,
                &error_response(&Value::Null, &RpcError::parse_error()),
            );
        }
    };
    let (method, id, items) = match &parsed {
        Ok(request) => (
            method_of(request).to_owned(),
            id_of(request),
            items_of(request),
        ),
        Err(_) => (String::new(), Value::Null, 0),
    };
    if let Some(fault) = state.take_fault(&method) {
        match fault {
            Fault::Delay { duration, .. } => tokio::time::sleep(duration).await,
            Fault::HttpStatus { status, .. } => {
                state.log_injected(&method, &format!("http_{status}"), items);
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
                let text = format!("{status}\n");
                return (status, [(header::CONTENT_TYPE, "text/plain")], text).into_response();
            }
            Fault::RpcError {
                code,
                mnemonic,
                message,
                ..
            } => {
                state.log_injected(&method, &mnemonic, items);
                let error = RpcError::new(code, &mnemonic, &message);
                return json_response(StatusCode::OK, &error_response(&id, &error));
            }
            Fault::DropConnection { .. } => {
                state.log_injected(&method, "dropped", items);
                if let Some(kill) = kill {
                    kill.0.notify_one();
                }
                // The accept loop drops this connection (and this future with it). Embedded
                // without the accept loop, nothing answers until the client gives up.
                std::future::pending::<()>().await;
            }
        }
    }
    let handled = state.handle(parsed);
    tracing::debug!(method = %handled.method, outcome = %handled.outcome, items = handled.items, "call");
    json_response(StatusCode::OK, &handled.response)
}

async fn records(State(state): State<EmulatorState>) -> Response {
    Json(state.records()).into_response()
}

async fn calls(State(state): State<EmulatorState>) -> Response {
    Json(state.calls()).into_response()
}

/// `{"ext_id_upload_counts": {ext_id: n}, "reuploads": n}`.
async fn uploads(State(state): State<EmulatorState>) -> Response {
    Json(state.uploads_json()).into_response()
}

#[derive(Deserialize)]
#[serde(untagged)]
enum FaultBody {
    Many(Vec<Fault>),
    One(Fault),
}

async fn faults(State(state): State<EmulatorState>, body: axum::body::Bytes) -> Response {
    let faults = match serde_json::from_slice::<FaultBody>(&body) {
        Ok(FaultBody::Many(faults)) => faults,
        Ok(FaultBody::One(fault)) => vec![fault],
        Err(error) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({"error": error.to_string()}),
            );
        }
    };
    let queued = faults.len();
    for fault in faults {
        state.inject(fault);
    }
    json_response(StatusCode::OK, &json!({"queued": queued}))
}

async fn reset(State(state): State<EmulatorState>) -> Response {
    state.reset();
    json_response(StatusCode::OK, &json!({"reset": true}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsBody {
    access_token: String,
    minute: u32,
    day: u32,
}

async fn limits(State(state): State<EmulatorState>, body: axum::body::Bytes) -> Response {
    match serde_json::from_slice::<LimitsBody>(&body) {
        Ok(body) if state.set_limits(&body.access_token, body.minute, body.day) => json_response(
            StatusCode::OK,
            &json!({"minute": body.minute, "day": body.day}),
        ),
        Ok(_) => json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": "unknown access token"}),
        ),
        Err(error) => json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": error.to_string()}),
        ),
    }
}

async fn expire_tokens(State(state): State<EmulatorState>) -> Response {
    state.expire_tokens();
    json_response(StatusCode::OK, &json!({"expired": true}))
}

/// Serve `app` on `listener` until `shutdown` flips, one task per connection, each connection able
/// to be closed from inside a handler ([`ConnectionKill`]).
pub(crate) async fn serve(listener: TcpListener, app: Router, mut shutdown: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Usually "too many open files": back off instead of spinning.
                tracing::warn!(%error, "emulator accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let kill = Arc::new(Notify::new());
        let marker = ConnectionKill(kill.clone());
        let service =
            app.clone()
                .map_request(move |mut request: Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(marker.clone());
                    request.map(Body::new)
                });
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            tokio::select! {
                result = connection => {
                    if let Err(error) = result {
                        tracing::debug!(%error, "emulator connection ended with an error");
                    }
                }
                // Dropping the connection future closes the socket without a response.
                _ = kill.notified() => {}
                _ = stop.changed() => {}
            }
        });
    }
}
