//! The process lifecycle an SRE relies on: health and readiness endpoints, metrics on their own
//! listener, JSON logs, and SIGTERM draining in-flight deliveries within the grace period with
//! nothing lost and nothing doubled.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod support;

use comagic_emulator::{Emulator, EmulatorConfig, Fault, RecordKind};
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::process::{bridge_command, free_port, wait_http_ok};

fn command(data_dir: &std::path::Path) -> Command {
    bridge_command(data_dir, "info")
}

async fn wait_ready(http: &reqwest::Client, port: u16) {
    wait_http_ok(http, &format!("http://127.0.0.1:{port}/readyz")).await
}

fn create_tenant(dir: &std::path::Path, api_url: &str, port: u16) -> String {
    let settings = dir.join("tenant.json");
    std::fs::write(
        &settings,
        serde_json::json!({
            "name": "Lifecycle shop", "active": true,
            "comagic": {"api_url": api_url, "access_token": "demo-token"},
            "default_entity": "campaign", "default_campaign_id": 102, "default_site_id": 201,
            "chat_employee_id": 501
        })
        .to_string(),
    )
    .unwrap();
    // Operator commands need the database `migrate` (or `serve`) creates.
    let migrated = command(dir).arg("migrate").output().unwrap();
    assert!(migrated.status.success(), "{migrated:?}");
    let out = command(dir)
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
    created["webhook_url"].as_str().unwrap().to_owned()
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metrics_json_logs_and_sigterm_drain() {
    let emulator = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let metrics_port = free_port();
    let url = create_tenant(dir.path(), &emulator.api_url(), port);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let mut child = command(dir.path())
        .args(["--log-format", "json", "serve"])
        .env("BRIDGE_LISTEN", format!("127.0.0.1:{port}"))
        .env("BRIDGE_METRICS_LISTEN", format!("127.0.0.1:{metrics_port}"))
        .env("BRIDGE_SHUTDOWN_GRACE_SECS", "15")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let log_reader = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    wait_ready(&http, port).await;

    // Health and readiness.
    let health = http
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let ready: Value = http
        .get(format!("http://127.0.0.1:{port}/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready", "{ready}");

    // Slow CoMagic: deliveries are in flight when SIGTERM arrives.
    emulator.inject(Fault::Delay {
        duration: Duration::from_millis(1500),
        count: 100,
        method: None,
    });
    let mut accepted = Vec::new();
    for n in 0..10 {
        let body = serde_json::json!({"event": "callback", "id": format!("term-{n:03}-x"),
            "phone": format!("+7 916 555-00-{n:02}"), "name": "Drain"});
        let r = http.post(&url).json(&body).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        accepted.push(format!("term-{n:03}-x"));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Metrics on their own listener, with the contract names.
    let metrics = http
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"leadback_bridge_ingress_requests_total{outcome="accepted"} 10"#),
        "{metrics}"
    );
    assert!(metrics.contains("leadback_bridge_process_resident_memory_bytes"));
    assert!(
        !metrics.contains(url.rsplit('/').next().unwrap()),
        "token in metrics"
    );

    let term_at = Instant::now();
    sigterm(&child);
    // New requests are refused (connection closed) while draining; the process exits in time.
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            term_at.elapsed() < Duration::from_secs(20),
            "did not exit within the grace period"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    let logs = log_reader.join().unwrap();

    // Every log line is JSON; every line about an event names the tenant too.
    for line in &logs {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if line.contains("\"event_id\"") {
            assert!(
                line.contains("\"tenant_id\""),
                "event line without tenant: {line}"
            );
        }
        assert!(v.get("level").is_some(), "{line}");
    }

    // Start again: whatever the drain left is delivered; nothing twice.
    let mut child = command(dir.path())
        .args(["serve"])
        .env("BRIDGE_LISTEN", format!("127.0.0.1:{port}"))
        .env("BRIDGE_METRICS_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_ready(&http, port).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let counts = loop {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for r in emulator.records() {
            if r.kind == RecordKind::OfflineMessage {
                *counts
                    .entry(r.ext_id.clone().unwrap_or_default())
                    .or_default() += 1;
            }
        }
        let all = accepted
            .iter()
            .all(|id| counts.keys().any(|ext| ext.contains(id.as_str())));
        if all || Instant::now() > deadline {
            break counts;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    // A kill can cut the answer of an upload that reached CoMagic: its repeat is refused as a
    // duplicate (and counted as delivered). Nothing else may be refused.
    let refused = emulator.unprovoked_refusals(&["duplicate_entity"]);
    assert!(refused.is_empty(), "CoMagic refused: {refused:?}");
    for id in &accepted {
        let n: usize = counts
            .iter()
            .filter(|(ext, _)| ext.contains(id.as_str()))
            .map(|(_, n)| *n)
            .sum();
        assert_eq!(n, 1, "event {id} delivered {n} times");
    }
}
