//! The RabbitMQ connection's life: the first connect (each node of the list once), the
//! topology and publish channels of each new connection, and the supervisor that watches the
//! connection and rebuilds it, with capped exponential backoff, until the queue shuts down.

use super::{node_urls, publishers, topology, Live, Shared};
use crate::QueueError;
use lapin::{Connection, ConnectionProperties};
use secrecy::ExposeSecret;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How long one connection attempt (TCP + AMQP handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the supervisor checks the connection besides lapin's error callback.
const HEALTH_POLL: Duration = Duration::from_millis(500);
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Opens a connection, declares the topology and prepares the confirming publish channels.
async fn establish(shared: &Arc<Shared>, generation: u64) -> Result<Live, QueueError> {
    let properties = ConnectionProperties::default()
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio)
        .with_connection_name(shared.connection_name.as_str().into());
    // Every attempt goes to the next node of the list, so a client of a cluster does not
    // depend on one node (validated non-empty at connect).
    let urls = node_urls(shared.options.amqp_url.expose_secret());
    let attempt = shared.attempts.fetch_add(1, Ordering::Relaxed);
    let url = urls
        .get(attempt % urls.len().max(1))
        .copied()
        .unwrap_or_default();
    let connection = tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect(url, properties))
        .await
        .map_err(|_| QueueError::Unavailable("connecting to RabbitMQ timed out".into()))?
        .map_err(|e| QueueError::Unavailable(format!("cannot connect to RabbitMQ: {e}")))?;
    let weak: Weak<Shared> = Arc::downgrade(shared);
    connection.on_error(move |error| {
        tracing::warn!(%error, "RabbitMQ connection error");
        if let Some(shared) = weak.upgrade() {
            shared.mark_broken(generation);
        }
    });
    let result = async {
        let options = &shared.options;
        topology::declare(
            &connection,
            &shared.names,
            &options.retry_tiers,
            options.delivery_limit,
        )
        .await?;
        let slots = options
            .publish_batching
            .max_in_flight
            .max(publishers::MIN_PUBLISH_CHANNELS);
        publishers::Publishers::open(&connection, slots).await
    }
    .await;
    match result {
        Ok(publishers) => Ok(Live {
            connection,
            publishers,
            generation,
        }),
        Err(e) => {
            let _ = connection.close(320, "topology failed").await;
            Err(QueueError::Unavailable(format!(
                "cannot declare the RabbitMQ topology: {e}"
            )))
        }
    }
}

/// The first connection: each node of the list is tried once (a cluster with a node down
/// still starts); the last error when none answers.
pub(super) async fn connect_first(shared: &Arc<Shared>) -> Result<Live, QueueError> {
    let nodes = node_urls(shared.options.amqp_url.expose_secret()).len();
    let mut last = QueueError::Unavailable("no RabbitMQ node configured".into());
    for _ in 0..nodes.max(1) {
        match establish(shared, 1).await {
            Ok(live) => return Ok(live),
            Err(error) => last = error,
        }
    }
    Err(last)
}

/// Watches the connection and rebuilds it after a failure until the queue shuts down.
pub(super) async fn supervise(shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.subscribe();
    let mut broken = shared.broken.subscribe();
    loop {
        let generation = *shared.generation.borrow();
        // Wait until the current connection breaks.
        loop {
            if *broken.borrow_and_update() >= generation {
                break;
            }
            if *shutdown.borrow() {
                close_live(&shared).await;
                return;
            }
            tokio::select! {
                _ = broken.changed() => {}
                _ = shutdown.changed() => {}
                _ = tokio::time::sleep(HEALTH_POLL) => {
                    let healthy = shared.current().is_some_and(|live| live.is_open());
                    if !healthy {
                        break;
                    }
                }
            }
        }
        let generation = close_live(&shared).await.max(generation) + 1;
        tracing::warn!("RabbitMQ connection lost; reconnecting");
        let mut backoff = BACKOFF_START;
        loop {
            if *shutdown.borrow() {
                return;
            }
            match establish(&shared, generation).await {
                Ok(live) => {
                    shared.install(live);
                    tracing::info!(generation, "RabbitMQ connection restored");
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, ?backoff, "RabbitMQ reconnect failed");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.changed() => {}
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }
}

/// Removes the live connection and closes it; returns its generation.
pub(super) async fn close_live(shared: &Shared) -> u64 {
    let old = shared.live.lock().ok().and_then(|mut slot| slot.take());
    match old {
        Some(live) => {
            if live.connection.status().connected() {
                let _ = tokio::time::timeout(
                    Duration::from_secs(2),
                    live.connection.close(200, "closing"),
                )
                .await;
            }
            live.generation
        }
        None => *shared.generation.borrow(),
    }
}
