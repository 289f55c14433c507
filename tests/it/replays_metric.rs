//! Issue 17: a replay made by `leadback-bridge dlq replay` (a process of its own) shows in a
//! running `serve`'s `leadback_bridge_replays_total`, because the store counts replays and the
//! metric reports the store's count.

use crate::support;

use bridge_queue::Envelope;
use bridge_store::{NewDeadLetter, SecretKey, Store};
use chrono::Utc;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::process::{bridge_command, free_port, wait_http_ok};
use uuid::Uuid;

/// The store `serve` created in `data` (its SQLite file and generated key).
async fn store_of(data: &Path) -> Arc<dyn Store> {
    let key = std::fs::read_to_string(data.join("secret.key")).unwrap();
    let url = format!("sqlite://{}", data.join("bridge.db").display());
    bridge_store::open(&url, SecretKey::parse(key.trim()).unwrap())
        .await
        .unwrap()
}

/// A dead letter whose envelope the replay can publish.
fn dead_letter(tenant_id: Uuid, event_id: &str) -> NewDeadLetter {
    let envelope = Envelope::new(
        event_id.parse().unwrap(),
        tenant_id,
        Some("application/json".into()),
        br#"{"id":1}"#.to_vec(),
        Utc::now(),
    );
    NewDeadLetter {
        tenant_id,
        event_id: event_id.parse().unwrap(),
        class: "exhausted".into(),
        mnemonic: None,
        message: "gave up".into(),
        attempts: 9,
        first_attempt_at: None,
        last_attempt_at: Utc::now(),
        envelope: serde_json::from_slice(&envelope.to_json()).unwrap(),
    }
}

/// The value of `leadback_bridge_replays_total` on `url`.
async fn replays_total(http: &reqwest::Client, url: &str) -> Option<u64> {
    let text = http.get(url).send().await.ok()?.text().await.ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("leadback_bridge_replays_total "))
        .and_then(|value| value.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_replay_shows_in_a_running_serve_s_replays_total() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (listen, metrics) = (free_port(), free_port());
    let mut serve = bridge_command(&data, "warn");
    serve
        .arg("serve")
        .env("BRIDGE_LISTEN", format!("127.0.0.1:{listen}"))
        .env("BRIDGE_METRICS_LISTEN", format!("127.0.0.1:{metrics}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // Killed when the test ends, however it ends.
    let serving = tokio::process::Command::from(serve)
        .kill_on_drop(true)
        .spawn()
        .expect("serve starts");
    let http = reqwest::Client::new();
    wait_http_ok(&http, &format!("http://127.0.0.1:{listen}/readyz")).await;
    let metrics_url = format!("http://127.0.0.1:{metrics}/metrics");
    assert_eq!(replays_total(&http, &metrics_url).await, Some(0));

    let store = store_of(&data).await;
    let tenant = Uuid::new_v4();
    for event in ["ev-1", "ev-2"] {
        store
            .add_dead_letter(&dead_letter(tenant, event))
            .await
            .unwrap();
    }
    let replay = bridge_command(&data, "warn")
        .args(["dlq", "replay", "--all"])
        .output()
        .expect("dlq replay runs");
    assert!(
        replay.status.success(),
        "dlq replay failed: {}",
        String::from_utf8_lossy(&replay.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&replay.stdout).unwrap();
    assert_eq!(report["replayed"], 2, "{report}");
    assert_eq!(store.replay_count().await.unwrap(), 2);

    // `serve` reads the store's count with the queue depths (every 5 s).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = None;
    while Instant::now() < deadline {
        seen = replays_total(&http, &metrics_url).await;
        if seen == Some(2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(seen, Some(2), "serve's replays_total after a CLI replay");
    drop(serving);
}
