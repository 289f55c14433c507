//! Poison messages end to end: what the queue gives up on (bytes that are not an envelope, or
//! a message past the delivery limit) reaches the operator's dead letters (`dlq list`) as class
//! `poison`, on RabbitMQ (the broker's `x-delivery-limit` and poison queue) and on the embedded
//! queue (its delivery count and `queue_poison` table), through the running worker.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use crate::support;

use bridge_store::DeadLetter;
use comagic_emulator::Fault;
use std::time::{Duration, Instant};
use support::{Backend, World};

/// Waits for the poison dead letter `pick` accepts; panics with what there is after 30 s.
async fn wait_poison(world: &World, pick: impl Fn(&DeadLetter) -> bool) -> DeadLetter {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let dead = world.dead_letters().await;
        if let Some(found) = dead.iter().find(|d| d.class == "poison" && pick(d)) {
            return found.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no such poison dead letter: {dead:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn rabbit_channel() -> (lapin::Connection, lapin::Channel) {
    bridge_test_support::rabbitmq::channel(support::RABBIT_URL)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_raw_message_in_the_main_queue_is_a_poison_dead_letter() {
    let world = World::start(Backend::RabbitPostgres).await;
    let main = format!("{}.events", world.config.backends.queue_prefix);
    let (connection, channel) = rabbit_channel().await;
    channel.confirm_select(Default::default()).await.unwrap();
    let confirm = channel
        .basic_publish(
            &main,
            &main,
            Default::default(),
            b"raw bytes, not an envelope",
            lapin::BasicProperties::default().with_delivery_mode(2),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(confirm.is_ack());
    let dead = wait_poison(&world, |d| d.message.starts_with("undecodable envelope")).await;
    assert_eq!(dead.envelope["raw_text"], "raw bytes, not an envelope");
    assert!(
        dead.event_id.as_str().starts_with("poison-"),
        "{}",
        dead.event_id
    );
    let _ = connection.close(200, "done").await;
    world.stop().await;
}

/// The worker cannot move the event to a delay tier (the tiers were deleted under it), so the
/// delivery is given back unsettled each time; past `x-delivery-limit` the broker dead-letters
/// it into the poison queue and the worker keeps it as a dead letter of that event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_message_past_the_delivery_limit_is_a_poison_dead_letter() {
    let world = World::start_with(Backend::RabbitPostgres, |config| {
        config.backends.delivery_limit = 2;
    })
    .await;
    let (tenant_id, url) = world.default_tenant().await;
    let (connection, channel) = rabbit_channel().await;
    let names = bridge_queue::rabbitmq::Names::new(
        &world.config.backends.queue_prefix,
        &world.config.backends.retry_tiers,
    );
    for (_, tier, _) in &names.tiers {
        channel
            .queue_delete(tier, Default::default())
            .await
            .unwrap();
    }
    world.emulator.inject(Fault::HttpStatus {
        status: 503,
        count: 1000,
        method: None,
    });
    let (status, _) = world.post_fixture(&url, "callback-basic.json").await;
    assert_eq!(status, 200);
    let dead = wait_poison(&world, |d| d.message.starts_with("delivery limit (2)")).await;
    assert_eq!(dead.tenant_id, tenant_id);
    assert!(
        !dead.event_id.as_str().starts_with("poison-"),
        "{}",
        dead.event_id
    );
    assert!(world.records().is_empty());
    let _ = connection.close(200, "done").await;
    world.stop().await;
}

async fn embedded_queue_row(world: &World, envelope: &[u8], deliveries: i64) {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&world.config.backends.embedded_queue_path)
        .busy_timeout(Duration::from_secs(10));
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    sqlx::query(
        "INSERT INTO queue_events (event_id, tenant_id, visible_at, tier, attempt, deliveries, envelope)
         VALUES ('raw', '00000000-0000-0000-0000-000000000000', 0, NULL, 0, ?, ?)",
    )
    .bind(deliveries)
    .bind(envelope)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_raw_row_and_row_past_the_delivery_limit_are_poison_dead_letters() {
    let world = World::start(Backend::Embedded).await;
    let (tenant_id, _) = world.default_tenant().await;
    embedded_queue_row(&world, b"raw bytes, not an envelope", 0).await;
    let dead = wait_poison(&world, |d| d.message.starts_with("undecodable envelope")).await;
    assert_eq!(dead.envelope["raw_text"], "raw bytes, not an envelope");

    // A row already delivered more often than the limit (as after crashes mid-delivery).
    let envelope = bridge_queue::Envelope::new(
        "over-the-limit".parse().unwrap(),
        tenant_id,
        Some("application/json".into()),
        support::fixture("callback-basic.json"),
        chrono::Utc::now(),
    );
    let limit = world.config.backends.delivery_limit;
    embedded_queue_row(&world, &envelope.to_json(), i64::from(limit) + 1).await;
    let dead = wait_poison(&world, |d| d.event_id == "over-the-limit").await;
    assert!(
        dead.message
            .starts_with(&format!("delivery limit ({limit})")),
        "{}",
        dead.message
    );
    assert_eq!(dead.tenant_id, tenant_id);
    assert!(world.records().is_empty());
    world.stop().await;
}
