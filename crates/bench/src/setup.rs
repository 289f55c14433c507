//! What the phases share: the emulator's tenant and its delivery counts, and the end of a
//! phase.

use bridge_test_support::Deployment;
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

/// Removes what the phase's deployment made and stops the emulator, whatever became of the
/// phase; what became of it.
pub(crate) async fn tear_down(
    deployment: Deployment,
    emulator: RunningEmulator,
    result: anyhow::Result<()>,
) -> anyhow::Result<()> {
    deployment.stop().await;
    emulator.shutdown().await;
    result
}
