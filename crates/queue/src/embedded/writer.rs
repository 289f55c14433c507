//! The single publish writer: group commit of everything queued since the last commit.

use super::{now_ms, storage, Shared};
use crate::{Envelope, QueueError};
use sqlx::sqlite::SqlitePool;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use tokio::sync::{mpsc, oneshot};

/// At most this many publishes share one transaction, to bound its size and latency.
const MAX_BATCH: usize = 512;

pub(crate) struct Write {
    pub envelope: Envelope,
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
        let result = insert(&pool, &batch).await;
        if result.is_ok() {
            commits.fetch_add(1, Ordering::Relaxed);
            if let Some(shared) = shared.upgrade() {
                shared.new_rows.notify_waiters();
            }
        }
        for write in batch.drain(..) {
            let answer = match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(QueueError::Storage(e.to_string())),
            };
            // The publisher may have given up (request cancelled); the row is stored anyway.
            let _ = write.done.send(answer);
        }
    }
}

async fn insert(pool: &SqlitePool, batch: &[Write]) -> Result<(), QueueError> {
    let now = now_ms();
    let mut tx = pool.begin().await.map_err(storage)?;
    for write in batch {
        let envelope = &write.envelope;
        sqlx::query(
            "INSERT INTO queue_events (event_id, tenant_id, visible_at, attempt, envelope)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&envelope.event_id)
        .bind(envelope.tenant_id.to_string())
        .bind(now)
        .bind(i64::from(envelope.attempt))
        .bind(envelope.to_json())
        .execute(&mut *tx)
        .await
        .map_err(storage)?;
    }
    tx.commit().await.map_err(storage)
}
