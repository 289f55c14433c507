//! Crash safety of the embedded mode: `serve` killed with SIGKILL while events are in flight,
//! started again — every accepted event ends as exactly one CoMagic record.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use crate::support;

use bridge_test_support::{Backend, BridgeProcess, Deployment, Ready};
use comagic_emulator::{Emulator, EmulatorConfig, Fault};
use std::collections::HashSet;
use std::time::Duration;
use support::process::free_port;

/// `serve` on `port` (a restart keeps the port), once it serves HTTP.
async fn start_serve(deployment: &Deployment, port: u16) -> BridgeProcess {
    deployment
        .role("serve")
        .listen(port)
        .ready(Ready::Healthz)
        .spawn()
        .await
        .expect("serve starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_flight_loses_nothing_and_doubles_nothing() {
    let _serial = support::serial::exclusive().await;
    // A repeated ext_id updates the record: a second record of an event would need a second
    // ext_id, which the check below counts.
    let emulator = Emulator::start(EmulatorConfig {
        repeated_ext_id: comagic_emulator::RepeatedExtId::Update,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let port = free_port();
    let (deployment, url) = support::embedded_with_tenant(
        support::deployment(Backend::Embedded).retry_tiers("1s,2s"),
        port,
        "Crash shop",
        &emulator.api_url(),
    )
    .await;

    // Slow CoMagic so deliveries are in flight when the process dies.
    emulator.inject(Fault::Delay {
        duration: Duration::from_millis(200),
        count: 40,
        method: None,
    });

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let serve = start_serve(&deployment, port).await;

    // Post 60 events as fast as they are accepted, then SIGKILL while deliveries (slowed by
    // the emulator) are still in flight.
    let mut accepted: HashSet<String> = HashSet::new();
    for n in 1..=60 {
        let id = format!("crash-{n:04}-x");
        let body = serde_json::json!({
            "event": "callback", "id": id,
            "phone": format!("+7 916 {:03}-{:02}-{:02}", n % 1000, n % 100, (n / 100) % 100),
            "name": "Crash test"
        });
        if let Ok(r) = http.post(&url).json(&body).send().await {
            if r.status().as_u16() == 200 {
                accepted.insert(id);
            }
        }
    }
    serve.kill().await.expect("SIGKILL");
    let delivered_before_kill = emulator.records().len();
    assert!(
        delivered_before_kill < accepted.len(),
        "the kill should catch deliveries in flight ({delivered_before_kill} of {} done)",
        accepted.len()
    );
    assert!(
        accepted.len() >= 30,
        "too few accepted before the kill: {}",
        accepted.len()
    );

    let serve = start_serve(&deployment, port).await;

    // The embedded queue serves one process: a second `serve` on the same folder is refused.
    let second = deployment
        .command()
        .args(["serve"])
        .env("BRIDGE_LISTEN", "127.0.0.1:0")
        .env("BRIDGE_METRICS_LISTEN", "127.0.0.1:0")
        .output()
        .await
        .unwrap();
    assert!(!second.status.success());
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("another leadback-bridge process"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );

    // The restarted `serve` releases the killed process's leases at once.
    let accepted: Vec<String> = accepted.into_iter().collect();
    let counts =
        support::offline_messages_per_ext_id(&emulator, &accepted, Duration::from_secs(45)).await;
    let _ = serve.kill().await;
    // A kill can cut the answer of an upload that reached CoMagic: its repeat updates the
    // record. Nothing may be refused.
    let refused = emulator.unprovoked_refusals(&[]);
    assert!(refused.is_empty(), "CoMagic refused: {refused:?}");
    for id in &accepted {
        let matching: Vec<_> = counts
            .iter()
            .filter(|(ext, _)| ext.contains(id.as_str()))
            .collect();
        assert_eq!(matching.len(), 1, "event {id}: {matching:?}");
        assert_eq!(*matching[0].1, 1, "event {id} delivered more than once");
    }
    for (ext, count) in &counts {
        assert_eq!(*count, 1, "{ext} doubled");
    }
}
