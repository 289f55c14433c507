//! The public HTTP/1 server: an accept loop on hyper directly, because `axum::serve` offers no
//! header read timeout — without one a client that drips its request head a byte at a time holds a
//! connection (and a file descriptor) forever.
//!
//! Open connections are capped ([`ServeOptions::max_connections`]): at the cap the loop stops
//! accepting, and further clients wait in the kernel's listen backlog (or retry their connect)
//! until a connection closes. Each open connection holds hyper's buffers (≈ 30 KiB), so without a
//! cap a stall of the queue with thousands of clients waiting grew the process past 150 MiB.
//!
//! Each connection gets the client address as `ConnectInfo<SocketAddr>` (the unknown-token throttle
//! keys on it). Shutdown stops accepting, lets in-flight requests finish, and gives up on
//! connections that outlive [`ServeOptions::drain_limit`].

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// Connection-level limits of the public server.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Time a client has to send the whole request head (also closes idle keep-alive
    /// connections after it).
    pub header_timeout: Duration,
    /// Most header fields in one request; more are answered 431.
    pub max_headers: usize,
    /// Largest request head, bytes; longer is answered 431. Generous, because an event can
    /// arrive as a GET query string.
    pub max_head_bytes: usize,
    /// How long shutdown waits for open connections before dropping them.
    pub drain_limit: Duration,
    /// Most connections open at once; at the cap new ones wait to be accepted.
    pub max_connections: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            max_headers: 100,
            max_head_bytes: 256 * 1024,
            drain_limit: Duration::from_secs(35),
            max_connections: 1024,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then drains open connections.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) {
    let graceful = GracefulShutdown::new();
    let app = app.layer(axum::middleware::from_fn_with_state(
        options.max_head_bytes,
        crate::head_limit::reject_large_head,
    ));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_timeout)
        .max_headers(options.max_headers)
        // hyper's floor for the read buffer is 8 KiB.
        .max_buf_size(options.max_head_bytes.max(8192));
    let mut shutdown = std::pin::pin!(shutdown);
    let slots = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let mut warned_at: Option<Instant> = None;
    loop {
        if slots.available_permits() == 0
            && warned_at.is_none_or(|at| at.elapsed() >= Duration::from_secs(60))
        {
            warned_at = Some(Instant::now());
            tracing::warn!(
                max_connections = options.max_connections,
                "connection limit reached; new connections wait until one closes"
            );
        }
        let slot = tokio::select! {
            _ = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let (stream, remote) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service = app
            .clone()
            .map_request(move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(remote));
                request
            });
        let connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(e) = connection.await {
                // Timeouts, resets and malformed requests end here; never worth more than debug.
                tracing::debug!(error = %e, client = %remote, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(options.drain_limit, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "connections still open after {:?}; closing them",
            options.drain_limit
        );
    }
}
