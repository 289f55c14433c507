//! Crash safety of the embedded mode: `serve` killed with SIGKILL while events are in flight,
//! started again — every accepted event ends as exactly one CoMagic record.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod support;

use comagic_emulator::{Emulator, EmulatorConfig, Fault};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::process::{bridge_command, free_port, wait_http_ok};

fn command(data_dir: &std::path::Path) -> Command {
    let mut cmd = bridge_command(data_dir, "warn");
    cmd.env("BRIDGE_RETRY_TIERS", "1s,2s");
    cmd
}

async fn wait_ready(http: &reqwest::Client, port: u16) {
    wait_http_ok(http, &format!("http://127.0.0.1:{port}/healthz")).await
}

fn start_serve(data_dir: &std::path::Path, port: u16) -> Child {
    command(data_dir)
        .args(["serve"])
        .env("BRIDGE_LISTEN", format!("127.0.0.1:{port}"))
        .env("BRIDGE_METRICS_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_flight_loses_nothing_and_doubles_nothing() {
    // A repeated ext_id updates the record: a second record of an event would need a second
    // ext_id, which the check below counts.
    let emulator = Emulator::start(EmulatorConfig {
        repeated_ext_id: comagic_emulator::RepeatedExtId::Update,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let settings = dir.path().join("tenant.json");
    std::fs::write(
        &settings,
        serde_json::json!({
            "name": "Crash shop", "active": true,
            "comagic": {"api_url": emulator.api_url(), "access_token": "demo-token"},
            "default_entity": "campaign", "default_campaign_id": 102, "default_site_id": 201,
            "chat_employee_id": 501
        })
        .to_string(),
    )
    .unwrap();
    // Operator commands need the database `migrate` (or `serve`) creates.
    let migrated = command(dir.path()).arg("migrate").output().unwrap();
    assert!(migrated.status.success(), "{migrated:?}");
    let out = command(dir.path())
        .env("BRIDGE_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .args([
            "tenants",
            "create",
            "--settings",
            settings.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let url = created["webhook_url"].as_str().unwrap().to_owned();

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
    let mut child = start_serve(dir.path(), port);
    wait_ready(&http, port).await;

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
    child.kill().expect("SIGKILL");
    let _ = child.wait();
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

    let mut child = start_serve(dir.path(), port);
    wait_ready(&http, port).await;

    // The embedded queue serves one process: a second `serve` on the same folder is refused.
    let second = command(dir.path())
        .args(["serve"])
        .env("BRIDGE_LISTEN", "127.0.0.1:0")
        .env("BRIDGE_METRICS_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("another leadback-bridge process"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );

    // The restarted `serve` releases the killed process's leases at once.
    let deadline = Instant::now() + Duration::from_secs(45);
    let counts = loop {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for r in emulator.records() {
            if r.kind == comagic_emulator::RecordKind::OfflineMessage {
                *counts
                    .entry(r.ext_id.clone().unwrap_or_default())
                    .or_default() += 1;
            }
        }
        let all_there = accepted
            .iter()
            .all(|id| counts.keys().any(|ext| ext.contains(id.as_str())));
        if all_there || Instant::now() > deadline {
            break counts;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
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
