//! The consumer stream that survives reconnects, and the delivery handed to the worker.

use super::{Shared, BATCH_KIND};
use crate::{Delivery, Envelope, QueueError};
use async_trait::async_trait;
use futures::stream::{BoxStream, StreamExt};
use lapin::{
    acker::Acker,
    options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions},
    types::FieldTable,
};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

type Item = Result<Box<dyn Delivery>, QueueError>;

/// Starts a task that subscribes on each live connection and forwards its deliveries.
pub(crate) fn stream(shared: Arc<Shared>, prefetch: u16) -> BoxStream<'static, Item> {
    let (tx, rx) = mpsc::channel(usize::from(prefetch).max(1));
    tokio::spawn(run(shared, prefetch, tx));
    futures::stream::unfold(rx, |mut rx| async move {
        let item = rx.recv().await?;
        Some((item, rx))
    })
    .boxed()
}

async fn run(shared: Arc<Shared>, prefetch: u16, tx: mpsc::Sender<Item>) {
    // `basic.qos` counts messages, and a group-published message holds many envelopes: the
    // envelopes handed out and not yet settled are limited to `prefetch` here as well.
    let envelopes = Arc::new(Semaphore::new(usize::from(prefetch)));
    let mut generations = shared.generation.subscribe();
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        if *shutdown.borrow() {
            return;
        }
        // Wait for a connection.
        let live = match shared.current() {
            Some(live) => live,
            None => {
                tokio::select! {
                    _ = generations.changed() => continue,
                    _ = shutdown.changed() => continue,
                    _ = tx.closed() => return,
                }
            }
        };
        let subscribed = async {
            let channel = live.connection.create_channel().await?;
            channel
                .basic_qos(prefetch, BasicQosOptions::default())
                .await?;
            let tag = shared.options.consumer_tag.clone().unwrap_or_default();
            let consumer = channel
                .basic_consume(
                    &shared.names.main,
                    &tag,
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await?;
            Ok::<_, lapin::Error>((channel, consumer))
        }
        .await;
        let lost = match subscribed {
            Ok((channel, mut consumer)) => loop {
                tokio::select! {
                    next = consumer.next() => match next {
                        Some(Ok(delivery)) => {
                            for mut item in into_deliveries(&shared, delivery).await {
                                let permit = tokio::select! {
                                    permit = envelopes.clone().acquire_owned() => permit.ok(),
                                    _ = tx.closed() => None,
                                    _ = shutdown.changed() => None,
                                };
                                let Some(permit) = permit else {
                                    let _ = channel.close(200, "consumer stopped").await;
                                    return;
                                };
                                item.permit = Some(permit);
                                if tx.send(Ok(item)).await.is_err() {
                                    // Unacked deliveries go back to the queue when the channel
                                    // closes.
                                    let _ = channel.close(200, "consumer dropped").await;
                                    return;
                                }
                            }
                        }
                        Some(Err(e)) => break format!("consumer failed: {e}"),
                        None => break "consumer cancelled by the broker".to_string(),
                    },
                    _ = tx.closed() => {
                        let _ = channel.close(200, "consumer dropped").await;
                        return;
                    }
                    _ = shutdown.changed() => {
                        let _ = channel.close(200, "queue closed").await;
                        return;
                    }
                }
            },
            Err(e) => format!("cannot subscribe: {e}"),
        };
        if *shutdown.borrow() {
            return;
        }
        tracing::warn!(reason = %lost, "RabbitMQ consumer lost; waiting for the reconnect");
        shared.mark_broken(live.generation);
        if tx.send(Err(QueueError::Unavailable(lost))).await.is_err() {
            return;
        }
        // Wait for a newer connection than the one that failed.
        let failed = live.generation;
        drop(live);
        loop {
            if *generations.borrow_and_update() > failed {
                break;
            }
            tokio::select! {
                _ = generations.changed() => {}
                _ = shutdown.changed() => return,
                _ = tx.closed() => return,
                // The failed generation may already have been replaced before we looked.
                _ = tokio::time::sleep(Duration::from_secs(1)) => {
                    if shared.current().is_some_and(|l| l.generation > failed) { break; }
                }
            }
        }
    }
}

/// Parses the body into the deliveries it carries: one for a plain message, one per envelope
/// for a group-published batch ([`BATCH_KIND`]). A message that is neither goes to the poison
/// queue.
async fn into_deliveries(
    shared: &Arc<Shared>,
    delivery: lapin::message::Delivery,
) -> Vec<Box<RabbitDelivery>> {
    let is_batch = delivery
        .properties
        .kind()
        .as_ref()
        .is_some_and(|kind| kind.as_str() == BATCH_KIND);
    let parsed = if is_batch {
        serde_json::from_slice::<Vec<Envelope>>(&delivery.data)
    } else {
        Envelope::from_json(&delivery.data).map(|envelope| vec![envelope])
    };
    let mut envelopes = match parsed {
        Ok(envelopes) if !envelopes.is_empty() => envelopes,
        Ok(_) => {
            let _ = delivery.acker.ack(BasicAckOptions::default()).await;
            return Vec::new();
        }
        Err(error) => {
            tracing::error!(%error, queue = %shared.names.dead, "malformed message moved to the poison queue");
            let _ = delivery
                .acker
                .reject(lapin::options::BasicRejectOptions { requeue: false })
                .await;
            return Vec::new();
        }
    };
    let redelivered = delivery.redelivered;
    let delivery_of = |envelope: Envelope, settle: Settle| {
        Box::new(RabbitDelivery {
            envelope,
            redelivered,
            settle: Some(settle),
            shared: shared.clone(),
            permit: None,
        })
    };
    if envelopes.len() == 1 {
        let mut envelope = envelopes.remove(0);
        if envelope.trace.is_none() && crate::trace_context::enabled() {
            // Published by a tool that sets only the standard headers.
            envelope.trace = delivery
                .properties
                .headers()
                .as_ref()
                .and_then(crate::TraceContext::from_amqp_headers);
        }
        return vec![delivery_of(envelope, Settle::Message(delivery.acker))];
    }
    let batch = Arc::new(BatchSettlement {
        acker: std::sync::Mutex::new(Some(delivery.acker)),
        unsettled: AtomicUsize::new(envelopes.len()),
        give_back: AtomicBool::new(false),
    });
    envelopes
        .into_iter()
        .map(|envelope| delivery_of(envelope, Settle::Part(batch.clone())))
        .collect()
}

/// How a delivery is settled with the broker.
enum Settle {
    /// The delivery is the whole message.
    Message(Acker),
    /// The delivery is one envelope of a batch message, which is acked once every envelope in it
    /// is settled.
    Part(Arc<BatchSettlement>),
}

impl Settle {
    /// Acks, or with `give_back` returns to the queue: the whole message at once, or (for a
    /// batch's envelope) once every envelope of its message is settled.
    async fn settle(self, give_back: bool) -> Result<(), QueueError> {
        match self {
            Settle::Message(acker) => finish(acker, give_back).await,
            Settle::Part(batch) => batch.settle_one(give_back).await,
        }
    }
}

/// Acks the message, or with `give_back` nacks it for immediate redelivery.
async fn finish(acker: Acker, give_back: bool) -> Result<(), QueueError> {
    let done = if give_back {
        let options = BasicNackOptions {
            requeue: true,
            multiple: false,
        };
        acker.nack(options).await
    } else {
        acker.ack(BasicAckOptions::default()).await
    };
    done.map_err(lost)
}

/// The shared fate of a batch message's envelopes. Each is settled on its own (acked, or moved
/// to a delay tier or back to the main queue as a message of its own); the message is acked when
/// the last is. Only an envelope whose republish keeps failing (see `give_back`) makes the
/// whole message come back, and then the envelopes already settled come back too: the ledger
/// recognises those as delivered (at-least-once, as after any crash).
struct BatchSettlement {
    acker: std::sync::Mutex<Option<Acker>>,
    unsettled: AtomicUsize,
    give_back: AtomicBool,
}

impl BatchSettlement {
    async fn settle_one(&self, give_back: bool) -> Result<(), QueueError> {
        if give_back {
            self.give_back.store(true, Ordering::Release);
        }
        if self.unsettled.fetch_sub(1, Ordering::AcqRel) != 1 {
            return Ok(());
        }
        let acker = self.acker.lock().ok().and_then(|mut acker| acker.take());
        match acker {
            Some(acker) => finish(acker, self.give_back.load(Ordering::Acquire)).await,
            None => Ok(()),
        }
    }
}

struct RabbitDelivery {
    envelope: Envelope,
    redelivered: bool,
    /// Taken by the method that settles the delivery; still present in `Drop` if none did.
    settle: Option<Settle>,
    shared: Arc<Shared>,
    /// One of the consumer's `prefetch` envelope slots, freed when this is settled or dropped.
    permit: Option<OwnedSemaphorePermit>,
}

impl RabbitDelivery {
    fn take_settle(&mut self) -> Result<Settle, QueueError> {
        self.settle
            .take()
            .ok_or_else(|| QueueError::Unavailable("delivery already settled".into()))
    }
}

fn lost(e: lapin::Error) -> QueueError {
    QueueError::Unavailable(format!("channel lost; the broker will redeliver: {e}"))
}

#[async_trait]
impl Delivery for RabbitDelivery {
    fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    fn redelivered(&self) -> bool {
        self.redelivered
    }

    async fn ack(mut self: Box<Self>) -> Result<(), QueueError> {
        self.take_settle()?.settle(false).await
    }

    async fn retry_later(
        mut self: Box<Self>,
        updated: &Envelope,
        delay: Duration,
    ) -> Result<(), QueueError> {
        let tier = self.shared.options.retry_tiers.at_least(delay);
        let queue = self
            .shared
            .names
            .tier_queue(tier)
            .ok_or_else(|| QueueError::Config(format!("no queue for tier {tier:?}")))?
            .to_string();
        // If this fails the delivery is dropped unsettled, and Drop gives it back.
        self.shared.publish_confirmed("", &queue, updated).await?;
        self.ack().await
    }

    async fn requeue(mut self: Box<Self>) -> Result<(), QueueError> {
        let settle = self.take_settle()?;
        give_back(&self.shared, &self.envelope, settle).await
    }
}

/// Returns an unsettled delivery to the main queue. A whole message is nacked for redelivery
/// (the broker counts it against `x-delivery-limit`). One envelope of a batch goes back as a
/// message of its own and its part of the batch is settled, so the siblings already moved to
/// their next home (ledger, tier, dead letters) are not delivered again. A failed republish is
/// tried again (see [`republish_alone`]); only when it keeps failing does the whole batch come
/// back — and when the connection itself is lost the broker requeues the unacked batch anyway,
/// as after a crash (the ledger and the one-per-event dead letters absorb the siblings).
async fn give_back(shared: &Shared, envelope: &Envelope, settle: Settle) -> Result<(), QueueError> {
    match settle {
        whole @ Settle::Message(_) => whole.settle(true).await,
        Settle::Part(batch) => {
            let republished = republish_alone(shared, envelope).await;
            batch.settle_one(republished.is_err()).await?;
            republished
        }
    }
}

/// Pauses between tries of a batch envelope's republish: a returned or nacked publish (a queue
/// leader being elected, a binding briefly missing) or a publisher channel being reopened
/// usually clears within a second, and giving up at once would re-run every sibling. Their sum
/// stays inside the give-back wait of `close`.
const REPUBLISH_PAUSES: [Duration; 4] = [
    Duration::from_millis(100),
    Duration::from_millis(300),
    Duration::from_millis(700),
    Duration::from_millis(1500),
];

/// Publishes one envelope of a batch back into the main queue as a message of its own, trying
/// again after each of [`REPUBLISH_PAUSES`] while the queue is open.
async fn republish_alone(shared: &Shared, envelope: &Envelope) -> Result<(), QueueError> {
    let names = &shared.names;
    let mut pauses = REPUBLISH_PAUSES.iter();
    loop {
        let error = match shared
            .publish_confirmed(&names.exchange, &names.main, envelope)
            .await
        {
            Ok(()) => return Ok(()),
            Err(error) => error,
        };
        match pauses.next() {
            Some(pause) if !shared.is_shut_down() => {
                tracing::warn!(%error, event_id = %envelope.event_id, "republishing a batch envelope failed; trying again");
                tokio::time::sleep(*pause).await;
            }
            _ => return Err(error),
        }
    }
}

impl Drop for RabbitDelivery {
    /// A delivery dropped unsettled (a failed tier publish or dead-letter write, a panic, the
    /// worker's shutdown past its grace) is given back at once rather than holding a prefetch
    /// slot until the channel closes; see [`give_back`]. [`crate::EventQueue::close`] waits
    /// for these give-backs before it closes the connection.
    fn drop(&mut self) {
        let Some(settle) = self.settle.take() else {
            return;
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let shared = self.shared.clone();
            let envelope = self.envelope.clone();
            let pending = shared.give_backs.start();
            runtime.spawn(async move {
                if let Err(error) = give_back(&shared, &envelope, settle).await {
                    tracing::warn!(%error, event_id = %envelope.event_id, "giving back an unsettled delivery failed; the broker redelivers it");
                }
                drop(pending);
            });
        }
    }
}
