//! The poison queue's consumer: every message the queue gave up on (not an envelope, or past
//! the delivery limit) becomes a dead letter of class `poison` with the raw bytes and the
//! reason, and is acked only after that row is committed.

use bridge_metrics::Metrics;
use bridge_queue::{Envelope, EventQueue, Poison};
use bridge_store::{NewDeadLetter, Store};
use chrono::Utc;
use futures::StreamExt;
use leadback_model::EventId;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The dead letters' class (and `dead_letters_total` reason) of poison messages.
pub const POISON_CLASS: &str = "poison";

/// Reads the poison queue until `shutdown`, re-subscribing after errors.
pub(crate) async fn run(
    queue: Arc<dyn EventQueue>,
    store: Arc<dyn Store>,
    metrics: Metrics,
    shutdown: CancellationToken,
) {
    while !shutdown.is_cancelled() {
        let mut stream = match queue.consume_poison().await {
            Ok(stream) => stream,
            Err(error) => {
                tracing::warn!(%error, "cannot read the poison queue; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        loop {
            let item = tokio::select! {
                _ = shutdown.cancelled() => return,
                item = stream.next() => item,
            };
            match item {
                Some(Ok(poison)) => keep(store.as_ref(), &metrics, poison).await,
                Some(Err(error)) => tracing::warn!(%error, "poison queue"),
                None => break,
            }
        }
    }
}

/// Stores the poison message's dead letters, then acks it. When the store fails it is not
/// acked: the queue offers it again.
async fn keep(store: &dyn Store, metrics: &Metrics, poison: Box<dyn Poison>) {
    let dead_letters = match poison.envelopes() {
        Some(envelopes) if !envelopes.is_empty() => {
            undelivered(store, envelopes, poison.reason()).await
        }
        _ => Ok(vec![undecodable(poison.body(), poison.reason())]),
    };
    let dead_letters = match dead_letters {
        Ok(dead_letters) => dead_letters,
        Err(error) => {
            tracing::warn!(%error, "poison message not kept yet; it is offered again");
            return;
        }
    };
    for dead in &dead_letters {
        if let Err(error) = store.add_dead_letter(dead).await {
            tracing::warn!(%error, "poison message not kept yet; it is offered again");
            return;
        }
        tracing::error!(event_id = %dead.event_id, tenant_id = %dead.tenant_id, reason = %dead.message, "poison message kept in the dead letters");
    }
    metrics
        .dead_letters_total
        .with_label_values(&[POISON_CLASS])
        .inc_by(dead_letters.len() as u64);
    if let Err(error) = poison.ack().await {
        // Offered again later; the dead letter is one row per event, so nothing doubles.
        tracing::warn!(%error, "poison message kept but not acked");
    }
}

/// One dead letter per envelope that the ledger does not show as delivered (a group message's
/// siblings may have been).
async fn undelivered(
    store: &dyn Store,
    envelopes: Vec<Envelope>,
    reason: &str,
) -> Result<Vec<NewDeadLetter>, bridge_store::StoreError> {
    let keys: Vec<(Uuid, EventId)> = envelopes
        .iter()
        .map(|e| (e.tenant_id, e.event_id.clone()))
        .collect();
    let delivered: HashSet<(Uuid, EventId)> = store
        .ledger_get_many(&keys)
        .await?
        .into_iter()
        .filter(|entry| entry.complete)
        .map(|entry| (entry.tenant_id, entry.event_id))
        .collect();
    let now = Utc::now();
    Ok(envelopes
        .into_iter()
        .filter(|e| !delivered.contains(&(e.tenant_id, e.event_id.clone())))
        .map(|envelope| NewDeadLetter {
            tenant_id: envelope.tenant_id,
            event_id: envelope.event_id.clone(),
            class: POISON_CLASS.into(),
            mnemonic: None,
            message: reason.to_owned(),
            attempts: envelope.attempt,
            first_attempt_at: envelope.first_attempt_at,
            last_attempt_at: now,
            envelope: serde_json::to_value(&envelope).unwrap_or_default(),
        })
        .collect())
}

/// A message that is not an envelope: no tenant (nil id), an event id from its bytes' hash
/// (the same bytes twice are one dead letter), and the bytes themselves.
fn undecodable(body: &[u8], reason: &str) -> NewDeadLetter {
    use base64::Engine as _;
    let digest = hex::encode(Sha256::digest(body));
    NewDeadLetter {
        tenant_id: Uuid::nil(),
        // Always a valid id (hex after a fixed prefix); the fallback only keeps this total.
        event_id: EventId::parse(&format!("poison-{}", &digest[..32]))
            .unwrap_or_else(|_| EventId::from_body_hash(body)),
        class: POISON_CLASS.into(),
        mnemonic: None,
        message: reason.to_owned(),
        attempts: 0,
        first_attempt_at: None,
        last_attempt_at: Utc::now(),
        envelope: json!({
            "raw_base64": base64::engine::general_purpose::STANDARD.encode(body),
            "raw_text": String::from_utf8_lossy(body),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undecodable_bytes_are_kept_with_a_stable_event_id() {
        let a = undecodable(b"\xff not json", "undecodable envelope: x");
        let b = undecodable(b"\xff not json", "undecodable envelope: x");
        assert_eq!(a.event_id, b.event_id);
        assert_eq!(a.class, "poison");
        assert_eq!(a.tenant_id, Uuid::nil());
        assert_eq!(a.envelope["raw_base64"], "/yBub3QganNvbg==");
        assert_ne!(a.event_id, undecodable(b"other", "x").event_id);
    }
}
