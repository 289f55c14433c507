//! Every log line about an event carries its event id, in JSON logs too, and CoMagic's mnemonic
//! is written as a plain string (not `Some("…")`); a clean SIGTERM logs no ERROR line.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use crate::support;

use comagic_emulator::{Emulator, EmulatorConfig};
use serde_json::Value;
use std::io::Read;
use std::time::{Duration, Instant};
use support::process::{bridge_command, free_port, role_command, wait_http_ok};

#[tokio::test]
async fn dead_lettering_lines_name_the_event_and_the_mnemonic() {
    let emulator = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = support::tenant_settings(&format!("{}/v2.0", emulator.base_url()));
    // A campaign the account does not have: the batch upload is refused with
    // `entity_not_found` (event_permanent), a line logged on the batch's path.
    settings["default_campaign_id"] = serde_json::json!(999_999);
    let file = dir.path().join("tenant.json");
    std::fs::write(&file, settings.to_string()).unwrap();
    let migrate = bridge_command(dir.path(), "warn")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(migrate.status.success(), "{migrate:?}");
    let created = bridge_command(dir.path(), "warn")
        .args(["tenants", "create", "--settings", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(created.status.success(), "{created:?}");
    let created: Value = serde_json::from_slice(&created.stdout).unwrap();
    let token = created["webhook_url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();

    let port = free_port();
    let log = dir.path().join("bridge.log");
    let mut child = role_command(dir.path(), "info", "serve", &format!("127.0.0.1:{port}"))
        .env("BRIDGE_LOG_FORMAT", "json")
        // The emulator listens on loopback.
        .env("BRIDGE_ALLOW_PRIVATE_API_URLS", "true")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    wait_http_ok(&http, &format!("http://127.0.0.1:{port}/healthz")).await;
    let event_id = support::process::post_basic_callback(port, &token).await;

    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&log)
        .unwrap()
        .contains("dead-lettering")
    {
        assert!(Instant::now() < deadline, "no dead-lettering line");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    unsafe_sigterm(child.id());
    assert!(child.wait().unwrap().success());
    let mut text = String::new();
    std::fs::File::open(&log)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    let lines: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let dead = lines
        .iter()
        .find(|l| l["message"] == "dead-lettering")
        .unwrap_or_else(|| panic!("no JSON dead-lettering line in {text}"));
    // The event id is a field of the line or of the delivery span it is logged in.
    let logged_id = dead.get("event_id").unwrap_or(&dead["span"]["event_id"]);
    assert_eq!(logged_id, event_id.as_str(), "{dead}");
    assert_eq!(dead["mnemonic"], "entity_not_found", "{dead}");
    for line in &lines {
        assert_ne!(line["level"], "ERROR", "ERROR logged: {line}");
    }
}

/// SIGTERM through `kill(1)`, as an orchestrator sends it.
fn unsafe_sigterm(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn a_worker_on_rabbitmq_stops_on_sigterm_without_error_lines() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("logs_{}", uuid::Uuid::new_v4().simple());
    let prefix = format!("logs{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    support::create_database(&database).await;
    let port = free_port();
    let log = dir.path().join("worker.log");
    let mut child = role_command(dir.path(), "info", "worker", &format!("127.0.0.1:{port}"))
        .env(
            "BRIDGE_DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:5432/{database}"),
        )
        .env(
            "BRIDGE_SECRET_KEY",
            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        )
        .env("BRIDGE_AMQP_URL", support::RABBIT_URL)
        .env("BRIDGE_QUEUE_PREFIX", &prefix)
        .env("BRIDGE_LOG_FORMAT", "json")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_http_ok(
        &reqwest::Client::new(),
        &format!("http://127.0.0.1:{port}/readyz"),
    )
    .await;
    unsafe_sigterm(child.id());
    let exited = child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    support::delete_rabbit_topology(&prefix, &bridge_queue::RetryTiers::default()).await;
    support::drop_database(&database).await;
    assert!(exited.success(), "{exited:?}: {text}");
    for line in text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
    {
        assert_ne!(line["level"], "ERROR", "ERROR on a clean SIGTERM: {line}");
    }
}
