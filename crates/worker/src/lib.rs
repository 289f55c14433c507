//! The delivery worker: consume queued Leadback events, enrich them with the tenant's settings,
//! map them to CoMagic calls, deliver, tag, record the outcome in the ledger, then ack.
//!
//! Failures never sleep while holding a message: retryable errors go to a delay tier, rate limits
//! wait for CoMagic's reset without using up attempts, and permanent errors or exhausted attempts
//! go to the dead letters with the reason. A delivery is acked only after its next home (ledger,
//! delay tier or dead letters) is durable.

mod deliver;
mod outcome;
mod tenants;

pub use deliver::Deliverer;
pub use outcome::{Disposition, FailureClass};
pub use tenants::TenantDirectory;

use bridge_metrics::Metrics;
use bridge_queue::{Delivery, EventQueue};
use bridge_store::{NewDeadLetter, Store};
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Worker tunables, filled by the app from flags / environment.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Deliveries in flight at once (= the queue prefetch).
    pub concurrency: u16,
    /// Attempts before a retryable failure is dead-lettered as `exhausted`.
    pub max_attempts: u32,
    /// How long tenant settings are cached.
    pub tenant_cache_ttl: Duration,
    /// Timeout of one CoMagic call.
    pub comagic_timeout: Duration,
    /// On shutdown, how long in-flight deliveries may take before they are abandoned (they come
    /// back from the queue later; the ledger and `ext_id` keep them from being doubled).
    pub shutdown_grace: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 32,
            max_attempts: 9,
            tenant_cache_ttl: Duration::from_secs(5),
            comagic_timeout: Duration::from_secs(15),
            shutdown_grace: Duration::from_secs(20),
        }
    }
}

pub struct Worker {
    queue: Arc<dyn EventQueue>,
    deliverer: Arc<Deliverer>,
    config: WorkerConfig,
}

impl Worker {
    pub fn new(
        queue: Arc<dyn EventQueue>,
        store: Arc<dyn Store>,
        metrics: Metrics,
        config: WorkerConfig,
    ) -> Self {
        let deliverer = Arc::new(Deliverer::new(
            store,
            metrics,
            config.clone(),
            queue.retry_tiers().clone(),
        ));
        Self {
            queue,
            deliverer,
            config,
        }
    }

    /// Consumes until `shutdown` fires, then lets in-flight deliveries finish within the grace
    /// period. Re-subscribes by itself when the queue connection breaks.
    pub async fn run(&self, shutdown: CancellationToken) {
        let mut in_flight: JoinSet<()> = JoinSet::new();
        let mut backoff = Duration::from_millis(200);
        'subscribe: while !shutdown.is_cancelled() {
            let mut stream = match self.queue.consume(self.config.concurrency).await {
                Ok(stream) => {
                    backoff = Duration::from_millis(200);
                    stream
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "cannot consume; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => break 'subscribe,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    continue;
                }
            };
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break 'subscribe,
                    Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
                    item = stream.next() => match item {
                        Some(Ok(delivery)) => {
                            let deliverer = self.deliverer.clone();
                            in_flight.spawn(async move { deliverer.handle(delivery).await });
                        }
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, "queue consumer error");
                        }
                        None => {
                            tracing::info!("queue consumer ended; re-subscribing");
                            tokio::time::sleep(backoff).await;
                            continue 'subscribe;
                        }
                    }
                }
            }
        }
        let grace = self.config.shutdown_grace;
        tracing::info!(in_flight = in_flight.len(), ?grace, "worker stopping");
        let drained = tokio::time::timeout(grace, async {
            while in_flight.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                abandoned = in_flight.len(),
                "grace period over; unfinished deliveries return to the queue"
            );
            in_flight.abort_all();
        }
    }

    pub fn deliverer(&self) -> &Arc<Deliverer> {
        &self.deliverer
    }
}

/// Moves a delivery to the dead letters: store first, then ack.
pub(crate) async fn dead_letter(
    store: &dyn Store,
    delivery: Box<dyn Delivery>,
    dead: NewDeadLetter,
) -> Result<(), String> {
    store
        .add_dead_letter(&dead)
        .await
        .map_err(|e| format!("cannot store dead letter: {e}"))?;
    delivery
        .ack()
        .await
        .map_err(|e| format!("dead letter stored but ack failed (it will be redelivered and found in the ledger or dead-lettered again): {e}"))
}
