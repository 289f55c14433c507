//! Dead-letter operations shared by the admin API, the pages and (the lead may reuse them) the
//! CLI: replay with attempts reset, and the JSON shapes of a listing and of one dead letter.

use bridge_metrics::Metrics;
use bridge_queue::{Envelope, EventQueue};
use bridge_store::{DeadLetter, DeadLetterFilter, Store, StoreError};
use serde::Serialize;
use serde_json::{json, Value};

#[derive(Debug, Default, Serialize)]
pub struct ReplayReport {
    pub replayed: u64,
    /// Dead letters that could not be replayed, with the reason (they stay dead).
    pub failed: Vec<Value>,
}

/// Moves the chosen dead letters back to the main queue with attempts reset. Each is published
/// (and confirmed) before it is removed, so a crash in between replays it twice at worst, and
/// the ledger makes the second one a no-op.
pub async fn replay_dead_letters(
    store: &dyn Store,
    queue: &dyn EventQueue,
    metrics: Option<&Metrics>,
    filter: &DeadLetterFilter,
) -> Result<ReplayReport, StoreError> {
    let mut report = ReplayReport::default();
    for dead in store.list_dead_letters(filter).await? {
        let mut envelope: Envelope = match serde_json::from_value(dead.envelope.clone()) {
            Ok(envelope) => envelope,
            Err(e) => {
                report.failed.push(
                    json!({"id": dead.id, "reason": format!("stored envelope unreadable: {e}")}),
                );
                continue;
            }
        };
        envelope.attempt = 0;
        envelope.first_attempt_at = None;
        envelope.last_error = None;
        if let Err(e) = queue.publish(&envelope).await {
            report
                .failed
                .push(json!({"id": dead.id, "reason": e.to_string()}));
            continue;
        }
        store.remove_dead_letters(&[dead.id]).await?;
        if let Some(m) = metrics {
            m.replays_total.inc();
        }
        tracing::info!(event_id = %dead.event_id, tenant_id = %dead.tenant_id, "dead letter replayed");
        report.replayed += 1;
    }
    Ok(report)
}

/// A dead letter for listing: everything but the envelope.
pub fn dead_letter_summary(dead: &DeadLetter) -> Value {
    json!({
        "id": dead.id,
        "tenant_id": dead.tenant_id,
        "event_id": dead.event_id,
        "class": dead.class,
        "mnemonic": dead.mnemonic,
        "message": dead.message,
        "attempts": dead.attempts,
        "first_attempt_at": dead.first_attempt_at,
        "last_attempt_at": dead.last_attempt_at,
        "dead_at": dead.dead_at,
    })
}

/// A dead letter in full, with the raw body decoded as text (lossily when not UTF-8).
pub fn dead_letter_detail(dead: &DeadLetter) -> Value {
    let mut value = dead_letter_summary(dead);
    let envelope: Option<Envelope> = serde_json::from_value(dead.envelope.clone()).ok();
    if let (Some(obj), Some(envelope)) = (value.as_object_mut(), envelope) {
        obj.insert("content_type".into(), json!(envelope.content_type));
        obj.insert("received_at".into(), json!(envelope.received_at));
        obj.insert(
            "raw_body".into(),
            json!(String::from_utf8_lossy(&envelope.raw_body)),
        );
        obj.insert("progress".into(), json!(envelope.progress));
    }
    value
}
