//! The delivery worker: consume queued Leadback events, enrich them with the tenant's settings,
//! map them to CoMagic calls, deliver, tag, record the outcome in the ledger, then ack.
//!
//! Failures never sleep while holding a message: retryable errors go to a delay tier, rate limits
//! wait for CoMagic's reset without using up attempts, and permanent errors or exhausted attempts
//! go to the dead letters with the reason. A delivery is acked only after its next home (ledger,
//! delay tier or dead letters) is durable.
//!
//! Uploads are batched: events of one tenant and kind that are ready within `batch_linger` go to
//! CoMagic in one `upload.*` call of up to `batch_size` items (the documented maximum is 50);
//! everything else (ledger, tags, ack, metrics) stays per event. See `batch.rs`.

mod account_zone;
mod batch;
mod classify;
mod deliver;
mod error;
mod finish;
mod health;
mod holds;
mod http;
mod ledger;
mod outcome;
mod poison;
mod retention;
mod settle;
mod tenants;
mod trace;

pub use deliver::Deliverer;
pub use outcome::{Disposition, FailureClass};
pub use poison::POISON_CLASS;
pub use retention::LedgerRetention;
pub use tenants::TenantDirectory;

use bridge_metrics::Metrics;
use bridge_queue::{Delivery, EventQueue};
use bridge_store::{NewDeadLetter, Store};
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Worker tunables, filled by the app from flags / environment.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Deliveries in flight at once (= the queue prefetch). Raised to eight times `batch_size`
    /// when lower: with batching, an event's time in flight includes the batch's linger and
    /// its ledger writes, so a small prefetch caps throughput (Little's law; see
    /// docs/benchmarks.md).
    pub concurrency: u16,
    /// Attempts before a retryable failure is dead-lettered as `exhausted`.
    pub max_attempts: u32,
    /// How long tenant settings and field maps are cached: a saved change reaches every worker
    /// within it, without a restart (one store read per busy tenant per period).
    pub tenant_cache_ttl: Duration,
    /// How long an account's zone read from `get.account` is trusted before it is read again
    /// (a day; a refused time re-reads it at once).
    pub account_zone_ttl: Duration,
    /// Timeout of one CoMagic call.
    pub comagic_timeout: Duration,
    /// On shutdown, how long in-flight deliveries may take; what is still unsettled after
    /// three quarters of it is given back to the queue (the ledger and `ext_id` keep a
    /// redelivered event from being doubled).
    pub shutdown_grace: Duration,
    /// Most items in one `upload.offline_messages` / `upload.chats` call (1..=50; CoMagic's
    /// documented maximum is 50).
    pub batch_size: usize,
    /// How long the first event of a batch waits for others of its tenant and kind.
    pub batch_linger: Duration,
    /// How long complete ledger entries are kept (`None`: for ever); see [`LedgerRetention`].
    pub ledger_retention: Option<LedgerRetention>,
    /// Which addresses tenants' API URLs may reach (`BRIDGE_ALLOW_PRIVATE_API_URLS`).
    pub address_policy: comagic_client::AddressPolicy,
}

impl WorkerConfig {
    /// `batch_size` clamped to what CoMagic accepts.
    pub fn effective_batch_size(&self) -> usize {
        self.batch_size
            .clamp(1, leadback_model::comagic::MAX_UPLOAD_BATCH)
    }

    /// The queue prefetch: `concurrency`, but at least eight batches' worth.
    pub fn prefetch(&self) -> u16 {
        let batches = u16::try_from(self.effective_batch_size() * 8).unwrap_or(u16::MAX);
        self.concurrency.max(batches).max(1)
    }
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 32,
            max_attempts: 9,
            tenant_cache_ttl: Duration::from_secs(1),
            account_zone_ttl: tenants::ACCOUNT_ZONE_TTL,
            comagic_timeout: Duration::from_secs(15),
            shutdown_grace: Duration::from_secs(20),
            batch_size: 50,
            batch_linger: Duration::from_millis(100),
            ledger_retention: LedgerRetention::days(LedgerRetention::DEFAULT_DAYS),
            address_policy: comagic_client::AddressPolicy::PUBLIC_ONLY,
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

    /// Consumes until `shutdown` fires, then lets in-flight deliveries (and batches being
    /// gathered) finish within the grace period. Re-subscribes by itself when the queue
    /// connection breaks.
    pub async fn run(&self, shutdown: CancellationToken) {
        // Aborted when the worker stops: each of its deletes is one statement.
        let retention = self.config.ledger_retention.map(|retention| {
            let (store, metrics) = (self.deliverer.store.clone(), self.deliverer.metrics.clone());
            tokio::spawn(retention.run(store, metrics))
        });
        let payload_retention = tokio::spawn(retention::run_recent_payloads_retention(
            self.deliverer.store.clone(),
            LedgerRetention::EVERY,
        ));
        // Tenant health: deliveries, errors and limits, written once a second and at the end.
        let activity = {
            let stop = shutdown.clone();
            tokio::spawn(
                self.deliverer
                    .activity
                    .clone()
                    .run(async move { stop.cancelled().await }),
            )
        };
        // The poison queue's messages become dead letters (class `poison`).
        let poison = tokio::spawn(poison::run(
            self.queue.clone(),
            self.deliverer.store.clone(),
            self.deliverer.metrics.clone(),
            shutdown.clone(),
        ));
        // Events ready for their upload go to the batcher; it groups them per tenant and kind.
        let (ready, batches) = mpsc::unbounded_channel();
        let mut batcher = tokio::spawn(batch::run(
            self.deliverer.clone(),
            batches,
            self.config.effective_batch_size(),
            self.config.batch_linger,
        ));
        let mut in_flight: JoinSet<()> = JoinSet::new();
        let mut backoff = Duration::from_millis(200);
        'subscribe: while !shutdown.is_cancelled() {
            let mut stream = match self.queue.consume(self.config.prefetch()).await {
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
                            let ready = ready.clone();
                            in_flight.spawn(async move {
                                if let Some(pending) = deliverer.begin(delivery, false).await {
                                    // Only fails when the batcher is gone (shutdown past its
                                    // grace): the unacked delivery comes back from the queue.
                                    let _ = ready.send(pending);
                                }
                            });
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
        payload_retention.abort();
        if let Some(retention) = retention {
            retention.abort();
        }
        // It stops at the shutdown signal; one in progress finishes its (short) store write.
        let _ = poison.await;
        let grace = self.config.shutdown_grace;
        tracing::info!(in_flight = in_flight.len(), ?grace, "worker stopping");
        drop(ready);
        // A quarter of the budget is kept for giving back what is still unsettled then (the
        // queue's `close` waits for those give-backs), so the whole stop stays within it.
        let drain = grace.saturating_sub(grace / 4);
        let drained = tokio::time::timeout(drain, async {
            while in_flight.join_next().await.is_some() {}
            // Every sender is gone now: the batcher flushes what it holds and ends.
            let _ = (&mut batcher).await;
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                abandoned = in_flight.len(),
                "grace period over; giving back the deliveries not settled yet"
            );
            // Dropping an unsettled delivery gives it back to the queue (a batch's envelope
            // alone); waiting for the aborted tasks makes sure every one was dropped.
            in_flight.abort_all();
            batcher.abort();
            while in_flight.join_next().await.is_some() {}
            let _ = (&mut batcher).await;
        }
        // Its last write ran at the shutdown signal; what the drain settled since goes now.
        let _ = activity.await;
        if let Err(e) = self.deliverer.activity.flush().await {
            tracing::warn!(error = %e, "cannot record tenant activity (health)");
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
) -> Result<(), error::DeadLetterError> {
    store.add_dead_letter(&dead).await?;
    delivery.ack().await?;
    Ok(())
}
