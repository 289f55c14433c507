//! `comagic-emulator`: run the CoMagic Data API emulator as a process (demo, manual testing).

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use comagic_emulator::{AccountSeed, Emulator, EmulatorConfig, RepeatedExtId};

/// A local CoMagic/UIS Data API v2.0 emulator.
#[derive(Debug, Parser)]
#[command(name = "comagic-emulator", version)]
struct Args {
    /// Address to listen on.
    #[arg(
        long,
        env = "COMAGIC_EMULATOR_LISTEN",
        default_value = "127.0.0.1:8088"
    )]
    listen: SocketAddr,
    /// JSON seed file: one account object or an array of accounts (default: the built-in demo
    /// accounts: `demo` in Europe/Moscow, token `demo-token`, login `demo`; `demo-ekb` in
    /// Asia/Yekaterinburg, token `demo-token-ekb`; `demo-kgd` in Europe/Kaliningrad, token
    /// `demo-token-kgd`; password `demo-password`).
    #[arg(long)]
    seed: Option<PathBuf>,
    /// Lifetime of `login.user` tokens, in seconds.
    #[arg(long, default_value_t = 3600)]
    login_token_ttl: u64,
    /// Put a refused item's position in `error.data.params.index` (and a chat message's in
    /// `message_index`), with the emulator's other diagnostics in `params`. Off by default:
    /// CoMagic documents only `data.field`, and `params` only for templated messages.
    #[arg(long)]
    item_index: bool,
    /// What an offline message or chat with an ext_id the account already has does: `refuse`
    /// answers `duplicate_entity`; `update` replaces the stored record and answers its id.
    #[arg(long, value_enum, default_value_t = RepeatedExtId::Refuse)]
    repeated_ext_id: RepeatedExtId,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Logs go to stderr: stdout carries the URL for scripts.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let accounts = match &args.seed {
        Some(path) => AccountSeed::load_file(path).context("loading the seed")?,
        None => EmulatorConfig::default().accounts,
    };
    let names: Vec<String> = accounts.iter().map(|a| a.name.clone()).collect();
    let emulator = Emulator::start(EmulatorConfig {
        bind: args.listen,
        accounts,
        login_token_ttl: Duration::from_secs(args.login_token_ttl),
        report_item_index: args.item_index,
        repeated_ext_id: args.repeated_ext_id,
    })
    .await
    .context("starting the emulator")?;
    // A script may read the URL and close the pipe: the emulator goes on serving then
    // (`println!` would panic on the closed pipe).
    let mut stdout = std::io::stdout().lock();
    let printed = writeln!(stdout, "{}", emulator.api_url())
        .and_then(|()| writeln!(stdout, "accounts: {}", names.join(", ")))
        .and_then(|()| {
            writeln!(
                stdout,
                "inspect: {0}/_emulator/records {0}/_emulator/calls {0}/_emulator/uploads",
                emulator.base_url()
            )
        })
        .and_then(|()| stdout.flush());
    drop(stdout);
    if let Err(error) = printed {
        tracing::warn!(%error, "stdout closed; serving on");
    }
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    emulator.shutdown().await;
    Ok(())
}
