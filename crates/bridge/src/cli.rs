//! The command line: each subcommand with only the options it uses; the service's options also
//! readable from `BRIDGE_*` environment variables.

use crate::config::{
    check_database_url, require_database, resolve_secret_key, BackendPlan, BridgeConfig,
    MigratePolicy, Roles, StoreUse,
};
use crate::dlq::{DlqArgs, DlqCommand};
use crate::server::{connect_store, migrate_store, open_store, start};
use crate::telemetry::{TraceArgs, Traces};
use crate::tenants::TenantCommand;
use anyhow::Context;
use bridge_ingress::IngressConfig;
use bridge_queue::rabbitmq::PublishBatching;
use bridge_queue::RetryTiers;
use bridge_worker::{LedgerRetention, WorkerConfig};
use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::SecretString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "leadback-bridge",
    version,
    about = "Delivers Leadback callbacks and chats into CoMagic/UIS as offline requests and chats",
    long_about = "Delivers Leadback callbacks and chats into CoMagic/UIS end-to-end analytics.\n\n\
                  With no configuration it runs embedded: a SQLite file in ./data holds the queue, \
                  tenants and ledger. Set BRIDGE_AMQP_URL (RabbitMQ) and BRIDGE_DATABASE_URL \
                  (PostgreSQL) to scale out with separate `ingress` and `worker` processes.\n\n\
                  Every option of the service can also be set from the environment variable shown \
                  beside it.",
    after_help = "Logs: the RUST_LOG environment variable filters them [default: info]."
)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    #[command(subcommand)]
    command: Command,
}

/// Where the bridge's data lives, and how it logs: every command reads these.
#[derive(Args, Clone)]
#[command(next_help_heading = "Global options")]
struct CommonArgs {
    /// Database: postgres://… or sqlite://path [default: sqlite://<data dir>/bridge.db]
    #[arg(
        long,
        env = "BRIDGE_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    database_url: Option<String>,
    /// Folder of the embedded database, queue and generated secret key.
    #[arg(long, env = "BRIDGE_DATA_DIR", default_value = "./data", global = true)]
    data_dir: PathBuf,
    /// 32-byte key (64 hex chars or base64) encrypting CoMagic credentials at rest; required
    /// with PostgreSQL [default with SQLite: generated into <data dir>/secret.key by `serve`]
    #[arg(long, env = "BRIDGE_SECRET_KEY", global = true, hide_env_values = true)]
    secret_key: Option<SecretString>,
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
    /// PostgreSQL connections each process opens at most (1..=10000).
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

/// The queue between ingress and worker.
#[derive(Args, Clone)]
#[command(next_help_heading = "Queue")]
pub(crate) struct QueueArgs {
    /// RabbitMQ URL (amqp://user:pass@host:5672/vhost) [default: the embedded SQLite queue]
    #[arg(long, env = "BRIDGE_AMQP_URL", hide_env_values = true)]
    amqp_url: Option<String>,
    /// Prefix of RabbitMQ exchange and queue names.
    #[arg(long, env = "BRIDGE_QUEUE_PREFIX", default_value = "leadback")]
    queue_prefix: String,
    /// Retry delay tiers (s, m, h), one per attempt; the last repeats.
    #[arg(
        long,
        env = "BRIDGE_RETRY_TIERS",
        default_value = "5s,30s,2m,10m,30m,1h,3h,6h"
    )]
    retry_tiers: String,
    /// RabbitMQ group publish: most webhooks in one message when publishes queue up (1..=1000).
    #[arg(
        long,
        env = "BRIDGE_PUBLISH_BATCH_MAX",
        default_value_t = PublishBatching::default().max_events as u16,
        value_parser = clap::value_parser!(u16).range(1..=1000)
    )]
    publish_batch_max: u16,
    /// RabbitMQ group publish: main-queue messages awaiting their confirms at once (1..=1000).
    #[arg(
        long,
        env = "BRIDGE_PUBLISH_IN_FLIGHT",
        default_value_t = PublishBatching::default().max_in_flight as u16,
        value_parser = clap::value_parser!(u16).range(1..=1000)
    )]
    publish_in_flight: u16,
    /// Deliveries of one main-queue message before it goes to the poison queue and the dead
    /// letters (class `poison`): RabbitMQ's `x-delivery-limit`, the embedded queue's count
    /// (1..=100000).
    #[arg(
        long,
        env = "BRIDGE_DELIVERY_LIMIT",
        default_value_t = bridge_queue::DEFAULT_DELIVERY_LIMIT,
        value_parser = clap::value_parser!(u32).range(1..=100_000)
    )]
    delivery_limit: u32,
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

/// Listeners and the admin side, for every long-running role.
#[derive(Args, Clone)]
struct ListenArgs {
    /// Public HTTP listener: /healthz, /readyz, and webhooks where the ingress runs.
    #[arg(long, env = "BRIDGE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Admin API and settings pages (keep it private), when BRIDGE_ADMIN_TOKEN is set.
    #[arg(long, env = "BRIDGE_ADMIN_LISTEN", default_value = "127.0.0.1:8081")]
    admin_listen: SocketAddr,
    /// Prometheus /metrics listener (keep it private); `off`: no metrics listener.
    #[arg(long, env = "BRIDGE_METRICS_LISTEN", default_value = "127.0.0.1:9090")]
    metrics_listen: ListenOrOff,
    /// Base of generated webhook URLs, e.g. https://bridge.example.com [default: http://<listen>]
    #[arg(long, env = "BRIDGE_PUBLIC_URL")]
    public_url: Option<String>,
    /// Bearer token of the admin API and settings page, at least 32 characters (make one
    /// with `leadback-bridge admin-token`) [default: none, admin side off]
    #[arg(long, env = "BRIDGE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<SecretString>,
    /// Let tenants' CoMagic API URLs reach loopback, private, link-local and other internal
    /// addresses (the emulator, tests). Off: only public addresses, checked at connect time.
    #[arg(long, env = "BRIDGE_ALLOW_PRIVATE_API_URLS", default_value_t = false, action = clap::ArgAction::Set)]
    allow_private_api_urls: bool,
}

/// What only the webhook ingress uses.
#[derive(Args, Clone)]
#[command(next_help_heading = "Ingress")]
struct IngressArgs {
    /// Largest accepted webhook body, bytes (1024..).
    #[arg(long, env = "BRIDGE_BODY_LIMIT", default_value_t = 256 * 1024,
          value_parser = clap::value_parser!(u64).range(1024..))]
    body_limit: u64,
    /// Seconds a client may take to send the whole body (slower → 408) (1..).
    #[arg(long, env = "BRIDGE_BODY_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    body_timeout_secs: u64,
    /// Seconds a client may take to send the request head (slower → connection closed) (1..).
    #[arg(long, env = "BRIDGE_HEADER_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    header_timeout_secs: u64,
    /// Unknown-token requests allowed per client address and minute before 429 (0: no limit).
    #[arg(long, env = "BRIDGE_UNKNOWN_TOKEN_PER_MINUTE", default_value_t = 20)]
    unknown_token_per_minute: u32,
    /// Most client connections open at once; further clients wait until one closes (1..).
    #[arg(long, env = "BRIDGE_MAX_CONNECTIONS", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Seconds a publish may wait for the queue's confirm before answering 503.
    #[arg(long, env = "BRIDGE_PUBLISH_TIMEOUT_SECS", default_value_t = 10)]
    publish_timeout_secs: u64,
    /// Webhook bodies kept per tenant (at most 7 days) for the admin side's recent payloads;
    /// they hold personal data. 0: none kept, and those kept earlier are deleted (0..=1000).
    #[arg(long, env = "BRIDGE_RECENT_PAYLOADS", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(0..=1000))]
    recent_payloads: u32,
}

/// What only the delivery worker uses.
#[derive(Args, Clone)]
#[command(next_help_heading = "Worker")]
struct WorkerArgs {
    /// Deliveries in flight at once (1..=65535); the queue prefetch is the larger of this and
    /// 8 × --batch-size.
    #[arg(long, env = "BRIDGE_WORKER_CONCURRENCY", default_value_t = 32,
          value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// Attempts before a retryable failure is dead-lettered (1..).
    #[arg(long, env = "BRIDGE_MAX_ATTEMPTS", default_value_t = 9,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_attempts: u32,
    /// Most events of one tenant and kind in one CoMagic upload call (1..=50).
    #[arg(long, env = "BRIDGE_BATCH_SIZE", default_value_t = 50,
          value_parser = clap::value_parser!(u16).range(1..=50))]
    batch_size: u16,
    /// How long the first event of a batch waits for others, milliseconds.
    #[arg(long, env = "BRIDGE_BATCH_LINGER_MS", default_value_t = 100)]
    batch_linger_ms: u64,
    /// Seconds one CoMagic call may take (1..).
    #[arg(long, env = "BRIDGE_COMAGIC_TIMEOUT_SECS", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(1..))]
    comagic_timeout_secs: u64,
    /// Seconds in-flight deliveries get to finish on SIGTERM.
    #[arg(long, env = "BRIDGE_SHUTDOWN_GRACE_SECS", default_value_t = 20)]
    shutdown_grace_secs: u64,
    /// Days a delivered event stays in the ledger (which recognises it if Leadback sends it
    /// again); the worker deletes older complete entries hourly. 0 keeps every entry.
    #[arg(long, env = "BRIDGE_LEDGER_RETENTION_DAYS", default_value_t = LedgerRetention::DEFAULT_DAYS)]
    ledger_retention_days: u32,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    listen: ListenArgs,
    #[command(flatten)]
    queue: QueueArgs,
    #[command(flatten)]
    ingress: IngressArgs,
    #[command(flatten)]
    worker: WorkerArgs,
    #[command(flatten)]
    trace: TraceArgs,
}

#[derive(Args)]
struct IngressRoleArgs {
    #[command(flatten)]
    listen: ListenArgs,
    #[command(flatten)]
    queue: QueueArgs,
    #[command(flatten)]
    ingress: IngressArgs,
    #[command(flatten)]
    trace: TraceArgs,
}

#[derive(Args)]
struct WorkerRoleArgs {
    #[command(flatten)]
    listen: ListenArgs,
    #[command(flatten)]
    queue: QueueArgs,
    #[command(flatten)]
    worker: WorkerArgs,
    #[command(flatten)]
    trace: TraceArgs,
}

impl Command {
    /// The trace settings and role name of a long-running role; other commands export none.
    fn trace_args(&self) -> Option<(&TraceArgs, &'static str)> {
        match self {
            Command::Serve(args) => Some((&args.trace, "serve")),
            Command::Ingress(args) => Some((&args.trace, "ingress")),
            Command::Worker(args) => Some((&args.trace, "worker")),
            _ => None,
        }
    }
}

/// The base of webhook URLs printed by `tenants` commands.
#[derive(Args)]
struct TenantsArgs {
    /// Base of printed webhook URLs, e.g. https://bridge.example.com [default: http://<listen>]
    #[arg(long, env = "BRIDGE_PUBLIC_URL", global = true)]
    public_url: Option<String>,
    /// The service's listener, the base of printed URLs when BRIDGE_PUBLIC_URL is unset.
    #[arg(
        long,
        env = "BRIDGE_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    listen: SocketAddr,
    #[command(subcommand)]
    command: TenantCommand,
}

#[derive(Subcommand)]
enum Command {
    /// Ingress and worker in one process (the single-node default).
    Serve(ServeArgs),
    /// The webhook ingress alone (needs RabbitMQ and PostgreSQL).
    Ingress(IngressRoleArgs),
    /// The delivery worker alone (needs RabbitMQ and PostgreSQL).
    Worker(WorkerRoleArgs),
    /// Create the database (and with SQLite the secret key), apply migrations and exit.
    Migrate,
    /// Exit 0 when this host's bridge answers /readyz with 200, 1 otherwise (for container
    /// health checks; reads the same BRIDGE_LISTEN).
    Healthcheck(crate::healthcheck::HealthcheckArgs),
    /// Manage tenants (one CoMagic account with one Leadback account each).
    Tenants(TenantsArgs),
    /// Inspect, replay and purge dead letters.
    Dlq(DlqArgs),
    /// Print a fresh random admin token (for BRIDGE_ADMIN_TOKEN) and exit.
    AdminToken,
    /// Show what a tenant's settings and field map make of a raw webhook body (no CoMagic call).
    Preview(crate::preview::PreviewArgs),
    /// Offline end-to-end check: emulator + embedded bridge + sample payloads → records.
    Demo {
        /// Seconds to wait for the records.
        #[arg(long, default_value_t = 30)]
        timeout_secs: u64,
    },
}

pub fn run() -> std::process::ExitCode {
    let cli = Cli::parse();
    // Before the runtime: the exporter's blocking HTTP client must not be built on it.
    let traces = cli
        .command
        .trace_args()
        .map_or(Ok(None), |(args, role)| Traces::build(args, role));
    // Held to the end: dropping it flushes the log lines still queued.
    let log_writer = init_tracing(
        cli.common.log_format,
        traces.as_ref().ok().and_then(Option::as_ref),
    );
    let traces = match traces {
        Ok(traces) => traces,
        Err(problem) => {
            tracing::error!("leadback-bridge stopped: {problem}");
            drop(log_writer);
            return std::process::ExitCode::FAILURE;
        }
    };
    if traces.is_some() {
        bridge_queue::trace_context::enable();
    }
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|runtime| runtime.block_on(dispatch(cli)));
    // The spans of the last events, before the log writer goes.
    if let Some(traces) = traces {
        traces.shutdown();
    }
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
///
/// With `traces`, spans also go to OpenTelemetry (each layer with its own filter: `RUST_LOG`
/// filters the log lines only); without, the subscriber is the plain log one. Either way the
/// trace-only spans (`bridge_queue::trace_context::TARGET`) never reach the log lines.
fn init_tracing(
    format: LogFormat,
    traces: Option<&Traces>,
) -> tracing_appender::non_blocking::WorkerGuard {
    use tracing_subscriber::EnvFilter;
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if let Ok(trace_only) = format!("{}=off", bridge_queue::trace_context::TARGET).parse() {
        filter = filter.add_directive(trace_only);
    }
    // Unless RUST_LOG names the crate: PostgreSQL's notices (`relation "_sqlx_migrations"
    // already exists, skipping` on every start) are not news at INFO; and lapin logs an ERROR
    // for every channel the broker closes, including the throwaway channels of passive declares
    // (a missing legacy tier, a depth read) whose outcome the bridge handles and logs itself,
    // and its I/O loop logs an ERROR when the runtime stops under a connection still closing on
    // a clean shutdown; a lost connection is logged by the bridge's own supervisor.
    let asked = std::env::var("RUST_LOG").unwrap_or_default();
    for (krate, directive) in [
        ("sqlx", "sqlx::postgres::notice=warn"),
        ("lapin", "lapin::channel=off"),
        ("lapin", "lapin::io_loop=off"),
    ] {
        if let (false, Ok(quiet)) = (asked.contains(krate), directive.parse()) {
            filter = filter.add_directive(quiet);
        }
    }
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("log-writer")
        .finish(PacedStderr::new());
    // Colours only for a person at a terminal: a file, a pipe or journald gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    if let Some(traces) = traces {
        use tracing_subscriber::layer::SubscriberExt as _;
        use tracing_subscriber::util::SubscriberInitExt as _;
        use tracing_subscriber::Layer as _;
        let logs = tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_writer(writer);
        let registry = tracing_subscriber::registry().with(traces.layer());
        match format {
            LogFormat::Json => registry
                .with(logs.json().flatten_event(true).with_filter(filter))
                .init(),
            LogFormat::Text => registry.with(logs.with_filter(filter)).init(),
        }
        return guard;
    }
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
        Command::Serve(args) => {
            let config = build_config(&common, &args.listen, &args.queue, Roles::SERVE)?;
            let config = with_ingress(with_worker(config, &args.worker), &args.ingress);
            run_role(&common, config).await
        }
        Command::Ingress(args) => {
            let config = build_config(&common, &args.listen, &args.queue, Roles::INGRESS)?;
            run_role(&common, with_ingress(config, &args.ingress)).await
        }
        Command::Worker(args) => {
            let config = build_config(&common, &args.listen, &args.queue, Roles::WORKER)?;
            run_role(&common, with_worker(config, &args.worker)).await
        }
        Command::Migrate => {
            let config = config_for_tools(&common, None, StoreUse::Create)?;
            migrate_store(connect_store(&config).await?.as_ref()).await?;
            println!("{}", serde_json::json!({"status": "migrated"}));
            Ok(())
        }
        Command::Tenants(args) => {
            // The settings file is read (and checked) before anything is opened.
            let prepared = args.command.prepare()?;
            let config = config_for_tools(&common, None, StoreUse::Existing)?;
            let store = open_store(&config).await?;
            let public_url = args
                .public_url
                .unwrap_or_else(|| format!("http://{}", args.listen));
            let out = prepared.run(store.as_ref(), &public_url).await?;
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(())
        }
        Command::Healthcheck(args) => args.run().await,
        Command::AdminToken => {
            println!("{}", crate::config::generate_admin_token());
            Ok(())
        }
        Command::Demo { timeout_secs } => crate::demo::run(Duration::from_secs(timeout_secs)).await,
        Command::Preview(args) => {
            let body = args.read_body()?;
            let config = config_for_tools(&common, None, StoreUse::Existing)?;
            let out = args.run(open_store(&config).await?.as_ref(), &body).await?;
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(())
        }
        Command::Dlq(args) => {
            args.command.check()?;
            let queue = match &args.command {
                DlqCommand::Replay(replay) => Some(&replay.queue),
                _ => None,
            };
            let config = config_for_tools(&common, queue, StoreUse::Existing)?;
            args.command.run(&config).await
        }
    }
}

fn backends(common: &CommonArgs, queue: &QueueArgs) -> anyhow::Result<BackendPlan> {
    let tiers = RetryTiers::parse(&queue.retry_tiers).map_err(|e| anyhow::anyhow!(e))?;
    check_database_url(common.database_url.as_deref())?;
    let mut plan = BackendPlan::resolve(
        &common.data_dir,
        common.database_url.clone(),
        queue.amqp_url.clone(),
        queue.queue_prefix.clone(),
        tiers,
    );
    plan.publish_batching = PublishBatching {
        max_events: usize::from(queue.publish_batch_max),
        max_in_flight: usize::from(queue.publish_in_flight),
        ..PublishBatching::default()
    };
    plan.migrate = common.migrate;
    plan.database_max_connections = common.database_max_connections;
    plan.delivery_limit = queue.delivery_limit;
    Ok(plan)
}

/// Operator commands use the server's store and key, with default listeners; with
/// [`StoreUse::Existing`] they refuse to create a database or key. Only `dlq replay` reads the
/// queue options (from the environment and its own flags).
fn config_for_tools(
    common: &CommonArgs,
    queue: Option<&QueueArgs>,
    store_use: StoreUse,
) -> anyhow::Result<BridgeConfig> {
    let default_queue;
    let queue = match queue {
        Some(queue) => queue,
        None => {
            default_queue = QueueArgs::from_env()?;
            &default_queue
        }
    };
    let plan = backends(common, queue)?;
    require_database(&plan, store_use)?;
    let secret_key = resolve_secret_key(
        common.secret_key.as_ref(),
        &plan,
        &common.data_dir,
        store_use,
    )?;
    Ok(BridgeConfig {
        roles: Roles::SERVE,
        listen: ListenArgs::default_listen(),
        metrics_listen: None,
        public_url: None,
        data_dir: common.data_dir.clone(),
        backends: plan,
        secret_key,
        admin_listen: None,
        admin_token: None,
        ingress: IngressConfig::default(),
        worker: WorkerConfig::default(),
        depth_refresh: Duration::from_secs(5),
    })
}

impl ListenArgs {
    fn default_listen() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 8080))
    }
}

impl QueueArgs {
    /// The queue options from `BRIDGE_*` variables and defaults, for commands without the flags.
    fn from_env() -> anyhow::Result<Self> {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            queue: QueueArgs,
        }
        Ok(Only::try_parse_from(["leadback-bridge"])?.queue)
    }
}

fn build_config(
    common: &CommonArgs,
    listen: &ListenArgs,
    queue: &QueueArgs,
    roles: Roles,
) -> anyhow::Result<BridgeConfig> {
    let backends = backends(common, queue)?;
    let secret_key = resolve_secret_key(
        common.secret_key.as_ref(),
        &backends,
        &common.data_dir,
        StoreUse::Create,
    )?;
    Ok(BridgeConfig {
        roles,
        listen: listen.listen,
        metrics_listen: listen.metrics_listen.0,
        public_url: listen.public_url.clone(),
        data_dir: common.data_dir.clone(),
        backends,
        secret_key,
        admin_listen: Some(listen.admin_listen),
        admin_token: listen.admin_token.clone(),
        ingress: IngressConfig::default(),
        worker: WorkerConfig {
            address_policy: comagic_client::AddressPolicy {
                allow_private: listen.allow_private_api_urls,
            },
            ..WorkerConfig::default()
        },
        depth_refresh: Duration::from_secs(5),
    })
}

fn with_ingress(mut config: BridgeConfig, args: &IngressArgs) -> BridgeConfig {
    config.ingress = IngressConfig {
        body_limit: usize::try_from(args.body_limit).unwrap_or(usize::MAX),
        publish_timeout: Duration::from_secs(args.publish_timeout_secs),
        body_timeout: Duration::from_secs(args.body_timeout_secs),
        header_timeout: Duration::from_secs(args.header_timeout_secs),
        unknown_token_per_minute: args.unknown_token_per_minute,
        max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
        recent_payloads: args.recent_payloads,
    };
    config
}

fn with_worker(mut config: BridgeConfig, args: &WorkerArgs) -> BridgeConfig {
    config.worker = WorkerConfig {
        concurrency: args.concurrency,
        max_attempts: args.max_attempts,
        comagic_timeout: Duration::from_secs(args.comagic_timeout_secs),
        shutdown_grace: Duration::from_secs(args.shutdown_grace_secs),
        batch_size: usize::from(args.batch_size),
        batch_linger: Duration::from_millis(args.batch_linger_ms),
        ledger_retention: LedgerRetention::days(args.ledger_retention_days),
        // Set with the listeners: the admin side checks API URLs with the same policy.
        address_policy: config.worker.address_policy,
        ..WorkerConfig::default()
    };
    config
}

async fn run_role(common: &CommonArgs, config: BridgeConfig) -> anyhow::Result<()> {
    crate::config::check_admin_token(config.admin_token.as_ref())?;
    let roles = config.roles;
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
            admin = %running
                .admin_addr
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
    // Only an ingress takes webhooks; a worker's listener serves health and the admin side.
    let webhooks = if roles.ingress {
        format!(" (webhooks: {}/hooks/leadback/<token>)", running.public_url)
    } else {
        String::new()
    };
    eprintln!(
        "leadback-bridge {role} listening on http://{addr}{webhooks}\n\
         metrics: {metrics}\nadmin: {admin}\n\
         database: {store_where}\nqueue: {queue_where}\ndata folder: {data}\n\
         create the first tenant: leadback-bridge tenants create --settings tenant.json \
         (see README.md, \"Tenant settings\")",
        role = roles.name(),
        addr = running.addr,
        metrics = running
            .metrics_addr
            .map(|a| format!("http://{a}/metrics"))
            .unwrap_or_else(|| "off".into()),
        admin = running
            .admin_addr
            .map(|a| format!("http://{a}/admin/"))
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
