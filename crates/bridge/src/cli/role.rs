//! Running a long-lived role: start it, say where everything is (a banner, or a JSON log line),
//! wait for SIGTERM or Ctrl-C, then drain.

use super::options::{CommonArgs, LogFormat};
use crate::config::{BridgeConfig, Roles};
use crate::server::start;

pub(super) async fn run_role(common: &CommonArgs, config: BridgeConfig) -> anyhow::Result<()> {
    crate::config::check_admin_token(config.admin_token.as_ref())?;
    let roles = config.roles;
    let data_dir = config.data_dir.clone();
    let plan = config.backends.clone();
    let running = start(config).await?;
    let store_where = if plan.store_backend() == "sqlite" {
        format!("SQLite {}", plan.database_url)
    } else {
        "PostgreSQL (BRIDGE_DATABASE_URL)".to_owned()
    };
    let queue_where = if plan.amqp_url.is_some() {
        format!("RabbitMQ (BRIDGE_AMQP_URL), prefix `{}`", plan.queue_prefix)
    } else {
        format!(
            "embedded SQLite queue {}",
            plan.embedded_queue_path.display()
        )
    };
    if matches!(common.log_format, LogFormat::Json) {
        // Log collectors read stderr as JSON lines: the banner is one too.
        tracing::info!(
            role = roles.name(),
            listen = %running.addr,
            public_url = %running.public_url,
            metrics = %running
                .metrics_addr
                .map(|a| a.to_string())
                .unwrap_or_else(|| "off".into()),
            admin = %running
                .admin_addr
                .map(|a| a.to_string())
                .unwrap_or_else(|| "off".into()),
            database = %store_where,
            queue = %queue_where,
            data_dir = %data_dir.display(),
            "leadback-bridge started"
        );
    } else {
        print_banner(roles, &running, &store_where, &queue_where, &data_dir);
    }
    wait_for_signal().await;
    tracing::info!("shutdown signal received; draining");
    running.shutdown().await;
    Ok(())
}

fn print_banner(
    roles: Roles,
    running: &crate::server::RunningBridge,
    store_where: &str,
    queue_where: &str,
    data_dir: &std::path::Path,
) {
    // Only an ingress takes webhooks; a worker's listener serves health and the admin side.
    let webhooks = if roles.ingress {
        format!(" (webhooks: {}/hooks/leadback/<token>)", running.public_url)
    } else {
        String::new()
    };
    eprintln!(
        "leadback-bridge {role} listening on http://{addr}{webhooks}\n\
         metrics: {metrics}\nadmin: {admin}\n\
         database: {store_where}\nqueue: {queue_where}\ndata folder: {data}\n\
         create the first tenant: leadback-bridge tenants create --settings tenant.json \
         (see README.md, \"Tenant settings\")",
        role = roles.name(),
        addr = running.addr,
        metrics = running
            .metrics_addr
            .map(|a| format!("http://{a}/metrics"))
            .unwrap_or_else(|| "off".into()),
        admin = running
            .admin_addr
            .map(|a| format!("http://{a}/admin/"))
            .unwrap_or_else(|| "off".into()),
        data = data_dir.display(),
    );
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
