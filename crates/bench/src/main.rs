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

/// The bridge's allocator for the load generator too: its CPU is taken from what is measured,
/// so the cheaper it runs the better (glibc's malloc was ~3 % of the machine under load).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Context;
use bridge::{Deployment, RabbitMode};
use clap::Parser;
use comagic_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use load::{closed_loop, open_loop, open_loop_with, quantile_ms, LoadResult, Target};
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
    /// Rounds of (broker ceiling, RabbitMQ ingress saturation), alternating, each on a settled
    /// machine, when both parts run: the ratio is reported per round and as the median, since
    /// a single ceiling run moves ±13 % from one run to the next.
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

/// A broker ceiling as a report line.
fn broker_row((rate, lat): (f64, Vec<u64>)) -> Row {
    Row {
        part: "broker ceiling (lapin, confirms, quorum)".into(),
        figures: format!(
            "{rate:.0} confirmed/s p50={:.2}ms p99={:.2}ms",
            quantile_ms(&lat, 0.5),
            quantile_ms(&lat, 0.99)
        ),
    }
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

/// A Leadback callback with a unique id per request (~500 bytes of JSON).
fn callback_body(run: &str, n: u64) -> Vec<u8> {
    CallbackBodies::new(run).body(n)
}

/// Callback bodies that differ only in the id and the phone: the JSON is built once (with
/// `serde_json`, so it is well-formed) and each request only splices in its number, so the load
/// generator spends its CPU on HTTP, not on formatting dates and JSON trees — the CPU it does
/// not use is left to what is measured.
struct CallbackBodies {
    /// The serialised body cut at the two places that vary: before the id's number, between it
    /// and the phone's number, after the phone's.
    parts: [String; 3],
}

impl CallbackBodies {
    const ID_MARK: &'static str = "@@ID@@";
    const PHONE_MARK: &'static str = "@@PHONE@@";

    fn new(run: &str) -> Self {
        let date = (chrono::Utc::now() - chrono::Duration::minutes(1))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string();
        let json = json!({
            "event": "callback",
            "id_call": format!("bench-{run}-{}", Self::ID_MARK),
            "date_create": date,
            "callback_phone": format!("+7916{}", Self::PHONE_MARK),
            "name": "Bench Visitor",
            "email": "visitor@example.ru",
            "status": "success",
            "duration": 42,
            "site": "shop.example.ru",
            "page_url": "https://shop.example.ru/catalog?utm_source=yandex&utm_medium=cpc&utm_campaign=bench",
            "referrer": "https://yandex.ru/",
            "ip": "93.184.216.34"
        })
        .to_string();
        let (before_id, rest) = json.split_once(Self::ID_MARK).unwrap_or((&json, ""));
        let (between, after_phone) = rest.split_once(Self::PHONE_MARK).unwrap_or((rest, ""));
        Self {
            parts: [before_id.into(), between.into(), after_phone.into()],
        }
    }

    fn body(&self, n: u64) -> Vec<u8> {
        use std::io::Write;
        let [before_id, between, after_phone] = &self.parts;
        let mut body = Vec::with_capacity(before_id.len() + between.len() + after_phone.len() + 27);
        body.extend_from_slice(before_id.as_bytes());
        let _ = write!(body, "{n}");
        body.extend_from_slice(between.as_bytes());
        let _ = write!(body, "{:07}", n % 10_000_000);
        body.extend_from_slice(after_phone.as_bytes());
        body
    }
}

fn target(url: String, run: &str) -> Target {
    let bodies = CallbackBodies::new(run);
    Target {
        url,
        content_type: "application/json",
        body: Arc::new(move |n| bodies.body(n)),
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
/// A fresh quorum queue on its own connection and confirm channel, and a payload the size of a
/// bridge envelope: what both broker references publish.
struct BrokerTarget {
    conn: lapin::Connection,
    channel: lapin::Channel,
    queue: String,
    payload: Arc<Vec<u8>>,
}

impl BrokerTarget {
    async fn open() -> anyhow::Result<Self> {
        use lapin::options::{ConfirmSelectOptions, QueueDeclareOptions};
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
        let payload = Arc::new(vec![b'x'; callback_body("ceiling", 0).len() + 400]);
        Ok(Self {
            conn,
            channel,
            queue,
            payload,
        })
    }

    /// One persistent message; `true` once the broker confirmed it.
    async fn publish(channel: &lapin::Channel, queue: &str, payload: &[u8]) -> bool {
        let props = lapin::BasicProperties::default().with_delivery_mode(2);
        let Ok(confirm) = channel
            .basic_publish(
                "",
                queue,
                lapin::options::BasicPublishOptions::default(),
                payload,
                props,
            )
            .await
        else {
            return false;
        };
        matches!(confirm.await, Ok(c) if c.is_ack())
    }

    async fn close(self) {
        let _ = self
            .channel
            .queue_delete(&self.queue, lapin::options::QueueDeleteOptions::default())
            .await;
        let _ = self.conn.close(0, "bench").await;
    }
}

async fn broker_ceiling(args: &Args) -> anyhow::Result<(f64, Vec<u64>)> {
    let broker = BrokerTarget::open().await?;
    let deadline = Instant::now() + args.duration();
    let started = Instant::now();
    let latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency.max(1) {
        let (channel, queue, payload, latencies) = (
            broker.channel.clone(),
            broker.queue.clone(),
            broker.payload.clone(),
            latencies.clone(),
        );
        tasks.spawn(async move {
            let mut mine = Vec::new();
            while Instant::now() < deadline {
                let sent = Instant::now();
                if !BrokerTarget::publish(&channel, &queue, &payload).await {
                    break;
                }
                mine.push(sent.elapsed().as_micros() as u64);
            }
            latencies
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(mine);
        });
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    broker.close().await;
    let lat = std::mem::take(&mut *latencies.lock().unwrap_or_else(|e| e.into_inner()));
    let rate = lat.len() as f64 / elapsed.as_secs_f64();
    eprintln!("broker ceiling: {rate:.0}/s");
    Ok((rate, lat))
}

/// The broker alone at a fixed offered rate (open loop, one persistent message per "webhook",
/// latency from the scheduled send to the confirm): the latency floor of any durable ingress on
/// this machine at that rate, beside the ingress's own fixed-rate phase. Stalls of the broker
/// (its write-ahead log's fsyncs) show here as they do there.
async fn broker_fixed(args: &Args, rate: f64) -> anyhow::Result<LoadResult> {
    let broker = BrokerTarget::open().await?;
    let publish_one = |_| {
        let (channel, queue, payload) = (
            broker.channel.clone(),
            broker.queue.clone(),
            broker.payload.clone(),
        );
        async move { BrokerTarget::publish(&channel, &queue, &payload).await }
    };
    let result = open_loop_with(
        rate,
        args.duration(),
        args.max_requests,
        4096,
        false,
        publish_one,
    )
    .await;
    broker.close().await;
    Ok(result)
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
///
/// Before a part that uses RabbitMQ, its quorum-queue write-ahead log is rolled over first (see
/// [`roll_over_rabbitmq_wal`]).
async fn settle(part: &str, rabbitmq: bool) {
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
/// files; while that runs, confirms stall (1.7 s seen at 6,000 webhooks/s on the 2-core
/// machine). Where the roll-over fell depended on everything the previous parts had written, so
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

/// Ingress alone (RabbitMQ + PostgreSQL): saturation (in `--rounds` rounds, each after a
/// broker ceiling run when that part is wanted too), then a fixed rate; then a worker alone
/// drains what was accepted into the emulator.
async fn rabbit_mode(
    args: &Args,
    bin: &std::path::Path,
    run: &str,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let emulator = Emulator::start(EmulatorConfig::default()).await?;
    let dir = tempfile::tempdir()?;
    let deployment = rabbit_deployment(bin, run, &args.bridge_log, &dir).await?;
    let result = async {
        let token = deployment.create_tenant(&tenant(&emulator)).await?;
        let ingress = deployment.start("ingress", &[]).await?;
        let client = load::client(args.concurrency)?;
        let mut accepted = 0;
        let mut rates = Vec::new();
        let mut ratios = Vec::new();
        for round in 1..=args.rounds {
            if round > 1 {
                // Each round publishes into an empty queue, as each ceiling run does: a backlog
                // of earlier rounds made later rounds slower (13.4k → 12.0k → 11.0k/s). The worker
                // drains what the last round and the fixed-rate phase accepted.
                let prefix = deployment.rabbit.as_ref().map(|r| r.prefix.as_str());
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
            let sat = closed_loop(
                &client,
                &t,
                args.concurrency,
                args.duration(),
                args.max_requests,
                false,
            )
            .await;
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
        accepted += fixed.ok;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_bodies_are_json_with_their_own_id_and_phone() {
        let bodies = CallbackBodies::new("run1");
        for n in [0, 7, 12_345_678] {
            let body: serde_json::Value =
                serde_json::from_slice(&bodies.body(n)).expect("well-formed JSON");
            assert_eq!(body["id_call"], format!("bench-run1-{n}"));
            assert_eq!(
                body["callback_phone"],
                format!("+7916{:07}", n % 10_000_000)
            );
            assert_eq!(body["event"], "callback");
            assert!(body["date_create"].as_str().is_some_and(|d| d.len() == 19));
        }
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}
