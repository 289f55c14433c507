//! Group publish: envelopes published while the in-flight limit is reached leave together as
//! one confirmed message (see [`super::PublishBatching`]).

use super::{envelope_properties, Shared, BATCH_KIND};
use crate::{Envelope, QueueError};
use lapin::BasicProperties;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Semaphore};

/// One envelope waiting for its message's confirm.
pub(crate) struct Pending {
    event_id: leadback_model::EventId,
    /// For the AMQP headers if the envelope goes alone (`None`, no allocation, when tracing
    /// is off); in a batch each envelope's own context travels in its JSON.
    trace: Option<crate::TraceContext>,
    /// The envelope's JSON, serialised by the caller (off the batcher's task).
    body: Vec<u8>,
    done: oneshot::Sender<Result<(), QueueError>>,
}

/// Hands `envelope` to the group publisher and waits until the message holding it is confirmed.
pub(crate) async fn publish(shared: &Shared, envelope: &Envelope) -> Result<(), QueueError> {
    let (done, confirmed) = oneshot::channel();
    let pending = Pending {
        event_id: envelope.event_id.clone(),
        trace: envelope.trace.clone(),
        body: envelope.to_json(),
        done,
    };
    let stopped = || QueueError::Unavailable("queue closed".into());
    shared
        .publishes
        .send(pending)
        .await
        .map_err(|_| stopped())?;
    confirmed.await.map_err(|_| stopped())?
}

/// Takes pending publishes, groups what has queued up while `max_in_flight` messages await
/// their confirms, and publishes each group on its own task. Ends when the queue shuts down;
/// publishes still waiting then fail with "queue closed".
pub(crate) async fn run(shared: Arc<Shared>, mut pending: mpsc::Receiver<Pending>) {
    let limits = shared.options.publish_batching;
    let in_flight = Arc::new(Semaphore::new(limits.max_in_flight));
    let mut shutdown = shared.shutdown.subscribe();
    let mut carried: Option<Pending> = None;
    loop {
        let first = match carried.take() {
            Some(first) => first,
            None => tokio::select! {
                next = pending.recv() => match next {
                    Some(first) => first,
                    None => return,
                },
                _ = shutdown.changed() => return,
            },
        };
        // Waiting for a free slot is what lets a batch grow under load.
        let permit = tokio::select! {
            permit = in_flight.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
            _ = shutdown.changed() => return,
        };
        let mut bytes = first.body.len();
        let mut batch = vec![first];
        while batch.len() < limits.max_events {
            let Ok(next) = pending.try_recv() else { break };
            if bytes + next.body.len() > limits.max_bytes {
                carried = Some(next);
                break;
            }
            bytes += next.body.len();
            batch.push(next);
        }
        let shared = shared.clone();
        tokio::spawn(async move {
            let result = publish_group(&shared, &batch).await;
            drop(permit);
            for pending in batch {
                // The caller may have given up (request cancelled); the publish happened anyway.
                let _ = pending.done.send(result.clone());
            }
        });
    }
}

/// One envelope as a plain message (as if there were no batching); several as one array.
async fn publish_group(shared: &Shared, batch: &[Pending]) -> Result<(), QueueError> {
    let names = &shared.names;
    match batch {
        [one] => {
            let properties = envelope_properties(one.event_id.as_str(), one.trace.as_ref());
            shared
                .publish_body(&names.exchange, &names.main, &one.body, properties)
                .await
        }
        many => {
            let size = many.iter().map(|p| p.body.len() + 1).sum::<usize>() + 1;
            let mut body = Vec::with_capacity(size);
            body.push(b'[');
            for (i, pending) in many.iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(&pending.body);
            }
            body.push(b']');
            let properties = BasicProperties::default()
                .with_content_type("application/json".into())
                .with_type(BATCH_KIND.into());
            shared
                .publish_body(&names.exchange, &names.main, &body, properties)
                .await
        }
    }
}
