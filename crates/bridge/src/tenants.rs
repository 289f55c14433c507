//! `leadback-bridge tenants …`: the operator's view of tenants, printed as JSON.

use anyhow::Context;
use bridge_admin::{tenant_json, webhook_url, TenantFile};
use bridge_store::Store;
use clap::Subcommand;
use serde_json::{json, Value};
use std::path::PathBuf;
use uuid::Uuid;

#[derive(Subcommand)]
pub enum TenantCommand {
    /// Create a tenant from a settings JSON file; prints its id and webhook URL.
    Create {
        #[arg(long)]
        settings: PathBuf,
    },
    /// List tenants.
    List,
    /// Show one tenant (no secrets).
    Show { id: Uuid },
    /// Replace a tenant's settings from a JSON file (omit `comagic` to keep the credentials).
    Update {
        id: Uuid,
        #[arg(long)]
        settings: PathBuf,
    },
    /// Issue a new webhook URL; the old one stops working at once.
    RotateToken { id: Uuid },
    /// Stop accepting events for a tenant (its URL answers 403).
    Deactivate { id: Uuid },
}

impl TenantCommand {
    pub async fn run(self, store: &dyn Store, public_url: &str) -> anyhow::Result<Value> {
        match self {
            TenantCommand::Create { settings } => {
                let input = read_file(&settings)?.into_input(true)?;
                let (tenant, token) = store.create_tenant(input).await?;
                let mut out = tenant_json(&tenant);
                out["webhook_url"] = json!(webhook_url(public_url, token.as_str()));
                Ok(out)
            }
            TenantCommand::List => {
                let tenants = store.list_tenants().await?;
                Ok(json!(tenants.iter().map(tenant_json).collect::<Vec<_>>()))
            }
            TenantCommand::Show { id } => {
                let tenant = store
                    .get_tenant(id)
                    .await?
                    .with_context(|| format!("no tenant {id}"))?;
                Ok(tenant_json(&tenant))
            }
            TenantCommand::Update { id, settings } => {
                let input = read_file(&settings)?.into_input(false)?;
                let tenant = store.update_tenant(id, input).await?;
                Ok(tenant_json(&tenant))
            }
            TenantCommand::RotateToken { id } => {
                let token = store.rotate_token(id).await?;
                Ok(json!({
                    "id": id,
                    "webhook_url": webhook_url(public_url, token.as_str()),
                }))
            }
            TenantCommand::Deactivate { id } => {
                store.set_active(id, false).await?;
                Ok(json!({"id": id, "active": false}))
            }
        }
    }
}

fn read_file(path: &PathBuf) -> anyhow::Result<TenantFile> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(TenantFile::parse(&text)?)
}
