//! One body of behavioural tests, run against both backends (RabbitMQ and embedded SQLite).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use common::{depth, envelope, eventually_depth, next, nothing_for, publish_one, Backend};
use futures::future::join_all;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SOON: Duration = Duration::from_secs(5);

async fn publish_consume_ack(backend: Arc<dyn Backend>) {
    let queue = backend.open().await;
    queue.ready().await.unwrap();
    let sent: Vec<_> = (0..3).map(|i| envelope(&format!("basic{i}"))).collect();
    for e in &sent {
        queue.publish(e).await.unwrap();
    }
    let mut stream = queue.consume(10).await.unwrap();
    for expected in &sent {
        let delivery = next(&mut stream, SOON).await;
        assert_eq!(delivery.envelope(), expected);
        assert!(!delivery.redelivered());
        delivery.ack().await.unwrap();
    }
    nothing_for(&mut stream, Duration::from_millis(1500)).await;
    drop(stream);
    // Acked messages are gone for a new consumer as well.
    let mut again = queue.consume(10).await.unwrap();
    nothing_for(&mut again, Duration::from_millis(500)).await;
    eventually_depth(queue.as_ref(), "main", 0).await;
    queue.close().await;
}

async fn dropped_delivery_comes_back(backend: Arc<dyn Backend>) {
    let queue = backend.open().await;
    let (sent, mut stream) = publish_one(queue.as_ref(), "dropped", 1).await;
    let first = next(&mut stream, SOON).await;
    assert!(!first.redelivered());
    drop(first);
    let again = next(&mut stream, Duration::from_secs(10)).await;
    assert_eq!(again.envelope(), &sent);
    assert!(again.redelivered());
    again.ack().await.unwrap();
    nothing_for(&mut stream, Duration::from_millis(1500)).await;
    queue.close().await;
}

/// A consumer that goes away (closed queue, crashed process) gives its unsettled deliveries
/// back to the next consumer.
async fn unsettled_delivery_survives_closed_consumer(backend: Arc<dyn Backend>) {
    let first_queue = backend.open().await;
    let (sent, mut stream) = publish_one(first_queue.as_ref(), "unsettled", 1).await;
    let held = next(&mut stream, SOON).await;
    first_queue.close().await;

    let second_queue = backend.open().await;
    let mut stream = second_queue.consume(1).await.unwrap();
    let again = next(&mut stream, Duration::from_secs(10)).await;
    assert_eq!(again.envelope(), &sent);
    assert!(again.redelivered());
    again.ack().await.unwrap();
    drop(held);
    second_queue.close().await;
}

async fn retry_later_waits_for_the_tier(backend: Arc<dyn Backend>) {
    let queue = backend.open().await;
    assert_eq!(
        queue.retry_tiers().delays(),
        &[Duration::from_secs(1), Duration::from_secs(2)]
    );
    let (sent, mut stream) = publish_one(queue.as_ref(), "retry", 5).await;
    let delivery = next(&mut stream, SOON).await;

    let mut updated = sent.clone();
    updated.attempt = 1;
    updated.progress.session_id = Some(42);
    updated.last_error = Some(bridge_queue::LastError {
        class: "retryable".into(),
        mnemonic: None,
        message: "timeout".into(),
        at: chrono::Utc::now(),
    });
    let started = Instant::now();
    // 1.5 s fits no tier exactly: the 2 s tier is the smallest that waits long enough.
    delivery
        .retry_later(&updated, Duration::from_millis(1500))
        .await
        .unwrap();
    assert_eq!(depth(queue.as_ref(), "retry_2s").await, 1);
    assert_eq!(depth(queue.as_ref(), "retry_1s").await, 0);
    assert_eq!(depth(queue.as_ref(), "main").await, 0);

    let back = next(&mut stream, Duration::from_secs(8)).await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1900),
        "came back after {waited:?}"
    );
    assert_eq!(back.envelope(), &updated);
    back.ack().await.unwrap();
    eventually_depth(queue.as_ref(), "retry_2s", 0).await;
    queue.close().await;
}

async fn requeue_redelivers_at_once(backend: Arc<dyn Backend>) {
    let queue = backend.open().await;
    let (sent, mut stream) = publish_one(queue.as_ref(), "requeue", 1).await;
    next(&mut stream, SOON).await.requeue().await.unwrap();
    let started = Instant::now();
    let again = next(&mut stream, SOON).await;
    assert!(started.elapsed() < Duration::from_millis(900));
    assert_eq!(again.envelope(), &sent);
    assert!(again.redelivered());
    again.ack().await.unwrap();
    queue.close().await;
}

async fn depths_count_waiting_messages(backend: Arc<dyn Backend>) {
    let queue = backend.open().await;
    let parts: Vec<String> = queue
        .depths()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.queue)
        .collect();
    assert_eq!(parts, ["main", "retry_1s", "retry_2s", "poison"]);
    for i in 0..4 {
        queue
            .publish(&envelope(&format!("depth{i}")))
            .await
            .unwrap();
    }
    eventually_depth(queue.as_ref(), "main", 4).await;
    assert_eq!(depth(queue.as_ref(), "retry_1s").await, 0);
    assert_eq!(depth(queue.as_ref(), "poison").await, 0);
    let mut stream = queue.consume(1).await.unwrap();
    let delivery = next(&mut stream, SOON).await;
    delivery
        .retry_later(&envelope("moved"), Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(depth(queue.as_ref(), "retry_1s").await, 1);
    queue.close().await;
}

async fn prefetch_limit_is_respected(backend: Arc<dyn Backend>) {
    let queue = backend.open().await;
    for i in 0..6 {
        queue
            .publish(&envelope(&format!("prefetch{i}")))
            .await
            .unwrap();
    }
    let mut stream = queue.consume(2).await.unwrap();
    let first = next(&mut stream, SOON).await;
    let _second = next(&mut stream, SOON).await;
    nothing_for(&mut stream, Duration::from_millis(700)).await;
    first.ack().await.unwrap();
    let third = next(&mut stream, SOON).await;
    nothing_for(&mut stream, Duration::from_millis(500)).await;
    third.ack().await.unwrap();
    queue.close().await;
}

async fn concurrent_publishes_are_all_durable(backend: Arc<dyn Backend>) {
    let queue = backend.open().await;
    let sent: Vec<_> = (0..500).map(|i| envelope(&format!("many{i}"))).collect();
    let results = join_all(sent.iter().map(|e| queue.publish(e))).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    // The embedded queue counts rows (500); RabbitMQ counts messages, and its group publish
    // puts envelopes published together into one message.
    let deadline = Instant::now() + SOON;
    let mut waiting = depth(queue.as_ref(), "main").await;
    while waiting == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waiting = depth(queue.as_ref(), "main").await;
    }
    assert!((1..=500).contains(&waiting), "main depth {waiting}");

    let mut stream = queue.consume(100).await.unwrap();
    common::ack_until_all_seen(&mut stream, &sent, SOON).await;
    eventually_depth(queue.as_ref(), "main", 0).await;
    queue.close().await;
}

macro_rules! for_each_backend {
    ($($behaviour:ident),* $(,)?) => {
        mod rabbitmq {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $behaviour() {
                    crate::common::run(crate::common::Rabbit::new(), |b| super::$behaviour(b as _)).await;
                }
            )*
        }
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $behaviour() {
                    crate::common::run(crate::common::Embedded::new(), |b| super::$behaviour(b as _)).await;
                }
            )*
        }
    };
}

for_each_backend!(
    publish_consume_ack,
    dropped_delivery_comes_back,
    unsettled_delivery_survives_closed_consumer,
    retry_later_waits_for_the_tier,
    requeue_redelivers_at_once,
    depths_count_waiting_messages,
    prefetch_limit_is_respected,
    concurrent_publishes_are_all_durable,
);
