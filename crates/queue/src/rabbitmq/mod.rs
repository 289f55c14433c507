//! RabbitMQ backend: a quorum main queue behind a direct exchange, one TTL queue per delay
//! tier, publisher confirms with a timeout, and a supervisor that rebuilds the connection.
//!
//! The supervisor (`connection.rs`) owns the connection. While it is broken, `publish` fails at
//! once with [`QueueError::Unavailable`] (the ingress answers 503 instead of holding the
//! request), and the supervisor reconnects with capped exponential backoff. Consumer streams re-subscribe on each
//! new connection by themselves, so the worker just keeps reading.

mod batcher;
mod connection;
mod consumer;
mod poison;
mod publishers;
mod topology;

use crate::outstanding::Outstanding;
use crate::{Envelope, EventQueue, QueueDepth, QueueError, RetryTiers};
use async_trait::async_trait;
use lapin::{
    options::BasicPublishOptions, publisher_confirm::Confirmation, BasicProperties, Connection,
};
use secrecy::{ExposeSecret, SecretString};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

pub use topology::Names;

/// How long `close` waits for dropped deliveries to be given back (republished or nacked).
const GIVE_BACK_WAIT: Duration = Duration::from_secs(5);

/// Everything [`RabbitQueue::connect`] needs. Build with [`RabbitOptions::new`] and adjust fields.
#[derive(Debug, Clone)]
pub struct RabbitOptions {
    /// `amqp://user:pass@host:5672/vhost`, or a comma-separated list of the cluster's nodes
    /// (each connect and reconnect takes the next one); secret because it carries passwords.
    pub amqp_url: SecretString,
    /// Prefix of every exchange and queue name (`leadback` → `leadback.events`).
    pub prefix: String,
    pub retry_tiers: RetryTiers,
    /// How long a publish waits for the broker's confirm.
    pub confirm_timeout: Duration,
    /// Consumer tag for `basic.consume`; the broker generates one when `None`.
    pub consumer_tag: Option<String>,
    /// `connection_name` client property shown by the broker's management tools; defaults to
    /// `leadback-bridge <prefix>`.
    pub connection_name: Option<String>,
    /// How concurrent publishes share AMQP messages (group publish).
    pub publish_batching: PublishBatching,
    /// The main queue's `x-delivery-limit`: past it the broker dead-letters the message (at
    /// least once) into the poison queue, which the worker moves to the dead letters.
    pub delivery_limit: u32,
}

/// Group publish, the broker-side counterpart of the embedded queue's group commit: envelopes
/// published while `max_in_flight` messages already await their confirms wait and then go out
/// together as one message (a JSON array of envelopes, AMQP `type` [`BATCH_KIND`]), so under load
/// one confirmed message carries many webhooks and the broker's per-message work is shared.
/// Each caller still returns only after the message holding its envelope is confirmed. A lone
/// publish goes out at once as a plain one-envelope message. The consumer hands each envelope of
/// a batch to the worker as its own delivery (see `consumer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishBatching {
    /// At most this many envelopes in one message (1 turns group publish off).
    pub max_events: usize,
    /// A batch stops growing at this many body bytes (an envelope larger than this goes alone).
    pub max_bytes: usize,
    /// Main-queue messages awaiting their confirms at once; publishes beyond wait and batch.
    pub max_in_flight: usize,
}

impl Default for PublishBatching {
    /// 50 envelopes (the worker's CoMagic batch), 512 KiB, 2 messages in flight (on the
    /// benchmark machine 1, 2, 4, 8 and 16 gave 22.0k, 21.1–21.7k, 20.6k, 18.7k and 18.2k
    /// webhooks/s at 64 connections; 1 stalls every publish behind one slow confirm).
    fn default() -> Self {
        Self {
            max_events: 50,
            max_bytes: 512 * 1024,
            max_in_flight: 2,
        }
    }
}

/// The AMQP `type` property of a message that carries a JSON array of envelopes.
pub const BATCH_KIND: &str = "leadback.envelope-batch";

/// The properties of a one-envelope message: its event id as the message id, and its trace
/// context (when it has one) as the W3C `traceparent`/`tracestate` headers.
pub(crate) fn envelope_properties(
    event_id: &str,
    trace: Option<&crate::TraceContext>,
) -> BasicProperties {
    let properties = BasicProperties::default()
        .with_message_id(event_id.into())
        .with_content_type("application/json".into());
    match trace {
        Some(trace) => properties.with_headers(trace.to_amqp_headers()),
        None => properties,
    }
}

impl RabbitOptions {
    /// Defaults: prefix `leadback`, default retry tiers, 5 s confirm timeout.
    pub fn new(amqp_url: SecretString) -> Self {
        Self {
            amqp_url,
            prefix: "leadback".into(),
            retry_tiers: RetryTiers::default(),
            confirm_timeout: Duration::from_secs(5),
            consumer_tag: None,
            connection_name: None,
            publish_batching: PublishBatching::default(),
            delivery_limit: crate::DEFAULT_DELIVERY_LIMIT,
        }
    }
}

/// The [`EventQueue`] on RabbitMQ.
pub struct RabbitQueue {
    shared: Arc<Shared>,
}

/// One established connection with its declared topology and confirming publish channels.
pub(crate) struct Live {
    connection: Connection,
    publishers: publishers::Publishers,
    /// Increases with each reconnect, so stale "broken" signals are ignored.
    generation: u64,
}

impl Live {
    /// Whether the connection is up (a publish channel the broker closed is replaced when
    /// next leased).
    fn is_open(&self) -> bool {
        self.connection.status().connected()
    }
}

pub(crate) struct Shared {
    options: RabbitOptions,
    names: Names,
    connection_name: String,
    live: Mutex<Option<Arc<Live>>>,
    /// The generation of the newest installed connection; consumers wait on it to re-subscribe.
    generation: watch::Sender<u64>,
    /// The newest generation known to be broken.
    broken: watch::Sender<u64>,
    shutdown: watch::Sender<bool>,
    /// Publishes to the main queue, waiting for the group publisher.
    publishes: mpsc::Sender<batcher::Pending>,
    /// Dropped deliveries being given back; `close` waits for them.
    pub(crate) give_backs: Outstanding,
    /// Connection attempts so far: attempt n goes to node n modulo the node list.
    attempts: AtomicUsize,
}

impl RabbitQueue {
    /// Connects, declares the topology and starts the reconnect supervisor. Fails with
    /// [`QueueError::Config`] for a malformed URL or prefix and [`QueueError::Unavailable`] when
    /// the first connection cannot be made, so a misconfiguration shows at startup.
    pub async fn connect(options: RabbitOptions) -> Result<Self, QueueError> {
        validate(&options)?;
        let names = Names::new(&options.prefix, &options.retry_tiers);
        let connection_name = options
            .connection_name
            .clone()
            .unwrap_or_else(|| format!("leadback-bridge {}", options.prefix));
        let (generation, _) = watch::channel(0);
        let (shutdown, _) = watch::channel(false);
        let (publishes, pending) = mpsc::channel(4096);
        let shared = Arc::new(Shared {
            options,
            names,
            connection_name,
            live: Mutex::new(None),
            generation,
            broken: watch::channel(0).0,
            shutdown,
            publishes,
            give_backs: Outstanding::default(),
            attempts: AtomicUsize::new(0),
        });
        let live = connection::connect_first(&shared).await?;
        shared.install(live);
        tokio::spawn(connection::supervise(shared.clone()));
        tokio::spawn(batcher::run(shared.clone(), pending));
        Ok(Self { shared })
    }

    /// The exchange and queue names this queue uses.
    pub fn names(&self) -> &Names {
        &self.shared.names
    }
}

impl Drop for RabbitQueue {
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
    }
}

/// The node URLs of `BRIDGE_AMQP_URL`: one, or a comma-separated list (blanks ignored).
pub(crate) fn node_urls(amqp_url: &str) -> Vec<&str> {
    amqp_url
        .split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .collect()
}

fn validate(options: &RabbitOptions) -> Result<(), QueueError> {
    let urls = node_urls(options.amqp_url.expose_secret());
    if urls.is_empty() {
        return Err(QueueError::Config("the AMQP URL is empty".into()));
    }
    for (i, url) in urls.iter().enumerate() {
        let node = i + 1;
        if !(url.starts_with("amqp://") || url.starts_with("amqps://")) {
            return Err(QueueError::Config(format!(
                "the AMQP URL (node {node} of the list) must start with amqp:// or amqps://"
            )));
        }
        // The parse error is not shown: it could quote the password.
        url.parse::<lapin::uri::AMQPUri>().map_err(|_| {
            QueueError::Config(format!(
                "the AMQP URL (node {node} of the list) cannot be parsed"
            ))
        })?;
    }
    let prefix_ok = !options.prefix.is_empty()
        && options.prefix.len() <= 100
        && options
            .prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if !prefix_ok {
        return Err(QueueError::Config(format!(
            "queue prefix `{}` must be 1–100 characters of A-Z a-z 0-9 . - _",
            options.prefix
        )));
    }
    let batching = &options.publish_batching;
    if batching.max_events == 0 || batching.max_in_flight == 0 || batching.max_bytes == 0 {
        return Err(QueueError::Config(
            "publish batching limits must be at least 1".into(),
        ));
    }
    if options.delivery_limit == 0 {
        return Err(QueueError::Config(
            "delivery limit must be at least 1".into(),
        ));
    }
    if options.confirm_timeout.is_zero() {
        return Err(QueueError::Config(
            "confirm timeout must be positive".into(),
        ));
    }
    Ok(())
}

impl Shared {
    fn current(&self) -> Option<Arc<Live>> {
        self.live.lock().ok().and_then(|live| live.clone())
    }

    /// The live connection if it still looks healthy; otherwise asks for a reconnect.
    fn healthy(&self) -> Result<Arc<Live>, QueueError> {
        let live = self
            .current()
            .ok_or_else(|| QueueError::Unavailable("reconnecting to RabbitMQ".into()))?;
        if live.is_open() {
            Ok(live)
        } else {
            self.mark_broken(live.generation);
            Err(QueueError::Unavailable("RabbitMQ connection lost".into()))
        }
    }

    fn install(&self, live: Live) {
        let generation = live.generation;
        if let Ok(mut slot) = self.live.lock() {
            *slot = Some(Arc::new(live));
        }
        self.generation.send_replace(generation);
    }

    /// Reports that the connection of `generation` failed; signals for older ones are stale.
    pub(crate) fn mark_broken(&self, generation: u64) {
        self.broken.send_if_modified(|broken| {
            let newer = generation > *broken;
            if newer {
                *broken = generation;
            }
            newer
        });
    }

    fn is_shut_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Publishes `envelope` persistently and mandatorily and waits for the broker's confirm.
    pub(crate) async fn publish_confirmed(
        &self,
        exchange: &str,
        routing_key: &str,
        envelope: &Envelope,
    ) -> Result<(), QueueError> {
        let properties = envelope_properties(envelope.event_id.as_str(), envelope.trace.as_ref());
        self.publish_body(exchange, routing_key, &envelope.to_json(), properties)
            .await
    }

    /// The live connection, unless the queue is closed or the connection looks broken (then
    /// `Unavailable` at once: the ingress answers 503 instead of waiting).
    fn usable(&self) -> Result<Arc<Live>, QueueError> {
        if self.is_shut_down() {
            return Err(QueueError::Unavailable("queue closed".into()));
        }
        self.healthy()
    }

    /// Publishes `body` persistently and mandatorily and waits for the broker's confirm.
    pub(crate) async fn publish_body(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<(), QueueError> {
        let live = self.usable()?;
        let properties = properties.with_delivery_mode(2);
        let options = BasicPublishOptions {
            mandatory: true,
            ..BasicPublishOptions::default()
        };
        // One publish on the leased channel: its confirm and any return are this publish's.
        let lease = live.publishers.lease(&live.connection).await?;
        let confirm = lease
            .channel()
            .basic_publish(exchange, routing_key, options, body, properties)
            .await
            .map_err(|e| {
                self.mark_broken(live.generation);
                QueueError::Unavailable(format!("publish failed: {e}"))
            })?;
        let timeout = self.options.confirm_timeout;
        let confirmation = match tokio::time::timeout(timeout, confirm).await {
            Err(_) => return Err(QueueError::ConfirmTimeout(timeout)),
            Ok(Err(e)) => {
                self.mark_broken(live.generation);
                return Err(QueueError::Unavailable(format!(
                    "connection lost before the confirm: {e}"
                )));
            }
            Ok(Ok(confirmation)) => confirmation,
        };
        lease.keep();
        match confirmation {
            Confirmation::Nack(_) => Err(QueueError::Rejected("broker nacked the publish".into())),
            Confirmation::Ack(Some(returned)) => Err(QueueError::Rejected(format!(
                "message returned: {} {}",
                returned.reply_code, returned.reply_text
            ))),
            Confirmation::Ack(None) => Ok(()),
            // confirm_select runs on every publisher channel before it is used.
            Confirmation::NotRequested => Err(QueueError::Unavailable(
                "publisher confirms are not enabled on the channel".into(),
            )),
        }
    }
}

#[async_trait]
impl EventQueue for RabbitQueue {
    async fn publish(&self, envelope: &Envelope) -> Result<(), QueueError> {
        // Fail fast rather than queue behind a closed queue or a broken connection.
        self.shared.usable()?;
        batcher::publish(&self.shared, envelope).await
    }

    async fn consume(&self, prefetch: u16) -> Result<crate::Deliveries, QueueError> {
        if prefetch == 0 {
            return Err(QueueError::Config("prefetch must be at least 1".into()));
        }
        if self.shared.is_shut_down() {
            return Err(QueueError::Unavailable("queue closed".into()));
        }
        Ok(consumer::stream(self.shared.clone(), prefetch))
    }

    async fn depths(&self) -> Result<Vec<QueueDepth>, QueueError> {
        let live = self.shared.healthy()?;
        topology::depths(&live.connection, &self.shared.names).await
    }

    async fn ready(&self) -> Result<(), QueueError> {
        self.shared.usable().map(|_| ())
    }

    async fn consume_poison(&self) -> Result<crate::PoisonMessages, QueueError> {
        Ok(poison::stream(self.shared.clone()))
    }

    fn retry_tiers(&self) -> &RetryTiers {
        &self.shared.options.retry_tiers
    }

    async fn close(&self) {
        // Deliveries the worker dropped unsettled are being given back on this connection:
        // let them finish (a batch's envelope is republished alone) before it goes.
        if !self.shared.give_backs.drained(GIVE_BACK_WAIT).await {
            tracing::warn!(
                "closing with deliveries still being given back; the broker redelivers them"
            );
        }
        self.shared.shutdown.send_replace(true);
        connection::close_live(&self.shared).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_list_is_split_on_commas_and_validated_per_node() {
        assert_eq!(
            node_urls(" amqp://a:5672/%2f, amqp://b:5673/%2f,,"),
            ["amqp://a:5672/%2f", "amqp://b:5673/%2f"]
        );
        let mut options = RabbitOptions::new(
            "amqp://u:p@127.0.0.1:5672/%2f,amqp://u:p@127.0.0.1:5673/%2f"
                .to_string()
                .into(),
        );
        assert!(validate(&options).is_ok());
        options.amqp_url = "amqp://u:secret@127.0.0.1:5672/%2f,http://u:secret@x"
            .to_string()
            .into();
        let error = validate(&options).unwrap_err().to_string();
        assert!(error.contains("node 2"), "{error}");
        assert!(!error.contains("secret"), "{error}");
        options.amqp_url = " , ".to_string().into();
        assert!(validate(&options).is_err());
    }
}
