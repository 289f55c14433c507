//! The embedded part: `serve` on the embedded queue and store.

use crate::bodies::target;
use crate::bridge;
use crate::load;
use crate::setup::{delivered, tenant, wait_delivered};
use crate::{Args, Row};
use comagic_emulator::{Emulator, EmulatorConfig};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// `serve` on the embedded queue and store: ingress saturation and a fixed rate (the worker
/// delivers at the same time), then how fast everything accepted reached the emulator.
pub(crate) async fn embedded_mode(
    args: &Args,
    bin: &std::path::Path,
    ceilings: &HashMap<&str, f64>,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let emulator = Emulator::start(EmulatorConfig::default()).await?;
    let deployment = bridge::deployment(bin, false, &args.bridge_log).await?;
    let token = bridge::create_tenant(&deployment, &tenant(&emulator)).await?;
    let serve = bridge::start(&deployment, "serve").await?;
    let client = load::client(args.concurrency)?;
    let started = Instant::now();
    let sat = args
        .saturate(&client, &target(serve.hook_url(&token), "emb"))
        .await;
    eprintln!("embedded saturation: {}", sat.summary());
    let (got, last) = wait_delivered(&emulator, sat.ok, Duration::from_secs(600)).await;
    let secs = last.duration_since(started).as_secs_f64();
    let (_, calls) = delivered(&emulator);
    let rate = if args.rate > 0.0 {
        args.rate
    } else {
        sat.rate() / 2.0
    };
    let fixed = args
        .offer(
            &client,
            &target(serve.hook_url(&token), "emb2"),
            rate,
            false,
        )
        .await;
    eprintln!("embedded at {rate:.0}/s: {}", fixed.summary());
    let rss = bridge::stop(serve).await;
    let ratio = ceilings
        .get("http")
        .map(|c| format!(" = {:.0}% of the HTTP ceiling", 100.0 * sat.rate() / c))
        .unwrap_or_default();
    rows.push(Row {
        part: format!(
            "ingress, embedded mode (serve: worker running), saturation ({} conns)",
            args.concurrency
        ),
        figures: format!("{}{ratio}", sat.summary()),
    });
    rows.push(Row {
        part: format!("ingress, embedded mode, fixed {rate:.0}/s"),
        figures: fixed.summary(),
    });
    rows.push(Row {
        part: "worker, embedded mode, during + after the saturation phase".into(),
        figures: format!(
            "{got}/{} delivered {secs:.1} s after the load began = {:.0} deliveries/s, {:.4} upload calls/event",
            sat.ok,
            got as f64 / secs,
            calls as f64 / got.max(1) as f64
        ),
    });
    rows.push(Row {
        part: "peak RSS, embedded serve".into(),
        figures: format!("{:.1} MiB", rss.unwrap_or(f64::NAN)),
    });
    deployment.stop().await;
    emulator.shutdown().await;
    Ok(())
}
