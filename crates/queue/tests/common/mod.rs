//! Test harness: one [`Backend`] per queue implementation, and small helpers.
//!
//! RabbitMQ tests share the broker's `/` vhost; each test gets its own random prefix (so its
//! own exchange and queues) and deletes them at the end, best effort
//! (`bridge_queue::delete_topology`). Connections and `rabbitmqctl` come from
//! `bridge-test-support`, the harness every test suite of the workspace shares. Embedded tests get their
//! own temporary directory.

#![allow(dead_code)]

use async_trait::async_trait;
use bridge_queue::embedded::{EmbeddedOptions, EmbeddedQueue};
use bridge_queue::rabbitmq::{Names, PublishBatching, RabbitOptions, RabbitQueue};
use bridge_queue::{Delivery, Envelope, EventQueue, RetryTiers};
use futures::stream::StreamExt;
use std::sync::Arc;
use std::time::Duration;

pub use bridge_test_support::rabbitmq::AMQP_URL;

pub use bridge_queue::Deliveries;

pub fn test_tiers() -> RetryTiers {
    RetryTiers::new(vec![Duration::from_secs(1), Duration::from_secs(2)]).unwrap()
}

/// Opens queues on one shared underlying store (a broker prefix or a file).
#[async_trait]
pub trait Backend: Send + Sync {
    async fn open(&self) -> Arc<dyn EventQueue>;
    async fn cleanup(&self);
}

pub struct Rabbit {
    pub prefix: String,
    pub connection_name: String,
    pub confirm_timeout: Duration,
    pub batching: PublishBatching,
    pub delivery_limit: u32,
}

impl Rabbit {
    pub fn new() -> Self {
        let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
        Self {
            connection_name: format!("bridge-queue-test {prefix}"),
            prefix,
            confirm_timeout: Duration::from_secs(5),
            batching: PublishBatching::default(),
            delivery_limit: bridge_queue::DEFAULT_DELIVERY_LIMIT,
        }
    }

    pub fn options(&self) -> RabbitOptions {
        let mut options = RabbitOptions::new(AMQP_URL.to_string().into());
        options.prefix = self.prefix.clone();
        options.retry_tiers = test_tiers();
        options.confirm_timeout = self.confirm_timeout;
        options.connection_name = Some(self.connection_name.clone());
        options.publish_batching = self.batching;
        options.delivery_limit = self.delivery_limit;
        options
    }

    pub async fn connect(&self) -> RabbitQueue {
        RabbitQueue::connect(self.options()).await.unwrap()
    }

    pub fn names(&self) -> Names {
        Names::new(&self.prefix, &test_tiers())
    }

    pub async fn raw_channel() -> (lapin::Connection, lapin::Channel) {
        bridge_test_support::rabbitmq::channel(AMQP_URL)
            .await
            .unwrap()
    }
}

#[async_trait]
impl Backend for Rabbit {
    async fn open(&self) -> Arc<dyn EventQueue> {
        Arc::new(self.connect().await)
    }

    /// Best effort: the test is over either way.
    async fn cleanup(&self) {
        let _ = bridge_queue::delete_topology(AMQP_URL, &self.prefix, &test_tiers()).await;
    }
}

pub struct Embedded {
    pub dir: tempfile::TempDir,
    pub lease: Duration,
    pub delivery_limit: u32,
}

impl Embedded {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            lease: Duration::from_secs(1),
            delivery_limit: bridge_queue::DEFAULT_DELIVERY_LIMIT,
        }
    }

    pub fn path(&self) -> String {
        self.dir.path().join("queue.db").display().to_string()
    }

    pub fn options(&self) -> EmbeddedOptions {
        EmbeddedOptions {
            retry_tiers: test_tiers(),
            lease: self.lease,
            poll_interval: Duration::from_millis(20),
            delivery_limit: self.delivery_limit,
        }
    }

    pub async fn open_embedded(&self) -> EmbeddedQueue {
        EmbeddedQueue::open(&self.path(), self.options())
            .await
            .unwrap()
    }
}

#[async_trait]
impl Backend for Embedded {
    async fn open(&self) -> Arc<dyn EventQueue> {
        Arc::new(self.open_embedded().await)
    }

    async fn cleanup(&self) {}
}

/// Runs `body` against `backend`, always cleaning up, then re-raises a failure.
pub async fn run<B, F, Fut>(backend: B, body: F)
where
    B: Backend + 'static,
    F: FnOnce(Arc<B>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let backend = Arc::new(backend);
    let outcome = tokio::spawn(body(backend.clone())).await;
    backend.cleanup().await;
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

pub fn envelope(tag: &str) -> Envelope {
    Envelope::new(
        format!("{tag}-{}", uuid::Uuid::new_v4()).parse().unwrap(),
        uuid::Uuid::new_v4(),
        Some("application/json".into()),
        format!("{{\"tag\":\"{tag}\"}}").into_bytes(),
        chrono::Utc::now(),
    )
}

/// Publishes a fresh envelope tagged `tag` and starts consuming with `prefetch`; the envelope
/// and the deliveries.
pub async fn publish_one(
    queue: &dyn EventQueue,
    tag: &str,
    prefetch: u16,
) -> (Envelope, Deliveries) {
    let sent = envelope(tag);
    queue.publish(&sent).await.unwrap();
    let stream = queue.consume(prefetch).await.unwrap();
    (sent, stream)
}

/// Receives and acks deliveries (each within `within`) until every one of `sent` came, and
/// nothing else.
pub async fn ack_until_all_seen(stream: &mut Deliveries, sent: &[Envelope], within: Duration) {
    let mut seen = std::collections::HashSet::new();
    while seen.len() < sent.len() {
        let delivery = next(stream, within).await;
        seen.insert(delivery.envelope().event_id.clone());
        delivery.ack().await.unwrap();
    }
    let expected: std::collections::HashSet<_> = sent.iter().map(|e| e.event_id.clone()).collect();
    assert_eq!(seen, expected);
}

/// The next delivery within `within`; fails on an error item or timeout.
pub async fn next(stream: &mut Deliveries, within: Duration) -> Box<dyn Delivery> {
    match tokio::time::timeout(within, stream.next()).await {
        Ok(Some(Ok(delivery))) => delivery,
        Ok(Some(Err(error))) => panic!("stream yielded an error: {error}"),
        Ok(None) => panic!("stream ended"),
        Err(_) => panic!("no delivery within {within:?}"),
    }
}

/// Settles `delivery` as the worker does after a failed first attempt: `sent` with attempt 1
/// to the 1 s delay tier; the envelope as it will come back.
pub async fn retry_first_attempt(delivery: Box<dyn Delivery>, sent: &Envelope) -> Envelope {
    let mut updated = sent.clone();
    updated.attempt = 1;
    delivery
        .retry_later(&updated, Duration::from_secs(1))
        .await
        .unwrap();
    updated
}

/// Asserts that no delivery arrives for `wait`.
pub async fn nothing_for(stream: &mut Deliveries, wait: Duration) {
    if let Ok(item) = tokio::time::timeout(wait, stream.next()).await {
        match item {
            Some(Ok(delivery)) => panic!("unexpected delivery of {}", delivery.envelope().event_id),
            Some(Err(error)) => panic!("unexpected error: {error}"),
            None => panic!("stream ended"),
        }
    }
}

pub async fn depth(queue: &dyn EventQueue, part: &str) -> u64 {
    queue
        .depths()
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.queue == part)
        .unwrap_or_else(|| panic!("no depth for {part}"))
        .messages
}

/// Waits up to 5 s for a part of the queue to hold `expected` messages (broker counters lag).
pub async fn eventually_depth(queue: &dyn EventQueue, part: &str, expected: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let now = depth(queue, part).await;
        if now == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "depth of {part} stayed {now}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Drops every delivery (never settled) until the message shows up in the poison queue; returns
/// how often it was delivered and the poison message.
pub async fn drop_until_poison(
    queue: &dyn EventQueue,
    within: Duration,
) -> (usize, Box<dyn bridge_queue::Poison>) {
    let mut stream = queue.consume(1).await.unwrap();
    let mut poison = queue.consume_poison().await.unwrap();
    let deadline = tokio::time::Instant::now() + within;
    let mut deliveries = 0;
    loop {
        tokio::select! {
            item = stream.next() => {
                if let Some(Ok(delivery)) = item {
                    deliveries += 1;
                    drop(delivery);
                }
            }
            item = poison.next() => {
                if let Some(Ok(poison)) = item {
                    return (deliveries, poison);
                }
            }
            _ = tokio::time::sleep_until(deadline) => panic!("not poison after {deliveries} deliveries"),
        }
    }
}

/// [`run`] with the test's queue connected before `body` and closed after it.
pub async fn with_queue<F, Fut>(rabbit: Rabbit, body: F)
where
    F: FnOnce(Arc<Rabbit>, Arc<RabbitQueue>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    run(rabbit, |rabbit| async move {
        let queue = Arc::new(rabbit.connect().await);
        body(rabbit, queue.clone()).await;
        queue.close().await;
    })
    .await;
}
