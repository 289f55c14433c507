//! The bridge under test as child processes of the real release binary (so their peak RSS is
//! their own, read from `/proc/<pid>/status`), on a deployment of the shared test harness (in
//! RabbitMQ mode a throwaway PostgreSQL database and queue prefix, removed by
//! `Deployment::stop`); plus the broker connection of the ceilings and the purge between rounds.

use anyhow::Context;
use bridge_test_support::rabbitmq::AMQP_URL;
use bridge_test_support::{Backend, BridgeProcess, Deployment};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use bridge_test_support::peak_rss_mib;

/// A deployment of `bin`: embedded, or on RabbitMQ + PostgreSQL (`rabbit`) at their default
/// loopback addresses; the bridge's logs at `log_level` in files of its data folder.
pub async fn deployment(bin: &Path, rabbit: bool, log_level: &str) -> anyhow::Result<Deployment> {
    let backend = if rabbit {
        Backend::RabbitPostgres
    } else {
        Backend::Embedded
    };
    Deployment::builder(bin, backend)
        .name("bench")
        .env("RUST_LOG", log_level)
        .start()
        .await
        .context("setting the bridge up (PostgreSQL and RabbitMQ at 127.0.0.1 in RabbitMQ mode)")
}

/// `tenants create`: returns the webhook token.
pub async fn create_tenant(
    deployment: &Deployment,
    settings: &serde_json::Value,
) -> anyhow::Result<String> {
    let tenant = deployment.create_tenant(settings).await?;
    Ok(tenant.token().to_owned())
}

/// Starts `role` (`serve`, `ingress`, `worker`) and waits for `/readyz`.
pub async fn start(deployment: &Deployment, role: &str) -> anyhow::Result<BridgeProcess> {
    deployment
        .role(role)
        .spawn()
        .await
        .with_context(|| format!("starting {role} (build it: cargo build --release)"))
}

/// SIGTERM, then wait (SIGKILL after 30 s). Returns the peak RSS, MiB, read just before.
pub async fn stop(process: BridgeProcess) -> Option<f64> {
    let rss = process.peak_rss_mib();
    process.stop(Duration::from_secs(30)).await;
    rss
}

pub async fn amqp_connect() -> anyhow::Result<lapin::Connection> {
    Ok(bridge_test_support::rabbitmq::connect(AMQP_URL).await?)
}

/// Empties the deployment's main queue (what earlier rounds accepted), so the next round
/// publishes into an empty queue, as the broker ceiling does.
pub async fn purge_main_queue(prefix: &str) -> anyhow::Result<u32> {
    use lapin::options::QueuePurgeOptions;
    let tiers = bridge_queue::RetryTiers::default();
    let conn = amqp_connect().await?;
    let channel = conn.create_channel().await?;
    let names = bridge_queue::rabbitmq::Names::new(prefix, &tiers);
    let purged = channel
        .queue_purge(&names.main, QueuePurgeOptions::default())
        .await?;
    let _ = conn.close(0, "bench purge").await;
    Ok(purged)
}

/// The release binary next to this one, or the given path.
pub fn default_bin() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .map(|dir| dir.join("leadback-bridge"))
        .unwrap_or_else(|| PathBuf::from("target/release/leadback-bridge"))
}
