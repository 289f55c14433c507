//! Leasing due rows, renewing the leases of in-flight deliveries, and settling them.

use super::writer::Op;
use super::{millis, now_ms, storage, tier_label, Shared};
use crate::{Delivery, Envelope, QueueError};
use async_trait::async_trait;
use futures::stream::{BoxStream, StreamExt};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

type Item = Result<Box<dyn Delivery>, QueueError>;

/// Rows this consumer holds, by id, with the token of the lease it holds on each.
type InFlight = Mutex<HashMap<i64, i64>>;

pub(crate) fn stream(shared: Arc<Shared>, prefetch: u16) -> BoxStream<'static, Item> {
    let (tx, rx) = mpsc::channel(usize::from(prefetch));
    let in_flight = Arc::new(InFlight::default());
    tokio::spawn(renew_leases(shared.clone(), Arc::downgrade(&in_flight)));
    tokio::spawn(run(shared, prefetch, in_flight, tx));
    futures::stream::unfold(rx, |mut rx| async move {
        let item = rx.recv().await?;
        Some((item, rx))
    })
    .boxed()
}

async fn run(shared: Arc<Shared>, prefetch: u16, in_flight: Arc<InFlight>, tx: mpsc::Sender<Item>) {
    // One permit per unsettled delivery: the prefetch limit.
    let permits = Arc::new(Semaphore::new(usize::from(prefetch)));
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        if *shutdown.borrow() {
            return;
        }
        let first = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
            _ = tx.closed() => return,
            _ = shutdown.changed() => continue,
        };
        let mut held = vec![first];
        while let Ok(permit) = permits.clone().try_acquire_owned() {
            held.push(permit);
        }
        let rows = match lease(&shared, held.len()).await {
            Ok(rows) => rows,
            Err(error) => {
                tracing::warn!(%error, "leasing queue rows failed");
                if tx.send(Err(error)).await.is_err() {
                    return;
                }
                tokio::time::sleep(shared.options.poll_interval).await;
                continue;
            }
        };
        if rows.is_empty() {
            drop(held);
            tokio::select! {
                _ = shared.new_rows.notified() => {}
                _ = tokio::time::sleep(shared.options.poll_interval) => {}
                _ = tx.closed() => return,
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let limit = shared.options.delivery_limit;
        for row in rows {
            let Some(permit) = held.pop() else { break };
            let decoded = Envelope::from_json(&row.envelope);
            let over_limit = row.deliveries > i64::from(limit);
            let envelope = match decoded {
                Ok(envelope) if !over_limit => envelope,
                _ => {
                    let reason = crate::poison::reason(&row.envelope, limit);
                    tracing::error!(%reason, id = row.id, "queue row moved to queue_poison");
                    if let Err(error) = poison(&shared, row.id, &reason).await {
                        tracing::error!(%error, "moving a poison row failed");
                    }
                    continue;
                }
            };
            if let Ok(mut map) = in_flight.lock() {
                map.insert(row.id, row.token);
            }
            let delivery = EmbeddedDelivery {
                id: row.id,
                token: row.token,
                envelope,
                redelivered: row.deliveries > 1,
                shared: shared.clone(),
                in_flight: in_flight.clone(),
                _permit: permit,
            };
            if tx.send(Ok(Box::new(delivery))).await.is_err() {
                return;
            }
        }
    }
}

struct LeasedRow {
    id: i64,
    token: i64,
    deliveries: i64,
    envelope: Vec<u8>,
}

/// Leases up to `limit` due rows in one statement, oldest first.
async fn lease(shared: &Shared, limit: usize) -> Result<Vec<LeasedRow>, QueueError> {
    let now = now_ms();
    let token: i64 = rand::random();
    let mut rows: Vec<(i64, i64, i64, Vec<u8>)> = sqlx::query_as(
        "UPDATE queue_events
         SET lease_until = ?2, lease_token = ?3, deliveries = deliveries + 1
         WHERE id IN (
             SELECT id FROM queue_events
             WHERE visible_at <= ?1 AND (lease_until IS NULL OR lease_until < ?1)
             ORDER BY visible_at, id
             LIMIT ?4)
         RETURNING id, visible_at, deliveries, envelope",
    )
    .bind(now)
    .bind(now.saturating_add(millis(shared.options.lease)))
    .bind(token)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(&shared.pool)
    .await
    .map_err(storage)?;
    // RETURNING does not keep the subquery's order.
    rows.sort_by_key(|(id, visible_at, _, _)| (*visible_at, *id));
    Ok(rows
        .into_iter()
        .map(|(id, _, deliveries, envelope)| LeasedRow {
            id,
            token,
            deliveries,
            envelope,
        })
        .collect())
}

async fn poison(shared: &Shared, id: i64, reason: &str) -> Result<(), QueueError> {
    let mut tx = shared.pool.begin().await.map_err(storage)?;
    sqlx::query(
        "INSERT INTO queue_poison (envelope, reason, moved_at)
         SELECT envelope, ?2, ?3 FROM queue_events WHERE id = ?1",
    )
    .bind(id)
    .bind(reason)
    .bind(now_ms())
    .execute(&mut *tx)
    .await
    .map_err(storage)?;
    sqlx::query("DELETE FROM queue_events WHERE id = ?")
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(storage)?;
    tx.commit().await.map_err(storage)
}

/// Extends the leases of this consumer's in-flight rows every third of the lease, so only a
/// dead process (or a dropped delivery) lets a lease run out.
async fn renew_leases(shared: Arc<Shared>, in_flight: Weak<InFlight>) {
    let every = shared.options.lease / 3;
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        let Some(in_flight) = in_flight.upgrade() else {
            return;
        };
        let held: Vec<(i64, i64)> = match in_flight.lock() {
            Ok(map) => map.iter().map(|(id, token)| (*id, *token)).collect(),
            Err(_) => return,
        };
        drop(in_flight);
        if held.is_empty() {
            continue;
        }
        let until = now_ms().saturating_add(millis(shared.options.lease));
        if let Err(error) = renew(&shared, &held, until).await {
            tracing::warn!(%error, rows = held.len(), "renewing queue leases failed");
        }
    }
}

/// Extends the leases of `held` (id, lease token) in one transaction.
async fn renew(shared: &Shared, held: &[(i64, i64)], until: i64) -> Result<(), QueueError> {
    let mut tx = shared.pool.begin().await.map_err(storage)?;
    for (id, token) in held {
        sqlx::query("UPDATE queue_events SET lease_until = ? WHERE id = ? AND lease_token = ?")
            .bind(until)
            .bind(id)
            .bind(token)
            .execute(&mut *tx)
            .await
            .map_err(storage)?;
    }
    tx.commit().await.map_err(storage)
}

struct EmbeddedDelivery {
    id: i64,
    token: i64,
    envelope: Envelope,
    redelivered: bool,
    shared: Arc<Shared>,
    in_flight: Arc<InFlight>,
    /// Frees a prefetch slot when the delivery is settled or dropped.
    _permit: OwnedSemaphorePermit,
}

impl Drop for EmbeddedDelivery {
    /// Stops renewing the lease: a dropped delivery comes back when the lease runs out.
    fn drop(&mut self) {
        if let Ok(mut map) = self.in_flight.lock() {
            map.remove(&self.id);
        }
    }
}

#[async_trait]
impl Delivery for EmbeddedDelivery {
    fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    fn redelivered(&self) -> bool {
        self.redelivered
    }

    /// Deletes the row even if its lease ran out meanwhile: the event reached its final home.
    /// Goes through the writer: concurrent acks share one commit with each other and with
    /// publishes.
    async fn ack(self: Box<Self>) -> Result<(), QueueError> {
        self.shared.write(Op::Delete(self.id)).await
    }

    async fn retry_later(
        self: Box<Self>,
        updated: &Envelope,
        delay: Duration,
    ) -> Result<(), QueueError> {
        // Wait exactly the chosen tier, as the RabbitMQ backend does.
        let tier = self.shared.options.retry_tiers.at_least(delay);
        let result = sqlx::query(
            "UPDATE queue_events
             SET envelope = ?, attempt = ?, visible_at = ?, tier = ?, deliveries = 0,
                 lease_until = NULL, lease_token = NULL
             WHERE id = ? AND lease_token = ?",
        )
        .bind(updated.to_json())
        .bind(i64::from(updated.attempt))
        .bind(now_ms().saturating_add(millis(tier)))
        .bind(tier_label(tier))
        .bind(self.id)
        .bind(self.token)
        .execute(&self.shared.pool)
        .await
        .map_err(storage)?;
        if result.rows_affected() == 0 {
            // Our lease expired and another consumer holds the row now; it will settle it.
            tracing::warn!(id = self.id, "retry of a delivery whose lease was lost");
        }
        Ok(())
    }

    /// Counts as a delivery against the limit, as RabbitMQ counts a requeue.
    async fn requeue(self: Box<Self>) -> Result<(), QueueError> {
        sqlx::query(
            "UPDATE queue_events SET lease_until = NULL, lease_token = NULL
             WHERE id = ? AND lease_token = ?",
        )
        .bind(self.id)
        .bind(self.token)
        .execute(&self.shared.pool)
        .await
        .map_err(storage)?;
        self.shared.new_rows.notify_waiters();
        Ok(())
    }
}
