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

/// Dead letters read per page while replaying.
const REPLAY_PAGE: u32 = 100;

/// Moves every chosen dead letter back to the main queue with attempts reset, reading them a
/// page at a time (a filter's `limit`, when set, caps the total; otherwise there is no cap).
/// Each is published (and confirmed) before it is removed, so a crash in between replays it
/// twice at worst, and the ledger makes the second one a no-op. The report counts every one.
///
/// The store counts each replay as it removes the dead letter, whoever replays; with `metrics`
/// (the API and the pages), `replays_total` is brought up to the store's count at once.
pub async fn replay_dead_letters(
    store: &dyn Store,
    queue: &dyn EventQueue,
    metrics: Option<&Metrics>,
    filter: &DeadLetterFilter,
) -> Result<ReplayReport, StoreError> {
    let replayed = replay_pages(store, queue, filter).await;
    if let Some(metrics) = metrics {
        match store.replay_count().await {
            Ok(count) => metrics.observe_replays(count),
            // The periodic refresh catches up; the replay itself went through.
            Err(e) => tracing::warn!(error = %e, "cannot read the replay count"),
        }
    }
    replayed
}

async fn replay_pages(
    store: &dyn Store,
    queue: &dyn EventQueue,
    filter: &DeadLetterFilter,
) -> Result<ReplayReport, StoreError> {
    let mut report = ReplayReport::default();
    let mut left = filter.limit.map(u64::from);
    let mut page = DeadLetterFilter {
        limit: Some(REPLAY_PAGE),
        ..filter.clone()
    };
    loop {
        if let Some(left) = left {
            page.limit = Some(REPLAY_PAGE.min(u32::try_from(left).unwrap_or(u32::MAX)));
        }
        if page.limit == Some(0) {
            break;
        }
        let dead_letters = store.list_dead_letters(&page).await?;
        let Some(last) = dead_letters.last() else {
            break;
        };
        // Keyset paging: one that failed stays dead and is not read again.
        page.after = Some((last.dead_at, last.id));
        let read = dead_letters.len() as u64;
        for dead in dead_letters {
            replay_one(store, queue, dead, &mut report).await?;
        }
        left = left.map(|left| left.saturating_sub(read));
        if read < u64::from(REPLAY_PAGE) {
            break;
        }
    }
    Ok(report)
}

/// Publishes one dead letter's envelope afresh and removes it (counting the replay), or notes
/// why it could not.
async fn replay_one(
    store: &dyn Store,
    queue: &dyn EventQueue,
    dead: DeadLetter,
    report: &mut ReplayReport,
) -> Result<(), StoreError> {
    let mut envelope: Envelope = match serde_json::from_value(dead.envelope.clone()) {
        Ok(envelope) => envelope,
        Err(e) => {
            report
                .failed
                .push(json!({"id": dead.id, "reason": format!("stored envelope unreadable: {e}")}));
            return Ok(());
        }
    };
    envelope.attempt = 0;
    envelope.first_attempt_at = None;
    envelope.last_error = None;
    if let Err(e) = queue.publish(&envelope).await {
        report
            .failed
            .push(json!({"id": dead.id, "reason": e.to_string()}));
        return Ok(());
    }
    store.remove_replayed_dead_letters(&[dead.id]).await?;
    tracing::info!(event_id = %dead.event_id, tenant_id = %dead.tenant_id, "dead letter replayed");
    report.replayed += 1;
    Ok(())
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
        "resolved_at": dead.resolved_at,
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
