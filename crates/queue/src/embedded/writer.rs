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
            event_id: envelope.event_id.to_string(),
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

/// Writes the whole batch in one transaction sent as one multi-statement query: `BEGIN
/// IMMEDIATE`, one multi-row `INSERT` for the publishes, one `DELETE … IN` for the acks,
/// `COMMIT`. That is one round trip to sqlx's SQLite thread per commit instead of one per
/// statement, and SQLite's write lock is held only while that thread runs the statements and the
/// fsync — not across the trips back to the async runtime, when other writers on the file (the
/// consumer's leases, the store's ledger) would be kept waiting for nothing.
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
    let mut sql = QueryBuilder::<Sqlite>::new("BEGIN IMMEDIATE;");
    if !inserts.is_empty() {
        sql.push(" INSERT INTO queue_events (event_id, tenant_id, visible_at, attempt, envelope) ");
        sql.push_values(inserts, |mut values, row| {
            values
                .push_bind(&row.event_id)
                .push_bind(&row.tenant_id)
                .push_bind(now)
                .push_bind(row.attempt)
                .push_bind(&row.envelope);
        });
        sql.push(";");
    }
    if !deletes.is_empty() {
        sql.push(" DELETE FROM queue_events WHERE id IN (");
        let mut ids = sql.separated(", ");
        for id in deletes {
            ids.push_bind(id);
        }
        ids.push_unseparated(");");
    }
    sql.push(" COMMIT");
    let mut connection = pool.acquire().await.map_err(storage)?;
    // Each batch size is a different statement: do not fill the prepared-statement cache.
    let result = sql
        .build()
        .persistent(false)
        .execute(&mut *connection)
        .await;
    if let Err(error) = result {
        // A statement failed before `COMMIT`: nothing of the batch is written. Leave the
        // connection outside any transaction for the next batch; if even that fails (or
        // `BEGIN` itself had failed and there is nothing to roll back), let the pool open a
        // fresh connection instead of reusing this one.
        if sqlx::query("ROLLBACK")
            .execute(&mut *connection)
            .await
            .is_err()
        {
            connection.close_on_drop();
        }
        return Err(storage(error));
    }
    Ok(())
}
