//! `leadback-bridge tenants …`: the operator's view of tenants, printed as JSON.

use crate::args::parse_uuid;
use anyhow::Context;
use bridge_admin::{tenant_json, webhook_url, TenantFile};
use bridge_store::{Store, TenantInput};
use clap::Subcommand;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use uuid::Uuid;

#[derive(Subcommand)]
pub enum TenantCommand {
    /// Create a tenant from a settings JSON file; prints its id and webhook URL.
    Create {
        /// Settings JSON file (see README.md, "Tenant settings").
        #[arg(long)]
        settings: PathBuf,
    },
    /// List tenants.
    List,
    /// Show one tenant (no secrets); the output is accepted back by `update`.
    Show {
        /// Tenant id (a UUID, the `id` of `tenants list`).
        #[arg(value_parser = parse_uuid)]
        id: Uuid,
    },
    /// Replace a tenant's settings from a JSON file (a `comagic` without secrets keeps the
    /// stored credentials).
    Update {
        /// Tenant id (a UUID, the `id` of `tenants list`).
        #[arg(value_parser = parse_uuid)]
        id: Uuid,
        /// Settings JSON file, e.g. the edited output of `tenants show`.
        #[arg(long)]
        settings: PathBuf,
    },
    /// Issue a new webhook URL; the old one stops working (see docs/runbook.md for when).
    RotateToken {
        /// Tenant id (a UUID, the `id` of `tenants list`).
        #[arg(value_parser = parse_uuid)]
        id: Uuid,
    },
    /// Stop accepting events for a tenant (its URL answers 403).
    Deactivate {
        /// Tenant id (a UUID, the `id` of `tenants list`).
        #[arg(value_parser = parse_uuid)]
        id: Uuid,
    },
}

/// A command whose settings file has been read and checked: nothing is opened before that.
pub struct Prepared {
    command: TenantCommand,
    input: Option<(TenantInput, Option<String>)>,
}

impl TenantCommand {
    pub fn prepare(self) -> anyhow::Result<Prepared> {
        let input = match &self {
            TenantCommand::Create { settings } => Some(read_file(settings, true)?),
            TenantCommand::Update { settings, .. } => Some(read_file(settings, false)?),
            _ => None,
        };
        Ok(Prepared {
            command: self,
            input,
        })
    }
}

impl Prepared {
    pub async fn run(self, store: &dyn Store, public_url: &str) -> anyhow::Result<Value> {
        match (self.command, self.input) {
            (TenantCommand::Create { .. }, Some((input, _))) => {
                let (tenant, token) = store.create_tenant(input).await?;
                let mut out = tenant_json(&tenant);
                out["webhook_url"] = json!(webhook_url(public_url, token.as_str()));
                Ok(out)
            }
            (TenantCommand::List, _) => {
                let tenants = store.list_tenants().await?;
                Ok(json!(tenants.iter().map(tenant_json).collect::<Vec<_>>()))
            }
            (TenantCommand::Show { id }, _) => Ok(tenant_json(&get_tenant(store, id).await?)),
            (TenantCommand::Update { id, .. }, Some((input, shown_api_url))) => {
                if let Some(api_url) = shown_api_url {
                    let stored = get_tenant(store, id).await?;
                    if stored.credentials.api_url != api_url {
                        anyhow::bail!(
                            "comagic.api_url differs from the stored {}: give the credentials \
                             for the new URL too (access_token, or login and password)",
                            stored.credentials.api_url
                        );
                    }
                }
                let tenant = store.update_tenant(id, input).await?;
                Ok(tenant_json(&tenant))
            }
            (TenantCommand::RotateToken { id }, _) => {
                let token = store.rotate_token(id).await?;
                Ok(json!({
                    "id": id,
                    "webhook_url": webhook_url(public_url, token.as_str()),
                }))
            }
            (TenantCommand::Deactivate { id }, _) => {
                store.set_active(id, false).await?;
                Ok(json!({"id": id, "active": false}))
            }
            (TenantCommand::Create { .. } | TenantCommand::Update { .. }, None) => {
                anyhow::bail!("the settings file was not read")
            }
        }
    }
}

async fn get_tenant(store: &dyn Store, id: Uuid) -> anyhow::Result<bridge_store::Tenant> {
    store
        .get_tenant(id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("not found: tenant {id}"))
}

/// The file as the store's input (checked), and the `comagic.api_url` it carries without any
/// secret (as `tenants show` prints it), which must then match the stored one.
fn read_file(path: &Path, creating: bool) -> anyhow::Result<(TenantInput, Option<String>)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file = TenantFile::parse(&text).with_context(|| format!("in {}", path.display()))?;
    let shown_api_url = file.kept_api_url.clone();
    let input = file
        .into_input(creating)
        .with_context(|| format!("in {}", path.display()))?;
    Ok((input, shown_api_url))
}
