//! Tenants' field maps (`tenant_field_maps`): one JSON row per tenant that has one, none for
//! the defaults. Saving one also touches the tenant's `updated_at`, so every process caching
//! the tenant (the worker's directory, the PostgreSQL change notification) picks the map up by
//! the same rules as a settings change.

use leadback_model::FieldMap;
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use crate::{rows, StoreError};

const GET: &str = "SELECT field_map FROM tenant_field_maps WHERE tenant_id = $1";
const UPSERT: &str = "INSERT INTO tenant_field_maps (tenant_id, field_map, updated_at) \
     VALUES ($1, $2, $3) ON CONFLICT (tenant_id) \
     DO UPDATE SET field_map = excluded.field_map, updated_at = excluded.updated_at";
const DELETE: &str = "DELETE FROM tenant_field_maps WHERE tenant_id = $1";
const TOUCH_TENANT: &str = "UPDATE tenants SET updated_at = $2 WHERE id = $1";

/// A stored map read back; one that no longer validates (written by hand) is an error rather
/// than silently the defaults.
fn decode(tenant_id: Uuid, stored: Option<Json<Value>>) -> Result<FieldMap, StoreError> {
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

/// The get and set of one backend; both backends share the SQL (`$n` works in SQLite too).
macro_rules! field_map_fns {
    ($get:ident, $set:ident, $pool:ty) => {
        pub(crate) async fn $get(pool: &$pool, tenant_id: Uuid) -> Result<FieldMap, StoreError> {
            let stored: Option<Json<Value>> = sqlx::query_scalar(GET)
                .bind(tenant_id)
                .fetch_optional(pool)
                .await?;
            decode(tenant_id, stored)
        }

        /// The map is written before the tenant is touched, so a process that sees the new
        /// `updated_at` reads the new map.
        pub(crate) async fn $set(
            pool: &$pool,
            tenant_id: Uuid,
            map: &FieldMap,
        ) -> Result<(), StoreError> {
            let now = rows::now();
            if map.is_empty() {
                sqlx::query(DELETE).bind(tenant_id).execute(pool).await?;
            } else {
                sqlx::query(UPSERT)
                    .bind(tenant_id)
                    .bind(Json(map.to_json()))
                    .bind(now)
                    .execute(pool)
                    .await?;
            }
            let touched = sqlx::query(TOUCH_TENANT)
                .bind(tenant_id)
                .bind(now)
                .execute(pool)
                .await?;
            if touched.rows_affected() == 0 {
                return Err(StoreError::NotFound(format!("tenant {tenant_id}")));
            }
            Ok(())
        }
    };
}

field_map_fns!(get_sqlite, set_sqlite, sqlx::SqlitePool);
field_map_fns!(get_postgres, set_postgres, sqlx::PgPool);
