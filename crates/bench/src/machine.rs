//! A quiet machine before each part: idle CPU, and RabbitMQ's quorum-queue write-ahead log
//! rolled over.

use std::time::{Duration, Instant};

/// Waits until the machine is nearly idle (under 10 % busy over one second, at most 90 s), so a
/// part is not measured while RabbitMQ still compacts or deletes the previous part's queues or
/// PostgreSQL checkpoints: both ceilings and the bridge then start from the same quiet machine.
///
/// Before a part that uses RabbitMQ, its quorum-queue write-ahead log is rolled over first (see
/// [`roll_over_rabbitmq_wal`]).
pub(crate) async fn settle(part: &str, rabbitmq: bool) {
    let started = Instant::now();
    if rabbitmq {
        roll_over_rabbitmq_wal().await;
    }
    let mut busy = cpu_busy(Duration::from_secs(1)).await;
    while busy > 0.10 && started.elapsed() < Duration::from_secs(90) {
        busy = cpu_busy(Duration::from_secs(1)).await;
    }
    eprintln!(
        "{part}: machine settled after {:.0} s ({:.0} % busy)",
        started.elapsed().as_secs_f64(),
        busy * 100.0
    );
}

/// RabbitMQ writes every quorum queue's messages to one write-ahead log and, when it reaches
/// `wal_max_size_bytes` (512 MiB by default), rolls it over and copies its entries into segment
/// files; while that runs, confirms stall (docs/benchmarks.md has the stall measured). Where the roll-over fell depended on everything the previous parts had written, so
/// one part in a run could take it and the next not. Rolling the log over before each part
/// (`ra_log_wal:force_roll_over/1` through `rabbitmqctl eval`, which needs the local node's
/// Erlang cookie, e.g. root) makes every part start from an empty log; the parts write far less
/// than 512 MiB, so none is measured across a roll-over. When `rabbitmqctl` is missing or
/// refused, the bench says so and goes on.
async fn roll_over_rabbitmq_wal() {
    let result = tokio::process::Command::new("rabbitmqctl")
        .args(["eval", "ra_log_wal:force_roll_over(ra_log_wal)."])
        .output()
        .await;
    match result {
        Ok(output) if output.status.success() => {}
        Ok(output) => eprintln!(
            "could not roll RabbitMQ's WAL over (a roll-over may fall inside a part): {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        Err(e) => eprintln!(
            "could not run rabbitmqctl to roll RabbitMQ's WAL over (a roll-over may fall \
             inside a part): {e}"
        ),
    }
}

/// The share of all CPUs' time spent busy during `window` (from /proc/stat; 0 when unreadable).
async fn cpu_busy(window: Duration) -> f64 {
    fn times() -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let fields: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .filter_map(|f| f.parse().ok())
            .collect();
        let idle = fields.get(3)? + fields.get(4).unwrap_or(&0);
        Some((fields.iter().sum(), idle))
    }
    let before = times();
    tokio::time::sleep(window).await;
    match (before, times()) {
        (Some((total0, idle0)), Some((total1, idle1))) if total1 > total0 => {
            1.0 - (idle1 - idle0) as f64 / (total1 - total0) as f64
        }
        _ => 0.0,
    }
}
