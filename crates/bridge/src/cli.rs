//! The command line: every flag also readable from a `BRIDGE_*` environment variable.

use crate::config::{resolve_secret_key, BackendPlan, BridgeConfig, MigratePolicy, Roles};
use crate::server::{connect_store, migrate_store, open_backends, open_store, start};
use crate::tenants::TenantCommand;
use anyhow::Context;
use bridge_admin::{dead_letter_detail, dead_letter_summary, replay_dead_letters};
use bridge_ingress::IngressConfig;
use bridge_queue::rabbitmq::PublishBatching;
use bridge_queue::RetryTiers;
use bridge_store::DeadLetterFilter;
use bridge_worker::{LedgerRetention, WorkerConfig};
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::SecretString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use uuid::Uuid;

#[derive(Parser)]
#[command(
    name = "leadback-bridge",
    version,
    about = "Delivers Leadback callbacks and chats into CoMagic/UIS as offline requests and chats",
    long_about = "Delivers Leadback callbacks and chats into CoMagic/UIS end-to-end analytics.\n\n\
                  With no configuration it runs embedded: a SQLite file in ./data holds the queue, \
                  tenants and ledger. Set BRIDGE_AMQP_URL (RabbitMQ) and BRIDGE_DATABASE_URL \
                  (PostgreSQL) to scale out with separate `ingress` and `worker` processes."
)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
#[command(next_help_heading = "Global options")]
struct CommonArgs {
    /// Database: postgres://… or sqlite://path. Default: sqlite://<data dir>/bridge.db
    #[arg(
        long,
        env = "BRIDGE_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    database_url: Option<String>,
    /// RabbitMQ URL (amqp://user:pass@host:5672/vhost). Unset: the embedded SQLite queue.
    #[arg(long, env = "BRIDGE_AMQP_URL", global = true, hide_env_values = true)]
    amqp_url: Option<String>,
    /// Folder of the embedded database, queue and generated secret key.
    #[arg(long, env = "BRIDGE_DATA_DIR", default_value = "./data", global = true)]
    data_dir: PathBuf,
    /// 32-byte key (64 hex chars or base64) encrypting CoMagic credentials at rest. Required
    /// with PostgreSQL; with SQLite one is generated into <data dir>/secret.key when unset.
    #[arg(long, env = "BRIDGE_SECRET_KEY", global = true, hide_env_values = true)]
    secret_key: Option<SecretString>,
    /// Base of generated webhook URLs, e.g. https://bridge.example.com. Default: http://<listen>
    #[arg(long, env = "BRIDGE_PUBLIC_URL", global = true)]
    public_url: Option<String>,
    /// Prefix of RabbitMQ exchange and queue names.
    #[arg(
        long,
        env = "BRIDGE_QUEUE_PREFIX",
        default_value = "leadback",
        global = true
    )]
    queue_prefix: String,
    /// Retry delay tiers (s, m, h), one per attempt; the last repeats.
    #[arg(
        long,
        env = "BRIDGE_RETRY_TIERS",
        default_value = "5s,30s,2m,10m,30m,1h,3h,6h",
        global = true
    )]
    retry_tiers: String,
    /// RabbitMQ group publish: at most this many webhooks share one message when publishes
    /// queue up behind the messages awaiting confirms (1: one message per webhook).
    #[arg(
        long,
        env = "BRIDGE_PUBLISH_BATCH_MAX",
        default_value_t = PublishBatching::default().max_events as u16,
        value_parser = clap::value_parser!(u16).range(1..=1000),
        global = true
    )]
    publish_batch_max: u16,
    /// RabbitMQ group publish: main-queue messages awaiting their confirms at once.
    #[arg(
        long,
        env = "BRIDGE_PUBLISH_IN_FLIGHT",
        default_value_t = PublishBatching::default().max_in_flight as u16,
        value_parser = clap::value_parser!(u16).range(1..=1000),
        global = true
    )]
    publish_in_flight: u16,
    /// `auto`: serve, ingress and worker apply pending migrations at start; `off`: they only
    /// check the schema (run `migrate` first). A newer schema (a rollback) never stops them.
    #[arg(
        long,
        env = "BRIDGE_MIGRATE",
        value_enum,
        default_value = "auto",
        global = true
    )]
    migrate: MigratePolicy,
    /// PostgreSQL connections each process opens at most.
    #[arg(
        long,
        env = "BRIDGE_DATABASE_MAX_CONNECTIONS",
        default_value_t = bridge_store::DEFAULT_MAX_CONNECTIONS,
        value_parser = clap::value_parser!(u32).range(1..=10_000),
        global = true
    )]
    database_max_connections: u32,
    /// Log format on stderr.
    #[arg(
        long,
        env = "BRIDGE_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    log_format: LogFormat,
}

/// A listen address, or `off` for no listener at all.
#[derive(Clone, Copy, Debug)]
struct ListenOrOff(Option<SocketAddr>);

impl std::str::FromStr for ListenOrOff {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.trim().eq_ignore_ascii_case("off") {
            return Ok(Self(None));
        }
        text.trim()
            .parse()
            .map(|addr| Self(Some(addr)))
            .map_err(|e| format!("{e}: expected host:port or `off`"))
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Args, Clone)]
struct RunArgs {
    /// Public listener: webhooks, /healthz, /readyz (and the admin API).
    #[arg(long, env = "BRIDGE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Prometheus /metrics listener (keep it private); `off`: no metrics listener.
    #[arg(long, env = "BRIDGE_METRICS_LISTEN", default_value = "127.0.0.1:9090")]
    metrics_listen: ListenOrOff,
    /// Bearer token of the admin API and settings page.
    #[arg(long, env = "BRIDGE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<SecretString>,
    /// Deliveries in flight at once (= queue prefetch).
    #[arg(long, env = "BRIDGE_WORKER_CONCURRENCY", default_value_t = 32)]
    concurrency: u16,
    /// Attempts before a retryable failure is dead-lettered.
    #[arg(long, env = "BRIDGE_MAX_ATTEMPTS", default_value_t = 9)]
    max_attempts: u32,
    /// Most events of one tenant and kind in one CoMagic upload call (1..=50).
    #[arg(long, env = "BRIDGE_BATCH_SIZE", default_value_t = 50)]
    batch_size: usize,
    /// How long the first event of a batch waits for others, milliseconds.
    #[arg(long, env = "BRIDGE_BATCH_LINGER_MS", default_value_t = 100)]
    batch_linger_ms: u64,
    /// Largest accepted webhook body, bytes.
    #[arg(long, env = "BRIDGE_BODY_LIMIT", default_value_t = 256 * 1024)]
    body_limit: usize,
    /// Seconds a client may take to send the whole body (slower → 408).
    #[arg(long, env = "BRIDGE_BODY_TIMEOUT_SECS", default_value_t = 10)]
    body_timeout_secs: u64,
    /// Seconds a client may take to send the request head (slower → connection closed).
    #[arg(long, env = "BRIDGE_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    header_timeout_secs: u64,
    /// Unknown-token requests allowed per client address and minute before 429 (0: no limit).
    #[arg(long, env = "BRIDGE_UNKNOWN_TOKEN_PER_MINUTE", default_value_t = 20)]
    unknown_token_per_minute: u32,
    /// Most client connections open at once; further clients wait until one closes.
    #[arg(long, env = "BRIDGE_MAX_CONNECTIONS", default_value_t = 1024)]
    max_connections: usize,
    /// Seconds a publish may wait for the queue's confirm before answering 503.
    #[arg(long, env = "BRIDGE_PUBLISH_TIMEOUT_SECS", default_value_t = 10)]
    publish_timeout_secs: u64,
    /// Seconds one CoMagic call may take.
    #[arg(long, env = "BRIDGE_COMAGIC_TIMEOUT_SECS", default_value_t = 15)]
    comagic_timeout_secs: u64,
    /// Seconds in-flight deliveries get to finish on SIGTERM.
    #[arg(long, env = "BRIDGE_SHUTDOWN_GRACE_SECS", default_value_t = 20)]
    shutdown_grace_secs: u64,
    /// Days a delivered event stays in the ledger (which recognises it if Leadback sends it
    /// again); the worker deletes older complete entries hourly. 0 keeps every entry.
    #[arg(long, env = "BRIDGE_LEDGER_RETENTION_DAYS", default_value_t = LedgerRetention::DEFAULT_DAYS)]
    ledger_retention_days: u32,
}

#[derive(Subcommand)]
enum Command {
    /// Ingress and worker in one process (the single-node default).
    Serve(RunArgs),
    /// The webhook ingress alone (needs RabbitMQ and PostgreSQL).
    Ingress(RunArgs),
    /// The delivery worker alone (needs RabbitMQ and PostgreSQL).
    Worker(RunArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Exit 0 when this host's bridge answers /readyz with 200, 1 otherwise (for container
    /// health checks; reads the same BRIDGE_LISTEN).
    Healthcheck(crate::healthcheck::HealthcheckArgs),
    /// Manage tenants (one CoMagic account with one Leadback account each).
    #[command(subcommand)]
    Tenants(TenantCommand),
    /// Inspect, replay and purge dead letters.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Offline end-to-end check: emulator + embedded bridge + sample payloads → records.
    Demo {
        /// Seconds to wait for the records.
        #[arg(long, default_value_t = 30)]
        timeout_secs: u64,
    },
}

#[derive(Subcommand)]
enum DlqCommand {
    /// List dead letters (newest first) as JSON.
    List(DlqFilterArgs),
    /// Show one dead letter with its raw body.
    Show { id: Uuid },
    /// Move dead letters back to the queue with attempts reset.
    Replay(DlqSelectArgs),
    /// Delete dead letters.
    Purge(DlqSelectArgs),
}

#[derive(Args)]
struct DlqFilterArgs {
    #[arg(long)]
    tenant: Option<Uuid>,
    /// Error class: event_permanent, tenant_permanent, mapping, exhausted, …
    #[arg(long)]
    class: Option<String>,
    /// RFC 3339 time: dead since.
    #[arg(long)]
    since: Option<DateTime<Utc>>,
    /// RFC 3339 time: dead until.
    #[arg(long)]
    until: Option<DateTime<Utc>>,
    #[arg(long)]
    limit: Option<u32>,
}

#[derive(Args)]
struct DlqSelectArgs {
    /// Dead-letter ids (repeat the flag for several).
    #[arg(long = "id")]
    ids: Vec<Uuid>,
    #[command(flatten)]
    filter: DlqFilterArgs,
    /// Select every dead letter (required when no other selector is given).
    #[arg(long)]
    all: bool,
}

impl DlqFilterArgs {
    fn to_filter(&self, ids: Vec<Uuid>) -> DeadLetterFilter {
        DeadLetterFilter {
            ids,
            tenant_id: self.tenant,
            class: self.class.clone(),
            since: self.since,
            until: self.until,
            limit: self.limit,
        }
    }
    fn is_empty(&self) -> bool {
        self.tenant.is_none()
            && self.class.is_none()
            && self.since.is_none()
            && self.until.is_none()
    }
}

pub fn run() -> std::process::ExitCode {
    let cli = Cli::parse();
    // Held to the end: dropping it flushes the log lines still queued.
    let log_writer = init_tracing(cli.common.log_format);
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|runtime| runtime.block_on(dispatch(cli)));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Through the log, not a bare eprintln: with BRIDGE_LOG_FORMAT=json the collector
            // gets the reason a process would not start as a JSON line like every other.
            tracing::error!("leadback-bridge stopped: {e:#}");
            drop(log_writer);
            std::process::ExitCode::FAILURE
        }
    }
}

/// Stderr for the log thread: buffered, and paced. The thread flushes whenever it has emptied
/// its queue, and after each flush rests [`PacedStderr::PACE`]: under load, lines gather in the
/// queue meanwhile, so a burst costs one `write(2)` and one wake-up of the thread instead of one
/// per line (a request's thread only has to wake it when it waits on an empty queue). A line on
/// a quiet log is still written at once: the rest comes after the write.
struct PacedStderr {
    buffer: std::io::BufWriter<std::io::Stderr>,
}

impl PacedStderr {
    const PACE: std::time::Duration = std::time::Duration::from_millis(5);

    fn new() -> Self {
        Self {
            buffer: std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr()),
        }
    }
}

impl std::io::Write for PacedStderr {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        self.buffer.write(line)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.buffer.flush()?;
        std::thread::sleep(Self::PACE);
        Ok(())
    }
}

/// Logs go to stderr from a dedicated thread: a request never waits for a slow log consumer
/// (a pipe, journald) unless 128k lines are already queued, and then it waits rather than
/// losing lines.
fn init_tracing(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("log-writer")
        .finish(PacedStderr::new());
    // Colours only for a person at a terminal: a file, a pipe or journald gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
    guard
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let common = cli.common;
    match cli.command {
        Command::Serve(args) => run_role(&common, args, Roles::SERVE).await,
        Command::Ingress(args) => run_role(&common, args, Roles::INGRESS).await,
        Command::Worker(args) => run_role(&common, args, Roles::WORKER).await,
        Command::Migrate => {
            let config = config_for_tools(&common)?;
            migrate_store(connect_store(&config).await?.as_ref()).await?;
            println!("{}", serde_json::json!({"status": "migrated"}));
            Ok(())
        }
        Command::Tenants(cmd) => {
            let config = config_for_tools(&common)?;
            let store = open_store(&config).await?;
            let public_url = config
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{}", config.listen));
            let out = cmd.run(store.as_ref(), &public_url).await?;
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(())
        }
        Command::Healthcheck(args) => args.run().await,
        Command::Demo { timeout_secs } => crate::demo::run(Duration::from_secs(timeout_secs)).await,
        Command::Dlq(cmd) => {
            let config = config_for_tools(&common)?;
            let out = run_dlq(&config, cmd).await?;
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(())
        }
    }
}

async fn run_dlq(config: &BridgeConfig, cmd: DlqCommand) -> anyhow::Result<serde_json::Value> {
    use serde_json::json;
    match cmd {
        DlqCommand::List(args) => {
            let store = open_store(config).await?;
            let dead = store.list_dead_letters(&args.to_filter(Vec::new())).await?;
            Ok(json!(dead
                .iter()
                .map(dead_letter_summary)
                .collect::<Vec<_>>()))
        }
        DlqCommand::Show { id } => {
            let store = open_store(config).await?;
            let dead = store
                .get_dead_letter(id)
                .await?
                .with_context(|| format!("no dead letter {id}"))?;
            Ok(dead_letter_detail(&dead))
        }
        DlqCommand::Replay(args) => {
            let filter = select(&args)?;
            let backends = open_backends(config, false).await?;
            let report = replay_dead_letters(
                backends.store.as_ref(),
                backends.queue.as_ref(),
                None,
                &filter,
            )
            .await;
            backends.queue.close().await;
            Ok(serde_json::to_value(report?)?)
        }
        DlqCommand::Purge(args) => {
            let filter = select(&args)?;
            let store = open_store(config).await?;
            let ids: Vec<Uuid> = store
                .list_dead_letters(&filter)
                .await?
                .iter()
                .map(|d| d.id)
                .collect();
            let purged = store.remove_dead_letters(&ids).await?;
            Ok(json!({"purged": purged}))
        }
    }
}

fn select(args: &DlqSelectArgs) -> anyhow::Result<DeadLetterFilter> {
    if args.ids.is_empty() && args.filter.is_empty() && !args.all {
        anyhow::bail!("say which dead letters: --id, --tenant, --class, --since/--until, or --all");
    }
    let mut filter = args.filter.to_filter(args.ids.clone());
    if filter.limit.is_none() {
        filter.limit = Some(u32::MAX);
    }
    Ok(filter)
}

fn backends(common: &CommonArgs) -> anyhow::Result<BackendPlan> {
    let tiers = RetryTiers::parse(&common.retry_tiers).map_err(|e| anyhow::anyhow!(e))?;
    let mut plan = BackendPlan::resolve(
        &common.data_dir,
        common.database_url.clone(),
        common.amqp_url.clone(),
        common.queue_prefix.clone(),
        tiers,
    );
    plan.publish_batching = PublishBatching {
        max_events: usize::from(common.publish_batch_max),
        max_in_flight: usize::from(common.publish_in_flight),
        ..PublishBatching::default()
    };
    plan.migrate = common.migrate;
    plan.database_max_connections = common.database_max_connections;
    Ok(plan)
}

/// Operator commands use the same backends and key as the server, with default listeners.
fn config_for_tools(common: &CommonArgs) -> anyhow::Result<BridgeConfig> {
    let args = RunArgs::parse_defaults();
    build_config(common, args, Roles::SERVE)
}

impl RunArgs {
    fn parse_defaults() -> Self {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            run: RunArgs,
        }
        // Reads the same BRIDGE_* variables as `serve`; no arguments.
        match Only::try_parse_from(["leadback-bridge"]) {
            Ok(only) => only.run,
            Err(_) => Self {
                listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
                metrics_listen: ListenOrOff(Some(SocketAddr::from(([127, 0, 0, 1], 9090)))),
                admin_token: None,
                concurrency: 32,
                max_attempts: 9,
                batch_size: 50,
                batch_linger_ms: 100,
                body_limit: 256 * 1024,
                publish_timeout_secs: 10,
                body_timeout_secs: 10,
                header_timeout_secs: 10,
                unknown_token_per_minute: 20,
                max_connections: 1024,
                comagic_timeout_secs: 15,
                shutdown_grace_secs: 20,
                ledger_retention_days: LedgerRetention::DEFAULT_DAYS,
            },
        }
    }
}

fn build_config(common: &CommonArgs, args: RunArgs, roles: Roles) -> anyhow::Result<BridgeConfig> {
    let backends = backends(common)?;
    let secret_key = resolve_secret_key(common.secret_key.as_ref(), &backends, &common.data_dir)?;
    Ok(BridgeConfig {
        roles,
        listen: args.listen,
        metrics_listen: args.metrics_listen.0,
        public_url: common.public_url.clone(),
        data_dir: common.data_dir.clone(),
        backends,
        secret_key,
        admin_token: args.admin_token,
        ingress: IngressConfig {
            body_limit: args.body_limit,
            publish_timeout: Duration::from_secs(args.publish_timeout_secs),
            body_timeout: Duration::from_secs(args.body_timeout_secs.max(1)),
            header_timeout: Duration::from_secs(args.header_timeout_secs.max(1)),
            unknown_token_per_minute: args.unknown_token_per_minute,
            max_connections: args.max_connections.max(1),
        },
        worker: WorkerConfig {
            concurrency: args.concurrency.max(1),
            max_attempts: args.max_attempts.max(1),
            comagic_timeout: Duration::from_secs(args.comagic_timeout_secs.max(1)),
            shutdown_grace: Duration::from_secs(args.shutdown_grace_secs),
            batch_size: args.batch_size.clamp(1, 50),
            batch_linger: Duration::from_millis(args.batch_linger_ms),
            ledger_retention: LedgerRetention::days(args.ledger_retention_days),
            ..WorkerConfig::default()
        },
        depth_refresh: Duration::from_secs(5),
    })
}

async fn run_role(common: &CommonArgs, args: RunArgs, roles: Roles) -> anyhow::Result<()> {
    let config = build_config(common, args, roles)?;
    let data_dir = config.data_dir.clone();
    let plan = config.backends.clone();
    let running = start(config).await?;
    let store_where = if plan.store_backend() == "sqlite" {
        format!("SQLite {}", plan.database_url)
    } else {
        "PostgreSQL (BRIDGE_DATABASE_URL)".to_owned()
    };
    let queue_where = if plan.amqp_url.is_some() {
        format!("RabbitMQ (BRIDGE_AMQP_URL), prefix `{}`", plan.queue_prefix)
    } else {
        format!(
            "embedded SQLite queue {}",
            plan.embedded_queue_path.display()
        )
    };
    if matches!(common.log_format, LogFormat::Json) {
        // Log collectors read stderr as JSON lines: the banner is one too.
        tracing::info!(
            role = roles.name(),
            listen = %running.addr,
            public_url = %running.public_url,
            metrics = %running
                .metrics_addr
                .map(|a| a.to_string())
                .unwrap_or_else(|| "off".into()),
            database = %store_where,
            queue = %queue_where,
            data_dir = %data_dir.display(),
            "leadback-bridge started"
        );
    } else {
        print_banner(roles, &running, &store_where, &queue_where, &data_dir);
    }
    wait_for_signal().await;
    tracing::info!("shutdown signal received; draining");
    running.shutdown().await;
    Ok(())
}

fn print_banner(
    roles: Roles,
    running: &crate::server::RunningBridge,
    store_where: &str,
    queue_where: &str,
    data_dir: &std::path::Path,
) {
    eprintln!(
        "leadback-bridge {role} listening on http://{addr} (webhooks: {public}/hooks/leadback/<token>)\n\
         metrics: {metrics}\n\
         database: {store_where}\nqueue: {queue_where}\ndata folder: {data}\n\
         create the first tenant: leadback-bridge tenants create --settings tenant.json \
         (see README.md, \"Tenant settings\")",
        role = roles.name(),
        addr = running.addr,
        public = running.public_url,
        metrics = running
            .metrics_addr
            .map(|a| format!("http://{a}/metrics"))
            .unwrap_or_else(|| "off".into()),
        data = data_dir.display(),
    );
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
