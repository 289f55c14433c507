//! What the phases share: the emulator's tenant and its delivery counts, and a RabbitMQ +
//! PostgreSQL deployment with its own database and queue prefix (dropped afterwards).

use crate::bridge::{self, Deployment, RabbitMode};
use anyhow::Context;
use comagic_emulator::RunningEmulator;
use serde_json::json;
use std::time::{Duration, Instant};

/// Tenant settings pointing at the emulator; no tags, so calls per event measure the upload
/// batching alone.
pub(crate) fn tenant(emulator: &RunningEmulator) -> serde_json::Value {
    json!({
        "name": "Bench shop",
        "active": true,
        "comagic": {"api_url": emulator.api_url(), "access_token": "demo-token"},
        "ignore_session": false,
        "set_tags": false, "tag_ids": [],
        "default_entity": "campaign", "default_campaign_id": 102, "default_site_id": 201,
        "chat_employee_id": 501,
        "timezone": "Europe/Moscow",
        "upload_sessions": false
    })
}

/// Records delivered so far (items of successful upload calls) and upload calls made.
pub(crate) fn delivered(emulator: &RunningEmulator) -> (u64, u64) {
    let mut items = 0;
    let mut calls = 0;
    for c in emulator.calls() {
        if c.method.starts_with("upload.") {
            calls += 1;
            if c.outcome == "ok" {
                items += c.items as u64;
            }
        }
    }
    (items, calls)
}

/// Waits until `n` records are in the emulator (or `timeout`); returns when the last came.
pub(crate) async fn wait_delivered(
    emulator: &RunningEmulator,
    n: u64,
    timeout: Duration,
) -> (u64, Instant) {
    let deadline = Instant::now() + timeout;
    let mut last = (0, Instant::now());
    loop {
        let (items, _) = delivered(emulator);
        if items != last.0 {
            last = (items, Instant::now());
        }
        if items >= n || Instant::now() > deadline {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn rabbit_deployment(
    bin: &std::path::Path,
    run: &str,
    log: &str,
    dir: &tempfile::TempDir,
) -> anyhow::Result<Deployment> {
    let database = format!("bench_{run}_{}", rand::random::<u16>());
    bridge::create_database(&database)
        .await
        .context("PostgreSQL at 127.0.0.1:5432")?;
    let key: [u8; 32] = rand::random();
    Ok(Deployment {
        bin: bin.to_path_buf(),
        data_dir: dir.path().to_path_buf(),
        rabbit: Some(RabbitMode {
            prefix: format!("bench.{database}"),
            database,
            secret_key_hex: key.iter().map(|b| format!("{b:02x}")).collect(),
        }),
        log_level: log.to_owned(),
    })
}

pub(crate) async fn cleanup(deployment: &Deployment) {
    if let Some(r) = &deployment.rabbit {
        bridge::delete_topology(&r.prefix).await;
        bridge::drop_database(&r.database).await;
    }
}
