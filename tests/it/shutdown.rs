//! Graceful shutdown with deliveries in flight: the bridge stops within its drain budget
//! (`BRIDGE_SHUTDOWN_GRACE_SECS`) even while CoMagic calls hang, gives back what it has not
//! settled, and the next start delivers every event exactly once — on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use crate::support;

use comagic_emulator::Fault;
use std::time::{Duration, Instant};
use support::{Backend, World};

const EVENTS: usize = 5;
const GRACE: Duration = Duration::from_secs(2);
/// Far longer than the grace: a shutdown that waited for the calls would take this long.
const HANG: Duration = Duration::from_secs(20);

fn body(id: &str) -> Vec<u8> {
    let mut body: serde_json::Value =
        serde_json::from_slice(&support::fixture("callback-basic.json")).unwrap();
    body["id_call"] = serde_json::json!(id);
    serde_json::to_vec(&body).unwrap()
}

/// Ready messages in the RabbitMQ main queue, read on a connection of the test's own.
async fn main_queue_ready(prefix: &str) -> u32 {
    let (connection, channel) = bridge_test_support::rabbitmq::channel(support::RABBIT_URL)
        .await
        .unwrap();
    let declared = channel
        .queue_declare(
            &format!("{prefix}.events"),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .unwrap();
    let _ = connection.close(200, "done").await;
    declared.message_count()
}

async fn shutdown_gives_back_what_is_not_settled(backend: Backend) {
    let _serial = support::serial::exclusive().await;
    let mut world = World::start_with(backend, |config| {
        config.worker.shutdown_grace = GRACE;
        config.worker.comagic_timeout = HANG * 2;
    })
    .await;
    let (_, url) = world.default_tenant().await;
    // Every upload hangs (the emulator sleeps before the method: nothing is stored).
    world.emulator.inject(Fault::Delay {
        duration: HANG,
        count: EVENTS as u32,
        method: Some("upload.offline_messages".into()),
    });
    for i in 0..EVENTS {
        let (status, _) = world
            .post(&url, "application/json", body(&format!("sd-{i}")))
            .await;
        assert_eq!(status, 200);
    }
    // The worker has them in flight, their uploads hanging (the emulator logs a call only when
    // it is answered, so there is nothing to wait for but time).
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let started = Instant::now();
    world.bridge.take().unwrap().shutdown().await;
    let took = started.elapsed();
    assert!(
        took < GRACE + Duration::from_secs(3),
        "shutdown took {took:?} with a {GRACE:?} grace"
    );
    assert!(world.emulator.records().is_empty(), "nothing was stored");
    if backend == Backend::RabbitPostgres {
        // Given back: every event ready again in the main queue, none held by the old consumer.
        let ready = main_queue_ready(&world.config.backends.queue_prefix).await;
        assert_eq!(
            ready as usize, EVENTS,
            "ready in the main queue after shutdown"
        );
    }

    // The next start delivers each event once (the hanging calls still queued in the
    // emulator now time out quickly and are retried).
    let mut config = world.config.clone();
    config.worker.comagic_timeout = Duration::from_secs(1);
    // Up to EVENTS of those time out: attempts enough that none is given up on.
    config.worker.max_attempts = 40;
    world.bridge = Some(bridge_app::start(config).await.unwrap());
    let records = world
        .wait_records(Duration::from_secs(90), |r| r.len() >= EVENTS)
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(world.records().len(), EVENTS, "{records:?}");
    assert!(world.dead_letters().await.is_empty());
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_shutdown_gives_back_what_is_not_settled() {
    shutdown_gives_back_what_is_not_settled(Backend::RabbitPostgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_shutdown_gives_back_what_is_not_settled() {
    shutdown_gives_back_what_is_not_settled(Backend::Embedded).await;
}
