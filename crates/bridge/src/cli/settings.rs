//! From parsed flags to a [`BridgeConfig`]: the backends, the secret key and each role's
//! settings; operator commands get the server's store with default listeners.

use super::options::{CommonArgs, IngressArgs, ListenArgs, QueueArgs, WorkerArgs};
use crate::config::{
    check_database_url, require_database, resolve_secret_key, BackendPlan, BridgeConfig, Roles,
    StoreUse,
};
use bridge_ingress::IngressConfig;
use bridge_queue::rabbitmq::PublishBatching;
use bridge_queue::RetryTiers;
use bridge_worker::{LedgerRetention, WorkerConfig};
use std::time::Duration;

fn backends(common: &CommonArgs, queue: &QueueArgs) -> anyhow::Result<BackendPlan> {
    let tiers = RetryTiers::parse(&queue.retry_tiers).map_err(|e| anyhow::anyhow!(e))?;
    check_database_url(common.database_url.as_deref())?;
    let mut plan = BackendPlan::resolve(
        &common.data_dir,
        common.database_url.clone(),
        queue.amqp_url.clone(),
        queue.queue_prefix.clone(),
        tiers,
    );
    plan.publish_batching = PublishBatching {
        max_events: usize::from(queue.publish_batch_max),
        max_in_flight: usize::from(queue.publish_in_flight),
        ..PublishBatching::default()
    };
    plan.migrate = common.migrate;
    plan.database_max_connections = common.database_max_connections;
    plan.delivery_limit = queue.delivery_limit;
    Ok(plan)
}

/// Operator commands use the server's store and key, with default listeners; with
/// [`StoreUse::Existing`] they refuse to create a database or key. Only `dlq replay` reads the
/// queue options (from the environment and its own flags).
pub(super) fn config_for_tools(
    common: &CommonArgs,
    queue: Option<&QueueArgs>,
    store_use: StoreUse,
) -> anyhow::Result<BridgeConfig> {
    match queue {
        Some(queue) => stored_config(common, queue, store_use),
        None => stored_config(common, &QueueArgs::from_env()?, store_use),
    }
}

/// A long-running role's configuration: its listeners, the admin side and the address policy
/// CoMagic calls follow; the database and key are created when missing.
pub(super) fn build_config(
    common: &CommonArgs,
    listen: &ListenArgs,
    queue: &QueueArgs,
    roles: Roles,
) -> anyhow::Result<BridgeConfig> {
    let config = stored_config(common, queue, StoreUse::Create)?;
    Ok(BridgeConfig {
        roles,
        listen: listen.listen,
        metrics_listen: listen.metrics_listen.0,
        public_url: listen.public_url.clone(),
        admin_listen: Some(listen.admin_listen),
        admin_token: listen.admin_token.clone(),
        worker: WorkerConfig {
            address_policy: comagic_client::AddressPolicy {
                allow_private: listen.allow_private_api_urls,
            },
            ..config.worker
        },
        ..config
    })
}

/// The backends and the secret key, with default listeners and no admin side: what every
/// command shares.
fn stored_config(
    common: &CommonArgs,
    queue: &QueueArgs,
    store_use: StoreUse,
) -> anyhow::Result<BridgeConfig> {
    let plan = backends(common, queue)?;
    require_database(&plan, store_use)?;
    let secret_key = resolve_secret_key(
        common.secret_key.as_ref(),
        &plan,
        &common.data_dir,
        store_use,
    )?;
    Ok(BridgeConfig {
        roles: Roles::SERVE,
        listen: ListenArgs::default_listen(),
        metrics_listen: None,
        public_url: None,
        data_dir: common.data_dir.clone(),
        backends: plan,
        secret_key,
        admin_listen: None,
        admin_token: None,
        ingress: IngressConfig::default(),
        worker: WorkerConfig::default(),
        depth_refresh: Duration::from_secs(5),
    })
}

pub(super) fn with_ingress(mut config: BridgeConfig, args: &IngressArgs) -> BridgeConfig {
    config.ingress = IngressConfig {
        body_limit: usize::try_from(args.body_limit).unwrap_or(usize::MAX),
        publish_timeout: Duration::from_secs(args.publish_timeout_secs),
        body_timeout: Duration::from_secs(args.body_timeout_secs),
        header_timeout: Duration::from_secs(args.header_timeout_secs),
        unknown_token_per_minute: args.unknown_token_per_minute,
        max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
        recent_payloads: args.recent_payloads,
    };
    config
}

pub(super) fn with_worker(mut config: BridgeConfig, args: &WorkerArgs) -> BridgeConfig {
    config.worker = WorkerConfig {
        concurrency: args.concurrency,
        max_attempts: args.max_attempts,
        comagic_timeout: Duration::from_secs(args.comagic_timeout_secs),
        shutdown_grace: Duration::from_secs(args.shutdown_grace_secs),
        batch_size: usize::from(args.batch_size),
        batch_linger: Duration::from_millis(args.batch_linger_ms),
        ledger_retention: LedgerRetention::days(args.ledger_retention_days),
        // Set with the listeners: the admin side checks API URLs with the same policy.
        address_policy: config.worker.address_policy,
        ..WorkerConfig::default()
    };
    config
}
