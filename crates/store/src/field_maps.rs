//! Tenants' field maps (`tenant_field_maps`): one JSON row per tenant that has one, none for
//! the defaults. Saving one also touches the tenant's `updated_at`, so every process caching
//! the tenant (the worker's directory, the PostgreSQL change notification) picks the map up by
//! the same rules as a settings change. The SQL reads the same in both databases; the flows are in
//! [`crate::sql`].

use leadback_model::FieldMap;
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use crate::StoreError;

pub(crate) const GET: &str = "SELECT field_map FROM tenant_field_maps WHERE tenant_id = $1";
pub(crate) const UPSERT: &str = "INSERT INTO tenant_field_maps (tenant_id, field_map, updated_at) \
     VALUES ($1, $2, $3) ON CONFLICT (tenant_id) \
     DO UPDATE SET field_map = excluded.field_map, updated_at = excluded.updated_at";
pub(crate) const DELETE: &str = "DELETE FROM tenant_field_maps WHERE tenant_id = $1";
pub(crate) const TOUCH_TENANT: &str = "UPDATE tenants SET updated_at = $2 WHERE id = $1";

/// A stored map read back; one that no longer validates (written by hand) is an error rather
/// than silently the defaults.
pub(crate) fn decode(tenant_id: Uuid, stored: Option<Json<Value>>) -> Result<FieldMap, StoreError> {
    let Some(Json(value)) = stored else {
        return Ok(FieldMap::default());
    };
    FieldMap::from_json(&value).map_err(|errors| {
        let reasons: Vec<String> = errors.iter().map(ToString::to_string).collect();
        StoreError::Invalid(format!(
            "stored field map of tenant {tenant_id} is invalid: {}",
            reasons.join("; ")
        ))
    })
}
