//! `comagic-emulator`: run the CoMagic Data API emulator as a process (demo, manual testing).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use comagic_emulator::{AccountSeed, Emulator, EmulatorConfig};

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
    /// account, token `demo-token`, login `demo` / `demo-password`).
    #[arg(long)]
    seed: Option<PathBuf>,
    /// Lifetime of `login.user` tokens, in seconds.
    #[arg(long, default_value_t = 3600)]
    login_token_ttl: u64,
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
        None => vec![AccountSeed::demo()],
    };
    let names: Vec<String> = accounts.iter().map(|a| a.name.clone()).collect();
    let emulator = Emulator::start(EmulatorConfig {
        bind: args.listen,
        accounts,
        login_token_ttl: Duration::from_secs(args.login_token_ttl),
    })
    .await
    .context("starting the emulator")?;
    println!("{}", emulator.api_url());
    println!("accounts: {}", names.join(", "));
    println!(
        "inspect: {0}/_emulator/records {0}/_emulator/calls",
        emulator.base_url()
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    emulator.shutdown().await;
    Ok(())
}
