//! Starting and stopping a bridge process: open backends, run the roles, serve HTTP and
//! metrics, keep queue depths fresh, and shut down gracefully.

use crate::config::{BridgeConfig, MigratePolicy, Roles};
use crate::health;
use anyhow::Context;
use axum::routing::get;
use axum::Router;
use bridge_ingress::{hook_router, IngressState};
use bridge_metrics::Metrics;
use bridge_queue::embedded::{EmbeddedOptions, EmbeddedQueue};
use bridge_queue::rabbitmq::{RabbitOptions, RabbitQueue};
use bridge_queue::EventQueue;
use bridge_store::Store;
use bridge_worker::Worker;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;

/// A started bridge. Dropping it does not stop it: call [`RunningBridge::shutdown`].
pub struct RunningBridge {
    pub addr: SocketAddr,
    /// The admin API and pages (`None` without an admin token).
    pub admin_addr: Option<SocketAddr>,
    pub metrics_addr: Option<SocketAddr>,
    pub public_url: String,
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn EventQueue>,
    pub metrics: Metrics,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    _consumer_lock: Option<std::fs::File>,
}

impl RunningBridge {
    /// Stops accepting, lets in-flight requests and deliveries finish (within the worker's
    /// grace period), closes the queue.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
        self.queue.close().await;
    }

    /// A token that stops this bridge when cancelled (for signal handlers).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    pub fn webhook_url(&self, token: &str) -> String {
        bridge_admin::webhook_url(&self.public_url, token)
    }
}

/// The open backends, and for the embedded queue's consumer the lock that makes it the only one.
pub struct Backends {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn EventQueue>,
    /// Held while this process consumes the embedded queue (released on drop).
    pub consumer_lock: Option<std::fs::File>,
}

/// Opens the store (running migrations) and the queue the configuration names. A `consumer`
/// of the embedded queue takes an exclusive lock on it (a second `serve` on the same file is
/// refused) and releases leases left by a process that died.
pub async fn open_backends(config: &BridgeConfig, consumer: bool) -> anyhow::Result<Backends> {
    let store = open_store(config).await?;
    let mut consumer_lock = None;
    let plan = &config.backends;
    let queue: Arc<dyn EventQueue> = match &plan.amqp_url {
        Some(url) => Arc::new(
            RabbitQueue::connect(RabbitOptions {
                prefix: plan.queue_prefix.clone(),
                retry_tiers: plan.retry_tiers.clone(),
                publish_batching: plan.publish_batching,
                delivery_limit: plan.delivery_limit,
                ..RabbitOptions::new(url.clone().into())
            })
            .await
            .context("cannot connect to RabbitMQ (BRIDGE_AMQP_URL)")?,
        ),
        None => {
            if let Some(dir) = plan.embedded_queue_path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            let queue = EmbeddedQueue::open(
                &plan.embedded_queue_path.to_string_lossy(),
                EmbeddedOptions {
                    retry_tiers: plan.retry_tiers.clone(),
                    delivery_limit: plan.delivery_limit,
                    ..EmbeddedOptions::default()
                },
            )
            .await
            .context("cannot open the embedded queue")?;
            if consumer {
                consumer_lock = Some(lock_embedded_queue(&plan.embedded_queue_path)?);
                let released = queue.release_all_leases().await?;
                if released > 0 {
                    tracing::info!(
                        released,
                        "events left in flight by a previous run are due again"
                    );
                }
            }
            Arc::new(queue)
        }
    };
    Ok(Backends {
        store,
        queue,
        consumer_lock,
    })
}

fn lock_embedded_queue(queue_path: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let mut lock_path = queue_path.as_os_str().to_owned();
    lock_path.push(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot open {}", std::path::Path::new(&lock_path).display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another leadback-bridge process is serving the embedded queue {} — the embedded \
             mode is one process per data folder; set BRIDGE_AMQP_URL and BRIDGE_DATABASE_URL \
             to run several",
            queue_path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => Err(e).context("cannot lock the embedded queue"),
    }
}

/// Opens the store and brings its schema up as `BRIDGE_MIGRATE` says: `auto` applies pending
/// migrations, `off` refuses a schema older than this binary needs.
pub async fn open_store(config: &BridgeConfig) -> anyhow::Result<Arc<dyn Store>> {
    let store = connect_store(config).await?;
    match config.backends.migrate {
        MigratePolicy::Auto => migrate_store(store.as_ref()).await?,
        MigratePolicy::Off => store.check_schema().await.map_err(|e| {
            anyhow::anyhow!(
                "the database schema is older than this leadback-bridge needs ({e}); \
                 BRIDGE_MIGRATE=off, so run `leadback-bridge migrate` (the migrate Job) with \
                 this release first, or set BRIDGE_MIGRATE=auto"
            )
        })?,
    }
    Ok(store)
}

/// Applies pending migrations (`leadback-bridge migrate`, and every start with `auto`).
pub async fn migrate_store(store: &dyn Store) -> anyhow::Result<()> {
    store.migrate().await.context("database migration failed")
}

/// Opens the store without touching its schema.
pub async fn connect_store(config: &BridgeConfig) -> anyhow::Result<Arc<dyn Store>> {
    if let Some(path) = crate::config::sqlite_path(&config.backends.database_url) {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
    }
    let url = &config.backends.database_url;
    match bridge_store::open_with_pool(
        url,
        config.secret_key.clone(),
        config.backends.database_max_connections,
    )
    .await
    {
        Ok(store) => Ok(store),
        Err(e) => {
            let cause = crate::config::database_connect_cause(url).await;
            let masked = crate::config::masked_database_url(url);
            Err(anyhow::Error::new(e).context(format!(
                "cannot open the database {masked}{cause} (BRIDGE_DATABASE_URL)"
            )))
        }
    }
}

/// Starts the configured roles and returns once every listener is bound.
pub async fn start(config: BridgeConfig) -> anyhow::Result<RunningBridge> {
    config.backends.check_roles(config.roles)?;
    let Backends {
        store,
        queue,
        consumer_lock,
    } = open_backends(&config, config.roles.worker).await?;
    let metrics = Metrics::new();
    // `replays_total` mirrors the store's count, shared by every replica: a process starts
    // from it, or its first scrape would show 0 and the next the whole count again, which
    // Prometheus reads as that many new replays.
    if let Ok(replays) = store.replay_count().await {
        metrics.observe_replays(replays);
    }
    let shutdown = CancellationToken::new();
    let mut tasks = Vec::new();

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));

    let mut app = health::router(store.clone(), queue.clone());
    if config.roles.ingress {
        // Both write in the background (once a second) and a last time at shutdown.
        let activity = bridge_store::ActivityRecorder::new(store.clone());
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(
            activity.clone().run(async move { stop.cancelled().await }),
        ));
        let stop = shutdown.clone();
        let (recent_payloads, recorder) = bridge_ingress::RecentPayloads::start(
            store.clone(),
            metrics.clone(),
            config.ingress.recent_payloads,
            async move { stop.cancelled().await },
        );
        tasks.push(recorder);
        app = app.merge(hook_router(IngressState {
            store: store.clone(),
            queue: queue.clone(),
            metrics: metrics.clone(),
            config: config.ingress.clone(),
            queue_backend: config.backends.queue_backend(),
            recent_payloads,
            activity: Some(activity),
        }));
    }
    let app = with_layers(app);
    // hyper directly (not axum::serve): a header read timeout, head size/count limits, and the
    // client address (ConnectInfo) for the unknown-token throttle.
    let serve_options = bridge_ingress::ServeOptions {
        header_timeout: config.ingress.header_timeout,
        max_connections: config.ingress.max_connections,
        ..bridge_ingress::ServeOptions::default()
    };
    tasks.push(spawn_server(listener, app, &serve_options, &shutdown));

    // The admin API and pages on their own (private) listener: the public one serves only
    // webhooks and health.
    let admin_addr = match (&config.admin_token, config.admin_listen) {
        (Some(admin_token), Some(admin_listen)) => {
            let listener = tokio::net::TcpListener::bind(admin_listen)
                .await
                .with_context(|| {
                    format!("cannot listen on {admin_listen} (BRIDGE_ADMIN_LISTEN)")
                })?;
            let admin_addr = listener.local_addr()?;
            let admin = bridge_admin::admin_router(bridge_admin::AdminState {
                store: store.clone(),
                queue: queue.clone(),
                metrics: metrics.clone(),
                admin_token: admin_token.clone(),
                public_url: public_url.clone(),
                http: comagic_client::Transport::with_policy(config.worker.address_policy)
                    .context("cannot build the HTTP client for CoMagic")?,
                comagic_timeout: config.worker.comagic_timeout,
                cookie_secure: public_url.starts_with("https://"),
            })
            .merge(health::detailed_router(store.clone(), queue.clone()));
            let admin = with_layers(admin);
            tasks.push(spawn_server(listener, admin, &serve_options, &shutdown));
            Some(admin_addr)
        }
        _ => None,
    };

    let metrics_addr = match config.metrics_listen {
        Some(metrics_listen) => {
            let listener = tokio::net::TcpListener::bind(metrics_listen)
                .await
                .with_context(|| format!("cannot listen on {metrics_listen} for metrics"))?;
            let metrics_addr = listener.local_addr()?;
            let m = metrics.clone();
            let router = Router::new()
                .route(
                    "/metrics",
                    get(move || {
                        let m = m.clone();
                        async move { m.render() }
                    }),
                )
                .merge(health::detailed_router(store.clone(), queue.clone()));
            let token = shutdown.clone();
            tasks.push(tokio::spawn(async move {
                let _ = axum::serve(listener, router)
                    .with_graceful_shutdown(async move { token.cancelled().await })
                    .await;
            }));
            Some(metrics_addr)
        }
        None => None,
    };

    if config.roles.worker {
        let worker = Worker::new(
            queue.clone(),
            store.clone(),
            metrics.clone(),
            config.worker.clone(),
        );
        let token = shutdown.clone();
        tasks.push(tokio::spawn(async move { worker.run(token).await }));
    }

    tasks.push(tokio::spawn(refresh_depths(
        queue.clone(),
        store.clone(),
        metrics.clone(),
        config.depth_refresh,
        shutdown.clone(),
    )));

    Ok(RunningBridge {
        addr,
        admin_addr,
        metrics_addr,
        public_url,
        store,
        queue,
        metrics,
        shutdown,
        tasks,
        _consumer_lock: consumer_lock,
    })
}

/// The request timeout, concurrency cap and panic catcher every listener's router gets.
fn with_layers(router: Router) -> Router {
    router
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(tower::limit::ConcurrencyLimitLayer::new(2048))
        .layer(CatchPanicLayer::new())
}

/// Serves `app` on `listener` (the public or the admin one) until `shutdown`.
fn spawn_server(
    listener: tokio::net::TcpListener,
    app: Router,
    options: &bridge_ingress::ServeOptions,
    shutdown: &CancellationToken,
) -> JoinHandle<()> {
    let (options, token) = (options.clone(), shutdown.clone());
    tokio::spawn(async move {
        bridge_ingress::serve(
            listener,
            app,
            options,
            async move { token.cancelled().await },
        )
        .await;
    })
}

/// How often the per-tenant series are matched against the tenants (a deleted tenant's removed,
/// a new one's started at zero).
const TENANT_SWEEP: Duration = Duration::from_secs(60);

/// Keeps `queue_depth{queue}` current: main, delay tiers and `poison` from the queue, `dead`
/// (open dead letters) from the store, and `replays_total` from the store's count; drops CoMagic limit gauges past their reset and the
/// series of deleted tenants.
async fn refresh_depths(
    queue: Arc<dyn EventQueue>,
    store: Arc<dyn Store>,
    metrics: Metrics,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut last_tenant_sweep: Option<std::time::Instant> = None;
    loop {
        match queue.depths().await {
            Ok(depths) => {
                for d in depths {
                    metrics
                        .queue_depth
                        .with_label_values(&[&d.queue])
                        .set(i64::try_from(d.messages).unwrap_or(i64::MAX));
                }
            }
            Err(e) => tracing::debug!(error = %e, "cannot read queue depths"),
        }
        if let Ok(dead) = store.dead_letter_count().await {
            metrics
                .queue_depth
                .with_label_values(&["dead"])
                .set(i64::try_from(dead).unwrap_or(i64::MAX));
        }
        // Replays by every process, `dlq replay` included: the same total on every replica.
        if let Ok(replays) = store.replay_count().await {
            metrics.observe_replays(replays);
        }
        metrics.expire_limits();
        if last_tenant_sweep.is_none_or(|at| at.elapsed() >= TENANT_SWEEP) {
            match store.list_tenants().await {
                Ok(tenants) => {
                    metrics.retain_tenants(&tenants.iter().map(|t| t.id.to_string()).collect());
                    last_tenant_sweep = Some(std::time::Instant::now());
                }
                Err(e) => tracing::debug!(error = %e, "cannot list tenants for their metrics"),
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

impl Roles {
    pub fn name(self) -> &'static str {
        match (self.ingress, self.worker) {
            (true, true) => "serve",
            (true, false) => "ingress",
            _ => "worker",
        }
    }
}
