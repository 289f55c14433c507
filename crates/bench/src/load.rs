//! A small HTTP load generator: closed loop (N connections as fast as they go, for saturation)
//! or open loop (a fixed offered rate, latency measured from the scheduled send time so a
//! stalled server is not hidden by coordinated omission). Bounded by count and time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

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

/// The load generator's HTTP/1.1 client: keep-alive connections straight on hyper, each used by
/// one request at a time (a closed-loop worker owns one for the whole run). Lighter than a
/// general-purpose client with a shared pool, per-request timers and redirects, so more of the
/// two cores is left to what is measured — the same for the HTTP ceiling and the bridge.
pub struct Client {
    idle: Mutex<Vec<Connection>>,
}

type Connection = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// How long one request may take before it counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub fn client(concurrency: usize) -> anyhow::Result<Arc<Client>> {
    Ok(Arc::new(Client {
        idle: Mutex::new(Vec::with_capacity(concurrency)),
    }))
}

impl Client {
    async fn checkout(&self, target: &Parsed) -> anyhow::Result<Connection> {
        loop {
            let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            match idle {
                Some(connection) if !connection.is_closed() => return Ok(connection),
                Some(_) => continue,
                None => return connect(&target.authority).await,
            }
        }
    }

    fn checkin(&self, connection: Connection) {
        if !connection.is_closed() {
            self.idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(connection);
        }
    }
}

async fn connect(authority: &str) -> anyhow::Result<Connection> {
    let stream = tokio::net::TcpStream::connect(authority).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// The target's URL split once: where to connect and what to ask for.
struct Parsed {
    authority: String,
    path: String,
}

impl Parsed {
    fn of(target: &Target) -> anyhow::Result<Self> {
        let uri: http::Uri = target.url.parse()?;
        let authority = uri
            .authority()
            .ok_or_else(|| anyhow::anyhow!("no host in {}", target.url))?
            .to_string();
        let path = uri
            .path_and_query()
            .map_or_else(|| "/".to_string(), |p| p.as_str().to_string());
        Ok(Self { authority, path })
    }
}

/// One request on `connection`: whether it got a 2xx (the body is read to the end, so the
/// connection can carry the next one). `None` when the connection is no longer usable.
async fn send_on(
    connection: &mut Connection,
    target: &Target,
    parsed: &Parsed,
    n: u64,
) -> Option<bool> {
    let request = hyper::Request::post(parsed.path.as_str())
        .header(http::header::HOST, parsed.authority.as_str())
        .header(http::header::CONTENT_TYPE, target.content_type)
        .body(Full::new(Bytes::from((target.body)(n))))
        .ok()?;
    let exchange = async {
        connection.ready().await.ok()?;
        let response = connection.send_request(request).await.ok()?;
        let ok = response.status().is_success();
        response.into_body().collect().await.ok()?;
        Some(ok)
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .ok()
        .flatten()
}

/// One request on a pooled connection (opened if none is idle).
async fn send(client: &Client, target: &Target, parsed: &Parsed, n: u64) -> bool {
    let Ok(mut connection) = client.checkout(parsed).await else {
        return false;
    };
    match send_on(&mut connection, target, parsed, n).await {
        Some(ok) => {
            client.checkin(connection);
            ok
        }
        None => false,
    }
}

fn record_into(result: &mut LoadResult, n: u64, ok: bool, latency: Duration, keep_times: bool) {
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

/// The open loop's results, shared by its request tasks.
struct Shared {
    result: Mutex<LoadResult>,
}

fn record(shared: &Shared, n: u64, ok: bool, latency: Duration, keep_times: bool) {
    let mut result = shared.result.lock().unwrap_or_else(|e| e.into_inner());
    record_into(&mut result, n, ok, latency, keep_times);
}

/// When a run stops (after `duration` or `max_requests` requests, whichever comes first) and
/// whether it keeps when each request was answered (for end-to-end latency).
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub duration: Duration,
    pub max_requests: u64,
    pub keep_times: bool,
}

/// `concurrency` loops, each on its own connection, sending back to back within `bounds`. Each
/// loop keeps its own results (no lock per request); they are merged at the end.
pub async fn closed_loop(
    client: &Client,
    target: &Target,
    concurrency: usize,
    bounds: Bounds,
) -> LoadResult {
    let Bounds {
        duration,
        max_requests,
        keep_times,
    } = bounds;
    let Ok(parsed) = Parsed::of(target).map(Arc::new) else {
        return LoadResult::default();
    };
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (target, parsed, next) = (target.clone(), parsed.clone(), next.clone());
        let mut connection = client.checkout(&parsed).await.ok();
        tasks.spawn(async move {
            let mut result = LoadResult::default();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= max_requests || Instant::now() >= deadline {
                    break;
                }
                let sent = Instant::now();
                if connection.is_none() {
                    connection = connect(&parsed.authority).await.ok();
                }
                let ok = match connection.as_mut() {
                    Some(c) => match send_on(c, &target, &parsed, n).await {
                        Some(ok) => ok,
                        None => {
                            connection = None;
                            false
                        }
                    },
                    None => false,
                };
                record_into(&mut result, n, ok, sent.elapsed(), keep_times);
            }
            (result, connection)
        });
    }
    let mut total = LoadResult::default();
    while let Some(joined) = tasks.join_next().await {
        if let Ok((result, connection)) = joined {
            total.ok += result.ok;
            total.errors += result.errors;
            total.latencies_us.extend(result.latencies_us);
            total.accepted_at.extend(result.accepted_at);
            if let Some(connection) = connection {
                client.checkin(connection);
            }
        }
    }
    total.elapsed = started.elapsed();
    total
}

/// Requests scheduled at `rate` per second within `bounds`, at most `max_in_flight` outstanding
/// (beyond that the schedule slips, and latency shows it).
pub async fn open_loop(
    client: &Arc<Client>,
    target: &Target,
    rate: f64,
    max_in_flight: usize,
    bounds: Bounds,
) -> LoadResult {
    let Ok(parsed) = Parsed::of(target).map(Arc::new) else {
        return LoadResult::default();
    };
    let send_one = |n| {
        let (client, target, parsed) = (client.clone(), target.clone(), parsed.clone());
        async move { send(&client, &target, &parsed, n).await }
    };
    open_loop_with(rate, max_in_flight, bounds, send_one).await
}

/// The open loop's schedule around any `send` (request `n` → whether it succeeded): each send
/// in its own task, its latency counted from the time it was scheduled, so a stalled server is
/// not hidden by coordinated omission.
pub async fn open_loop_with<F, Fut>(
    rate: f64,
    max_in_flight: usize,
    bounds: Bounds,
    send: F,
) -> LoadResult
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let Bounds {
        duration,
        max_requests,
        keep_times,
    } = bounds;
    let shared = Arc::new(Shared {
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
        let (sending, shared) = (send(n), shared.clone());
        tasks.spawn(async move {
            let ok = sending.await;
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
