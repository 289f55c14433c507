//! The embedded queue's poison rows (`queue_poison`): rows that are not an envelope or were
//! delivered more often than the delivery limit, offered to the worker one at a time.

use super::{storage, Shared};
use crate::{Poison, PoisonMessage, QueueError};
use async_trait::async_trait;
use futures::stream::{BoxStream, StreamExt};
use std::sync::Arc;
use std::time::Duration;

type Item = Result<Box<dyn Poison>, QueueError>;

/// How often the poison rows are looked at: they are rare, and none is urgent.
const POLL: Duration = Duration::from_secs(1);

/// Offers every poison row in id order; after a pass with nothing new it starts over, so a row
/// the worker could not keep (and did not ack) is offered again.
pub(crate) fn stream(shared: Arc<Shared>) -> BoxStream<'static, Item> {
    futures::stream::unfold((shared, 0_i64), |(shared, mut after)| async move {
        let mut shutdown = shared.shutdown.subscribe();
        loop {
            if *shutdown.borrow() {
                return None;
            }
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
                    return Some((Ok(Box::new(poison) as Box<dyn Poison>), (shared, id)));
                }
                Ok(None) => after = 0,
                Err(error) => {
                    tokio::time::sleep(POLL).await;
                    return Some((Err(error), (shared, after)));
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
