//! One bridge deployment under test: a data folder of its own and, on RabbitMQ + PostgreSQL, a
//! database and queue prefix of its own (dropped at [`Deployment::stop`]); its environment; its
//! operator commands (`migrate`, `tenants create`, `dlq list`) and its roles as child processes
//! of the real binary.

use crate::process::{free_port, BridgeProcess, Ready};
use crate::{postgres, rabbitmq, Error};
use bridge_queue::RetryTiers;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::process::Command;

/// Which queue and store a deployment runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite queue and store in one file: the single-node default.
    Embedded,
    /// RabbitMQ queue and PostgreSQL store: the scaled-out deployment.
    RabbitPostgres,
}

/// How to set a [`Deployment`] up; [`start`](Self::start) makes it.
pub struct DeploymentBuilder {
    bin: PathBuf,
    backend: Backend,
    name: String,
    amqp_url: String,
    postgres_admin_url: String,
    retry_tiers: Option<String>,
    env: Vec<(String, String)>,
}

impl DeploymentBuilder {
    /// Names the database (`<name>_<tag>`) and queue prefix (`<name>.<tag>`) of the run.
    pub fn name(mut self, name: &str) -> Self {
        name.clone_into(&mut self.name);
        self
    }

    /// The broker (one URL or a node list); the machine's broker by default.
    pub fn amqp_url(mut self, url: &str) -> Self {
        url.clone_into(&mut self.amqp_url);
        self
    }

    /// Where the run's database is created and dropped from.
    pub fn postgres_admin_url(mut self, url: &str) -> Self {
        url.clone_into(&mut self.postgres_admin_url);
        self
    }

    /// `BRIDGE_RETRY_TIERS` (the bridge's default when not set).
    pub fn retry_tiers(mut self, tiers: &str) -> Self {
        self.retry_tiers = Some(tiers.to_owned());
        self
    }

    /// A variable for every command and role of the deployment (set after, so over, the
    /// deployment's own; `RUST_LOG` is `warn` unless set here).
    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.to_owned(), value.into()));
        self
    }

    /// Makes the data folder (and on RabbitMQ + PostgreSQL the database), then runs `migrate`.
    pub async fn start(self) -> Result<Deployment, Error> {
        let dir = tempfile::tempdir().map_err(Error::io("creating a data folder"))?;
        let tiers = match &self.retry_tiers {
            Some(text) => RetryTiers::parse(text).map_err(|_| Error::RetryTiers(text.clone()))?,
            None => RetryTiers::default(),
        };
        let mut env: Vec<(String, String)> = vec![
            ("BRIDGE_DATA_DIR".into(), dir.path().display().to_string()),
            // The emulator runs on loopback.
            ("BRIDGE_ALLOW_PRIVATE_API_URLS".into(), "true".into()),
            // Never the fixed default port: deployments run side by side.
            ("BRIDGE_ADMIN_LISTEN".into(), "127.0.0.1:0".into()),
            ("RUST_LOG".into(), "warn".into()),
        ];
        if let Some(text) = &self.retry_tiers {
            env.push(("BRIDGE_RETRY_TIERS".into(), text.clone()));
        }
        let mut owned = None;
        if self.backend == Backend::RabbitPostgres {
            let tag = &uuid::Uuid::new_v4().simple().to_string()[..10];
            let database = format!("{}_{tag}", self.name);
            let prefix = format!("{}.{tag}", self.name);
            let database_url = postgres::database_url(&self.postgres_admin_url, &database)?;
            postgres::create_database(&self.postgres_admin_url, &database).await?;
            env.extend([
                ("BRIDGE_AMQP_URL".into(), self.amqp_url.clone()),
                ("BRIDGE_QUEUE_PREFIX".into(), prefix.clone()),
                ("BRIDGE_DATABASE_URL".into(), database_url),
                ("BRIDGE_SECRET_KEY".into(), random_key_hex()),
            ]);
            owned = Some(Owned {
                postgres_admin_url: self.postgres_admin_url,
                database,
                amqp_url: self.amqp_url,
                prefix,
                tiers,
            });
        }
        env.extend(self.env);
        let deployment = Deployment {
            bin: self.bin,
            backend: self.backend,
            dir,
            env,
            owned,
        };
        // Operator commands need the database `migrate` (or `serve`) creates.
        if let Err(e) = deployment.cli(&["migrate"]).await {
            deployment.stop().await;
            return Err(e);
        }
        Ok(deployment)
    }
}

/// 32 random bytes as hex: a `BRIDGE_SECRET_KEY` of the run's own.
fn random_key_hex() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// What a RabbitMQ + PostgreSQL deployment made and [`Deployment::stop`] removes.
struct Owned {
    postgres_admin_url: String,
    database: String,
    amqp_url: String,
    prefix: String,
    tiers: RetryTiers,
}

/// A tenant made with `tenants create`.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: String,
    pub webhook_url: String,
}

impl Tenant {
    /// The secret token at the end of the webhook URL.
    pub fn token(&self) -> &str {
        self.webhook_url.rsplit('/').next().unwrap_or_default()
    }
}

pub struct Deployment {
    bin: PathBuf,
    backend: Backend,
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    owned: Option<Owned>,
}

impl Deployment {
    /// A deployment of the binary `bin` on `backend`, named `bridge` until
    /// [`name`](DeploymentBuilder::name) says otherwise.
    pub fn builder(bin: impl Into<PathBuf>, backend: Backend) -> DeploymentBuilder {
        DeploymentBuilder {
            bin: bin.into(),
            backend,
            name: "bridge".into(),
            amqp_url: rabbitmq::AMQP_URL.into(),
            postgres_admin_url: postgres::ADMIN_URL.into(),
            retry_tiers: None,
            env: Vec::new(),
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The data folder (`BRIDGE_DATA_DIR`); role logs are `<role>.log` in it.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The run's PostgreSQL database (RabbitMQ + PostgreSQL only).
    pub fn database(&self) -> Option<&str> {
        self.owned.as_ref().map(|o| o.database.as_str())
    }

    /// The run's queue prefix (RabbitMQ + PostgreSQL only).
    pub fn queue_prefix(&self) -> Option<&str> {
        self.owned.as_ref().map(|o| o.prefix.as_str())
    }

    /// The binary with only `PATH` and the deployment's variables; killed when dropped.
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .kill_on_drop(true);
        command
    }

    /// Runs an operator command; its JSON output.
    pub async fn cli(&self, args: &[&str]) -> Result<Value, Error> {
        let out = self
            .command()
            .args(args)
            .output()
            .await
            .map_err(Error::io(format!("running leadback-bridge {args:?}")))?;
        if !out.status.success() {
            return Err(Error::Command {
                args: args.join(" "),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        serde_json::from_slice(&out.stdout).map_err(|e| Error::NotJson {
            args: args.join(" "),
            reason: e.to_string(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        })
    }

    /// `tenants create` with `settings` (written to a file that is removed afterwards).
    pub async fn create_tenant(&self, settings: &Value) -> Result<Tenant, Error> {
        let file = self
            .dir()
            .join(format!("tenant-{}.json", uuid::Uuid::new_v4().simple()));
        std::fs::write(&file, settings.to_string())
            .map_err(Error::io("writing tenant settings"))?;
        let path = file.display().to_string();
        let created = self
            .cli(&["tenants", "create", "--settings", path.as_str()])
            .await;
        let _ = std::fs::remove_file(&file);
        let created = created?;
        let field = |field: &'static str| {
            created[field]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| Error::MissingField {
                    args: "tenants create".into(),
                    field,
                    output: created.to_string(),
                })
        };
        Ok(Tenant {
            id: field("id")?,
            webhook_url: field("webhook_url")?,
        })
    }

    /// Event ids of the dead letters, through `dlq list`.
    pub async fn dead_letter_ids(&self) -> Result<Vec<String>, Error> {
        let list = self.cli(&["dlq", "list", "--limit", "100000000"]).await?;
        let missing = |output: String| Error::MissingField {
            args: "dlq list".into(),
            field: "event_id",
            output,
        };
        list.as_array()
            .ok_or_else(|| missing(list.to_string()))?
            .iter()
            .map(|d| {
                d["event_id"]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| missing(d.to_string()))
            })
            .collect()
    }

    /// A role (`serve`, `ingress`, `worker`) to start.
    pub fn role(&self, role: &str) -> RoleBuilder<'_> {
        RoleBuilder {
            deployment: self,
            role: role.to_owned(),
            listen: None,
            metrics: None,
            global_args: Vec::new(),
            env: Vec::new(),
            ready: Ready::Readyz,
        }
    }

    /// Drops the run's database and deletes its RabbitMQ topology (best effort: a failure is
    /// reported on stderr, not raised). Roles are stopped by dropping or stopping their
    /// [`BridgeProcess`]es first.
    pub async fn stop(self) {
        let Some(owned) = self.owned else {
            return;
        };
        if let Err(e) = postgres::drop_database(&owned.postgres_admin_url, &owned.database).await {
            eprintln!("cannot drop database {}: {e}", owned.database);
        }
        if let Err(e) =
            bridge_queue::delete_topology(&owned.amqp_url, &owned.prefix, &owned.tiers).await
        {
            eprintln!("cannot delete the topology of {}: {e}", owned.prefix);
        }
    }
}

/// One role to start: its ports, arguments, variables and what it must answer first.
pub struct RoleBuilder<'a> {
    deployment: &'a Deployment,
    role: String,
    listen: Option<u16>,
    metrics: Option<u16>,
    global_args: Vec<String>,
    env: Vec<(String, String)>,
    ready: Ready,
}

impl RoleBuilder<'_> {
    /// The public listener's port (a free one by default); a restart can keep its port.
    pub fn listen(mut self, port: u16) -> Self {
        self.listen = Some(port);
        self
    }

    /// The metrics listener's port (a free one by default).
    pub fn metrics(mut self, port: u16) -> Self {
        self.metrics = Some(port);
        self
    }

    /// Arguments before the role (`--log-format json`).
    pub fn global_args(mut self, args: &[&str]) -> Self {
        self.global_args
            .extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    /// A variable for this role only.
    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.to_owned(), value.into()));
        self
    }

    pub fn ready(mut self, ready: Ready) -> Self {
        self.ready = ready;
        self
    }

    /// Starts the role (stdout and stderr appended to `<role>.log`) and waits for readiness.
    pub async fn spawn(self) -> Result<BridgeProcess, Error> {
        let listen = SocketAddr::from(([127, 0, 0, 1], port_or_free(self.listen)?));
        let metrics = SocketAddr::from(([127, 0, 0, 1], port_or_free(self.metrics)?));
        let log_path = self.deployment.dir().join(format!("{}.log", self.role));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(Error::io(format!("opening {}", log_path.display())))?;
        let log_too = log
            .try_clone()
            .map_err(Error::io("duplicating the log handle"))?;
        let child = self
            .deployment
            .command()
            .args(&self.global_args)
            .arg(&self.role)
            .env("BRIDGE_LISTEN", format!("{listen}"))
            .env("BRIDGE_METRICS_LISTEN", format!("{metrics}"))
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_too))
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(Error::io(format!(
                "starting {} {}",
                self.deployment.bin.display(),
                self.role
            )))?;
        let mut process = BridgeProcess::new(&self.role, child, listen, metrics, log_path);
        process.wait_ready(self.ready).await?;
        Ok(process)
    }
}

fn port_or_free(port: Option<u16>) -> Result<u16, Error> {
    match port {
        Some(port) => Ok(port),
        None => free_port(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_token_is_the_last_segment_of_its_webhook_url() {
        let tenant = Tenant {
            id: "t".into(),
            webhook_url: "http://127.0.0.1:8080/hooks/leadback/AbC-123_x".into(),
        };
        assert_eq!(tenant.token(), "AbC-123_x");
    }

    #[test]
    fn a_secret_key_is_32_bytes_of_hex() {
        let key = random_key_hex();
        assert_eq!(key.len(), 64);
        assert!(key.chars().all(|c| c.is_ascii_hexdigit()), "{key}");
        assert_ne!(key, random_key_hex());
    }
}
