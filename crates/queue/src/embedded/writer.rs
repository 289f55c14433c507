//! The single writer: group commit of every publish and ack queued since the last commit.
//!
//! Publishes (inserts) and acks (deletes) share transactions: under load one commit (one fsync)
//! serves hundreds of each, and the other writers on the file (leases, the store) meet one lock
//! holder instead of many.

use super::{now_ms, storage, Shared};
use crate::{Envelope, QueueError};
use sqlx::sqlite::SqlitePool;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use tokio::sync::{mpsc, oneshot};

/// At most this many writes share one transaction, to bound its size and latency.
const MAX_BATCH: usize = 512;

/// What one write does.
pub(crate) enum Op {
    /// A publish: a new row, due now (serialized by the publisher, off the writer's task).
    Insert(NewRow),
    /// An ack: the row reached its final home.
    Delete(i64),
}

pub(crate) struct NewRow {
    event_id: String,
    tenant_id: String,
    attempt: i64,
    envelope: Vec<u8>,
}

impl NewRow {
    pub(crate) fn of(envelope: &Envelope) -> Self {
        Self {
            event_id: envelope.event_id.clone(),
            tenant_id: envelope.tenant_id.to_string(),
            attempt: i64::from(envelope.attempt),
            envelope: envelope.to_json(),
        }
    }
}

pub(crate) struct Write {
    pub op: Op,
    pub done: oneshot::Sender<Result<(), QueueError>>,
}

/// Runs until every sender is gone (the queue was dropped).
pub(crate) async fn run(
    pool: SqlitePool,
    mut requests: mpsc::Receiver<Write>,
    commits: Arc<AtomicU64>,
    shared: Weak<Shared>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = requests.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match requests.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let result = apply(&pool, &batch).await;
        if result.is_ok() {
            commits.fetch_add(1, Ordering::Relaxed);
            let published = batch.iter().any(|w| matches!(w.op, Op::Insert(_)));
            if let (true, Some(shared)) = (published, shared.upgrade()) {
                shared.new_rows.notify_waiters();
            }
        }
        for write in batch.drain(..) {
            let answer = match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(QueueError::Storage(e.to_string())),
            };
            // The caller may have given up (request cancelled); the write happened anyway.
            let _ = write.done.send(answer);
        }
    }
}

async fn apply(pool: &SqlitePool, batch: &[Write]) -> Result<(), QueueError> {
    let now = now_ms();
    let mut tx = pool.begin().await.map_err(storage)?;
    for write in batch {
        match &write.op {
            Op::Insert(row) => {
                sqlx::query(
                    "INSERT INTO queue_events (event_id, tenant_id, visible_at, attempt, envelope)
                     VALUES (?, ?, ?, ?, ?)",
                )
                .bind(&row.event_id)
                .bind(&row.tenant_id)
                .bind(now)
                .bind(row.attempt)
                .bind(&row.envelope)
                .execute(&mut *tx)
                .await
                .map_err(storage)?;
            }
            Op::Delete(id) => {
                sqlx::query("DELETE FROM queue_events WHERE id = ?")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(storage)?;
            }
        }
    }
    tx.commit().await.map_err(storage)
}
