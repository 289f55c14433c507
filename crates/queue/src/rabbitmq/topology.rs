//! Exchange and queue names, their declaration, and the depth gauges read from them.

use crate::{QueueDepth, QueueError, RetryTiers};
use lapin::{
    options::{
        BasicAckOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions,
        ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
    },
    types::{AMQPValue, FieldTable},
    Connection, ExchangeKind,
};
use std::time::Duration;

/// Every name the backend declares, derived from the prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// `<prefix>.events`: the direct exchange publishes go to.
    pub exchange: String,
    /// `<prefix>.events`: the quorum main queue; also the routing key that binds it.
    pub main: String,
    /// `<prefix>.dead`: the poison queue — messages the consumer could not parse, and those
    /// the main queue gave up on past its delivery limit (depth label `poison`).
    pub dead: String,
    /// One `(delay, queue name, depth label)` per tier: `<prefix>.delay.5s`, `retry_5s`
    /// (quorum queues).
    pub tiers: Vec<(Duration, String, String)>,
    /// The classic tier queues of earlier versions (`<prefix>.retry.5s`), drained into the
    /// new ones and deleted at start.
    pub legacy_tiers: Vec<(Duration, String)>,
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
                        format!("{prefix}.delay.{name}"),
                        format!("retry_{name}"),
                    )
                })
                .collect(),
            legacy_tiers: tiers
                .delays()
                .iter()
                .map(|delay| {
                    (
                        *delay,
                        format!("{prefix}.retry.{}", RetryTiers::name(*delay)),
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
        queues.extend(self.legacy_tiers.iter().map(|(_, queue)| queue.clone()));
        queues
    }
}

fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(value.into())
}

/// Declares everything idempotently (re-run after each reconnect), then moves what earlier
/// versions left in classic tier queues into the quorum ones.
pub(crate) async fn declare(
    connection: &Connection,
    names: &Names,
    tiers: &RetryTiers,
    delivery_limit: u32,
) -> Result<(), lapin::Error> {
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    let mut channel = connection.create_channel().await?;
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

    // Rejected (unparseable) messages and those past the delivery limit are dead-lettered
    // into the poison queue; at-least-once dead-lettering needs `reject-publish` overflow.
    let mut main_args = FieldTable::default();
    main_args.insert("x-queue-type".into(), text("quorum"));
    main_args.insert("x-overflow".into(), text("reject-publish"));
    main_args.insert("x-dead-letter-exchange".into(), text(""));
    main_args.insert("x-dead-letter-routing-key".into(), text(&names.dead));
    main_args.insert("x-dead-letter-strategy".into(), text("at-least-once"));
    let mut limited = main_args.clone();
    limited.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongLongInt(i64::from(delivery_limit)),
    );
    if let Err(error) = channel.queue_declare(&names.main, durable, limited).await {
        // A main queue declared by an earlier version has no `x-delivery-limit`, and a
        // queue's arguments cannot change: the broker closed the channel. Keep the queue as
        // it is; the runbook shows the policy that sets the limit on it.
        tracing::warn!(
            %error,
            queue = %names.main,
            delivery_limit,
            "the main queue exists without x-delivery-limit; set it with a policy (see the runbook, \"Upgrading\")"
        );
        channel = connection.create_channel().await?;
        channel
            .queue_declare(&names.main, durable, main_args)
            .await?;
    }
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
    // delay needs its own queue to keep order and timing exact. Quorum queues, replicated, and
    // their expired messages go back to the main queue at least once (publisher-confirmed
    // inside the broker), which needs `reject-publish` overflow.
    for delay in tiers.delays() {
        let Some(queue) = names.tier_queue(*delay) else {
            continue;
        };
        let mut args = FieldTable::default();
        args.insert("x-queue-type".into(), text("quorum"));
        args.insert(
            "x-message-ttl".into(),
            AMQPValue::LongLongInt(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)),
        );
        args.insert("x-overflow".into(), text("reject-publish"));
        args.insert("x-dead-letter-exchange".into(), text(&names.exchange));
        args.insert("x-dead-letter-routing-key".into(), text(&names.main));
        args.insert("x-dead-letter-strategy".into(), text("at-least-once"));
        channel.queue_declare(queue, durable, args).await?;
    }
    let _ = channel.close(200, "declared").await;
    for (delay, legacy) in &names.legacy_tiers {
        if let Some(queue) = names.tier_queue(*delay) {
            drain_legacy_tier(connection, legacy, queue).await?;
        }
    }
    Ok(())
}

/// Moves every message of an old classic tier into its quorum successor (publisher-confirmed
/// before each ack, so none is lost; a crash in between copies one twice, which the ledger
/// absorbs), then deletes the old queue once it is empty. Several processes may do this at
/// once: each message is taken by one of them.
async fn drain_legacy_tier(
    connection: &Connection,
    legacy: &str,
    queue: &str,
) -> Result<(), lapin::Error> {
    let channel = connection.create_channel().await?;
    let passive = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    // Missing (the usual case): the broker closes this throwaway channel.
    if channel
        .queue_declare(legacy, passive, FieldTable::default())
        .await
        .is_err()
    {
        return Ok(());
    }
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let mut moved = 0_u64;
    while let Some(message) = channel
        .basic_get(legacy, BasicGetOptions::default())
        .await?
    {
        let delivery = message.delivery;
        let confirmed = channel
            .basic_publish(
                "",
                queue,
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                &delivery.data,
                delivery.properties.clone().with_delivery_mode(2),
            )
            .await?
            .await?;
        if !confirmed.is_ack() {
            tracing::warn!(queue = %legacy, "moving an old tier message was not confirmed; left in place");
            let _ = channel.close(200, "legacy drain stopped").await;
            return Ok(());
        }
        delivery.acker.ack(BasicAckOptions::default()).await?;
        moved += 1;
    }
    let deleted = channel
        .queue_delete(
            legacy,
            QueueDeleteOptions {
                if_empty: true,
                ..QueueDeleteOptions::default()
            },
        )
        .await;
    tracing::info!(from = %legacy, to = %queue, moved, deleted = deleted.is_ok(), "classic retry tier migrated to a quorum queue");
    let _ = channel.close(200, "legacy tier drained").await;
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
    // Its own series: the store's dead-letter count is reported as `dead` elsewhere.
    parts.push((names.dead.as_str(), "poison"));
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
