//! A small HTTP load generator: closed loop (N connections as fast as they go, for saturation)
//! or open loop (a fixed offered rate, latency measured from the scheduled send time so a
//! stalled server is not hidden by coordinated omission). Bounded by count and time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Makes the body of request `n` (a unique event per request).
pub type BodyFn = Arc<dyn Fn(u64) -> Vec<u8> + Send + Sync>;

#[derive(Clone)]
pub struct Target {
    pub url: String,
    pub content_type: &'static str,
    pub body: BodyFn,
}

/// What a run saw.
#[derive(Default)]
pub struct LoadResult {
    pub ok: u64,
    pub errors: u64,
    pub elapsed: Duration,
    /// Latencies of successful requests, microseconds.
    pub latencies_us: Vec<u64>,
    /// Request number → wall-clock time its 2xx arrived (for end-to-end latency).
    pub accepted_at: Vec<(u64, SystemTime)>,
}

impl LoadResult {
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn quantile_ms(&self, q: f64) -> f64 {
        quantile_ms(&self.latencies_us, q)
    }

    pub fn summary(&self) -> String {
        format!(
            "{:.0}/s ok={} err={} p50={:.2}ms p99={:.2}ms p999={:.2}ms",
            self.rate(),
            self.ok,
            self.errors,
            self.quantile_ms(0.50),
            self.quantile_ms(0.99),
            self.quantile_ms(0.999)
        )
    }
}

/// `q`-quantile of microsecond samples, in milliseconds (sorts a copy).
pub fn quantile_ms(samples: &[u64], q: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[index.min(sorted.len() - 1)] as f64 / 1000.0
}

pub fn client(concurrency: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency.max(1))
        .timeout(Duration::from_secs(30))
        .build()?)
}

struct Shared {
    next: AtomicU64,
    result: Mutex<LoadResult>,
}

async fn send(client: &reqwest::Client, target: &Target, n: u64) -> bool {
    let response = client
        .post(&target.url)
        .header("content-type", target.content_type)
        .body((target.body)(n))
        .send()
        .await;
    match response {
        Ok(r) => {
            let ok = r.status().is_success();
            // Read the body so the connection goes back to the pool.
            let _ = r.bytes().await;
            ok
        }
        Err(_) => false,
    }
}

fn record(shared: &Shared, n: u64, ok: bool, latency: Duration, keep_times: bool) {
    let mut result = shared.result.lock().unwrap_or_else(|e| e.into_inner());
    if ok {
        result.ok += 1;
        result.latencies_us.push(latency.as_micros() as u64);
        if keep_times {
            result.accepted_at.push((n, SystemTime::now()));
        }
    } else {
        result.errors += 1;
    }
}

/// `concurrency` loops sending back to back until `duration` or `max_requests`.
pub async fn closed_loop(
    client: &reqwest::Client,
    target: &Target,
    concurrency: usize,
    duration: Duration,
    max_requests: u64,
    keep_times: bool,
) -> LoadResult {
    let shared = Arc::new(Shared {
        next: AtomicU64::new(0),
        result: Mutex::new(LoadResult::default()),
    });
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (client, target, shared) = (client.clone(), target.clone(), shared.clone());
        tasks.spawn(async move {
            loop {
                let n = shared.next.fetch_add(1, Ordering::Relaxed);
                if n >= max_requests || Instant::now() >= deadline {
                    break;
                }
                let sent = Instant::now();
                let ok = send(&client, &target, n).await;
                record(&shared, n, ok, sent.elapsed(), keep_times);
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    finish(shared, started)
}

/// Requests scheduled at `rate` per second until `duration` or `max_requests`, at most
/// `max_in_flight` outstanding (beyond that the schedule slips, and latency shows it).
pub async fn open_loop(
    client: &reqwest::Client,
    target: &Target,
    rate: f64,
    duration: Duration,
    max_requests: u64,
    max_in_flight: usize,
    keep_times: bool,
) -> LoadResult {
    let shared = Arc::new(Shared {
        next: AtomicU64::new(0),
        result: Mutex::new(LoadResult::default()),
    });
    let permits = Arc::new(tokio::sync::Semaphore::new(max_in_flight.max(1)));
    let interval = Duration::from_secs_f64(1.0 / rate.max(1.0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut n = 0u64;
    loop {
        let scheduled = started + interval.mul_f64(n as f64);
        if n >= max_requests || scheduled >= started + duration {
            break;
        }
        tokio::time::sleep_until(scheduled.into()).await;
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let (client, target, shared) = (client.clone(), target.clone(), shared.clone());
        tasks.spawn(async move {
            let ok = send(&client, &target, n).await;
            // From the scheduled time: a late send counts against the server.
            record(&shared, n, ok, scheduled.elapsed(), keep_times);
            drop(permit);
        });
        n += 1;
        // Reap finished tasks now and then so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    finish(shared, started)
}

fn finish(shared: Arc<Shared>, started: Instant) -> LoadResult {
    let elapsed = started.elapsed();
    let mut result = std::mem::take(&mut *shared.result.lock().unwrap_or_else(|e| e.into_inner()));
    result.elapsed = elapsed;
    result
}
