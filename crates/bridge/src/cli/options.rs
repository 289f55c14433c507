//! The flags of each option group (global, queue, listeners, ingress, worker) and of each
//! long-running role; every service option also readable from its `BRIDGE_*` variable.

use crate::config::MigratePolicy;
use crate::telemetry::TraceArgs;
use bridge_queue::rabbitmq::PublishBatching;
use bridge_worker::LedgerRetention;
use clap::{Args, Parser, ValueEnum};
use secrecy::SecretString;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Where the bridge's data lives, and how it logs: every command reads these.
#[derive(Args, Clone)]
#[command(next_help_heading = "Global options")]
pub(super) struct CommonArgs {
    /// Database: postgres://… or sqlite://path [default: sqlite://<data dir>/bridge.db]
    #[arg(
        long,
        env = "BRIDGE_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub(super) database_url: Option<String>,
    /// Folder of the embedded database, queue and generated secret key.
    #[arg(long, env = "BRIDGE_DATA_DIR", default_value = "./data", global = true)]
    pub(super) data_dir: PathBuf,
    /// 32-byte key (64 hex chars or base64) encrypting CoMagic credentials at rest; required
    /// with PostgreSQL [default with SQLite: generated into <data dir>/secret.key by `serve`]
    #[arg(long, env = "BRIDGE_SECRET_KEY", global = true, hide_env_values = true)]
    pub(super) secret_key: Option<SecretString>,
    /// `auto`: serve, ingress and worker apply pending migrations at start; `off`: they only
    /// check the schema (run `migrate` first). A newer schema (a rollback) never stops them.
    #[arg(
        long,
        env = "BRIDGE_MIGRATE",
        value_enum,
        default_value = "auto",
        global = true
    )]
    pub(super) migrate: MigratePolicy,
    /// PostgreSQL connections each process opens at most (1..=10000).
    #[arg(
        long,
        env = "BRIDGE_DATABASE_MAX_CONNECTIONS",
        default_value_t = bridge_store::DEFAULT_MAX_CONNECTIONS,
        value_parser = clap::value_parser!(u32).range(1..=10_000),
        global = true
    )]
    pub(super) database_max_connections: u32,
    /// Log format on stderr.
    #[arg(
        long,
        env = "BRIDGE_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub(super) log_format: LogFormat,
}

/// The queue between ingress and worker.
#[derive(Args, Clone)]
#[command(next_help_heading = "Queue")]
pub(crate) struct QueueArgs {
    /// RabbitMQ URL (amqp://user:pass@host:5672/vhost) [default: the embedded SQLite queue]
    #[arg(long, env = "BRIDGE_AMQP_URL", hide_env_values = true)]
    pub(super) amqp_url: Option<String>,
    /// Prefix of RabbitMQ exchange and queue names.
    #[arg(long, env = "BRIDGE_QUEUE_PREFIX", default_value = "leadback")]
    pub(super) queue_prefix: String,
    /// Retry delay tiers (s, m, h), one per attempt; the last repeats.
    #[arg(
        long,
        env = "BRIDGE_RETRY_TIERS",
        default_value = "5s,30s,2m,10m,30m,1h,3h,6h"
    )]
    pub(super) retry_tiers: String,
    /// RabbitMQ group publish: most webhooks in one message when publishes queue up (1..=1000).
    #[arg(
        long,
        env = "BRIDGE_PUBLISH_BATCH_MAX",
        default_value_t = PublishBatching::default().max_events as u16,
        value_parser = clap::value_parser!(u16).range(1..=1000)
    )]
    pub(super) publish_batch_max: u16,
    /// RabbitMQ group publish: main-queue messages awaiting their confirms at once (1..=1000).
    #[arg(
        long,
        env = "BRIDGE_PUBLISH_IN_FLIGHT",
        default_value_t = PublishBatching::default().max_in_flight as u16,
        value_parser = clap::value_parser!(u16).range(1..=1000)
    )]
    pub(super) publish_in_flight: u16,
    /// Deliveries of one main-queue message before it goes to the poison queue and the dead
    /// letters (class `poison`): RabbitMQ's `x-delivery-limit`, the embedded queue's count
    /// (1..=100000).
    #[arg(
        long,
        env = "BRIDGE_DELIVERY_LIMIT",
        default_value_t = bridge_queue::DEFAULT_DELIVERY_LIMIT,
        value_parser = clap::value_parser!(u32).range(1..=100_000)
    )]
    pub(super) delivery_limit: u32,
}

/// A listen address, or `off` for no listener at all.
#[derive(Clone, Copy, Debug)]
pub(super) struct ListenOrOff(pub(super) Option<SocketAddr>);

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
pub(super) enum LogFormat {
    Text,
    Json,
}

/// Listeners and the admin side, for every long-running role.
#[derive(Args, Clone)]
pub(super) struct ListenArgs {
    /// Public HTTP listener: /healthz, /readyz, and webhooks where the ingress runs.
    #[arg(long, env = "BRIDGE_LISTEN", default_value = "127.0.0.1:8080")]
    pub(super) listen: SocketAddr,
    /// Admin API and settings pages (keep it private), when BRIDGE_ADMIN_TOKEN is set.
    #[arg(long, env = "BRIDGE_ADMIN_LISTEN", default_value = "127.0.0.1:8081")]
    pub(super) admin_listen: SocketAddr,
    /// Prometheus /metrics listener (keep it private); `off`: no metrics listener.
    #[arg(long, env = "BRIDGE_METRICS_LISTEN", default_value = "127.0.0.1:9090")]
    pub(super) metrics_listen: ListenOrOff,
    /// Base of generated webhook URLs, e.g. https://bridge.example.com [default: http://<listen>]
    #[arg(long, env = "BRIDGE_PUBLIC_URL")]
    pub(super) public_url: Option<String>,
    /// Bearer token of the admin API and settings page, at least 32 characters (make one
    /// with `leadback-bridge admin-token`) [default: none, admin side off]
    #[arg(long, env = "BRIDGE_ADMIN_TOKEN", hide_env_values = true)]
    pub(super) admin_token: Option<SecretString>,
    /// Let tenants' CoMagic API URLs reach loopback, private, link-local and other internal
    /// addresses (the emulator, tests). Off: only public addresses, checked at connect time.
    #[arg(long, env = "BRIDGE_ALLOW_PRIVATE_API_URLS", default_value_t = false, action = clap::ArgAction::Set)]
    pub(super) allow_private_api_urls: bool,
}

/// What only the webhook ingress uses.
#[derive(Args, Clone)]
#[command(next_help_heading = "Ingress")]
pub(super) struct IngressArgs {
    /// Largest accepted webhook body, bytes (1024..).
    #[arg(long, env = "BRIDGE_BODY_LIMIT", default_value_t = 256 * 1024,
          value_parser = clap::value_parser!(u64).range(1024..))]
    pub(super) body_limit: u64,
    /// Seconds a client may take to send the whole body (slower → 408) (1..).
    #[arg(long, env = "BRIDGE_BODY_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub(super) body_timeout_secs: u64,
    /// Seconds a client may take to send the request head (slower → connection closed) (1..).
    #[arg(long, env = "BRIDGE_HEADER_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub(super) header_timeout_secs: u64,
    /// Unknown-token requests allowed per client address and minute before 429 (0: no limit).
    #[arg(long, env = "BRIDGE_UNKNOWN_TOKEN_PER_MINUTE", default_value_t = 20)]
    pub(super) unknown_token_per_minute: u32,
    /// Most client connections open at once; further clients wait until one closes (1..).
    #[arg(long, env = "BRIDGE_MAX_CONNECTIONS", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub(super) max_connections: u32,
    /// Seconds a publish may wait for the queue's confirm before answering 503.
    #[arg(long, env = "BRIDGE_PUBLISH_TIMEOUT_SECS", default_value_t = 10)]
    pub(super) publish_timeout_secs: u64,
    /// Webhook bodies kept per tenant (at most 7 days) for the admin side's recent payloads;
    /// they hold personal data. 0: none kept, and those kept earlier are deleted (0..=1000).
    #[arg(long, env = "BRIDGE_RECENT_PAYLOADS", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub(super) recent_payloads: u32,
}

/// What only the delivery worker uses.
#[derive(Args, Clone)]
#[command(next_help_heading = "Worker")]
pub(super) struct WorkerArgs {
    /// Deliveries in flight at once (1..=65535); the queue prefetch is the larger of this and
    /// 8 × --batch-size.
    #[arg(long, env = "BRIDGE_WORKER_CONCURRENCY", default_value_t = 32,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub(super) concurrency: u16,
    /// Attempts before a retryable failure is dead-lettered (1..).
    #[arg(long, env = "BRIDGE_MAX_ATTEMPTS", default_value_t = 9,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub(super) max_attempts: u32,
    /// Most events of one tenant and kind in one CoMagic upload call (1..=50).
    #[arg(long, env = "BRIDGE_BATCH_SIZE", default_value_t = 50,
          value_parser = clap::value_parser!(u16).range(1..=50))]
    pub(super) batch_size: u16,
    /// How long the first event of a batch waits for others, milliseconds.
    #[arg(long, env = "BRIDGE_BATCH_LINGER_MS", default_value_t = 100)]
    pub(super) batch_linger_ms: u64,
    /// Seconds one CoMagic call may take (1..).
    #[arg(long, env = "BRIDGE_COMAGIC_TIMEOUT_SECS", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub(super) comagic_timeout_secs: u64,
    /// Seconds in-flight deliveries get to finish on SIGTERM.
    #[arg(long, env = "BRIDGE_SHUTDOWN_GRACE_SECS", default_value_t = 20)]
    pub(super) shutdown_grace_secs: u64,
    /// Days a delivered event stays in the ledger (which recognises it if Leadback sends it
    /// again); the worker deletes older complete entries hourly. 0 keeps every entry.
    #[arg(long, env = "BRIDGE_LEDGER_RETENTION_DAYS", default_value_t = LedgerRetention::DEFAULT_DAYS)]
    pub(super) ledger_retention_days: u32,
}

/// Everything a long-running role reads, in this order on its `--help`: listeners, queue, the
/// ingress's options `I` and the worker's `W` ([`Unused`] where the role does not run one), and
/// tracing.
#[derive(Args)]
pub(super) struct RoleArgs<I: Args, W: Args> {
    #[command(flatten)]
    pub(super) listen: ListenArgs,
    #[command(flatten)]
    pub(super) queue: QueueArgs,
    #[command(flatten)]
    pub(super) ingress: I,
    #[command(flatten)]
    pub(super) worker: W,
    #[command(flatten)]
    pub(super) trace: TraceArgs,
}

/// No options: the part a role does not run.
#[derive(Args)]
pub(super) struct Unused {}

pub(super) type ServeArgs = RoleArgs<IngressArgs, WorkerArgs>;
pub(super) type IngressRoleArgs = RoleArgs<IngressArgs, Unused>;
pub(super) type WorkerRoleArgs = RoleArgs<Unused, WorkerArgs>;

impl ListenArgs {
    pub(super) fn default_listen() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 8080))
    }
}

impl QueueArgs {
    /// The queue options from `BRIDGE_*` variables and defaults, for commands without the flags.
    pub(super) fn from_env() -> anyhow::Result<Self> {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            queue: QueueArgs,
        }
        Ok(Only::try_parse_from(["leadback-bridge"])?.queue)
    }
}
