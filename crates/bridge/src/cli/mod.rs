//! The command line: each subcommand with only the options it uses; the service's options also
//! readable from `BRIDGE_*` environment variables.

mod logging;
mod options;
mod role;
mod settings;

pub(crate) use options::QueueArgs;

use crate::config::{Roles, StoreUse};
use crate::dlq::{DlqArgs, DlqCommand};
use crate::server::{connect_store, migrate_store, open_store};
use crate::telemetry::{TraceArgs, Traces};
use crate::tenants::TenantCommand;
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use logging::init_tracing;
use options::{CommonArgs, IngressRoleArgs, ServeArgs, WorkerRoleArgs};
use role::run_role;
use settings::{build_config, config_for_tools, with_ingress, with_worker};
use std::net::SocketAddr;
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
