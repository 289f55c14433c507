//! The tenant settings JSON shared by `tenants create|update --settings FILE` and the admin API:
//! `name`, `active`, `comagic: {api_url, access_token | login + password}` and the settings
//! markers at the top level.

use bridge_store::{Tenant, TenantInput};
use leadback_model::{ComagicCredentials, TenantSettings};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Clone, Deserialize)]
pub struct TenantFile {
    pub name: String,
    /// Saving the settings is what switches an integration on, so a file without `active`
    /// means active.
    #[serde(default = "active_by_default")]
    pub active: bool,
    /// Required on create; on update, absent keeps the stored credentials (write-only).
    #[serde(default)]
    pub comagic: Option<ComagicCredentials>,
    #[serde(flatten)]
    pub settings: TenantSettings,
}

fn active_by_default() -> bool {
    true
}

impl TenantFile {
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        serde_json::from_str(text).map_err(|e| anyhow::anyhow!("invalid tenant settings JSON: {e}"))
    }

    /// Checks the markers (each missing or inconsistent field named) and, when `creating`,
    /// that credentials are present.
    pub fn into_input(self, creating: bool) -> anyhow::Result<TenantInput> {
        let mut problems = Vec::new();
        if self.name.trim().is_empty() {
            problems.push("name: must not be empty".to_owned());
        }
        match &self.comagic {
            None if creating => problems.push(
                "comagic: required ({api_url, access_token} or {api_url, login, password})"
                    .to_owned(),
            ),
            Some(c) if url::Url::parse(&c.api_url).is_err() => {
                problems.push("comagic.api_url: not a URL".to_owned())
            }
            _ => {}
        }
        if let Err(errors) = self.settings.validate() {
            problems.push(errors.to_string());
        }
        if !problems.is_empty() {
            anyhow::bail!("invalid tenant settings: {}", problems.join("; "));
        }
        Ok(TenantInput {
            name: self.name,
            active: self.active,
            settings: self.settings,
            credentials: self.comagic,
        })
    }
}

/// A tenant as shown to operators: settings and the kind of credential, never a secret.
pub fn tenant_json(tenant: &Tenant) -> Value {
    let mut value = json!({
        "id": tenant.id,
        "name": tenant.name,
        "active": tenant.active,
        "comagic": {
            "api_url": tenant.credentials.api_url,
            "auth": tenant.credentials.auth.kind(),
        },
        "created_at": tenant.created_at,
        "updated_at": tenant.updated_at,
    });
    if let (Some(obj), Ok(Value::Object(settings))) =
        (value.as_object_mut(), serde_json::to_value(&tenant.settings))
    {
        obj.extend(settings);
    }
    value
}
