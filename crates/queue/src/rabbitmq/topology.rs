//! Exchange and queue names, their declaration, and the depth gauges read from them.

use crate::{QueueDepth, QueueError, RetryTiers};
use lapin::{
    options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions},
    types::{AMQPValue, FieldTable},
    Channel, Connection, ExchangeKind,
};
use std::time::Duration;

/// Every name the backend declares, derived from the prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// `<prefix>.events`: the direct exchange publishes go to.
    pub exchange: String,
    /// `<prefix>.events`: the quorum main queue; also the routing key that binds it.
    pub main: String,
    /// `<prefix>.dead`: poison messages the consumer could not even parse.
    pub dead: String,
    /// One `(delay, queue name, depth label)` per tier: `<prefix>.retry.5s`, `retry_5s`.
    pub tiers: Vec<(Duration, String, String)>,
}

impl Names {
    pub fn new(prefix: &str, tiers: &RetryTiers) -> Self {
        Self {
            exchange: format!("{prefix}.events"),
            main: format!("{prefix}.events"),
            dead: format!("{prefix}.dead"),
            tiers: tiers
                .delays()
                .iter()
                .map(|delay| {
                    let name = RetryTiers::name(*delay);
                    (
                        *delay,
                        format!("{prefix}.retry.{name}"),
                        format!("retry_{name}"),
                    )
                })
                .collect(),
        }
    }

    /// The queue of the tier that waits exactly `delay` (one of the configured tiers).
    pub fn tier_queue(&self, delay: Duration) -> Option<&str> {
        self.tiers
            .iter()
            .find(|(d, _, _)| *d == delay)
            .map(|(_, queue, _)| queue.as_str())
    }

    /// Every queue, for cleanup.
    pub fn queues(&self) -> Vec<String> {
        let mut queues = vec![self.main.clone(), self.dead.clone()];
        queues.extend(self.tiers.iter().map(|(_, queue, _)| queue.clone()));
        queues
    }
}

fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(value.into())
}

/// Declares everything idempotently (re-run after each reconnect).
pub(crate) async fn declare(
    channel: &Channel,
    names: &Names,
    tiers: &RetryTiers,
) -> Result<(), lapin::Error> {
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .exchange_declare(
            &names.exchange,
            ExchangeKind::Direct,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;

    let mut dead_args = FieldTable::default();
    dead_args.insert("x-queue-type".into(), text("quorum"));
    channel
        .queue_declare(&names.dead, durable, dead_args)
        .await?;

    // Poison messages are rejected by the consumer and dead-lettered through the default
    // exchange; at-least-once dead-lettering needs `reject-publish` overflow.
    let mut main_args = FieldTable::default();
    main_args.insert("x-queue-type".into(), text("quorum"));
    main_args.insert("x-overflow".into(), text("reject-publish"));
    main_args.insert("x-dead-letter-exchange".into(), text(""));
    main_args.insert("x-dead-letter-routing-key".into(), text(&names.dead));
    main_args.insert("x-dead-letter-strategy".into(), text("at-least-once"));
    channel
        .queue_declare(&names.main, durable, main_args)
        .await?;
    channel
        .queue_bind(
            &names.main,
            &names.exchange,
            &names.main,
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;

    // A per-queue TTL (not per-message): messages only expire at a queue's head, so each fixed
    // delay needs its own queue to keep order and timing exact.
    for delay in tiers.delays() {
        let Some(queue) = names.tier_queue(*delay) else {
            continue;
        };
        let mut args = FieldTable::default();
        args.insert("x-queue-type".into(), text("classic"));
        args.insert(
            "x-message-ttl".into(),
            AMQPValue::LongLongInt(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)),
        );
        args.insert("x-dead-letter-exchange".into(), text(&names.exchange));
        args.insert("x-dead-letter-routing-key".into(), text(&names.main));
        channel.queue_declare(queue, durable, args).await?;
    }
    Ok(())
}

/// Ready-message counts of the main queue, each tier and the poison queue.
pub(crate) async fn depths(
    connection: &Connection,
    names: &Names,
) -> Result<Vec<QueueDepth>, QueueError> {
    let unavailable = |e: lapin::Error| QueueError::Unavailable(format!("queue depth: {e}"));
    // A passive declare of a missing queue closes the channel, so use a throwaway one.
    let channel = connection.create_channel().await.map_err(unavailable)?;
    let passive = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    let mut parts = vec![(names.main.as_str(), "main")];
    parts.extend(
        names
            .tiers
            .iter()
            .map(|(_, queue, label)| (queue.as_str(), label.as_str())),
    );
    parts.push((names.dead.as_str(), "dead"));
    let mut depths = Vec::with_capacity(parts.len());
    for (queue, label) in parts {
        let declared = channel
            .queue_declare(queue, passive, FieldTable::default())
            .await
            .map_err(unavailable)?;
        depths.push(QueueDepth {
            queue: label.to_string(),
            messages: u64::from(declared.message_count()),
        });
    }
    let _ = channel.close(200, "depths read").await;
    Ok(depths)
}
