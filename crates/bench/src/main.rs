//! `bench`: one run, side by side, on loopback: the HTTP ceiling (the same load generator
//! against a trivial axum handler), the broker ceiling (a bare lapin publisher with confirms),
//! the bridge's ingress in RabbitMQ and embedded mode (saturation, and latency at a fixed
//! offered rate), the worker's deliveries into the CoMagic emulator (calls per event), the
//! end-to-end latency (accepted → CoMagic record) at a fixed rate, and peak RSS per process.
//!
//! The bridge runs as child processes of the real release binary (`leadback-bridge`), so their
//! RSS is their own; the emulator and the load generator live in this process.
//!
//! Each part has its module (`ceilings`, `rabbit_mode`, `embedded_mode`, `e2e`); `bodies` makes
//! the load, `setup` the deployments and tenants, `machine` waits for a quiet machine.

mod bodies;
mod bridge;
mod ceilings;
mod e2e;
mod embedded_mode;
mod load;
mod machine;
mod rabbit_mode;
mod setup;

/// The bridge's allocator for the load generator too: its CPU is taken from what is measured,
/// so the cheaper it runs the better (docs/benchmarks.md compares the allocators).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use ceilings::{broker_ceiling, broker_row, http_ceiling};
use clap::Parser;
use e2e::e2e;
use embedded_mode::embedded_mode;
use machine::settle;
use rabbit_mode::rabbit_mode;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser, Debug, Clone)]
#[command(about = "Benchmarks of leadback-bridge on loopback (see docs/benchmarks.md)")]
struct Args {
    /// Seconds of each measured phase.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Connections (closed loop) / in-flight publishes of the saturation phases.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Offered rate of the fixed-rate ingress phase (per second); 0 = half of the measured
    /// saturation.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Offered rate of the end-to-end phase (one tenant).
    #[arg(long, default_value_t = 1000.0)]
    e2e_rate: f64,
    /// Comma-separated parts: http, broker, rabbit, embedded, e2e-embedded, e2e-rabbit, or all.
    #[arg(long, default_value = "all")]
    parts: String,
    /// The bridge binary (default: leadback-bridge next to this binary).
    #[arg(long)]
    bridge_bin: Option<std::path::PathBuf>,
    /// RUST_LOG of the bridge processes (their logs go to files in the temp dir).
    #[arg(long, default_value = "info")]
    bridge_log: String,
    /// Upper bound of requests of one phase.
    #[arg(long, default_value_t = 1_000_000)]
    max_requests: u64,
    /// Rounds of (broker ceiling, RabbitMQ ingress saturation), alternating, each on a settled
    /// machine, when both parts run: the ratio is reported per round and as the median, since
    /// a single ceiling run moves from one run to the next (docs/benchmarks.md).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    rounds: u32,
}

impl Args {
    fn wants(&self, part: &str) -> bool {
        self.parts
            .split(',')
            .any(|p| p.trim() == part || p.trim() == "all")
    }
    fn duration(&self) -> Duration {
        Duration::from_secs(self.duration.max(1))
    }

    /// The bounds of a measured phase: `--duration`, `--max-requests`.
    fn bounds(&self, keep_times: bool) -> load::Bounds {
        load::Bounds {
            duration: self.duration(),
            max_requests: self.max_requests,
            keep_times,
        }
    }

    /// A saturation phase: `--concurrency` closed loops.
    async fn saturate(&self, client: &load::Client, target: &load::Target) -> load::LoadResult {
        load::closed_loop(client, target, self.concurrency, self.bounds(false)).await
    }

    /// A fixed-rate phase: `rate` requests a second (open loop, at most 4,096 in flight);
    /// `keep_times` keeps when each was answered.
    async fn offer(
        &self,
        client: &Arc<load::Client>,
        target: &load::Target,
        rate: f64,
        keep_times: bool,
    ) -> load::LoadResult {
        load::open_loop(client, target, rate, 4096, self.bounds(keep_times)).await
    }
}

/// One line of the report.
struct Row {
    part: String,
    figures: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bin = args.bridge_bin.clone().unwrap_or_else(bridge::default_bin);
    let mut rows: Vec<Row> = Vec::new();
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    eprintln!("bench run {run}: {args:?}");

    let mut ceilings: HashMap<&str, f64> = HashMap::new();
    if args.wants("http") {
        settle("http", false).await;
        let r = http_ceiling(&args).await?;
        ceilings.insert("http", r.rate());
        rows.push(Row {
            part: "HTTP ceiling (axum, trivial handler)".into(),
            figures: r.summary(),
        });
    }
    if args.wants("broker") && !args.wants("rabbit") {
        // Alone; with the ingress the ceiling is measured in rounds between its runs.
        for _ in 0..args.rounds {
            settle("broker", true).await;
            rows.push(broker_row(broker_ceiling(&args).await?));
        }
    }
    if args.wants("rabbit") {
        // Settles before each of its phases.
        rabbit_mode(&args, &bin, &run, &mut rows).await?;
    }
    if args.wants("embedded") {
        settle("embedded", false).await;
        embedded_mode(&args, &bin, &ceilings, &mut rows).await?;
    }
    if args.wants("e2e-embedded") {
        settle("e2e-embedded", false).await;
        e2e(&args, &bin, &run, false, &mut rows).await?;
    }
    if args.wants("e2e-rabbit") {
        settle("e2e-rabbit", true).await;
        e2e(&args, &bin, &run, true, &mut rows).await?;
    }
    rows.push(Row {
        part: "bench process (load generator + emulator) peak RSS".into(),
        figures: format!(
            "{:.1} MiB",
            bridge::peak_rss_mib(std::process::id()).unwrap_or(f64::NAN)
        ),
    });

    println!("\n| part | result |\n|---|---|");
    for row in rows {
        println!("| {} | {} |", row.part, row.figures);
    }
    Ok(())
}

/// The middle value (the mean of the two middle ones for an even count); NaN when empty.
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}
