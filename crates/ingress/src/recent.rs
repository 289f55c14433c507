//! The recent-payloads recorder: keeps the last `BRIDGE_RECENT_PAYLOADS` webhook bodies of each
//! tenant in the store without slowing the webhook path.
//!
//! A request hands its body (a reference-counted `Bytes`, no copy) to a bounded channel with
//! `try_send` — never awaited; when the channel is full the body is dropped and counted in
//! `recent_payloads_dropped_total{reason="queue_full"}`. A background task keeps, per tenant,
//! only the newest `keep` bodies it was handed (older ones could never be listed), and once a
//! second writes them in one transaction that also trims each tenant to `keep` rows. So the
//! store sees at most `keep` rows per tenant per second whatever the webhook rate, and one
//! write in flight at a time; bodies arriving meanwhile wait in memory (bounded the same way).
//! Bodies older than [`bridge_store::RECENT_PAYLOADS_MAX_AGE`] are deleted at start and hourly.
//!
//! A body refused before it was read whole (413 too large, 408 too slow) is noted without a
//! byte of it — when, its content type, why and its size as seen ([`BodyRefusal`]) — and only
//! for a known tenant: an unknown token is refused before anything is read or noted.

use axum::body::Bytes;
use bridge_metrics::Metrics;
use bridge_store::{prune_expired_recent_payloads, BodyRefusal, NewRecentPayload, Store};
use bridge_store::{OUTCOME_ACCEPTED, OUTCOME_REJECTED};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Bodies waiting for the background task at most; more are dropped (and counted).
const CHANNEL_CAPACITY: usize = 1024;
/// How often kept bodies are written.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// How often bodies past the age limit are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// One body as the ingress saw it.
pub(crate) struct Recorded {
    tenant_id: Uuid,
    received_at: DateTime<Utc>,
    content_type: Option<String>,
    event_id: Option<String>,
    body: Bytes,
    outcome: &'static str,
    error: Option<String>,
}

impl Recorded {
    /// A body queued as event `event_id`.
    pub fn accepted(
        tenant_id: Uuid,
        received_at: DateTime<Utc>,
        content_type: Option<String>,
        event_id: String,
        body: Bytes,
    ) -> Recorded {
        Recorded {
            received_at,
            event_id: Some(event_id),
            ..Recorded::refused(tenant_id, content_type, body, OUTCOME_ACCEPTED, None)
        }
    }

    /// A body that could not be read as an event (answered 400), and why.
    pub fn rejected(
        tenant_id: Uuid,
        content_type: Option<String>,
        body: Bytes,
        reason: String,
    ) -> Recorded {
        Recorded::refused(
            tenant_id,
            content_type,
            body,
            OUTCOME_REJECTED,
            Some(reason),
        )
    }

    /// A body refused before it was read whole (413, 408): no byte of it is kept.
    pub fn cut_off(
        tenant_id: Uuid,
        content_type: Option<String>,
        refusal: BodyRefusal,
    ) -> Recorded {
        let error = Some(refusal.error());
        Recorded::refused(
            tenant_id,
            content_type,
            Bytes::new(),
            refusal.outcome(),
            error,
        )
    }

    fn refused(
        tenant_id: Uuid,
        content_type: Option<String>,
        body: Bytes,
        outcome: &'static str,
        error: Option<String>,
    ) -> Recorded {
        Recorded {
            tenant_id,
            received_at: Utc::now(),
            content_type,
            event_id: None,
            body,
            outcome,
            error,
        }
    }
}

/// The handle the webhook handler records through; cheap to clone.
#[derive(Clone)]
pub struct RecentPayloads {
    sender: mpsc::Sender<Recorded>,
    metrics: Metrics,
}

impl RecentPayloads {
    /// Starts the recorder keeping `keep` bodies per tenant; the task writes what it holds
    /// and ends when `stop` completes. `keep == 0` turns recording off: no handle, and the
    /// task deletes every body kept earlier, then ends.
    pub fn start(
        store: Arc<dyn Store>,
        metrics: Metrics,
        keep: u32,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> (Option<RecentPayloads>, JoinHandle<()>) {
        if keep == 0 {
            let task = tokio::spawn(async move {
                // Turning recording off also forgets what was kept (it is personal data).
                let everything = Utc::now() + chrono::TimeDelta::days(1);
                match store.prune_recent_payloads(everything).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(
                        deleted = n,
                        "BRIDGE_RECENT_PAYLOADS=0: recent payloads deleted"
                    ),
                    Err(e) => tracing::warn!(error = %e, "cannot delete recent payloads"),
                }
            });
            return (None, task);
        }
        let (sender, receiver) = mpsc::channel(CHANNEL_CAPACITY);
        let task = tokio::spawn(run(store, metrics.clone(), keep, receiver, stop));
        (Some(RecentPayloads { sender, metrics }), task)
    }

    /// Hands a body to the recorder without waiting; drops it (counted) when the recorder is
    /// behind.
    pub(crate) fn record(&self, recorded: Recorded) {
        if self.sender.try_send(recorded).is_err() {
            self.metrics
                .recent_payloads_dropped_total
                .with_label_values(&["queue_full"])
                .inc();
        }
    }
}

/// The newest `keep` bodies per tenant, waiting for the next write.
struct Kept {
    keep: usize,
    tenants: HashMap<Uuid, VecDeque<Recorded>>,
}

impl Kept {
    fn push(&mut self, recorded: Recorded) {
        let ring = self.tenants.entry(recorded.tenant_id).or_default();
        if ring.len() >= self.keep {
            ring.pop_front();
        }
        ring.push_back(recorded);
    }

    fn take(&mut self) -> Vec<NewRecentPayload> {
        self.tenants
            .drain()
            .flat_map(|(_, ring)| ring)
            .map(|r| NewRecentPayload {
                tenant_id: r.tenant_id,
                received_at: r.received_at,
                content_type: r.content_type,
                event_id: r.event_id,
                body: r.body.to_vec(),
                outcome: r.outcome.to_owned(),
                error: r.error,
            })
            .collect()
    }
}

async fn run(
    store: Arc<dyn Store>,
    metrics: Metrics,
    keep: u32,
    mut receiver: mpsc::Receiver<Recorded>,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut kept = Kept {
        keep: usize::try_from(keep).unwrap_or(usize::MAX),
        tenants: HashMap::new(),
    };
    let mut writing: Option<JoinHandle<()>> = None;
    let mut last_prune: Option<Instant> = None;
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            item = receiver.recv() => match item {
                Some(recorded) => kept.push(recorded),
                None => break,
            },
            _ = tick.tick() => {
                // One write at a time: a slow store makes bodies wait here (bounded), never
                // the webhook.
                if writing.as_ref().is_some_and(|w| !w.is_finished()) {
                    continue;
                }
                let prune = last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY);
                if prune {
                    last_prune = Some(Instant::now());
                }
                let batch = kept.take();
                if !batch.is_empty() || prune {
                    writing = Some(tokio::spawn(write(
                        store.clone(),
                        metrics.clone(),
                        batch,
                        keep,
                        prune,
                    )));
                }
            }
        }
    }
    // Stopping: what is still in the channel, then one last write after the one in flight.
    receiver.close();
    while let Ok(recorded) = receiver.try_recv() {
        kept.push(recorded);
    }
    if let Some(writing) = writing {
        let _ = writing.await;
    }
    write(store, metrics, kept.take(), keep, false).await;
}

async fn write(
    store: Arc<dyn Store>,
    metrics: Metrics,
    batch: Vec<NewRecentPayload>,
    keep: u32,
    prune: bool,
) {
    if !batch.is_empty() {
        if let Err(e) = store.record_recent_payloads(&batch, keep).await {
            tracing::warn!(error = %e, dropped = batch.len(), "cannot record recent payloads");
            metrics
                .recent_payloads_dropped_total
                .with_label_values(&["store_error"])
                .inc_by(u64::try_from(batch.len()).unwrap_or(u64::MAX));
        }
    }
    if prune {
        prune_expired_recent_payloads(store.as_ref(), Utc::now()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(tenant_id: Uuid, event: &str) -> Recorded {
        let body = Bytes::from_static(b"{}");
        Recorded::accepted(tenant_id, Utc::now(), None, event.into(), body)
    }

    #[test]
    fn only_the_newest_per_tenant_wait_for_the_write() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut kept = Kept {
            keep: 2,
            tenants: HashMap::new(),
        };
        for i in 0..5 {
            kept.push(recorded(a, &format!("a{i}")));
        }
        kept.push(recorded(b, "b0"));
        let mut events: Vec<String> = kept.take().into_iter().filter_map(|p| p.event_id).collect();
        events.sort();
        assert_eq!(events, ["a3", "a4", "b0"]);
        assert!(kept.take().is_empty());
    }

    #[tokio::test]
    async fn a_full_recorder_drops_and_counts_without_waiting() {
        let metrics = Metrics::new();
        let (sender, _receiver) = mpsc::channel(1);
        let recent = RecentPayloads {
            sender,
            metrics: metrics.clone(),
        };
        let started = Instant::now();
        for _ in 0..3 {
            let body = Bytes::from_static(b"x");
            recent.record(Recorded::rejected(Uuid::new_v4(), None, body, "x".into()));
        }
        assert!(started.elapsed() < Duration::from_millis(100));
        let dropped = metrics
            .recent_payloads_dropped_total
            .with_label_values(&["queue_full"])
            .get();
        assert_eq!(dropped, 2);
    }
}
