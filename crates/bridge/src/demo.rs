//! `leadback-bridge demo`: the original card's "leave a test request" check, offline. Starts the
//! CoMagic emulator and an embedded bridge in a temporary folder, creates a demo tenant, posts
//! the sample Leadback payloads to its webhook URL, and prints the CoMagic records that arrived.
//! A second tenant on an account outside Moscow's zone (Asia/Yekaterinburg) gets the first
//! sample too: both records are printed, the same instant on each account's own clock.

use crate::config::{BackendPlan, BridgeConfig, Roles};
use crate::server::start;
use anyhow::Context;
use bridge_admin::TenantFile;
use bridge_ingress::IngressConfig;
use bridge_queue::RetryTiers;
use bridge_store::SecretKey;
use bridge_worker::WorkerConfig;
use comagic_emulator::{Emulator, EmulatorConfig};
use serde_json::json;
use std::time::{Duration, Instant};

/// The sample payloads (the same files the end-to-end tests use).
const SAMPLES: &[(&str, &str, &[u8])] = &[
    (
        "callback-basic.json",
        "application/json",
        include_bytes!("../../../tests/fixtures/leadback/callback-basic.json"),
    ),
    (
        "callback-form.txt",
        "application/x-www-form-urlencoded",
        include_bytes!("../../../tests/fixtures/leadback/callback-form.txt"),
    ),
    (
        "callback-no-session.json",
        "application/json",
        include_bytes!("../../../tests/fixtures/leadback/callback-no-session.json"),
    ),
    (
        "callback-session.json",
        "application/json",
        include_bytes!("../../../tests/fixtures/leadback/callback-session.json"),
    ),
    (
        "chat-basic.json",
        "application/json",
        include_bytes!("../../../tests/fixtures/leadback/chat-basic.json"),
    ),
];

pub async fn run(timeout: Duration) -> anyhow::Result<()> {
    let emulator = Emulator::start(EmulatorConfig::default())
        .await
        .context("cannot start the CoMagic emulator")?;
    let data = tempfile::tempdir().context("cannot create a temporary folder")?;
    let config = BridgeConfig {
        roles: Roles::SERVE,
        listen: "127.0.0.1:0".parse()?,
        metrics_listen: None,
        public_url: None,
        data_dir: data.path().to_path_buf(),
        backends: BackendPlan::resolve(
            data.path(),
            None,
            None,
            "demo".into(),
            RetryTiers::parse("1s,2s,5s").map_err(anyhow::Error::msg)?,
        ),
        secret_key: SecretKey::generate(),
        admin_listen: None,
        admin_token: None,
        ingress: IngressConfig::default(),
        // The emulator runs on loopback.
        worker: WorkerConfig {
            address_policy: comagic_client::AddressPolicy::ALLOW_PRIVATE,
            ..WorkerConfig::default()
        },
        depth_refresh: Duration::from_secs(5),
    };
    let bridge = start(config).await?;
    eprintln!("CoMagic emulator: {}", emulator.api_url());
    eprintln!("bridge (embedded): http://{}", bridge.addr);

    // Campaign 102 belongs to site 201 in the emulator's demo accounts. No `timezone`: the
    // bridge reads each account's own from get.account.
    let settings = |name: &str, access_token: &str| {
        json!({
            "name": name,
            "active": true,
            "comagic": {"api_url": emulator.api_url(), "access_token": access_token},
            "set_tags": true, "tag_ids": [401],
            "default_entity": "campaign", "default_campaign_id": 102, "default_site_id": 201,
            "chat_employee_id": 501
        })
    };
    let http = reqwest::Client::new();
    let tenants = [
        ("Demo shop", "demo-token", SAMPLES),
        ("Demo shop (Yekaterinburg)", "demo-token-ekb", &SAMPLES[..1]),
    ];
    let mut expected = 0;
    for (name, access_token, samples) in tenants {
        let input =
            TenantFile::parse(&settings(name, access_token).to_string())?.into_input(true)?;
        let (tenant, token) = bridge.store.create_tenant(input).await?;
        let url = bridge.webhook_url(token.as_str());
        eprintln!("{name} {}: webhook URL {url}", tenant.id);
        post_samples(&http, &url, samples).await?;
        expected += samples.len();
    }

    let deadline = Instant::now() + timeout;
    let records = loop {
        let records: Vec<_> = emulator
            .records()
            .into_iter()
            .filter(|r| r.kind != comagic_emulator::RecordKind::Session)
            .collect();
        if records.len() >= expected || Instant::now() > deadline {
            break records;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("{}", serde_json::to_string_pretty(&records)?);
    // The first sample in both accounts: one instant, each account's wall clock.
    for record in records.iter().filter(|r| {
        r.ext_id
            .as_deref()
            .is_some_and(|ext| ext.contains("9f3c2a71"))
    }) {
        eprintln!(
            "{} in account {}: date_time {}",
            SAMPLES[0].0, record.account, record.payload["date_time"]
        );
    }
    let dead = bridge.store.list_dead_letters(&Default::default()).await?;
    bridge.shutdown().await;
    emulator.shutdown().await;
    eprintln!(
        "{} of {} sample events arrived in CoMagic (emulator); {} dead letters",
        records.len(),
        expected,
        dead.len()
    );
    if records.len() < expected {
        anyhow::bail!("not every sample arrived within {timeout:?}");
    }
    Ok(())
}

/// Posts each sample to a tenant's webhook URL and prints the answers.
async fn post_samples(
    http: &reqwest::Client,
    url: &str,
    samples: &[(&str, &str, &[u8])],
) -> anyhow::Result<()> {
    for (name, content_type, body) in samples {
        let response = http
            .post(url)
            .header("content-type", *content_type)
            .body(body.to_vec())
            .send()
            .await
            .with_context(|| format!("posting {name}"))?;
        let status = response.status();
        let answer = response.text().await.unwrap_or_default();
        eprintln!("POST {name} → {status} {answer}");
    }
    Ok(())
}
