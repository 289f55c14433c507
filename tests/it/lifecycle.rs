//! The process lifecycle an SRE relies on: health and readiness endpoints, metrics on their own
//! listener, JSON logs, and SIGTERM draining in-flight deliveries within the grace period with
//! nothing lost and nothing doubled.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use crate::support;
use bridge_test_support::http::{json, text};

use bridge_test_support::Backend;
use comagic_emulator::{Emulator, EmulatorConfig, Fault};
use serde_json::Value;
use std::time::Duration;
use support::process::free_port;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metrics_json_logs_and_sigterm_drain() {
    let _serial = support::serial::exclusive().await;
    let emulator = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let port = free_port();
    let metrics_port = free_port();
    let (deployment, url) = support::embedded_with_tenant(
        support::deployment(Backend::Embedded).env("RUST_LOG", "info"),
        port,
        "Lifecycle shop",
        &emulator.api_url(),
    )
    .await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    // Ready once `/readyz` answers.
    let mut serve = deployment
        .role("serve")
        .global_args(&["--log-format", "json"])
        .listen(port)
        .metrics(metrics_port)
        .env("BRIDGE_SHUTDOWN_GRACE_SECS", "15")
        .spawn()
        .await
        .unwrap();

    // Health and readiness.
    let health = http
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let ready: Value = json(http.get(format!("http://127.0.0.1:{port}/readyz")))
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
    let metrics = text(http.get(format!("http://127.0.0.1:{metrics_port}/metrics")))
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

    serve.sigterm().await.unwrap();
    // New requests are refused (connection closed) while draining; the process exits in time.
    let status = serve
        .wait_exit(Duration::from_secs(20))
        .await
        .expect("did not exit within the grace period");
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    let logs: Vec<String> = serve.log_text().lines().map(str::to_owned).collect();

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
    let serve = deployment.role("serve").listen(port).spawn().await.unwrap();
    let counts =
        support::offline_messages_per_ext_id(&emulator, &accepted, Duration::from_secs(60)).await;
    let _ = serve.kill().await;
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
