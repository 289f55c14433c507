//! The embedded queue's poison rows (`queue_poison`): rows that are not an envelope or were
//! delivered more often than the delivery limit, offered to the worker one at a time.

use super::{storage, Shared};
use crate::poison::{poll_stream, PoisonItem};
use crate::{Poison, PoisonMessage, QueueError};
use async_trait::async_trait;
use futures::stream::BoxStream;
use std::sync::Arc;

/// Offers every poison row in id order; after a pass with nothing new it starts over, so a row
/// the worker could not keep (and did not ack) is offered again.
pub(crate) fn stream(shared: Arc<Shared>) -> BoxStream<'static, PoisonItem> {
    let shutdown = shared.shutdown.subscribe();
    poll_stream((shared, 0_i64), shutdown, |(shared, after)| async move {
        let next: Result<Option<(i64, Vec<u8>, String)>, QueueError> = sqlx::query_as(
            "SELECT id, envelope, reason FROM queue_poison WHERE id > ? ORDER BY id LIMIT 1",
        )
        .bind(after)
        .fetch_optional(&shared.pool)
        .await
        .map_err(storage);
        match next {
            Ok(Some((id, body, reason))) => {
                let poison = EmbeddedPoison {
                    id,
                    message: PoisonMessage { body, reason },
                    shared: shared.clone(),
                };
                ((shared, id), Ok(Some(Box::new(poison) as Box<dyn Poison>)))
            }
            Ok(None) => ((shared, 0), Ok(None)),
            Err(error) => ((shared, after), Err(error)),
        }
    })
}

struct EmbeddedPoison {
    id: i64,
    message: PoisonMessage,
    shared: Arc<Shared>,
}

#[async_trait]
impl Poison for EmbeddedPoison {
    fn message(&self) -> &PoisonMessage {
        &self.message
    }

    async fn ack(self: Box<Self>) -> Result<(), QueueError> {
        sqlx::query("DELETE FROM queue_poison WHERE id = ?")
            .bind(self.id)
            .execute(&self.shared.pool)
            .await
            .map_err(storage)
            .map(|_| ())
    }
}
