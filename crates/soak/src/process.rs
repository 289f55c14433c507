//! The bridge under test: a [`Deployment`] of its own (a fresh data folder; in RabbitMQ mode a
//! fresh PostgreSQL database and queue prefix), its tenant, the `serve` child process, and what
//! can be read about it from outside (`/proc`, `/metrics`, `dlq list`).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use bridge_test_support::{free_port, Backend, BridgeProcess, Deployment};
use serde_json::json;

use crate::Mode;

const RETRY_TIERS: &str = "1s,5s,15s";

pub struct Bridge {
    deployment: Deployment,
    serve: BridgeProcess,
    webhook_url: String,
    http: reqwest::Client,
}

impl Bridge {
    pub async fn start(
        bin: &Path,
        mode: Mode,
        api_url: &str,
        amqp_url: &str,
        postgres_admin_url: &str,
    ) -> Result<Bridge> {
        let backend = match mode {
            Mode::Embedded => Backend::Embedded,
            Mode::Rabbitmq => Backend::RabbitPostgres,
        };
        let port = free_port()?;
        let deployment = Deployment::builder(bin, backend)
            .name("soak")
            .amqp_url(amqp_url)
            .postgres_admin_url(postgres_admin_url)
            .retry_tiers(RETRY_TIERS)
            .env("BRIDGE_MAX_ATTEMPTS", "12")
            .env("BRIDGE_COMAGIC_TIMEOUT_SECS", "2")
            .env("BRIDGE_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
            .start()
            .await
            .context("setting the bridge up (--postgres-admin-url, --amqp-url)")?;
        let setup = async {
            let tenant = deployment
                .create_tenant(&json!({
                    "name": "Soak shop", "active": true,
                    "comagic": {"api_url": api_url, "access_token": "demo-token"},
                    "set_tags": true, "tag_ids": [401],
                    "default_entity": "campaign", "default_campaign_id": 102,
                    "default_site_id": 201, "chat_employee_id": 501
                }))
                .await?;
            let serve = deployment.role("serve").listen(port).spawn().await?;
            Ok::<_, bridge_test_support::Error>((tenant, serve))
        };
        let (tenant, serve) = match setup.await {
            Ok(started) => started,
            Err(e) => {
                deployment.stop().await;
                return Err(e).context("starting the bridge");
            }
        };
        Ok(Bridge {
            deployment,
            serve,
            webhook_url: tenant.webhook_url,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()?,
        })
    }

    pub fn pid(&self) -> u32 {
        self.serve.pid().unwrap_or(0)
    }

    pub fn webhook_url(&self) -> &str {
        &self.webhook_url
    }

    /// An error (with the log's tail) when the bridge process has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        Ok(self.serve.check_running()?)
    }

    pub async fn metrics(&self) -> Result<String> {
        Ok(self
            .http
            .get(self.serve.metrics_url())
            .send()
            .await?
            .text()
            .await?)
    }

    /// Resident memory, kB.
    pub fn rss_kb(&self) -> Option<u64> {
        self.serve.rss_kb()
    }

    /// Open file descriptors.
    pub fn fds(&self) -> Option<u64> {
        self.serve.fds()
    }

    /// Event ids of the dead letters (`dlq list`).
    pub async fn dead_letter_ids(&self) -> Result<Vec<String>> {
        Ok(self.deployment.dead_letter_ids().await?)
    }

    /// Stops the bridge (SIGTERM, then SIGKILL after 30 s: the clean shutdown path is part of
    /// what a long run exercises) and removes the soak's database and queues.
    pub async fn stop(self) {
        self.serve.stop(Duration::from_secs(30)).await;
        self.deployment.stop().await;
    }
}
