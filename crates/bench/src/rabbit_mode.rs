//! The RabbitMQ + PostgreSQL part: ingress saturation and a fixed rate, then a worker draining.

use crate::bodies::target;
use crate::bridge;
use crate::ceilings::{broker_ceiling, broker_fixed, broker_row};
use crate::load;
use crate::machine::settle;
use crate::setup::{delivered, tear_down, tenant, wait_delivered};
use crate::{median, Args, Row};
use comagic_emulator::{Emulator, EmulatorConfig};
use std::time::{Duration, Instant};

/// Ingress alone (RabbitMQ + PostgreSQL): saturation (in `--rounds` rounds, each after a
/// broker ceiling run when that part is wanted too), then a fixed rate; then a worker alone
/// drains what was accepted into the emulator.
pub(crate) async fn rabbit_mode(
    args: &Args,
    bin: &std::path::Path,
    run: &str,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let emulator = Emulator::start(EmulatorConfig::default()).await?;
    let deployment = bridge::deployment(bin, true, &args.bridge_log).await?;
    let result = async {
        let token = bridge::create_tenant(&deployment, &tenant(&emulator)).await?;
        let ingress = bridge::start(&deployment, "ingress").await?;
        let client = load::client(args.concurrency)?;
        let mut accepted = 0;
        let mut rates = Vec::new();
        let mut ratios = Vec::new();
        for round in 1..=args.rounds {
            if round > 1 {
                // Each round publishes into an empty queue, as each ceiling run does: a backlog
                // of earlier rounds made later rounds slower (docs/benchmarks.md, run 51869fb).
                // The worker drains what the last round and the fixed-rate phase accepted.
                let prefix = deployment.queue_prefix();
                if let Some(prefix) = prefix {
                    let purged = bridge::purge_main_queue(prefix).await?;
                    eprintln!("round {round}: {purged} messages of earlier rounds purged");
                }
                accepted = 0;
            }
            let ceiling = if args.wants("broker") {
                settle("broker", true).await;
                let measured = broker_ceiling(args).await?;
                let rate = measured.0;
                rows.push(broker_row(measured));
                Some(rate)
            } else {
                None
            };
            settle("rabbit", true).await;
            let t = target(ingress.hook_url(&token), &format!("{run}-r{round}"));
            let sat = args.saturate(&client, &t).await;
            eprintln!(
                "rabbit ingress saturation, round {round}: {}",
                sat.summary()
            );
            accepted += sat.ok;
            rates.push(sat.rate());
            let ratio = match ceiling {
                Some(c) => {
                    ratios.push(sat.rate() / c);
                    format!(
                        " = {:.0}% of the broker ceiling above",
                        100.0 * sat.rate() / c
                    )
                }
                None => String::new(),
            };
            rows.push(Row {
                part: format!(
                    "ingress, RabbitMQ mode, saturation ({} conns), round {round}",
                    args.concurrency
                ),
                figures: format!("{}{ratio}", sat.summary()),
            });
        }
        if args.rounds > 1 {
            let ratio = if ratios.is_empty() {
                String::new()
            } else {
                let each: Vec<String> = ratios
                    .iter()
                    .map(|r| format!("{:.0}%", 100.0 * r))
                    .collect();
                format!(
                    "; ratio to the broker ceiling: median {:.0}% (rounds: {})",
                    100.0 * median(&ratios),
                    each.join(", ")
                )
            };
            rows.push(Row {
                part: format!("ingress, RabbitMQ mode, saturation, {} rounds", args.rounds),
                figures: format!("median {:.0}/s{ratio}", median(&rates)),
            });
        }
        let rate = if args.rate > 0.0 {
            args.rate
        } else {
            median(&rates) / 2.0
        };
        if args.wants("broker") {
            settle("broker fixed rate", true).await;
            let reference = broker_fixed(args, rate).await?;
            eprintln!("broker alone at {rate:.0}/s: {}", reference.summary());
            rows.push(Row {
                part: format!(
                    "broker alone, fixed {rate:.0}/s (lapin, confirms, quorum, open loop)"
                ),
                figures: reference.summary(),
            });
        }
        settle("rabbit fixed rate", true).await;
        let t2 = target(ingress.hook_url(&token), &format!("{run}-r0"));
        let fixed = args.offer(&client, &t2, rate, false).await;
        eprintln!("rabbit ingress at {rate:.0}/s: {}", fixed.summary());
        let ingress_rss = bridge::stop(ingress).await;
        accepted += fixed.ok;
        rows.push(Row {
            part: format!("ingress, RabbitMQ mode, fixed {rate:.0}/s"),
            figures: fixed.summary(),
        });

        // The worker alone drains the backlog.
        let started = Instant::now();
        let worker = bridge::start(&deployment, "worker").await?;
        let (got, last) = wait_delivered(&emulator, accepted, Duration::from_secs(600)).await;
        let secs = last.duration_since(started).as_secs_f64();
        let worker_rss = bridge::stop(worker).await;
        let (_, calls) = delivered(&emulator);
        rows.push(Row {
            part: format!("worker, RabbitMQ mode, drain of {accepted} queued events"),
            figures: format!(
                "{got} delivered in {secs:.1} s = {:.0} deliveries/s, {:.4} upload calls/event",
                got as f64 / secs,
                calls as f64 / got.max(1) as f64
            ),
        });
        rows.push(Row {
            part: "peak RSS, RabbitMQ mode".into(),
            figures: format!(
                "ingress {:.1} MiB, worker {:.1} MiB",
                ingress_rss.unwrap_or(f64::NAN),
                worker_rss.unwrap_or(f64::NAN)
            ),
        });
        anyhow::Ok(())
    }
    .await;
    tear_down(deployment, emulator, result).await
}
