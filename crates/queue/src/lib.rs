//! The durable event queue between the ingress and the worker.
//!
//! One trait, [`EventQueue`], with two backends: RabbitMQ (`rabbitmq`, quorum queues, publisher
//! confirms, TTL delay tiers) and an embedded SQLite file (`embedded`, WAL, group commit, leases).
//! Both carry the same [`Envelope`]; the worker never knows which backend it talks to.
//!
//! Dead letters are not kept in the queue: they live in the store (`bridge-store`), where
//! operators can filter, inspect, replay and purge them. The queue's job ends when a message's
//! next home is confirmed.

mod envelope;
mod error;
mod outstanding;
mod poison;
mod tiers;
mod topology_cleanup;
pub mod trace_context;

pub mod embedded;
pub mod rabbitmq;

pub use embedded::{EmbeddedOptions, EmbeddedQueue};
pub use envelope::{Envelope, Progress, ENVELOPE_SCHEMA_VERSION};
pub use error::QueueError;
pub use leadback_model::LastError;
pub use poison::{Poison, PoisonMessage, DEFAULT_DELIVERY_LIMIT};
pub use rabbitmq::{RabbitOptions, RabbitQueue};
pub use tiers::RetryTiers;
pub use topology_cleanup::delete_topology;
pub use trace_context::TraceContext;

use async_trait::async_trait;
use futures::stream::BoxStream;
use std::time::Duration;

/// The deliveries of [`EventQueue::consume`]; an error item is a broken connection.
pub type Deliveries = BoxStream<'static, Result<Box<dyn Delivery>, QueueError>>;

/// The messages of [`EventQueue::consume_poison`]; an error item is a broken connection.
pub type PoisonMessages = BoxStream<'static, Result<Box<dyn Poison>, QueueError>>;

/// How many messages wait in one of the queue's parts, for `queue_depth{queue}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDepth {
    /// `main`, the delay tier's name (`retry_5s`, `retry_30s`, …) or `poison`.
    pub queue: String,
    pub messages: u64,
}

/// A durable FIFO-ish queue of [`Envelope`]s with at-least-once delivery.
#[async_trait]
pub trait EventQueue: Send + Sync + 'static {
    /// Stores the envelope durably. `Ok` means the broker confirmed (RabbitMQ) or the row is
    /// committed and fsync'd (embedded): only then may the ingress answer 2xx.
    async fn publish(&self, envelope: &Envelope) -> Result<(), QueueError>;

    /// Starts consuming with at most `prefetch` unacknowledged deliveries in flight.
    /// The stream ends when the queue is closed; a broken connection yields an error item.
    async fn consume(&self, prefetch: u16) -> Result<Deliveries, QueueError>;

    /// Messages waiting in the main queue and each delay tier.
    async fn depths(&self) -> Result<Vec<QueueDepth>, QueueError>;

    /// Whether the backend is reachable and its topology in place (for `/readyz`).
    async fn ready(&self) -> Result<(), QueueError>;

    /// Messages the queue gave up on (not an envelope, or past the delivery limit), one at a
    /// time, for the worker to keep in the dead letters. A broken connection yields an error
    /// item and the stream goes on after the reconnect.
    async fn consume_poison(&self) -> Result<PoisonMessages, QueueError>;

    /// The delay tiers this queue was built with.
    fn retry_tiers(&self) -> &RetryTiers;

    /// Stops consuming and closes connections; in-flight unacked deliveries come back later.
    async fn close(&self);
}

/// One message handed to the worker. Exactly one of the consuming methods must be called;
/// dropping it without one leaves it unacked, and the backend redelivers it later.
#[async_trait]
pub trait Delivery: Send + Sync {
    fn envelope(&self) -> &Envelope;

    /// Whether the backend says this message was delivered before (a crash or requeue).
    fn redelivered(&self) -> bool;

    /// The message reached its final home (ledger or dead letters): remove it.
    async fn ack(self: Box<Self>) -> Result<(), QueueError>;

    /// Puts `updated` (with its new attempt count, progress and last error) in the delay tier
    /// that fits `delay`, waits for that to be durable, then acks this delivery.
    async fn retry_later(
        self: Box<Self>,
        updated: &Envelope,
        delay: Duration,
    ) -> Result<(), QueueError>;

    /// Gives the message back unchanged for immediate redelivery (graceful shutdown).
    async fn requeue(self: Box<Self>) -> Result<(), QueueError>;
}
