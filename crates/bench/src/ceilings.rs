//! The references the bridge is measured against: the HTTP ceiling (the same load generator
//! against a trivial axum handler) and the broker ceiling (a bare lapin publisher with
//! confirms), saturated and at a fixed rate.

use crate::bodies::{callback_body, target};
use crate::bridge;
use crate::load::{self, open_loop_with, quantile_ms, LoadResult};
use crate::{Args, Row};
use anyhow::Context;
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

/// A broker ceiling as a report line.
pub(crate) fn broker_row((rate, lat): (f64, Vec<u64>)) -> Row {
    Row {
        part: "broker ceiling (lapin, confirms, quorum)".into(),
        figures: format!(
            "{rate:.0} confirmed/s p50={:.2}ms p99={:.2}ms",
            quantile_ms(&lat, 0.5),
            quantile_ms(&lat, 0.99)
        ),
    }
}

pub(crate) async fn http_ceiling(args: &Args) -> anyhow::Result<LoadResult> {
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
    let r = args.saturate(&client, &t).await;
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

pub(crate) async fn broker_ceiling(args: &Args) -> anyhow::Result<(f64, Vec<u64>)> {
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
pub(crate) async fn broker_fixed(args: &Args, rate: f64) -> anyhow::Result<LoadResult> {
    let broker = BrokerTarget::open().await?;
    let publish_one = |_| {
        let (channel, queue, payload) = (
            broker.channel.clone(),
            broker.queue.clone(),
            broker.payload.clone(),
        );
        async move { BrokerTarget::publish(&channel, &queue, &payload).await }
    };
    let result = open_loop_with(rate, 4096, args.bounds(false), publish_one).await;
    broker.close().await;
    Ok(result)
}
