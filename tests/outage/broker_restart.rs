//! RabbitMQ stopped under a running bridge: the ingress answers 503 (Leadback retries), and
//! after the broker is back it answers 200 again and delivers — without a restart.
//!
//! This test stops the machine's shared broker, so it lives in the outage binary (cargo runs
//! test binaries one after another) and takes the serial lock's exclusive side there.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use crate::support;

use crate::faults::BrokerGuard;
use std::time::{Duration, Instant};
use support::{Backend, World};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_answers_503_then_recovers_without_restart() {
    let _serial = support::serial::exclusive().await;
    let world = World::start_with(Backend::RabbitPostgres, |c| {
        c.ingress.publish_timeout = Duration::from_secs(3);
    })
    .await;
    let (_, url) = world.default_tenant().await;
    let (status, _) = world.post_fixture(&url, "callback-basic.json").await;
    assert_eq!(status, 200);
    world
        .wait_records(Duration::from_secs(30), |r| r.len() == 1)
        .await;

    let guard = BrokerGuard::stop();
    let (status, body) = world.post_fixture(&url, "callback-no-session.json").await;
    assert_eq!(status, 503, "broker down must not be a 2xx: {body}");
    drop(guard); // start_app + await_startup

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, _) = world.post_fixture(&url, "callback-no-session.json").await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "only 503 while recovering");
        assert!(Instant::now() < deadline, "ingress did not recover");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The consumer came back by itself too: the event is delivered.
    world
        .wait_records(Duration::from_secs(60), |r| r.len() == 2)
        .await;
    world.stop().await;
}
