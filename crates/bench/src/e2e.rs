//! The end-to-end part: accepted webhook → record in the emulator, at a fixed rate.

use crate::bodies::target;
use crate::bridge;
use crate::load::{self, quantile_ms};
use crate::setup::{delivered, tear_down, tenant, wait_delivered};
use crate::{Args, Row};
use comagic_emulator::{Emulator, EmulatorConfig};
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

/// `serve` at a fixed rate of one tenant: end-to-end latency (2xx received → record stored in
/// the emulator) and upload calls per event.
pub(crate) async fn e2e(
    args: &Args,
    bin: &std::path::Path,
    run: &str,
    rabbit: bool,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let emulator = Emulator::start(EmulatorConfig::default()).await?;
    let deployment = bridge::deployment(bin, rabbit, &args.bridge_log).await?;
    let mode = if rabbit { "RabbitMQ" } else { "embedded" };
    let result = async {
        let token = bridge::create_tenant(&deployment, &tenant(&emulator)).await?;
        let serve = bridge::start(&deployment, "serve").await?;
        let client = load::client(args.concurrency)?;
        let tag = format!("{run}-e2e-{mode}");
        let t = target(serve.hook_url(&token), &tag);
        let r = args.offer(&client, &t, args.e2e_rate, true).await;
        let (got, _) = wait_delivered(&emulator, r.ok, Duration::from_secs(120)).await;
        let rss = bridge::stop(serve).await;
        let (_, calls) = delivered(&emulator);
        // ext_id carries the event id `bench-<tag>-<n>`.
        let accepted: HashMap<u64, SystemTime> = r.accepted_at.iter().copied().collect();
        let mut e2e_us = Vec::new();
        for record in emulator.records() {
            let Some(n) = record
                .ext_id
                .as_deref()
                .and_then(|e| e.rsplit('-').next())
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            if let Some(at) = accepted.get(&n) {
                let stored: SystemTime = record.received_at.into();
                let us = stored
                    .duration_since(*at)
                    .map(|d| d.as_micros() as u64)
                    .unwrap_or(0);
                e2e_us.push(us);
            }
        }
        rows.push(Row {
            part: format!("end to end, {mode} serve, fixed {:.0}/s, one tenant", args.e2e_rate),
            figures: format!(
                "ingress {}; {got}/{} delivered; accepted→record p50={:.1}ms p99={:.1}ms p999={:.1}ms; {:.4} upload calls/event; serve peak RSS {:.1} MiB",
                r.summary(),
                r.ok,
                quantile_ms(&e2e_us, 0.5),
                quantile_ms(&e2e_us, 0.99),
                quantile_ms(&e2e_us, 0.999),
                calls as f64 / got.max(1) as f64,
                rss.unwrap_or(f64::NAN)
            ),
        });
        anyhow::Ok(())
    }
    .await;
    tear_down(deployment, emulator, result).await
}
