//! The consumer stream that survives reconnects, and the delivery handed to the worker.

use super::Shared;
use crate::{Delivery, Envelope, QueueError};
use async_trait::async_trait;
use futures::stream::{BoxStream, StreamExt};
use lapin::{
    acker::Acker,
    options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions},
    types::FieldTable,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

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
                            let Some(item) = into_delivery(&shared, delivery).await else {
                                continue;
                            };
                            if tx.send(Ok(item)).await.is_err() {
                                // Unacked deliveries go back to the queue when the channel closes.
                                let _ = channel.close(200, "consumer dropped").await;
                                return;
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

/// Parses the body; a message that is not an envelope goes to the poison queue.
async fn into_delivery(
    shared: &Arc<Shared>,
    delivery: lapin::message::Delivery,
) -> Option<Box<dyn Delivery>> {
    match Envelope::from_json(&delivery.data) {
        Ok(envelope) => Some(Box::new(RabbitDelivery {
            envelope,
            redelivered: delivery.redelivered,
            acker: Some(delivery.acker),
            shared: shared.clone(),
        })),
        Err(error) => {
            tracing::error!(%error, queue = %shared.names.dead, "malformed message moved to the poison queue");
            let _ = delivery
                .acker
                .reject(lapin::options::BasicRejectOptions { requeue: false })
                .await;
            None
        }
    }
}

struct RabbitDelivery {
    envelope: Envelope,
    redelivered: bool,
    /// Taken by the method that settles the delivery; still present in `Drop` if none did.
    acker: Option<Acker>,
    shared: Arc<Shared>,
}

impl RabbitDelivery {
    fn take_acker(&mut self) -> Result<Acker, QueueError> {
        self.acker
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
        let acker = self.take_acker()?;
        acker.ack(BasicAckOptions::default()).await.map_err(lost)
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
        let acker = self.take_acker()?;
        acker.ack(BasicAckOptions::default()).await.map_err(lost)
    }

    async fn requeue(mut self: Box<Self>) -> Result<(), QueueError> {
        let acker = self.take_acker()?;
        acker
            .nack(BasicNackOptions {
                requeue: true,
                multiple: false,
            })
            .await
            .map_err(lost)
    }
}

impl Drop for RabbitDelivery {
    /// A delivery dropped unsettled (a worker bug or panic) would otherwise hold a prefetch
    /// slot until the channel closes; give it back to the queue right away.
    fn drop(&mut self) {
        if let Some(acker) = self.acker.take() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = acker
                        .nack(BasicNackOptions {
                            requeue: true,
                            multiple: false,
                        })
                        .await;
                });
            }
        }
    }
}
