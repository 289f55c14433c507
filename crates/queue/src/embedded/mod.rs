//! Embedded backend: the queue as rows of one SQLite file (WAL, `synchronous=FULL`).
//!
//! Publishes and acks are group-committed by a single writer task, so many concurrent requests
//! share one fsync; a publish (or ack) returns only after its commit. Consumers lease due rows
//! for a while and keep extending the lease while the delivery is in flight; if the process dies
//! the lease runs out and the row is delivered again. Tables are prefixed `queue_` because the store may keep
//! its own tables in the same file.

mod consumer;
mod poison;
mod writer;

use crate::{Envelope, EventQueue, QueueDepth, QueueError, RetryTiers};
use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch, Notify};

/// Tuning of the embedded queue.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    pub retry_tiers: RetryTiers,
    /// How long a delivery stays invisible to other consumers if its holder stops renewing it
    /// (a crash). Renewed every third of this while the delivery is in flight.
    pub lease: Duration,
    /// How often an idle consumer looks for due rows (publishes in this process wake it sooner).
    pub poll_interval: Duration,
    /// Deliveries of one row (leases not ended by a settlement: a crash, a dropped delivery)
    /// before it moves to `queue_poison` and from there to the dead letters (class `poison`).
    pub delivery_limit: u32,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self {
            retry_tiers: RetryTiers::default(),
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_millis(50),
            delivery_limit: crate::DEFAULT_DELIVERY_LIMIT,
        }
    }
}

/// The [`EventQueue`] in a SQLite file.
pub struct EmbeddedQueue {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    /// Leases, retries, requeues (synchronous=NORMAL).
    pool: SqlitePool,
    /// The writer's connection for publishes and acks (synchronous=FULL).
    publish_pool: SqlitePool,
    options: EmbeddedOptions,
    writes: mpsc::Sender<writer::Write>,
    /// Woken after each commit of new rows so idle consumers need not wait for the next poll.
    new_rows: Notify,
    commits: Arc<AtomicU64>,
    closed: AtomicBool,
    shutdown: watch::Sender<bool>,
}

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS queue_events (
        id INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL,
        tenant_id TEXT NOT NULL,
        visible_at INTEGER NOT NULL,
        tier TEXT NULL,
        attempt INTEGER NOT NULL,
        deliveries INTEGER NOT NULL DEFAULT 0,
        lease_until INTEGER NULL,
        lease_token INTEGER NULL,
        envelope BLOB NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS queue_events_due ON queue_events (visible_at, id)",
    "CREATE TABLE IF NOT EXISTS queue_poison (
        id INTEGER PRIMARY KEY,
        envelope BLOB NOT NULL,
        reason TEXT NOT NULL,
        moved_at INTEGER NOT NULL
    )",
];

impl EmbeddedQueue {
    /// Opens (creating if needed) the queue in `location`: a file path or a `sqlite:` URL.
    /// In-memory databases and anything that is not a local file are refused with
    /// [`QueueError::Config`]: they would not survive a restart.
    pub async fn open(location: &str, options: EmbeddedOptions) -> Result<Self, QueueError> {
        if options.lease < Duration::from_millis(100) {
            return Err(QueueError::Config("lease must be at least 100 ms".into()));
        }
        if options.delivery_limit == 0 {
            return Err(QueueError::Config(
                "delivery limit must be at least 1".into(),
            ));
        }
        if options.poll_interval.is_zero() {
            return Err(QueueError::Config("poll interval must be positive".into()));
        }
        let connect = connect_options(location)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(5));
        // Publishes go through one connection with synchronous=FULL: each commit fsyncs the
        // WAL, so an `Ok` publish survives power loss. Leases, acks and retries use NORMAL
        // (durable against a process crash, not power loss): losing one of those only means a
        // redelivery, which at-least-once delivery allows, and it spares every ack an fsync.
        // Every writer on the file waits for the lock in short steps (SQLite's own busy handler
        // sleeps milliseconds at a time, longer than a group commit takes).
        let publish_pool = SqlitePoolOptions::new()
            .max_connections(1)
            .after_connect(|connection, _| Box::pin(bridge_sqlite::wait_in_short_steps(connection)))
            .connect_with(connect.clone().synchronous(SqliteSynchronous::Full))
            .await
            .map_err(|e| QueueError::Storage(format!("cannot open the queue database: {e}")))?;
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .after_connect(|connection, _| Box::pin(bridge_sqlite::wait_in_short_steps(connection)))
            .connect_with(connect.synchronous(SqliteSynchronous::Normal))
            .await
            .map_err(|e| QueueError::Storage(format!("cannot open the queue database: {e}")))?;
        for statement in SCHEMA {
            sqlx::query(statement)
                .execute(&pool)
                .await
                .map_err(storage)?;
        }
        let commits = Arc::new(AtomicU64::new(0));
        let (writes, requests) = mpsc::channel(4096);
        let (shutdown, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            pool: pool.clone(),
            publish_pool: publish_pool.clone(),
            options,
            writes,
            new_rows: Notify::new(),
            commits: commits.clone(),
            closed: AtomicBool::new(false),
            shutdown,
        });
        tokio::spawn(writer::run(
            publish_pool.clone(),
            requests,
            commits,
            Arc::downgrade(&shared),
        ));
        Ok(Self { shared })
    }

    /// Makes every leased row visible again at once. Only for the one process that consumes
    /// this file, at its start: leases found then belong to a process that died (kill -9), and
    /// waiting for them to expire would only delay those events.
    pub async fn release_all_leases(&self) -> Result<u64, QueueError> {
        let done = sqlx::query(
            "UPDATE queue_events SET lease_until = NULL, lease_token = NULL WHERE lease_until IS NOT NULL",
        )
        .execute(&self.shared.pool)
        .await
        .map_err(storage)?;
        Ok(done.rows_affected())
    }

    /// Transactions committed by the writer (publishes and acks) so far: with group commit
    /// this grows slower than the number of writes under concurrency.
    pub fn publish_commits(&self) -> u64 {
        self.shared.commits.load(Ordering::Relaxed)
    }
}

impl Drop for EmbeddedQueue {
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
    }
}

fn connect_options(location: &str) -> Result<SqliteConnectOptions, QueueError> {
    let options = if location.starts_with("sqlite:") {
        if location.contains(":memory:") || location.contains("mode=memory") {
            return Err(QueueError::Config(
                "an in-memory SQLite queue would lose events on restart; use a file".into(),
            ));
        }
        SqliteConnectOptions::from_str(location)
            .map_err(|e| QueueError::Config(format!("invalid SQLite URL: {e}")))?
    } else if location.contains("://") || location.trim().is_empty() || location == ":memory:" {
        return Err(QueueError::Config(format!(
            "embedded queue location `{location}` is not a local file path or sqlite: URL"
        )));
    } else {
        SqliteConnectOptions::new().filename(location)
    };
    let path = options.get_filename();
    if path.as_os_str().is_empty() || path == Path::new(":memory:") {
        return Err(QueueError::Config(
            "the embedded queue needs a file name".into(),
        ));
    }
    if path.is_dir() {
        return Err(QueueError::Config(format!(
            "embedded queue path {} is a directory",
            path.display()
        )));
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.is_dir() {
            return Err(QueueError::Config(format!(
                "directory {} of the embedded queue does not exist",
                parent.display()
            )));
        }
    }
    Ok(options)
}

pub(crate) fn storage(e: sqlx::Error) -> QueueError {
    QueueError::Storage(e.to_string())
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl Shared {
    /// Hands `op` to the writer and waits for its commit.
    pub(crate) async fn write(&self, op: writer::Op) -> Result<(), QueueError> {
        let (done, committed) = oneshot::channel();
        self.writes
            .send(writer::Write { op, done })
            .await
            .map_err(|_| QueueError::Unavailable("queue writer stopped".into()))?;
        committed
            .await
            .map_err(|_| QueueError::Unavailable("queue writer stopped".into()))?
    }
}

/// The depth label of a tier, shared with the RabbitMQ backend: `retry_5s`.
pub(crate) fn tier_label(delay: Duration) -> String {
    format!("retry_{}", RetryTiers::name(delay))
}

#[async_trait]
impl EventQueue for EmbeddedQueue {
    async fn publish(&self, envelope: &Envelope) -> Result<(), QueueError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(QueueError::Unavailable("queue closed".into()));
        }
        self.shared
            .write(writer::Op::Insert(writer::NewRow::of(envelope)))
            .await
    }

    async fn consume(&self, prefetch: u16) -> Result<crate::Deliveries, QueueError> {
        if prefetch == 0 {
            return Err(QueueError::Config("prefetch must be at least 1".into()));
        }
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(QueueError::Unavailable("queue closed".into()));
        }
        Ok(consumer::stream(self.shared.clone(), prefetch))
    }

    async fn depths(&self) -> Result<Vec<QueueDepth>, QueueError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT CASE WHEN visible_at > ?1 AND tier IS NOT NULL THEN tier ELSE 'main' END AS part,
                    COUNT(*)
             FROM queue_events
             WHERE lease_until IS NULL OR lease_until < ?1
             GROUP BY part",
        )
        .bind(now_ms())
        .fetch_all(&self.shared.pool)
        .await
        .map_err(storage)?;
        let (poison,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM queue_poison")
            .fetch_one(&self.shared.pool)
            .await
            .map_err(storage)?;
        let count = |label: &str| {
            rows.iter()
                .find(|(part, _)| part == label)
                .map_or(0, |(_, n)| u64::try_from(*n).unwrap_or(0))
        };
        let mut depths = vec![QueueDepth {
            queue: "main".into(),
            messages: count("main"),
        }];
        for delay in self.shared.options.retry_tiers.delays() {
            let label = tier_label(*delay);
            depths.push(QueueDepth {
                messages: count(&label),
                queue: label,
            });
        }
        depths.push(QueueDepth {
            queue: "poison".into(),
            messages: u64::try_from(poison).unwrap_or(0),
        });
        Ok(depths)
    }

    async fn ready(&self) -> Result<(), QueueError> {
        if self.shared.closed.load(Ordering::Acquire) || self.shared.writes.is_closed() {
            return Err(QueueError::Unavailable("queue closed".into()));
        }
        sqlx::query("SELECT 1 FROM queue_events LIMIT 1")
            .execute(&self.shared.pool)
            .await
            .map(|_| ())
            .map_err(|e| QueueError::Unavailable(format!("queue database: {e}")))
    }

    async fn consume_poison(&self) -> Result<crate::PoisonMessages, QueueError> {
        Ok(poison::stream(self.shared.clone()))
    }

    fn retry_tiers(&self) -> &RetryTiers {
        &self.shared.options.retry_tiers
    }

    async fn close(&self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.shutdown.send_replace(true);
        self.shared.pool.close().await;
        self.shared.publish_pool.close().await;
    }
}
