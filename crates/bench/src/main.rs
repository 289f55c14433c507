//! `bench`: one run, side by side, on loopback: the HTTP ceiling (the same load generator
//! against a trivial axum handler), the broker ceiling (a bare lapin publisher with confirms),
//! the bridge's ingress in RabbitMQ and embedded mode (saturation, and latency at a fixed
//! offered rate), the worker's deliveries into the CoMagic emulator (calls per event), the
//! end-to-end latency (accepted → CoMagic record) at a fixed rate, and peak RSS per process.
//!
//! The bridge runs as child processes of the real release binary (`leadback-bridge`), so their
//! RSS is their own; the emulator and the load generator live in this process.

mod bridge;
mod load;

use anyhow::Context;
use bridge::{Deployment, RabbitMode};
use clap::Parser;
use comagic_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use load::{closed_loop, open_loop, quantile_ms, LoadResult, Target};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

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
        settle("http").await;
        let r = http_ceiling(&args).await?;
        ceilings.insert("http", r.rate());
        rows.push(Row {
            part: "HTTP ceiling (axum, trivial handler)".into(),
            figures: r.summary(),
        });
    }
    if args.wants("broker") {
        settle("broker").await;
        let (rate, lat) = broker_ceiling(&args).await?;
        ceilings.insert("broker", rate);
        rows.push(Row {
            part: "broker ceiling (lapin, confirms, quorum)".into(),
            figures: format!(
                "{rate:.0} confirmed/s p50={:.2}ms p99={:.2}ms",
                quantile_ms(&lat, 0.5),
                quantile_ms(&lat, 0.99)
            ),
        });
    }
    if args.wants("rabbit") {
        settle("rabbit").await;
        rabbit_mode(&args, &bin, &run, &ceilings, &mut rows).await?;
    }
    if args.wants("embedded") {
        settle("embedded").await;
        embedded_mode(&args, &bin, &ceilings, &mut rows).await?;
    }
    if args.wants("e2e-embedded") {
        settle("e2e-embedded").await;
        e2e(&args, &bin, &run, false, &mut rows).await?;
    }
    if args.wants("e2e-rabbit") {
        settle("e2e-rabbit").await;
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

/// A Leadback callback with a unique id per request (~500 bytes of JSON).
fn callback_body(run: &str, n: u64) -> Vec<u8> {
    let date = (chrono::Utc::now() - chrono::Duration::minutes(1))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    json!({
        "event": "callback",
        "id_call": format!("bench-{run}-{n}"),
        "date_create": date,
        "callback_phone": format!("+7916{:07}", n % 10_000_000),
        "name": "Bench Visitor",
        "email": "visitor@example.ru",
        "status": "success",
        "duration": 42,
        "site": "shop.example.ru",
        "page_url": "https://shop.example.ru/catalog?utm_source=yandex&utm_medium=cpc&utm_campaign=bench",
        "referrer": "https://yandex.ru/",
        "ip": "93.184.216.34"
    })
    .to_string()
    .into_bytes()
}

fn target(url: String, run: &str) -> Target {
    let run = run.to_owned();
    Target {
        url,
        content_type: "application/json",
        body: Arc::new(move |n| callback_body(&run, n)),
    }
}

async fn http_ceiling(args: &Args) -> anyhow::Result<LoadResult> {
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/hooks/leadback/{token}",
        post(|body: axum::body::Bytes| async move {
            // Touch the body like a handler would (length), answer like the bridge.
            let _ = body.len();
            axum::Json(json!({"status": "accepted", "event_id": "x"}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = load::client(args.concurrency)?;
    let t = target(format!("http://{addr}/hooks/leadback/t"), "http");
    let r = closed_loop(
        &client,
        &t,
        args.concurrency,
        args.duration(),
        args.max_requests,
        false,
    )
    .await;
    server.abort();
    eprintln!("http ceiling: {}", r.summary());
    Ok(r)
}

/// Confirmed persistent publishes to a quorum queue, `concurrency` in flight on one confirm
/// channel (as the bridge publishes), payload the size of a bridge envelope.
async fn broker_ceiling(args: &Args) -> anyhow::Result<(f64, Vec<u64>)> {
    use lapin::options::{
        BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
    };
    use lapin::types::{AMQPValue, FieldTable};
    let conn = bridge::amqp_connect()
        .await
        .context("RabbitMQ at 127.0.0.1:5672")?;
    let channel = conn.create_channel().await?;
    let queue = format!("bench.ceiling.{}", uuid::Uuid::new_v4().simple());
    let mut queue_args = FieldTable::default();
    queue_args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    channel
        .queue_declare(
            &queue,
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            queue_args,
        )
        .await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    // An envelope is the raw body plus ~400 bytes of metadata, as JSON.
    let payload = vec![b'x'; callback_body("ceiling", 0).len() + 400];
    let deadline = Instant::now() + args.duration();
    let started = Instant::now();
    let latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency.max(1) {
        let (channel, queue, payload, latencies) = (
            channel.clone(),
            queue.clone(),
            payload.clone(),
            latencies.clone(),
        );
        tasks.spawn(async move {
            let mut mine = Vec::new();
            while Instant::now() < deadline {
                let sent = Instant::now();
                let props = lapin::BasicProperties::default().with_delivery_mode(2);
                let Ok(confirm) = channel
                    .basic_publish("", &queue, BasicPublishOptions::default(), &payload, props)
                    .await
                else {
                    break;
                };
                if matches!(confirm.await, Ok(c) if c.is_ack()) {
                    mine.push(sent.elapsed().as_micros() as u64);
                }
            }
            latencies
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(mine);
        });
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    let _ = channel
        .queue_delete(&queue, QueueDeleteOptions::default())
        .await;
    let _ = conn.close(0, "bench").await;
    let lat = std::mem::take(&mut *latencies.lock().unwrap_or_else(|e| e.into_inner()));
    let rate = lat.len() as f64 / elapsed.as_secs_f64();
    eprintln!("broker ceiling: {rate:.0}/s");
    Ok((rate, lat))
}

/// Tenant settings pointing at the emulator; no tags, so calls per event measure the upload
/// batching alone.
fn tenant(emulator: &RunningEmulator) -> serde_json::Value {
    json!({
        "name": "Bench shop",
        "active": true,
        "comagic": {"api_url": emulator.api_url(), "access_token": "demo-token"},
        "ignore_session": false,
        "set_tags": false, "tag_ids": [],
        "default_entity": "campaign", "default_campaign_id": 102, "default_site_id": 201,
        "chat_employee_id": 501,
        "timezone": "Europe/Moscow",
        "upload_sessions": false
    })
}

/// Records delivered so far (items of successful upload calls) and upload calls made.
fn delivered(emulator: &RunningEmulator) -> (u64, u64) {
    let mut items = 0;
    let mut calls = 0;
    for c in emulator.calls() {
        if c.method.starts_with("upload.") {
            calls += 1;
            if c.outcome == "ok" {
                items += c.items as u64;
            }
        }
    }
    (items, calls)
}

/// Waits until `n` records are in the emulator (or `timeout`); returns when the last came.
async fn wait_delivered(emulator: &RunningEmulator, n: u64, timeout: Duration) -> (u64, Instant) {
    let deadline = Instant::now() + timeout;
    let mut last = (0, Instant::now());
    loop {
        let (items, _) = delivered(emulator);
        if items != last.0 {
            last = (items, Instant::now());
        }
        if items >= n || Instant::now() > deadline {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn rabbit_deployment(
    bin: &std::path::Path,
    run: &str,
    log: &str,
    dir: &tempfile::TempDir,
) -> anyhow::Result<Deployment> {
    let database = format!("bench_{run}_{}", rand::random::<u16>());
    bridge::create_database(&database)
        .await
        .context("PostgreSQL at 127.0.0.1:5432")?;
    let key: [u8; 32] = rand::random();
    Ok(Deployment {
        bin: bin.to_path_buf(),
        data_dir: dir.path().to_path_buf(),
        rabbit: Some(RabbitMode {
            prefix: format!("bench.{database}"),
            database,
            secret_key_hex: key.iter().map(|b| format!("{b:02x}")).collect(),
        }),
        log_level: log.to_owned(),
    })
}

async fn cleanup(deployment: &Deployment) {
    if let Some(r) = &deployment.rabbit {
        bridge::delete_topology(&r.prefix).await;
        bridge::drop_database(&r.database).await;
    }
}

/// Waits until the machine is nearly idle (under 10 % busy over one second, at most 90 s), so a
/// part is not measured while RabbitMQ still compacts or deletes the previous part's queues or
/// PostgreSQL checkpoints: both ceilings and the bridge then start from the same quiet machine.
async fn settle(part: &str) {
    let started = Instant::now();
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

/// Ingress alone (RabbitMQ + PostgreSQL): saturation, then a fixed rate; then a worker alone
/// drains what was accepted into the emulator.
async fn rabbit_mode(
    args: &Args,
    bin: &std::path::Path,
    run: &str,
    ceilings: &HashMap<&str, f64>,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let emulator = Emulator::start(EmulatorConfig::default()).await?;
    let dir = tempfile::tempdir()?;
    let deployment = rabbit_deployment(bin, run, &args.bridge_log, &dir).await?;
    let result = async {
        let token = deployment.create_tenant(&tenant(&emulator)).await?;
        let ingress = deployment.start("ingress", &[]).await?;
        let client = load::client(args.concurrency)?;
        let t = target(ingress.hook_url(&token), &format!("{run}-r"));
        let sat = closed_loop(
            &client,
            &t,
            args.concurrency,
            args.duration(),
            args.max_requests,
            false,
        )
        .await;
        eprintln!("rabbit ingress saturation: {}", sat.summary());
        let rate = if args.rate > 0.0 {
            args.rate
        } else {
            sat.rate() / 2.0
        };
        let t2 = target(ingress.hook_url(&token), &format!("{run}-r2"));
        let fixed = open_loop(
            &client,
            &t2,
            rate,
            args.duration(),
            args.max_requests,
            4096,
            false,
        )
        .await;
        eprintln!("rabbit ingress at {rate:.0}/s: {}", fixed.summary());
        let ingress_rss = ingress.stop().await;
        let accepted = sat.ok + fixed.ok;
        let ratio = ceilings
            .get("broker")
            .map(|c| format!(" = {:.0}% of the broker ceiling", 100.0 * sat.rate() / c))
            .unwrap_or_default();
        rows.push(Row {
            part: format!(
                "ingress, RabbitMQ mode, saturation ({} conns)",
                args.concurrency
            ),
            figures: format!("{}{ratio}", sat.summary()),
        });
        rows.push(Row {
            part: format!("ingress, RabbitMQ mode, fixed {rate:.0}/s"),
            figures: fixed.summary(),
        });

        // The worker alone drains the backlog.
        let started = Instant::now();
        let worker = deployment.start("worker", &[]).await?;
        let (got, last) = wait_delivered(&emulator, accepted, Duration::from_secs(600)).await;
        let secs = last.duration_since(started).as_secs_f64();
        let worker_rss = worker.stop().await;
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
    cleanup(&deployment).await;
    emulator.shutdown().await;
    result
}

/// `serve` on the embedded queue and store: ingress saturation and a fixed rate (the worker
/// delivers at the same time), then how fast everything accepted reached the emulator.
async fn embedded_mode(
    args: &Args,
    bin: &std::path::Path,
    ceilings: &HashMap<&str, f64>,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let emulator = Emulator::start(EmulatorConfig::default()).await?;
    let dir = tempfile::tempdir()?;
    let deployment = Deployment {
        bin: bin.to_path_buf(),
        data_dir: dir.path().to_path_buf(),
        rabbit: None,
        log_level: args.bridge_log.clone(),
    };
    let token = deployment.create_tenant(&tenant(&emulator)).await?;
    let serve = deployment.start("serve", &[]).await?;
    let client = load::client(args.concurrency)?;
    let started = Instant::now();
    let sat = closed_loop(
        &client,
        &target(serve.hook_url(&token), "emb"),
        args.concurrency,
        args.duration(),
        args.max_requests,
        false,
    )
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
    let fixed = open_loop(
        &client,
        &target(serve.hook_url(&token), "emb2"),
        rate,
        args.duration(),
        args.max_requests,
        4096,
        false,
    )
    .await;
    eprintln!("embedded at {rate:.0}/s: {}", fixed.summary());
    let rss = serve.stop().await;
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
    emulator.shutdown().await;
    Ok(())
}

/// `serve` at a fixed rate of one tenant: end-to-end latency (2xx received → record stored in
/// the emulator) and upload calls per event.
async fn e2e(
    args: &Args,
    bin: &std::path::Path,
    run: &str,
    rabbit: bool,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let emulator = Emulator::start(EmulatorConfig::default()).await?;
    let dir = tempfile::tempdir()?;
    let deployment = if rabbit {
        rabbit_deployment(bin, &format!("{run}e"), &args.bridge_log, &dir).await?
    } else {
        Deployment {
            bin: bin.to_path_buf(),
            data_dir: dir.path().to_path_buf(),
            rabbit: None,
            log_level: args.bridge_log.clone(),
        }
    };
    let mode = if rabbit { "RabbitMQ" } else { "embedded" };
    let result = async {
        let token = deployment.create_tenant(&tenant(&emulator)).await?;
        let serve = deployment.start("serve", &[]).await?;
        let client = load::client(args.concurrency)?;
        let tag = format!("{run}-e2e-{mode}");
        let r = open_loop(
            &client,
            &target(serve.hook_url(&token), &tag),
            args.e2e_rate,
            args.duration(),
            args.max_requests,
            4096,
            true,
        )
        .await;
        let (got, _) = wait_delivered(&emulator, r.ok, Duration::from_secs(120)).await;
        let rss = serve.stop().await;
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
    cleanup(&deployment).await;
    emulator.shutdown().await;
    result
}
