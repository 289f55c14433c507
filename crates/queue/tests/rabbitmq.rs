//! RabbitMQ-only behaviour: confirms, nacks, poison messages, configuration, reconnects.
//!
//! Reconnects are tested by force-closing only this test's connection (found by its unique
//! `connection_name`), never by stopping the shared broker.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use bridge_queue::rabbitmq::{PublishBatching, RabbitOptions, RabbitQueue, BATCH_KIND};
use bridge_queue::{EventQueue, QueueError};
use bridge_test_support::rabbitmq::Vhost;
use common::{envelope, eventually_depth, next, publish_one, Rabbit};
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

fn rabbitmqctl(args: &[&str]) -> String {
    bridge_test_support::rabbitmq::rabbitmqctl(args).unwrap()
}

/// Closes every broker connection whose client properties carry `name`; returns how many.
fn close_connections_named(name: &str) -> usize {
    let listing = rabbitmqctl(&[
        "list_connections",
        "--no-table-headers",
        "pid",
        "client_properties",
    ]);
    let mut closed = 0;
    for line in listing.lines().filter(|l| l.contains(name)) {
        let pid = line.split_whitespace().next().unwrap();
        rabbitmqctl(&["close_connection", pid, "test: forced close"]);
        closed += 1;
    }
    closed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_forced_close_and_consumer_resumes() {
    common::with_queue(Rabbit::new(), |rabbit, queue| async move {
        let mut stream = queue.consume(10).await.unwrap();
        let before = envelope("before");
        queue.publish(&before).await.unwrap();
        next(&mut stream, Duration::from_secs(5))
            .await
            .ack()
            .await
            .unwrap();

        // lapin may take a moment to register the connection under its name.
        let deadline = Instant::now() + Duration::from_secs(5);
        while close_connections_named(&rabbit.connection_name) == 0 {
            assert!(Instant::now() < deadline, "connection not found by name");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // Depending on timing a publish may or may not hit the short outage; whether it fails
        // fast is checked deterministically in `publish_fails_fast_while_broker_is_unreachable`.
        // ...and works again once the supervisor has reconnected, without a restart.
        let after = publish_once_recovered(queue.as_ref()).await;
        queue.ready().await.unwrap();

        // The consumer reports the loss once, then resumes on the new connection.
        let saw_error = resumes_with(&mut stream, &after).await;
        assert!(saw_error, "the consumer never reported the lost connection");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unconfirmed_publish_times_out() {
    let mut rabbit = Rabbit::new();
    // No broker confirms within a nanosecond.
    rabbit.confirm_timeout = Duration::from_nanos(1);
    common::with_queue(rabbit, |_, queue| async move {
        // A confirm that is already there when first polled still counts, and on an idle
        // machine a small message can be confirmed within the timer's first millisecond tick.
        // A 4 MiB body takes the broker longer than that to take in and store; still, one
        // timeout out of a few tries is what the test demands.
        let mut slow = envelope("slow");
        slow.raw_body = vec![b'x'; 4 << 20];
        let mut timeouts = 0;
        for _ in 0..20 {
            match queue.publish(&slow).await {
                Err(QueueError::ConfirmTimeout(t)) => {
                    assert_eq!(t, Duration::from_nanos(1));
                    timeouts += 1;
                    break;
                }
                Ok(()) => {}
                Err(other) => panic!("expected a confirm timeout, got {other}"),
            }
        }
        assert!(timeouts > 0, "no publish timed out");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacked_publish_is_rejected() {
    common::with_queue(Rabbit::new(), |rabbit, queue| async move {
        let policy = format!("{}-full", rabbit.prefix);
        let pattern = format!("^{}\\.events$", rabbit.prefix.replace('-', "\\-"));
        rabbitmqctl(&[
            "set_policy",
            "--apply-to",
            "queues",
            &policy,
            &pattern,
            r#"{"max-length":1}"#,
        ]);
        // The main queue's `reject-publish` overflow makes a full queue nack; policies apply
        // asynchronously, so publish until the broker refuses.
        let deadline = Instant::now() + Duration::from_secs(10);
        let outcome = loop {
            match queue.publish(&envelope("full")).await {
                Ok(()) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => break other,
            }
        };
        rabbitmqctl(&["clear_policy", &policy]);
        assert!(
            matches!(outcome, Err(QueueError::Rejected(_))),
            "expected a nack, got {outcome:?}"
        );
        // A nack does not break the connection.
        queue.ready().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_message_goes_to_the_dead_queue() {
    common::with_queue(Rabbit::new(), |rabbit, queue| async move {
        publish_raw(
            &rabbit,
            b"not an envelope",
            lapin::BasicProperties::default(),
        )
        .await;
        let (good, mut stream) = publish_one(queue.as_ref(), "good", 5).await;
        let delivery = next(&mut stream, Duration::from_secs(5)).await;
        assert_eq!(delivery.envelope(), &good);
        delivery.ack().await.unwrap();
        eventually_depth(queue.as_ref(), "poison", 1).await;
        // The poison queue hands it over with its bytes and the reason.
        let mut poison = queue.consume_poison().await.unwrap();
        let kept = tokio::time::timeout(Duration::from_secs(10), poison.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(kept.body(), b"not an envelope");
        assert!(
            kept.reason().starts_with("undecodable envelope"),
            "{}",
            kept.reason()
        );
        assert!(kept.envelopes().is_none());
        kept.ack().await.unwrap();
        eventually_depth(queue.as_ref(), "poison", 0).await;
    })
    .await;
}

/// A message delivered and never settled more often than `x-delivery-limit` is dead-lettered
/// by the broker into the poison queue instead of looping.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_delivery_limit_a_message_becomes_poison() {
    let mut rabbit = Rabbit::new();
    rabbit.delivery_limit = 2;
    common::with_queue(rabbit, |_, queue| async move {
        let looping = envelope("looping");
        queue.publish(&looping).await.unwrap();
        let (deliveries, poison) =
            common::drop_until_poison(queue.as_ref(), Duration::from_secs(20)).await;
        assert!((1..=3).contains(&deliveries), "{deliveries} deliveries");
        assert!(
            poison.reason().starts_with("delivery limit (2)"),
            "{}",
            poison.reason()
        );
        assert_eq!(poison.envelopes(), Some(vec![looping]));
        poison.ack().await.unwrap();
        eventually_depth(queue.as_ref(), "main", 0).await;
        eventually_depth(queue.as_ref(), "poison", 0).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_bad_configuration_and_unreachable_broker() {
    let rabbit = Rabbit::new();

    let mut options = rabbit.options();
    options.amqp_url = "http://127.0.0.1:5672".to_string().into();
    assert!(matches!(
        RabbitQueue::connect(options).await,
        Err(QueueError::Config(_))
    ));

    let mut options = rabbit.options();
    options.prefix = "has space".into();
    assert!(matches!(
        RabbitQueue::connect(options).await,
        Err(QueueError::Config(_))
    ));

    let mut options = RabbitOptions::new("amqp://guest:hunter2@127.0.0.1:1/%2f".to_string().into());
    options.prefix = rabbit.prefix.clone();
    match RabbitQueue::connect(options).await {
        Err(QueueError::Unavailable(message)) => {
            assert!(!message.contains("hunter2"), "password leaked: {message}")
        }
        other => panic!("expected Unavailable, got {:?}", other.err()),
    }

    // The options' Debug output does not show the password either.
    let options = RabbitOptions::new("amqp://guest:hunter2@127.0.0.1/%2f".to_string().into());
    assert!(!format!("{options:?}").contains("hunter2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declares_the_documented_topology() {
    common::with_queue(Rabbit::new(), |rabbit, queue| async move {
        let listing = rabbitmqctl(&[
            "list_queues",
            "--no-table-headers",
            "name",
            "type",
            "durable",
            "arguments",
        ]);
        let line = |name: &str| {
            listing
                .lines()
                .find(|l| l.split_whitespace().next() == Some(name))
                .unwrap_or_else(|| panic!("queue {name} missing in {listing}"))
                .to_string()
        };
        let main = line(&format!("{}.events", rabbit.prefix));
        assert!(
            main.contains("quorum")
                && main.contains("reject-publish")
                && main.contains(r#"{"x-delivery-limit",20}"#)
                && main.contains("at-least-once"),
            "{main}"
        );
        let dead = line(&format!("{}.dead", rabbit.prefix));
        assert!(dead.contains("quorum"), "{dead}");
        let tier = line(&format!("{}.delay.2s", rabbit.prefix));
        assert!(
            tier.contains("quorum")
                && tier.contains(r#"{"x-message-ttl",2000}"#)
                && tier.contains(r#"{"x-dead-letter-strategy","at-least-once"}"#)
                && tier.contains(r#"{"x-overflow","reject-publish"}"#),
            "{tier}"
        );
        assert!(
            !listing.contains(&format!("{}.retry.2s", rabbit.prefix)),
            "no classic tier: {listing}"
        );
        assert_eq!(queue.names().main, format!("{}.events", rabbit.prefix));
    })
    .await;
}

/// An upgrade: classic tiers of an earlier version (with messages waiting) are drained into
/// the quorum tiers at start and deleted; nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_classic_tiers_are_drained_into_quorum_tiers_and_deleted() {
    common::run(Rabbit::new(), |rabbit| async move {
        let names = rabbit.names();
        let (connection, channel) = Rabbit::raw_channel().await;
        let legacy = format!("{}.retry.2s", rabbit.prefix);
        let mut args = lapin::types::FieldTable::default();
        args.insert(
            "x-queue-type".into(),
            lapin::types::AMQPValue::LongString("classic".into()),
        );
        // A long TTL: the messages must move because of the migration, not by expiring.
        args.insert(
            "x-message-ttl".into(),
            lapin::types::AMQPValue::LongLongInt(3_600_000),
        );
        let durable = lapin::options::QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        channel.queue_declare(&legacy, durable, args).await.unwrap();
        channel
            .confirm_select(lapin::options::ConfirmSelectOptions::default())
            .await
            .unwrap();
        let waiting: Vec<_> = (0..3).map(|i| envelope(&format!("old{i}"))).collect();
        for e in &waiting {
            channel
                .basic_publish(
                    "",
                    &legacy,
                    lapin::options::BasicPublishOptions::default(),
                    &e.to_json(),
                    lapin::BasicProperties::default().with_delivery_mode(2),
                )
                .await
                .unwrap()
                .await
                .unwrap();
        }
        let _ = connection.close(200, "legacy declared").await;

        let queue: Arc<dyn EventQueue> = Arc::new(rabbit.connect().await);
        let listing = rabbitmqctl(&["list_queues", "--no-table-headers", "name"]);
        assert!(!listing.lines().any(|l| l.trim() == legacy), "{listing}");
        assert!(names.tier_queue(Duration::from_secs(2)).is_some());
        // They wait out their tier in the quorum queue, then come back to the main queue.
        let mut stream = queue.consume(10).await.unwrap();
        let mut seen = Vec::new();
        for _ in 0..waiting.len() {
            let delivery = next(&mut stream, Duration::from_secs(15)).await;
            seen.push(delivery.envelope().clone());
            delivery.ack().await.unwrap();
        }
        seen.sort_by(|a, b| a.event_id.cmp(&b.event_id));
        assert_eq!(seen, waiting);
        queue.close().await;
    })
    .await;
}

/// Deleting the test's own vhost drops the connection and makes every reconnect fail until
/// the vhost is back, which makes the outage last as long as the test wants.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_fails_fast_while_broker_is_unreachable() {
    let name = format!("bridge-queue-test-{}", uuid::Uuid::new_v4().simple());
    let vhost = Vhost::create(&name).unwrap();
    let mut options =
        RabbitOptions::new(format!("amqp://guest:guest@127.0.0.1:5672/{name}").into());
    options.retry_tiers = common::test_tiers();
    let queue = RabbitQueue::connect(options).await.unwrap();
    let mut stream = queue.consume(5).await.unwrap();
    queue.publish(&envelope("before")).await.unwrap();
    next(&mut stream, Duration::from_secs(5))
        .await
        .ack()
        .await
        .unwrap();

    rabbitmqctl(&["delete_vhost", &name]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while queue.publish(&envelope("lost")).await.is_ok() {
        assert!(Instant::now() < deadline, "publish kept succeeding");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // While the broker cannot be reached, every publish fails at once.
    for _ in 0..5 {
        let started = Instant::now();
        let outcome = queue.publish(&envelope("down")).await;
        assert!(
            matches!(outcome, Err(QueueError::Unavailable(_))),
            "{outcome:?}"
        );
        assert!(started.elapsed() < Duration::from_millis(200));
        assert!(queue.ready().await.is_err());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // The vhost (and with it the topology) comes back: the supervisor redeclares everything.
    vhost.add().unwrap();
    let after = publish_once_recovered(&queue).await;
    resumes_with(&mut stream, &after).await;
    queue.close().await;
}

/// Publishes an envelope tagged `after` as soon as the queue takes it again (within 30 s of an
/// outage), without a restart; the envelope.
async fn publish_once_recovered(queue: &dyn EventQueue) -> bridge_queue::Envelope {
    let after = envelope("after");
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Err(error) = queue.publish(&after).await {
        assert!(Instant::now() < deadline, "never recovered: {error}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    after
}

/// Reads the consumer until `after` arrives (within 30 s), acking what comes; whether it
/// reported the lost connection on the way. Besides `after` only envelopes tagged `during`
/// may come: publishes that failed during the outage may still have been stored.
async fn resumes_with(stream: &mut common::Deliveries, after: &bridge_queue::Envelope) -> bool {
    let mut saw_error = false;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let item = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("consumer did not resume")
            .expect("stream ended");
        match item {
            Err(QueueError::Unavailable(_)) => saw_error = true,
            Err(other) => panic!("unexpected {other}"),
            Ok(delivery) => {
                let id = delivery.envelope().event_id.clone();
                delivery.ack().await.unwrap();
                if id == after.event_id {
                    return saw_error;
                }
                assert!(id.as_str().starts_with("during"), "unexpected {id}");
            }
        }
    }
}

/// Messages waiting in the main queue, as the broker counts them (not envelopes).
async fn main_queue_messages(rabbit: &Rabbit) -> u32 {
    let (connection, channel) = Rabbit::raw_channel().await;
    let declared = channel
        .queue_declare(
            &rabbit.names().main,
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            lapin::types::FieldTable::default(),
        )
        .await
        .unwrap();
    let _ = connection.close(200, "counted").await;
    declared.message_count()
}

/// Publishes `body` into the main queue past the bridge's own publisher, and waits for the
/// broker's confirm.
async fn publish_raw(rabbit: &Rabbit, body: &[u8], properties: lapin::BasicProperties) {
    let (connection, channel) = Rabbit::raw_channel().await;
    let names = rabbit.names();
    channel
        .confirm_select(lapin::options::ConfirmSelectOptions::default())
        .await
        .unwrap();
    let confirmation = channel
        .basic_publish(
            &names.exchange,
            &names.main,
            lapin::options::BasicPublishOptions::default(),
            body,
            properties,
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(confirmation.is_ack());
    let _ = connection.close(200, "published").await;
}

/// Publishes `envelopes` as one batch message, the way the group publisher does.
async fn publish_raw_batch(rabbit: &Rabbit, envelopes: &[bridge_queue::Envelope]) {
    let body = serde_json::to_vec(envelopes).unwrap();
    let properties = lapin::BasicProperties::default()
        .with_delivery_mode(2)
        .with_type(BATCH_KIND.into());
    publish_raw(rabbit, &body, properties).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishes_share_messages_and_each_is_delivered_once() {
    let mut rabbit = Rabbit::new();
    // One message in flight at a time: whatever arrives meanwhile goes out together.
    rabbit.batching = PublishBatching {
        max_events: 50,
        max_bytes: 512 * 1024,
        max_in_flight: 1,
    };
    common::with_queue(rabbit, |rabbit, queue| async move {
        let sent: Vec<_> = (0..300).map(|i| envelope(&format!("group{i}"))).collect();
        let results = futures::future::join_all(sent.iter().map(|e| queue.publish(e))).await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        let messages = main_queue_messages(&rabbit).await;
        assert!(
            (6..300).contains(&messages),
            "300 concurrent publishes took {messages} messages (at most 50 envelopes each)"
        );
        let mut stream = queue.consume(20).await.unwrap();
        let mut seen = std::collections::HashMap::new();
        for _ in 0..sent.len() {
            let delivery = next(&mut stream, Duration::from_secs(10)).await;
            assert!(!delivery.redelivered());
            seen.insert(
                delivery.envelope().event_id.clone(),
                delivery.envelope().clone(),
            );
            delivery.ack().await.unwrap();
        }
        for e in &sent {
            assert_eq!(
                seen.get(&e.event_id),
                Some(e),
                "{} not delivered intact",
                e.event_id
            );
        }
        common::nothing_for(&mut stream, Duration::from_millis(1500)).await;
        eventually_depth(queue.as_ref(), "main", 0).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_envelopes_are_settled_one_by_one() {
    common::with_queue(Rabbit::new(), |rabbit, queue| async move {
        let (acked, retried, requeued) =
            (envelope("acked"), envelope("retried"), envelope("requeued"));
        publish_raw_batch(&rabbit, &[acked.clone(), retried.clone(), requeued.clone()]).await;
        let mut stream = queue.consume(10).await.unwrap();
        let mut parts = Vec::new();
        for _ in 0..3 {
            parts.push(next(&mut stream, Duration::from_secs(5)).await);
        }
        let ids: Vec<_> = parts
            .iter()
            .map(|d| d.envelope().event_id.clone())
            .collect();
        assert_eq!(
            ids,
            [&acked, &retried, &requeued].map(|e| e.event_id.clone())
        );
        let mut parts = parts.into_iter();
        let (first, second, third) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        first.ack().await.unwrap();
        // The batch message stays unacked until all three are settled.
        let updated = common::retry_first_attempt(second, &retried).await;
        third.requeue().await.unwrap();
        // The requeued one comes back alone, at once; the retried one after its tier.
        let again = next(&mut stream, Duration::from_secs(5)).await;
        assert_eq!(again.envelope(), &requeued);
        again.ack().await.unwrap();
        let later = next(&mut stream, Duration::from_secs(5)).await;
        assert_eq!(later.envelope(), &updated);
        later.ack().await.unwrap();
        // The acked envelope never comes back: the batch message was acked.
        common::nothing_for(&mut stream, Duration::from_millis(2500)).await;
        assert_eq!(main_queue_messages(&rabbit).await, 0);
    })
    .await;
}

/// A group message is never re-run: after one sibling went to a delay tier and one to the
/// dead letters (acked), a sibling dropped unsettled comes back alone, and every sibling is
/// handled exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_envelope_dropped_unsettled_comes_back_alone() {
    dropped_sibling_comes_back_alone(None).await;
}

/// The same, when the dropped sibling's first republish fails (the main queue is briefly
/// unreachable through the exchange, so the mandatory publish comes back): the republish is
/// tried again instead of giving the whole batch back, so the siblings already in a tier or in
/// the dead letters are still handled exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_republish_is_tried_again_and_the_batch_is_not_rerun() {
    dropped_sibling_comes_back_alone(Some(Duration::from_millis(250))).await;
}

/// One batch message of three: the first goes to a delay tier, the second is acked (its dead
/// letter stored), the third is dropped unsettled — with the main queue unbound from the
/// exchange for `unbound` around the drop, so the third's republish fails at first.
async fn dropped_sibling_comes_back_alone(unbound: Option<Duration>) {
    common::with_queue(Rabbit::new(), move |rabbit, queue| async move {
        let (tiered, dead, dropped) = (envelope("tiered"), envelope("dead"), envelope("dropped"));
        publish_raw_batch(&rabbit, &[tiered.clone(), dead.clone(), dropped.clone()]).await;
        let mut stream = queue.consume(10).await.unwrap();
        let first = next(&mut stream, Duration::from_secs(5)).await;
        let second = next(&mut stream, Duration::from_secs(5)).await;
        let third = next(&mut stream, Duration::from_secs(5)).await;
        assert_eq!(first.envelope(), &tiered);
        common::retry_first_attempt(first, &tiered).await;
        assert_eq!(second.envelope(), &dead);
        // The worker acks after the dead letter is stored.
        second.ack().await.unwrap();
        assert_eq!(third.envelope(), &dropped);
        match unbound {
            None => drop(third),
            Some(window) => {
                let names = rabbit.names();
                let (connection, channel) = Rabbit::raw_channel().await;
                let (queue_name, exchange) = (names.main.as_str(), names.exchange.as_str());
                channel
                    .queue_unbind(queue_name, exchange, queue_name, Default::default())
                    .await
                    .unwrap();
                drop(third);
                // The first republish comes back unroutable; the binding returns before the
                // retries end (and before the tiered sibling's delay moves it back).
                tokio::time::sleep(window).await;
                channel
                    .queue_bind(
                        queue_name,
                        exchange,
                        queue_name,
                        Default::default(),
                        Default::default(),
                    )
                    .await
                    .unwrap();
                let _ = connection.close(200, "rebound").await;
            }
        }

        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(8);
        while let Ok(Some(item)) = tokio::time::timeout_at(deadline, stream.next()).await {
            let delivery = item.unwrap();
            seen.push(delivery.envelope().event_id.clone());
            delivery.ack().await.unwrap();
        }
        seen.sort();
        assert_eq!(
            seen,
            [dropped.event_id.clone(), tiered.event_id.clone()],
            "the dropped one alone, the tiered one once after its delay, the dead one never"
        );
        assert_eq!(main_queue_messages(&rabbit).await, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_zero_batching_limits() {
    let mut options = Rabbit::new().options();
    options.publish_batching.max_in_flight = 0;
    match RabbitQueue::connect(options).await {
        Err(QueueError::Config(message)) => assert!(message.contains("batching"), "{message}"),
        Err(other) => panic!("expected a configuration error, got {other}"),
        Ok(_) => panic!("zero in-flight messages accepted"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetch_counts_the_envelopes_of_a_batch() {
    common::with_queue(Rabbit::new(), |rabbit, queue| async move {
        let sent: Vec<_> = (0..5).map(|i| envelope(&format!("slot{i}"))).collect();
        publish_raw_batch(&rabbit, &sent).await;
        let mut stream = queue.consume(2).await.unwrap();
        let first = next(&mut stream, Duration::from_secs(5)).await;
        let second = next(&mut stream, Duration::from_secs(5)).await;
        // One message, five envelopes, two slots: the third waits for a settle.
        common::nothing_for(&mut stream, Duration::from_millis(700)).await;
        first.ack().await.unwrap();
        let third = next(&mut stream, Duration::from_secs(5)).await;
        assert_eq!(third.envelope(), &sent[2]);
        let mut rest = vec![second, third];
        for _ in 0..2 {
            rest.remove(0).ack().await.unwrap();
            rest.push(next(&mut stream, Duration::from_secs(5)).await);
        }
        for delivery in rest {
            delivery.ack().await.unwrap();
        }
        common::nothing_for(&mut stream, Duration::from_millis(700)).await;
    })
    .await;
}

/// `BRIDGE_AMQP_URL` as a node list: a node that does not answer is skipped at start, and the
/// queue works through the next one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_list_skips_a_node_that_is_down() {
    common::run(Rabbit::new(), |rabbit| async move {
        let mut options = rabbit.options();
        // Nothing listens on loopback port 1.
        options.amqp_url =
            format!("amqp://guest:guest@127.0.0.1:1/%2f,{}", common::AMQP_URL).into();
        let queue = RabbitQueue::connect(options).await.unwrap();
        let (e, mut stream) = publish_one(&queue, "via-second-node", 1).await;
        let delivery = next(&mut stream, Duration::from_secs(5)).await;
        assert_eq!(delivery.envelope(), &e);
        delivery.ack().await.unwrap();
        queue.close().await;
    })
    .await;
}

/// Every publish answers for itself. RabbitMQ confirms several publishes of a channel with one
/// `basic.ack multiple`, and the client library hands a `basic.return` to whichever of those
/// confirms it resolves first: with many publishes awaiting confirms on one channel, an
/// unroutable publish could read as confirmed (its event acked and lost) while a routed one
/// read as refused. Here unroutable tier publishes (their tier queue deleted) race routed
/// main-queue publishes: every tier publish must fail and every main publish must succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_returned_publish_is_never_read_as_confirmed() {
    let mut rabbit = Rabbit::new();
    // Each publish its own message, many awaiting their confirms at once.
    rabbit.batching = PublishBatching {
        max_events: 1,
        max_in_flight: 64,
        ..PublishBatching::default()
    };
    common::run(rabbit, |rabbit| async move {
        const ROUNDS: usize = 5;
        const EACH: usize = 100;
        let queue = Arc::new(rabbit.connect().await);
        let (connection, channel) = Rabbit::raw_channel().await;
        let tier = rabbit
            .names()
            .tier_queue(Duration::from_secs(1))
            .unwrap()
            .to_owned();
        channel
            .queue_delete(&tier, Default::default())
            .await
            .unwrap();
        let _ = connection.close(200, "tier deleted").await;

        let mut stream = queue.consume(EACH as u16).await.unwrap();
        let mut routed = 0;
        for round in 0..ROUNDS {
            for i in 0..EACH {
                queue
                    .publish(&envelope(&format!("held-{round}-{i}")))
                    .await
                    .unwrap();
            }
            let mut held = Vec::new();
            for _ in 0..EACH {
                held.push(next(&mut stream, Duration::from_secs(5)).await);
            }
            let mut tasks = tokio::task::JoinSet::new();
            for (i, delivery) in held.into_iter().enumerate() {
                let routed_queue = queue.clone();
                tasks.spawn(async move {
                    let updated = delivery.envelope().clone();
                    // Unroutable: must fail, and the delivery goes back to the main queue.
                    let tier = delivery.retry_later(&updated, Duration::from_secs(1)).await;
                    (format!("tier publish {i}"), tier.is_err())
                });
                let main_queue = routed_queue.clone();
                tasks.spawn(async move {
                    let published = main_queue.publish(&envelope(&format!("routed-{i}"))).await;
                    (
                        format!("main publish {i}: {published:?}"),
                        published.is_ok(),
                    )
                });
            }
            let mut wrong = Vec::new();
            while let Some(outcome) = tasks.join_next().await {
                let (what, right) = outcome.unwrap();
                if !right {
                    wrong.push(what);
                }
            }
            assert!(
                wrong.is_empty(),
                "round {round}: {} publishes read wrongly, e.g. {:?}",
                wrong.len(),
                &wrong[..wrong.len().min(5)]
            );
            routed += EACH;
            // What went back and what was routed is all in the main queue: drain it.
            let mut drained = 0;
            while drained < routed.min(EACH) + EACH {
                let delivery = next(&mut stream, Duration::from_secs(5)).await;
                delivery.ack().await.unwrap();
                drained += 1;
            }
            routed -= routed.min(EACH);
        }
        queue.close().await;
    })
    .await;
}
