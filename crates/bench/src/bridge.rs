//! The bridge under test as a child process of the real release binary (so its peak RSS is its
//! own, read from `/proc/<pid>/status`), plus the throwaway PostgreSQL database and RabbitMQ
//! topology of a RabbitMQ-mode run.

use anyhow::{bail, Context};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// The bridge's default delay tiers (its RabbitMQ topology has one queue per tier).
pub const DEFAULT_TIERS: &str = "5s,30s,2m,10m,30m,1h,3h,6h";

/// Where one bridge deployment keeps its state.
#[derive(Clone)]
pub struct Deployment {
    pub bin: PathBuf,
    pub data_dir: PathBuf,
    /// `Some` in RabbitMQ + PostgreSQL mode.
    pub rabbit: Option<RabbitMode>,
    pub log_level: String,
}

#[derive(Clone)]
pub struct RabbitMode {
    pub database: String,
    pub prefix: String,
    pub secret_key_hex: String,
}

impl Deployment {
    fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            (
                "BRIDGE_DATA_DIR".into(),
                self.data_dir.display().to_string(),
            ),
            ("RUST_LOG".into(), self.log_level.clone()),
            // The emulator runs on loopback.
            ("BRIDGE_ALLOW_PRIVATE_API_URLS".into(), "true".into()),
        ];
        if let Some(r) = &self.rabbit {
            env.push(("BRIDGE_AMQP_URL".into(), AMQP_URL.into()));
            env.push((
                "BRIDGE_DATABASE_URL".into(),
                format!("postgres://postgres@127.0.0.1:5432/{}", r.database),
            ));
            env.push(("BRIDGE_QUEUE_PREFIX".into(), r.prefix.clone()));
            env.push(("BRIDGE_SECRET_KEY".into(), r.secret_key_hex.clone()));
        }
        env
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.bin);
        for (k, v) in self.env() {
            command.env(k, v);
        }
        command.kill_on_drop(true);
        command
    }

    /// `tenants create`: returns the webhook token.
    pub async fn create_tenant(&self, settings: &serde_json::Value) -> anyhow::Result<String> {
        let file = self.data_dir.join("tenant.json");
        std::fs::create_dir_all(&self.data_dir)?;
        std::fs::write(&file, settings.to_string())?;
        // Operator commands need the database `migrate` (or `serve`) creates.
        let migrated = self.command().arg("migrate").output().await?;
        anyhow::ensure!(
            migrated.status.success(),
            "migrate failed: {}",
            String::from_utf8_lossy(&migrated.stderr)
        );
        let output = self
            .command()
            .args(["tenants", "create", "--settings"])
            .arg(&file)
            .output()
            .await
            .context("running tenants create")?;
        if !output.status.success() {
            bail!(
                "tenants create failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let answer: serde_json::Value =
            serde_json::from_slice(&output.stdout).context("tenants create printed no JSON")?;
        let url = answer["webhook_url"]
            .as_str()
            .context("no webhook_url in tenants create output")?;
        Ok(url.rsplit('/').next().unwrap_or_default().to_owned())
    }

    /// Starts `role` (`serve`, `ingress`, `worker`) and waits for `/readyz`.
    pub async fn start(
        &self,
        role: &str,
        extra_env: &[(&str, String)],
    ) -> anyhow::Result<BridgeProcess> {
        let listen = free_addr()?;
        let metrics = free_addr()?;
        let log = self.data_dir.join(format!("{role}.log"));
        std::fs::create_dir_all(&self.data_dir)?;
        let mut command = self.command();
        command
            .arg(role)
            .env("BRIDGE_LISTEN", listen.to_string())
            .env("BRIDGE_METRICS_LISTEN", metrics.to_string())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?);
        for (k, v) in extra_env {
            command.env(k, v);
        }
        let child = command.spawn().with_context(|| {
            format!(
                "cannot start {} (build it: cargo build --release)",
                self.bin.display()
            )
        })?;
        let process = BridgeProcess {
            child,
            listen,
            log,
            role: role.to_owned(),
        };
        process.wait_ready().await?;
        Ok(process)
    }
}

pub struct BridgeProcess {
    child: Child,
    pub listen: SocketAddr,
    pub log: PathBuf,
    pub role: String,
}

impl BridgeProcess {
    pub fn hook_url(&self, token: &str) -> String {
        format!("http://{}/hooks/leadback/{token}", self.listen)
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let url = format!("http://{}/readyz", self.listen);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = http.get(&url).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "{} not ready after 60 s; see {}",
                    self.role,
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Peak resident set (VmHWM) so far, MiB.
    pub fn peak_rss_mib(&self) -> Option<f64> {
        peak_rss_mib(self.child.id()?)
    }

    /// SIGTERM, then wait (SIGKILL after 30 s). Returns the peak RSS read just before.
    pub async fn stop(mut self) -> Option<f64> {
        let rss = self.peak_rss_mib();
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        if tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
        rss
    }
}

/// VmHWM of a process, MiB.
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn free_addr() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

pub async fn create_database(name: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(PG_ADMIN_URL).await?;
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await?;
    Ok(())
}

pub async fn drop_database(name: &str) {
    use sqlx::Connection;
    if let Ok(mut conn) = sqlx::PgConnection::connect(PG_ADMIN_URL).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&mut conn)
            .await;
    }
}

pub async fn amqp_connect() -> anyhow::Result<lapin::Connection> {
    Ok(lapin::Connection::connect(
        AMQP_URL,
        lapin::ConnectionProperties::default()
            .with_executor(tokio_executor_trait::Tokio::current())
            .with_reactor(tokio_reactor_trait::Tokio),
    )
    .await?)
}

/// Best-effort removal of a run's queues and exchange.
pub async fn delete_topology(prefix: &str) {
    use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
    let Ok(tiers) = bridge_queue::RetryTiers::parse(DEFAULT_TIERS) else {
        return;
    };
    let Ok(conn) = amqp_connect().await else {
        return;
    };
    let Ok(channel) = conn.create_channel().await else {
        return;
    };
    for q in bridge_queue::rabbitmq::Names::new(prefix, &tiers).queues() {
        let _ = channel
            .queue_delete(&q, QueueDeleteOptions::default())
            .await;
    }
    let _ = channel
        .exchange_delete(
            &format!("{prefix}.events"),
            ExchangeDeleteOptions::default(),
        )
        .await;
    let _ = conn.close(0, "bench cleanup").await;
}

/// Empties the deployment's main queue (what earlier rounds accepted), so the next round
/// publishes into an empty queue, as the broker ceiling does.
pub async fn purge_main_queue(prefix: &str) -> anyhow::Result<u32> {
    use lapin::options::QueuePurgeOptions;
    let tiers = bridge_queue::RetryTiers::parse(DEFAULT_TIERS).map_err(anyhow::Error::msg)?;
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
