//! Confirming publish channels, each carrying one publish at a time.
//!
//! RabbitMQ may confirm several publishes of a channel with one `basic.ack multiple`, and the
//! client library (lapin 2.5) hands a waiting `basic.return` to whichever of those confirms it
//! resolves first, not to the publish that came back. With several publishes awaiting their
//! confirms on one channel, an unroutable publish could then read as confirmed — a tier
//! publish that never reached its queue, its delivery acked, the event lost — and a routed one
//! as refused. On a channel with one publish in flight a confirm and a return can only be that
//! publish's. A channel whose publish failed or timed out is closed rather than reused, so a
//! late confirm cannot be taken for the next publish's.

use crate::QueueError;
use lapin::{options::ConfirmSelectOptions, Channel, Connection};
use std::sync::Mutex;
use tokio::sync::{Semaphore, SemaphorePermit};

/// Publish channels are opened on first need and kept while they stay open; at most `slots`
/// publishes are in flight at once (further publishes wait for a free channel).
pub(crate) struct Publishers {
    idle: Mutex<Vec<Channel>>,
    slots: Semaphore,
}

/// At least this many publish channels per connection: the worker's tier publishes and
/// republishes run beside the ingress's group publishes.
pub(crate) const MIN_PUBLISH_CHANNELS: usize = 16;

impl Publishers {
    /// A pool of up to `slots` channels, with one opened now (so a connection that cannot
    /// open a confirming channel fails at once).
    pub(crate) async fn open(connection: &Connection, slots: usize) -> Result<Self, lapin::Error> {
        let first = confirming_channel(connection).await?;
        Ok(Self {
            idle: Mutex::new(vec![first]),
            slots: Semaphore::new(slots.max(1)),
        })
    }

    /// A channel with no publish in flight, for one publish; give it back with
    /// [`Lease::keep`] once its confirm came.
    pub(crate) async fn lease<'a>(
        &'a self,
        connection: &Connection,
    ) -> Result<Lease<'a>, QueueError> {
        // The semaphore is never closed.
        let permit = self
            .slots
            .acquire()
            .await
            .map_err(|_| QueueError::Unavailable("publish channels closed".into()))?;
        let reused = loop {
            let Some(channel) = self.idle.lock().ok().and_then(|mut idle| idle.pop()) else {
                break None;
            };
            if channel.status().connected() {
                break Some(channel);
            }
        };
        let channel = match reused {
            Some(channel) => channel,
            None => confirming_channel(connection).await.map_err(|e| {
                QueueError::Unavailable(format!("cannot open a publish channel: {e}"))
            })?,
        };
        Ok(Lease {
            pool: self,
            channel,
            kept: false,
            _permit: permit,
        })
    }
}

/// One channel leased for one publish. Dropped without [`Lease::keep`] (the publish failed,
/// timed out or was cancelled), the channel is closed instead of going back to the pool.
pub(crate) struct Lease<'a> {
    pool: &'a Publishers,
    channel: Channel,
    kept: bool,
    _permit: SemaphorePermit<'a>,
}

impl Lease<'_> {
    pub(crate) fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Back to the pool: its one publish is settled (confirmed, nacked or returned).
    pub(crate) fn keep(mut self) {
        self.kept = true;
        if self.channel.status().connected() {
            if let Ok(mut idle) = self.pool.idle.lock() {
                idle.push(self.channel.clone());
            }
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if self.kept || !self.channel.status().connected() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let channel = self.channel.clone();
            runtime.spawn(async move {
                let _ = channel.close(200, "publish abandoned").await;
            });
        }
    }
}

async fn confirming_channel(connection: &Connection) -> Result<Channel, lapin::Error> {
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    Ok(channel)
}
