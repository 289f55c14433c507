//! `GET` / `PUT /admin/v1/tenants/{id}/field-map`: a tenant's field map as a JSON object of
//! meaning → ordered list of dotted paths. A PUT replaces the whole map (`{}` restores the
//! built-in aliases); every unknown meaning or malformed path is a 422 naming its entry.

use axum::body::Bytes;
use axum::Json;
use leadback_model::FieldMap;
use serde_json::Value;

use crate::api::ApiTenant;
use crate::error::ApiError;
use crate::reasons::{FieldErrors, Reason};

pub(crate) async fn get_field_map(
    ApiTenant { ctx, tenant }: ApiTenant,
) -> Result<Json<Value>, ApiError> {
    let map = ctx.app.store.get_field_map(tenant.id).await?;
    Ok(Json(map.to_json()))
}

pub(crate) async fn put_field_map(
    ApiTenant { ctx, tenant }: ApiTenant,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let map = parse_field_map(&body)?;
    ctx.app.store.set_field_map(tenant.id, &map).await?;
    tracing::info!(
        tenant_id = %tenant.id,
        meanings = map.to_json().as_object().map_or(0, |o| o.len()),
        "field map saved via the admin API"
    );
    Ok(Json(map.to_json()))
}

/// The body as a field map: not JSON is a 400, a JSON that is no valid map a 422 whose
/// `fields` name each offending entry (`phone[1]`, `telephone`).
pub(crate) fn parse_field_map(body: &[u8]) -> Result<FieldMap, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not JSON: {e}")))?;
    field_map_of(&value).map_err(|fields| ApiError::InvalidSettings {
        fields,
        warnings: Vec::new(),
    })
}

/// The one check of a field map, for the API and the page: entry → why on refusal.
pub(crate) fn field_map_of(value: &Value) -> Result<FieldMap, FieldErrors> {
    FieldMap::from_json(value).map_err(|errors| {
        errors
            .into_iter()
            .map(|error| (error.entry, vec![Reason::FieldMapEntry(error.message)]))
            .collect()
    })
}
