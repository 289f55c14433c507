//! Messages a queue gave up on: a body that is not an envelope, or a message delivered more
//! often than the delivery limit allows. The worker keeps each in the store's dead letters
//! (class `poison`, the raw bytes and the reason) and only then acks it here.

use crate::{Envelope, QueueError};
use async_trait::async_trait;
use futures::stream::{BoxStream, StreamExt};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// One item of a poison stream.
pub(crate) type PoisonItem = Result<Box<dyn Poison>, QueueError>;

/// How often an empty poison queue is looked at again: poison is rare, and none is urgent.
const POLL: Duration = Duration::from_secs(1);

/// Deliveries of one main-queue message before it is moved to the poison queue (RabbitMQ's
/// `x-delivery-limit`; the embedded queue's delivery count).
pub const DEFAULT_DELIVERY_LIMIT: u32 = 20;

/// What a poison message holds, whichever queue kept it.
#[derive(Debug, Clone)]
pub struct PoisonMessage {
    /// The message's bytes as the queue held them.
    pub body: Vec<u8>,
    /// Why it is poison: `undecodable envelope: …` or `delivery limit (20) reached`.
    pub reason: String,
}

/// One message in the poison queue: its content, and how the queue that holds it lets go.
#[async_trait]
pub trait Poison: Send + Sync {
    fn message(&self) -> &PoisonMessage;
    /// The message's bytes as the queue held them.
    fn body(&self) -> &[u8] {
        &self.message().body
    }
    /// Why it is poison.
    fn reason(&self) -> &str {
        &self.message().reason
    }
    /// The envelopes the body carries (one, or a group message's several); `None` when it is
    /// not one.
    fn envelopes(&self) -> Option<Vec<Envelope>> {
        decode(self.body()).ok()
    }
    /// Removes it: call only after it is kept elsewhere (the dead letters).
    async fn ack(self: Box<Self>) -> Result<(), QueueError>;
}

/// The poison stream of a backend: asks `next` (which takes and gives back the backend's read
/// state) for the next message until `shutdown` turns true, waiting [`POLL`] after an empty
/// answer or an error (the error is yielded, so the worker can log it, then asked again).
pub(crate) fn poll_stream<S, F, Fut>(
    state: S,
    shutdown: watch::Receiver<bool>,
    next: F,
) -> BoxStream<'static, PoisonItem>
where
    S: Send + 'static,
    F: Fn(S) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = (S, Result<Option<Box<dyn Poison>>, QueueError>)> + Send,
{
    let next = Arc::new(next);
    futures::stream::unfold((state, shutdown), move |(mut state, mut shutdown)| {
        let next = next.clone();
        async move {
            loop {
                if *shutdown.borrow() {
                    return None;
                }
                let (kept, found) = next(state).await;
                state = kept;
                match found {
                    Ok(Some(poison)) => return Some((Ok(poison), (state, shutdown))),
                    Ok(None) => {}
                    Err(error) => {
                        tokio::time::sleep(POLL).await;
                        return Some((Err(error), (state, shutdown)));
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(POLL) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    })
    .boxed()
}

/// A body's envelopes: a JSON array (a group message) or one envelope.
pub(crate) fn decode(body: &[u8]) -> Result<Vec<Envelope>, serde_json::Error> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => serde_json::from_slice(body),
        _ => Envelope::from_json(body).map(|envelope| vec![envelope]),
    }
}

/// The reason for a message that reached the poison queue: its body does not decode, or it
/// was given up after `limit` deliveries.
pub(crate) fn reason(body: &[u8], limit: u32) -> String {
    match decode(body) {
        Err(error) => format!("undecodable envelope: {error}"),
        Ok(envelopes) if envelopes.is_empty() => "undecodable envelope: empty group".into(),
        Ok(_) => format!("delivery limit ({limit}) reached: delivered and never settled"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_tell_undecodable_from_over_the_limit() {
        assert!(reason(b"not json", 20).starts_with("undecodable envelope"));
        assert!(reason(b"[]", 20).starts_with("undecodable envelope"));
        let envelope = Envelope::new(
            "e1".parse().unwrap(),
            uuid::Uuid::nil(),
            None,
            b"{}".to_vec(),
            chrono::Utc::now(),
        );
        let one = envelope.to_json();
        assert_eq!(
            reason(&one, 20),
            "delivery limit (20) reached: delivered and never settled"
        );
        let group = serde_json::to_vec(&[envelope.clone(), envelope]).unwrap();
        assert_eq!(decode(&group).unwrap().len(), 2);
    }
}
