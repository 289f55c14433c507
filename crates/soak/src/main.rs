//! `soak`: the `leadback-bridge` binary (`serve`, embedded on SQLite or on RabbitMQ +
//! PostgreSQL) under a steady load of callbacks and chats for minutes, with the CoMagic emulator
//! in-process and misbehaving now and then (5xx, answers slower than the client's timeout,
//! dropped connections).
//!
//! Every `--sample-every` it records the bridge's resident memory (`/proc/<pid>/status` VmRSS),
//! open file descriptors (`/proc/<pid>/fd`), queue depths and delivered counter (its
//! `/metrics`). At the end, after a drain, it checks what a long run must not show and exits
//! non-zero when one fails:
//!
//! * memory and descriptors flat: the last third of the load's samples averages within
//!   `--tolerance` percent of the middle third (descriptors: or are back within it after the
//!   drain — busy connections are given back, leaked descriptors are not);
//! * the queues back to zero after the drain;
//! * every accepted event exactly one CoMagic record or one dead letter, none twice;
//! * the ledger no bigger than what was sent: delivered counter + dead letters = events that
//!   ended delivered or dead, each of them an event the soak sent.

mod checks;
mod load;
mod process;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};
use comagic_emulator::{Emulator, EmulatorConfig, Fault, RecordKind, RunningEmulator};

use crate::checks::{flat, Sample};
use crate::load::Load;
use crate::process::Bridge;

/// Soak test of the leadback-bridge binary.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// How long to send events (`90s`, `10m`, `1h`; a plain number is seconds).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    duration: Duration,
    /// Events per second (one in five a chat, the others callbacks).
    #[arg(long, default_value_t = 50)]
    rate: u32,
    /// CoMagic faults: ~5% 5xx, ~1% answers slower than the bridge's timeout, ~0.4% dropped
    /// connections.
    #[arg(long, value_enum, default_value_t = Switch::On)]
    faults: Switch,
    /// `embedded` (SQLite queue and store) or `rabbitmq` (RabbitMQ + PostgreSQL).
    #[arg(long, value_enum, default_value_t = Mode::Embedded)]
    mode: Mode,
    /// The bridge binary to run.
    #[arg(long, default_value = "target/release/leadback-bridge")]
    bridge_bin: PathBuf,
    /// How often to sample memory, descriptors and metrics.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    sample_every: Duration,
    /// Longest wait, after the load, for every event to be delivered or dead.
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    drain_timeout: Duration,
    /// Allowed growth, percent, of memory and descriptors (last third vs middle third).
    #[arg(long, default_value_t = 20)]
    tolerance: u32,
    /// RabbitMQ for `--mode rabbitmq`.
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp_url: String,
    /// A PostgreSQL database to CREATE/DROP the soak's own database from (`--mode rabbitmq`).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_admin_url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Switch {
    On,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Mode {
    Embedded,
    Rabbitmq,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("not a duration: {text:?} (try 90s, 10m, 1h)"))?;
    let secs = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("unknown unit in {text:?} (ms, s, m, h)")),
    };
    Ok(Duration::from_secs(secs))
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("soak: cannot start the runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("soak: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// Injects faults after every so many CoMagic calls until stopped; returns how many of each.
fn start_faults(
    emulator: Arc<RunningEmulator>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<BTreeMap<&'static str, u64>> {
    tokio::spawn(async move {
        let mut injected: BTreeMap<&'static str, u64> = BTreeMap::new();
        let mut seen = emulator.call_count();
        let mut next = 0u64;
        while !stop.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now = emulator.call_count();
            // One fault per 20 calls: 5% of calls. Every fifth of them is a slow answer and
            // every twelfth a dropped connection instead of a 503.
            while seen + 20 <= now {
                seen += 20;
                next += 1;
                let (name, fault) = if next.is_multiple_of(12) {
                    (
                        "dropped",
                        Fault::DropConnection {
                            count: 1,
                            method: None,
                        },
                    )
                } else if next.is_multiple_of(5) {
                    (
                        "slow",
                        Fault::Delay {
                            duration: Duration::from_millis(2500),
                            count: 1,
                            method: None,
                        },
                    )
                } else {
                    (
                        "http_503",
                        Fault::HttpStatus {
                            status: 503,
                            count: 1,
                            method: None,
                        },
                    )
                };
                emulator.inject(fault);
                *injected.entry(name).or_default() += 1;
            }
        }
        injected
    })
}

/// Stored `ext_id` → how many records carry it (sessions left out).
fn stored(emulator: &RunningEmulator) -> HashMap<String, usize> {
    let mut out: HashMap<String, usize> = HashMap::new();
    for record in emulator.records() {
        if record.kind == RecordKind::Session {
            continue;
        }
        if let Some(ext) = record.ext_id {
            *out.entry(ext).or_default() += 1;
        }
    }
    out
}

fn ext_id(event_id: &str) -> String {
    format!("leadback:{event_id}")
}

async fn sample(bridge: &Bridge, started: Instant, accepted: usize, stored: usize) -> Sample {
    let metrics = bridge.metrics().await.unwrap_or_default();
    Sample {
        at: started.elapsed(),
        rss_kb: bridge.rss_kb().unwrap_or(0),
        fds: bridge.fds().unwrap_or(0),
        depth: checks::queue_depth(&metrics, false),
        dead: checks::queue_depth(&metrics, true),
        delivered_total: checks::counter_sum(&metrics, "leadback_bridge_events_delivered_total"),
        accepted,
        stored,
    }
}

async fn run(args: Args) -> Result<bool> {
    let bridge_bin = std::fs::canonicalize(&args.bridge_bin).with_context(|| {
        format!(
            "bridge binary {} (build it: cargo build --release -p leadback-bridge)",
            args.bridge_bin.display()
        )
    })?;
    let emulator = Arc::new(
        Emulator::start(EmulatorConfig::default())
            .await
            .context("emulator")?,
    );
    let mut bridge = Bridge::start(
        &bridge_bin,
        args.mode,
        &emulator.api_url(),
        &args.amqp_url,
        &args.postgres_admin_url,
    )
    .await?;
    println!(
        "soak: {:?} mode, {} events/s for {:?}, faults {:?}, bridge pid {}",
        args.mode,
        args.rate,
        args.duration,
        args.faults,
        bridge.pid()
    );
    let result = soak(&args, &emulator, &mut bridge).await;
    bridge.stop().await;
    result
}

async fn soak(args: &Args, emulator: &Arc<RunningEmulator>, bridge: &mut Bridge) -> Result<bool> {
    let started = Instant::now();
    let run_tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let load = Load::start(bridge.webhook_url().to_owned(), run_tag, args.rate);
    let stop_faults = Arc::new(AtomicBool::new(false));
    let faults =
        (args.faults == Switch::On).then(|| start_faults(emulator.clone(), stop_faults.clone()));

    let mut samples: Vec<Sample> = Vec::new();
    println!(
        "{:>6} {:>9} {:>5} {:>7} {:>5} {:>10} {:>9} {:>9}",
        "t", "rss_kb", "fds", "queued", "dead", "delivered", "accepted", "records"
    );
    let mut next_sample = started;
    while started.elapsed() < args.duration {
        if Instant::now() >= next_sample {
            let s = sample(
                bridge,
                started,
                load.accepted_count(),
                // A count, not `stored()`: copying every record each sample stalls the emulator
                // (and the load generator beside it) more the longer the run.
                emulator.record_count(),
            )
            .await;
            s.print();
            samples.push(s);
            next_sample += args.sample_every;
        }
        bridge.check_alive()?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let load_samples = samples.len();
    let stats = load.finish().await;
    stop_faults.store(true, Ordering::SeqCst);
    let injected = match faults {
        Some(task) => task.await.unwrap_or_default(),
        None => BTreeMap::new(),
    };

    // Drain: every accepted event delivered or dead, and the queues empty.
    let drain_started = Instant::now();
    let mut dead_ids: Vec<String>;
    loop {
        let records = stored(emulator);
        let missing: Vec<&String> = stats
            .accepted
            .iter()
            .filter(|id| !records.contains_key(&ext_id(id)))
            .collect();
        dead_ids = if missing.is_empty() {
            Vec::new()
        } else {
            bridge.dead_letter_ids().await?
        };
        let settled = missing.iter().all(|id| dead_ids.contains(id));
        let s = sample(bridge, started, stats.accepted.len(), records.len()).await;
        if settled && s.depth == 0 {
            break;
        }
        if drain_started.elapsed() > args.drain_timeout {
            println!("soak: drain timed out");
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let drain = drain_started.elapsed();
    // The depth gauge is refreshed every few seconds: read it once more after a refresh.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let records = stored(emulator);
    let final_sample = sample(bridge, started, stats.accepted.len(), records.len()).await;
    final_sample.print();
    dead_ids = bridge.dead_letter_ids().await?;

    // The verdicts.
    let dead: HashSet<&String> = dead_ids.iter().collect();
    let mut lost = 0usize;
    let mut delivered = 0usize;
    let mut both = 0usize;
    for id in &stats.accepted {
        match (records.contains_key(&ext_id(id)), dead.contains(id)) {
            (true, true) => {
                delivered += 1;
                both += 1;
            }
            (true, false) => delivered += 1,
            (false, true) => {}
            (false, false) => lost += 1,
        }
    }
    let duplicated = records.values().filter(|n| **n > 1).count() + (dead_ids.len() - dead.len());
    let sent_ext: HashSet<String> = stats.sent_ids.iter().map(|id| ext_id(id)).collect();
    let foreign = records
        .keys()
        .filter(|ext| !sent_ext.contains(*ext))
        .count();
    let unaccepted_delivered = records
        .keys()
        .filter(|ext| {
            ext.strip_prefix("leadback:")
                .is_some_and(|id| !stats.accepted.contains(id))
        })
        .count();
    let ledger = final_sample.delivered_total + final_sample.dead;
    let ended = records.len() as u64 + dead_ids.len() as u64 - both as u64;

    let window = &samples[..load_samples];
    let rss = flat(window, |s| s.rss_kb as f64, args.tolerance, 0.0);
    let fds = flat(window, |s| s.fds as f64, args.tolerance, 4.0);
    let fds_returned = fds.returned_after_drain(final_sample.fds as f64, args.tolerance, 4.0);
    let mut ok = true;
    let mut verdict = |name: &str, pass: bool, detail: String| {
        println!("{} {name}: {detail}", if pass { "PASS" } else { "FAIL" });
        ok &= pass;
    };
    verdict(
        "memory flat",
        rss.pass,
        format!(
            "RSS middle third {:.0} kB, last third {:.0} kB (peak {} kB)",
            rss.middle,
            rss.last,
            window.iter().map(|s| s.rss_kb).max().unwrap_or(0)
        ),
    );
    verdict(
        "descriptors flat",
        fds.pass || fds_returned,
        format!(
            "open fds middle third {:.1}, last third {:.1}, after the drain {}",
            fds.middle, fds.last, final_sample.fds
        ),
    );
    verdict(
        "queues drained",
        final_sample.depth == 0,
        format!(
            "{} messages left in the main and delay queues after {:.0} s of drain",
            final_sample.depth,
            drain.as_secs_f64()
        ),
    );
    verdict(
        "exactly once",
        lost == 0 && duplicated == 0 && both == 0,
        format!(
            "accepted {}, delivered {delivered}, dead {}, lost {lost}, duplicated {duplicated}, \
             delivered and dead {both}",
            stats.accepted.len(),
            dead_ids.len()
        ),
    );
    verdict(
        "ledger bounded",
        ledger == ended && foreign == 0,
        format!(
            "delivered counter {} + dead {} = {ledger}; events that ended delivered or dead {ended} \
             (of {} sent; {unaccepted_delivered} delivered though their POST was not answered \
             200); records of events never sent {foreign}",
            final_sample.delivered_total,
            final_sample.dead,
            stats.sent_ids.len()
        ),
    );
    println!(
        "soak: sent {} in {:.0} s ({:.1}/s), refused {:?}, faults injected {injected:?}, CoMagic calls {}",
        stats.sent_ids.len(),
        args.duration.as_secs_f64(),
        stats.sent_ids.len() as f64 / args.duration.as_secs_f64(),
        stats.refused,
        emulator.call_count()
    );
    println!("soak: {}", if ok { "PASSED" } else { "FAILED" });
    Ok(ok)
}
