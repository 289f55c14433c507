//! `leadback-bridge preview --tenant ID --body FILE [--content-type T]`: the admin API's
//! preview from the command line. Reads the tenant's settings and field map from the store and
//! prints what the worker would make of the body; calls no CoMagic method, queues nothing.

use anyhow::Context as _;
use bridge_store::Store;
use uuid::Uuid;

#[derive(clap::Args)]
pub struct PreviewArgs {
    /// The tenant whose settings and field map apply.
    #[arg(long)]
    tenant: Uuid,
    /// File holding the raw webhook body.
    #[arg(long)]
    body: std::path::PathBuf,
    /// The content type Leadback would send (default: sniffed from the body).
    #[arg(long)]
    content_type: Option<String>,
}

impl PreviewArgs {
    /// Reads the body before the store is opened, so a wrong path fails first.
    pub fn read_body(&self) -> anyhow::Result<Vec<u8>> {
        std::fs::read(&self.body).with_context(|| format!("cannot read {}", self.body.display()))
    }

    pub async fn run(&self, store: &dyn Store, body: &[u8]) -> anyhow::Result<serde_json::Value> {
        let tenant = store
            .get_tenant(self.tenant)
            .await?
            .with_context(|| format!("no tenant {}", self.tenant))?;
        let field_map = store.get_field_map(tenant.id).await?;
        Ok(bridge_admin::preview_body(
            &tenant.settings,
            &field_map,
            self.content_type.as_deref(),
            body,
        ))
    }
}
