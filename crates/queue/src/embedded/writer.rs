//! The single writer: group commit of every publish and ack queued since the last commit.
//!
//! Publishes (inserts) and acks (deletes) share transactions: under load one commit (one fsync)
//! serves hundreds of each, and the other writers on the file (leases, the store) meet one lock
//! holder instead of many.

use super::{now_ms, storage, Shared};
use crate::{Envelope, QueueError};
use sqlx::sqlite::{Sqlite, SqlitePool};
use sqlx::QueryBuilder;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use tokio::sync::{mpsc, oneshot};

/// At most this many writes share one transaction, to bound its size and latency (and the
/// statement's bound parameters: 5 per row, far below SQLite's 32,766).
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

/// Writes the whole batch in one transaction: one multi-row `INSERT` for the publishes and one
/// `DELETE … IN` for the acks, so a batch costs a few statements (each a round trip to sqlx's
/// SQLite thread) and one commit, not one statement per write.
async fn apply(pool: &SqlitePool, batch: &[Write]) -> Result<(), QueueError> {
    let now = now_ms();
    let mut inserts: Vec<&NewRow> = Vec::new();
    let mut deletes: Vec<i64> = Vec::new();
    for write in batch {
        match &write.op {
            Op::Insert(row) => inserts.push(row),
            Op::Delete(id) => deletes.push(*id),
        }
    }
    let mut tx = pool.begin().await.map_err(storage)?;
    if !inserts.is_empty() {
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO queue_events (event_id, tenant_id, visible_at, attempt, envelope) ",
        );
        insert.push_values(inserts, |mut values, row| {
            values
                .push_bind(&row.event_id)
                .push_bind(&row.tenant_id)
                .push_bind(now)
                .push_bind(row.attempt)
                .push_bind(&row.envelope);
        });
        // Each batch size is a different statement: do not fill the prepared-statement cache.
        insert
            .build()
            .persistent(false)
            .execute(&mut *tx)
            .await
            .map_err(storage)?;
    }
    if !deletes.is_empty() {
        let mut delete = QueryBuilder::<Sqlite>::new("DELETE FROM queue_events WHERE id IN (");
        let mut ids = delete.separated(", ");
        for id in deletes {
            ids.push_bind(id);
        }
        ids.push_unseparated(")");
        delete
            .build()
            .persistent(false)
            .execute(&mut *tx)
            .await
            .map_err(storage)?;
    }
    tx.commit().await.map_err(storage)
}
