//! The resolved configuration: every knob in one place, filled from flags and `BRIDGE_*`
//! environment variables by `cli`, and by tests directly.

use anyhow::{bail, Context};
use bridge_ingress::IngressConfig;
use bridge_queue::rabbitmq::PublishBatching;
use bridge_queue::RetryTiers;
use bridge_store::SecretKey;
use bridge_worker::WorkerConfig;
use secrecy::SecretString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Which roles this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub ingress: bool,
    pub worker: bool,
}

impl Roles {
    pub const SERVE: Roles = Roles {
        ingress: true,
        worker: true,
    };
    pub const INGRESS: Roles = Roles {
        ingress: true,
        worker: false,
    };
    pub const WORKER: Roles = Roles {
        ingress: false,
        worker: true,
    };
}

/// Where the queue and the store live.
#[derive(Debug, Clone)]
pub struct BackendPlan {
    /// `postgres://…` or `sqlite://…`.
    pub database_url: String,
    /// `None`: the embedded SQLite queue in `embedded_queue_path`.
    pub amqp_url: Option<String>,
    pub embedded_queue_path: PathBuf,
    /// Prefix of RabbitMQ exchange and queue names.
    pub queue_prefix: String,
    pub retry_tiers: RetryTiers,
    /// RabbitMQ group publish (`BRIDGE_PUBLISH_BATCH_MAX`, `BRIDGE_PUBLISH_IN_FLIGHT`).
    pub publish_batching: PublishBatching,
    /// Deliveries before a message is poison (`BRIDGE_DELIVERY_LIMIT`).
    pub delivery_limit: u32,
    /// Whether `serve`, `ingress` and `worker` migrate at start (`BRIDGE_MIGRATE`).
    pub migrate: MigratePolicy,
    /// PostgreSQL pool size per process (`BRIDGE_DATABASE_MAX_CONNECTIONS`).
    pub database_max_connections: u32,
}

/// `BRIDGE_MIGRATE`: `auto` applies pending migrations at start (the embedded quick start);
/// `off` only checks that the schema is at least what this binary needs, leaving migrations to
/// `leadback-bridge migrate` (the Kubernetes Job). A newer schema never stops a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum MigratePolicy {
    #[default]
    Auto,
    Off,
}

impl BackendPlan {
    /// Defaults of the embedded mode: `BRIDGE_AMQP_URL` unset → SQLite queue,
    /// `BRIDGE_DATABASE_URL` unset → `sqlite://<data dir>/bridge.db` (queue in the same file).
    pub fn resolve(
        data_dir: &Path,
        database_url: Option<String>,
        amqp_url: Option<String>,
        queue_prefix: String,
        retry_tiers: RetryTiers,
    ) -> Self {
        let db_file = data_dir.join("bridge.db");
        let database_url = database_url
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| format!("sqlite://{}", db_file.display()));
        let embedded_queue_path = sqlite_path(&database_url).unwrap_or(db_file);
        Self {
            database_url,
            amqp_url: amqp_url.filter(|u| !u.trim().is_empty()),
            embedded_queue_path,
            queue_prefix,
            retry_tiers,
            publish_batching: PublishBatching::default(),
            delivery_limit: bridge_queue::DEFAULT_DELIVERY_LIMIT,
            migrate: MigratePolicy::default(),
            database_max_connections: bridge_store::DEFAULT_MAX_CONNECTIONS,
        }
    }

    pub fn queue_backend(&self) -> &'static str {
        if self.amqp_url.is_some() {
            "rabbitmq"
        } else {
            "embedded"
        }
    }

    pub fn store_backend(&self) -> &'static str {
        if self.database_url.starts_with("sqlite:") {
            "sqlite"
        } else {
            "postgres"
        }
    }

    /// Refuses mixes that cannot work: the embedded queue and a SQLite store live in one local
    /// file, so they serve one process; scaling out (separate ingress and worker processes)
    /// needs RabbitMQ and PostgreSQL.
    pub fn check_roles(&self, roles: Roles) -> anyhow::Result<()> {
        if roles == Roles::SERVE {
            return Ok(());
        }
        let role = if roles.ingress { "ingress" } else { "worker" };
        if self.amqp_url.is_none() {
            bail!(
                "`{role}` alone needs a shared queue: the embedded queue is a local SQLite file that \
                 only `serve` (ingress and worker in one process) can use. Set BRIDGE_AMQP_URL to a \
                 RabbitMQ broker to scale out, or run `leadback-bridge serve`."
            );
        }
        if self.store_backend() == "sqlite" {
            bail!(
                "`{role}` alone needs a shared database: a SQLite store is a local file that other \
                 processes and hosts cannot share. Set BRIDGE_DATABASE_URL to PostgreSQL, or run \
                 `leadback-bridge serve`."
            );
        }
        Ok(())
    }
}

/// The path of a `sqlite://path` or `sqlite:path` URL (query string dropped).
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(PathBuf::from(path))
}

/// Everything a running bridge needs.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    pub roles: Roles,
    pub listen: SocketAddr,
    /// `None`: no separate metrics listener (metrics still served on the admin side in tests).
    pub metrics_listen: Option<SocketAddr>,
    /// Base of generated webhook URLs; defaults to `http://<listen>`.
    pub public_url: Option<String>,
    pub data_dir: PathBuf,
    pub backends: BackendPlan,
    pub secret_key: SecretKey,
    /// The admin API and pages' own listener (`BRIDGE_ADMIN_LISTEN`); `None` or no
    /// `admin_token`: no admin side. The public listener never serves it.
    pub admin_listen: Option<SocketAddr>,
    pub admin_token: Option<SecretString>,
    pub ingress: IngressConfig,
    pub worker: WorkerConfig,
    /// How often queue depths are read for `queue_depth`.
    pub depth_refresh: std::time::Duration,
}

/// Whether a command may create the database and the secret key (`serve`, `migrate`), or needs
/// an existing bridge database (operator commands: a mistyped data folder must not answer from
/// a new empty database).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreUse {
    Create,
    Existing,
}

/// Refuses a database URL of an unsupported kind before anything else is said about it.
pub fn check_database_url(url: Option<&str>) -> anyhow::Result<()> {
    let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else {
        return Ok(());
    };
    if ["postgres://", "postgresql://", "sqlite:"]
        .iter()
        .any(|scheme| url.starts_with(scheme))
    {
        return Ok(());
    }
    let scheme = url.split(':').next().unwrap_or_default();
    bail!(
        "BRIDGE_DATABASE_URL must start with postgres://, postgresql:// or sqlite: (got a `{scheme}:` URL)"
    )
}

/// With [`StoreUse::Existing`], a SQLite store must already exist.
pub fn require_database(plan: &BackendPlan, store_use: StoreUse) -> anyhow::Result<()> {
    if store_use == StoreUse::Create {
        return Ok(());
    }
    match sqlite_path(&plan.database_url) {
        Some(path) if !path.exists() => bail!(
            "no bridge database at {}; start `serve` once or set BRIDGE_DATA_DIR",
            path.display()
        ),
        _ => Ok(()),
    }
}

/// The database URL with any password replaced by `***`, for messages.
pub fn masked_database_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "(unparsable URL)".to_owned(),
    }
}

/// Why a PostgreSQL server cannot be reached, for a pool error that does not say (sqlx's "pool
/// timed out"): the outcome of one TCP connect to the URL's host and port, or "" when it
/// connects (the cause is then past the connect, and the database error says it).
pub async fn database_connect_cause(url: &str) -> String {
    let Ok(parsed) = url::Url::parse(url) else {
        return String::new();
    };
    if !matches!(parsed.scheme(), "postgres" | "postgresql") {
        return String::new();
    }
    let host = parsed.host_str().unwrap_or("localhost").to_owned();
    let port = parsed.port().unwrap_or(5432);
    let connect = tokio::net::TcpStream::connect((host.as_str(), port));
    match tokio::time::timeout(std::time::Duration::from_secs(3), connect).await {
        Ok(Ok(_)) => String::new(),
        Ok(Err(e)) => format!(": {host}:{port} unreachable: {e}"),
        Err(_) => format!(": {host}:{port} did not answer within 3 s"),
    }
}

/// The secret key: `BRIDGE_SECRET_KEY` when given; otherwise, for a SQLite store only, a key
/// generated on first start and kept beside the database (`<data dir>/secret.key`, mode 0600).
/// With PostgreSQL the key must be given: a key on one host's disk cannot serve a cluster.
pub fn resolve_secret_key(
    given: Option<&SecretString>,
    backends: &BackendPlan,
    data_dir: &Path,
    store_use: StoreUse,
) -> anyhow::Result<SecretKey> {
    use secrecy::ExposeSecret;
    if let Some(text) = given {
        return SecretKey::parse(text.expose_secret())
            .context("BRIDGE_SECRET_KEY is not a valid key");
    }
    if backends.store_backend() != "sqlite" {
        bail!(
            "BRIDGE_SECRET_KEY is required with PostgreSQL (it encrypts CoMagic credentials at \
             rest). Generate one with `openssl rand -hex 32`."
        );
    }
    let path = data_dir.join("secret.key");
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        return SecretKey::parse(text.trim())
            .with_context(|| format!("{} does not hold a valid key", path.display()));
    }
    if store_use == StoreUse::Existing {
        bail!(
            "no secret key at {} (it encrypts the stored credentials); set BRIDGE_SECRET_KEY, \
             or BRIDGE_DATA_DIR to the folder `serve` uses",
            path.display()
        );
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data folder {}", data_dir.display()))?;
    let key = SecretKey::generate();
    write_private(&path, &key.to_base64())
        .with_context(|| format!("cannot write {}", path.display()))?;
    tracing::info!(path = %path.display(), "generated a new secret key for credentials at rest");
    Ok(key)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// Shortest accepted `BRIDGE_ADMIN_TOKEN`: the token is the only lock on every tenant's settings.
pub const MIN_ADMIN_TOKEN_LEN: usize = 32;

/// Refuses an admin token shorter than [`MIN_ADMIN_TOKEN_LEN`], naming the variable.
pub fn check_admin_token(token: Option<&SecretString>) -> anyhow::Result<()> {
    use secrecy::ExposeSecret;
    if let Some(token) = token {
        let length = token.expose_secret().chars().count();
        if length < MIN_ADMIN_TOKEN_LEN {
            bail!(
                "BRIDGE_ADMIN_TOKEN is {length} characters; at least {MIN_ADMIN_TOKEN_LEN} are \
                 required. Generate one with `leadback-bridge admin-token`."
            );
        }
    }
    Ok(())
}

/// 32 random bytes from the operating system's CSPRNG, base64url (43 characters): the same
/// generator as webhook tokens.
pub fn generate_admin_token() -> String {
    bridge_store::WebhookToken::generate().as_str().to_owned()
}
