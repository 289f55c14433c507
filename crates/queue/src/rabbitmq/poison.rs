//! The poison queue (`<prefix>.dead`): what the consumer rejected as not an envelope, and what
//! the main queue dead-lettered (at least once) past its `x-delivery-limit`. Read with
//! `basic.get` (poison is rare) on a channel of the live connection.

use super::Shared;
use crate::{Poison, PoisonMessage, QueueError};
use async_trait::async_trait;
use futures::stream::{BoxStream, StreamExt};
use lapin::{
    acker::Acker,
    options::{BasicAckOptions, BasicGetOptions},
    Channel,
};
use std::sync::Arc;
use std::time::Duration;

type Item = Result<Box<dyn Poison>, QueueError>;

/// How often an empty poison queue is looked at again.
const POLL: Duration = Duration::from_secs(1);

/// The channel poison is read on, with the generation of the connection it belongs to.
type Reader = Option<(u64, Channel)>;

pub(crate) fn stream(shared: Arc<Shared>) -> BoxStream<'static, Item> {
    futures::stream::unfold((shared, Reader::None), |(shared, mut reader)| async move {
        let mut shutdown = shared.shutdown.subscribe();
        loop {
            if *shutdown.borrow() {
                return None;
            }
            match get_one(&shared, &mut reader).await {
                Ok(Some(poison)) => return Some((Ok(poison), (shared, reader))),
                Ok(None) => {}
                Err(error) => {
                    reader = None;
                    tokio::time::sleep(POLL).await;
                    return Some((Err(error), (shared, reader)));
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = shutdown.changed() => {}
            }
        }
    })
    .boxed()
}

async fn get_one(
    shared: &Arc<Shared>,
    reader: &mut Reader,
) -> Result<Option<Box<dyn Poison>>, QueueError> {
    let live = shared.healthy()?;
    let lost = |e: lapin::Error| QueueError::Unavailable(format!("poison queue: {e}"));
    let channel = match reader {
        Some((generation, channel))
            if *generation == live.generation && channel.status().connected() =>
        {
            channel.clone()
        }
        _ => {
            let channel = live.connection.create_channel().await.map_err(lost)?;
            *reader = Some((live.generation, channel.clone()));
            channel
        }
    };
    let Some(message) = channel
        .basic_get(&shared.names.dead, BasicGetOptions::default())
        .await
        .map_err(lost)?
    else {
        return Ok(None);
    };
    let delivery = message.delivery;
    let reason = crate::poison::reason(&delivery.data, shared.options.delivery_limit);
    Ok(Some(Box::new(RabbitPoison {
        message: PoisonMessage {
            body: delivery.data,
            reason,
        },
        acker: delivery.acker,
        _channel: channel,
    })))
}

struct RabbitPoison {
    message: PoisonMessage,
    acker: Acker,
    /// Keeps the channel open until the ack (lapin closes a channel with its last handle).
    _channel: Channel,
}

#[async_trait]
impl Poison for RabbitPoison {
    fn message(&self) -> &PoisonMessage {
        &self.message
    }

    async fn ack(self: Box<Self>) -> Result<(), QueueError> {
        self.acker
            .ack(BasicAckOptions::default())
            .await
            .map_err(|e| QueueError::Unavailable(format!("poison ack: {e}")))
    }
}
