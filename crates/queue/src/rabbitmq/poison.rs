//! The poison queue (`<prefix>.dead`): what the consumer rejected as not an envelope, and what
//! the main queue dead-lettered (at least once) past its `x-delivery-limit`. Read with
//! `basic.get` (poison is rare) on a channel of the live connection.

use super::Shared;
use crate::poison::{poll_stream, PoisonItem};
use crate::{Poison, PoisonMessage, QueueError};
use async_trait::async_trait;
use futures::stream::BoxStream;
use lapin::{
    acker::Acker,
    options::{BasicAckOptions, BasicGetOptions},
    Channel,
};
use std::sync::Arc;

/// The channel poison is read on, with the generation of the connection it belongs to.
type Reader = Option<(u64, Channel)>;

pub(crate) fn stream(shared: Arc<Shared>) -> BoxStream<'static, PoisonItem> {
    let shutdown = shared.shutdown.subscribe();
    poll_stream(
        (shared, Reader::None),
        shutdown,
        |(shared, mut reader)| async move {
            let found = get_one(&shared, &mut reader).await;
            if found.is_err() {
                // A fresh channel next time.
                reader = None;
            }
            ((shared, reader), found)
        },
    )
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
