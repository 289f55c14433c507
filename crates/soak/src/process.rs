//! The bridge under test: its backends (a fresh data folder; for RabbitMQ mode a fresh
//! PostgreSQL database and queue prefix), its tenant, the `serve` child process, and what can
//! be read about it from outside (`/proc`, `/metrics`, `dlq list`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tokio::process::{Child, Command};

use crate::Mode;

const RETRY_TIERS: &str = "1s,5s,15s";

pub struct Bridge {
    bin: PathBuf,
    /// `None` until `serve` is started.
    child: Option<Child>,
    pid: u32,
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    metrics_url: String,
    webhook_url: String,
    http: reqwest::Client,
    /// (admin URL, database) to drop at the end.
    database: Option<(String, String)>,
    /// (AMQP URL, queue prefix) to delete at the end.
    rabbit: Option<(String, String)>,
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn admin_sql(admin_url: &str, sql: &str) -> Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .context("PostgreSQL (--postgres-admin-url)")?;
    sqlx::query(sql).execute(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

impl Bridge {
    pub async fn start(
        bin: &Path,
        mode: Mode,
        api_url: &str,
        amqp_url: &str,
        postgres_admin_url: &str,
    ) -> Result<Bridge> {
        let dir = tempfile::tempdir()?;
        let tag = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
        let port = free_port()?;
        let metrics_port = free_port()?;
        let mut env: Vec<(String, String)> = vec![
            ("BRIDGE_DATA_DIR".into(), dir.path().display().to_string()),
            // The emulator runs on loopback.
            ("BRIDGE_ALLOW_PRIVATE_API_URLS".into(), "true".into()),
            ("BRIDGE_RETRY_TIERS".into(), RETRY_TIERS.into()),
            ("BRIDGE_MAX_ATTEMPTS".into(), "12".into()),
            ("BRIDGE_COMAGIC_TIMEOUT_SECS".into(), "2".into()),
            ("BRIDGE_LISTEN".into(), format!("127.0.0.1:{port}")),
            (
                "BRIDGE_METRICS_LISTEN".into(),
                format!("127.0.0.1:{metrics_port}"),
            ),
            (
                "BRIDGE_PUBLIC_URL".into(),
                format!("http://127.0.0.1:{port}"),
            ),
            ("RUST_LOG".into(), "warn".into()),
        ];
        let mut database = None;
        let mut rabbit = None;
        if mode == Mode::Rabbitmq {
            let db = format!("soak_{tag}");
            admin_sql(postgres_admin_url, &format!("CREATE DATABASE \"{db}\"")).await?;
            let mut db_url = url::Url::parse(postgres_admin_url).context("--postgres-admin-url")?;
            db_url.set_path(&format!("/{db}"));
            let prefix = format!("soak.{tag}");
            env.extend([
                ("BRIDGE_DATABASE_URL".into(), db_url.to_string()),
                ("BRIDGE_AMQP_URL".into(), amqp_url.to_owned()),
                ("BRIDGE_QUEUE_PREFIX".into(), prefix.clone()),
                (
                    "BRIDGE_SECRET_KEY".into(),
                    format!(
                        "{}{}",
                        uuid::Uuid::new_v4().simple(),
                        uuid::Uuid::new_v4().simple()
                    ),
                ),
            ]);
            database = Some((postgres_admin_url.to_owned(), db));
            rabbit = Some((amqp_url.to_owned(), prefix));
        }
        let settings = dir.path().join("tenant.json");
        std::fs::write(
            &settings,
            json!({
                "name": "Soak shop", "active": true,
                "comagic": {"api_url": api_url, "access_token": "demo-token"},
                "set_tags": true, "tag_ids": [401],
                "default_entity": "campaign", "default_campaign_id": 102, "default_site_id": 201,
                "chat_employee_id": 501
            })
            .to_string(),
        )?;
        let log = std::fs::File::create(dir.path().join("serve.log"))?;
        let mut bridge = Bridge {
            bin: bin.to_owned(),
            child: None,
            pid: 0,
            dir,
            env,
            metrics_url: format!("http://127.0.0.1:{metrics_port}/metrics"),
            webhook_url: String::new(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()?,
            database,
            rabbit,
        };
        let settings = settings.display().to_string();
        // Operator commands need the database `migrate` (or `serve`) creates.
        let setup = async {
            bridge.cli(&["migrate"]).await?;
            bridge
                .cli(&["tenants", "create", "--settings", &settings])
                .await
        };
        let created = match setup.await {
            Ok(created) => created,
            Err(e) => {
                bridge.stop().await;
                return Err(e);
            }
        };
        bridge.webhook_url = created["webhook_url"]
            .as_str()
            .context("tenants create printed no webhook_url")?
            .to_owned();
        let child = bridge
            .command()
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn();
        match child {
            Ok(child) => {
                bridge.pid = child.id().unwrap_or(0);
                bridge.child = Some(child);
            }
            Err(e) => {
                bridge.stop().await;
                return Err(e).context("starting the bridge");
            }
        }
        let ready = format!("http://127.0.0.1:{port}/readyz");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = bridge.http.get(&ready).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            if let Err(e) = bridge.check_alive() {
                bridge.stop().await;
                return Err(e);
            }
            if Instant::now() > deadline {
                bridge.stop().await;
                bail!("the bridge did not become ready");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(bridge)
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .kill_on_drop(true);
        cmd
    }

    async fn cli(&self, args: &[&str]) -> Result<Value> {
        let out = self.command().args(args).output().await?;
        if !out.status.success() {
            bail!(
                "leadback-bridge {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        serde_json::from_slice(&out.stdout)
            .with_context(|| format!("leadback-bridge {args:?} printed no JSON"))
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn webhook_url(&self) -> &str {
        &self.webhook_url
    }

    /// An error (with the log's tail) when the bridge process has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        let Some(child) = self.child.as_mut() else {
            return Ok(());
        };
        if let Some(status) = child.try_wait()? {
            let log =
                std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            bail!(
                "the bridge exited ({status}):\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        Ok(())
    }

    pub async fn metrics(&self) -> Result<String> {
        Ok(self
            .http
            .get(&self.metrics_url)
            .send()
            .await?
            .text()
            .await?)
    }

    /// Resident memory, kB (`VmRSS` of `/proc/<pid>/status`).
    pub fn rss_kb(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    /// Open file descriptors (entries of `/proc/<pid>/fd`).
    pub fn fds(&self) -> Option<u64> {
        Some(
            std::fs::read_dir(format!("/proc/{}/fd", self.pid))
                .ok()?
                .count() as u64,
        )
    }

    /// Event ids of the dead letters (`dlq list`).
    pub async fn dead_letter_ids(&self) -> Result<Vec<String>> {
        let list = self.cli(&["dlq", "list", "--limit", "100000000"]).await?;
        Ok(list
            .as_array()
            .context("dlq list is not an array")?
            .iter()
            .filter_map(|d| d["event_id"].as_str().map(str::to_owned))
            .collect())
    }

    /// Stops the bridge (SIGTERM, then SIGKILL after 30 s) and removes the soak's database and
    /// queues.
    pub async fn stop(mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM first: the clean shutdown path is part of what a long run exercises.
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &self.pid.to_string()])
                .status();
            if tokio::time::timeout(Duration::from_secs(30), child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
        }
        if let Some((admin, db)) = self.database.take() {
            if let Err(e) = admin_sql(
                &admin,
                &format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"),
            )
            .await
            {
                eprintln!("soak: cannot drop database {db}: {e:#}");
            }
        }
        if let Some((amqp, prefix)) = self.rabbit.take() {
            delete_queues(&amqp, &prefix).await;
        }
    }
}

/// Best-effort removal of the soak's RabbitMQ queues and exchange.
async fn delete_queues(amqp_url: &str, prefix: &str) {
    use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
    let Ok(tiers) = bridge_queue::RetryTiers::parse(RETRY_TIERS) else {
        return;
    };
    let Ok(conn) = lapin::Connection::connect(
        amqp_url,
        lapin::ConnectionProperties::default()
            .with_executor(tokio_executor_trait::Tokio::current())
            .with_reactor(tokio_reactor_trait::Tokio),
    )
    .await
    else {
        return;
    };
    if let Ok(channel) = conn.create_channel().await {
        for queue in bridge_queue::rabbitmq::Names::new(prefix, &tiers).queues() {
            let _ = channel
                .queue_delete(&queue, QueueDeleteOptions::default())
                .await;
        }
        let _ = channel
            .exchange_delete(
                &format!("{prefix}.events"),
                ExchangeDeleteOptions::default(),
            )
            .await;
    }
    let _ = conn.close(0, "soak done").await;
}
