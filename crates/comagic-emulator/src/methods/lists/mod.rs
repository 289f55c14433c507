//! `get.*` list methods (campaigns, sites, sources, tags, employees) with `filter`, `sort`,
//! `limit`/`offset` paging and `fields`, plus `get.account`.
//!
//! One pipeline serves every list method; what differs per method is its [`ListSpec`] (the
//! documented fields and which may be filtered or sorted by) and the rows its seed gives. Fields
//! the seed does not model come back as `null` (or `[]` for lists), following the API's
//! convention for empty values.

mod filter;
mod rows;
mod spec;

use std::cmp::Ordering;

use serde_json::{json, Map, Value};

use self::filter::{compare, matches};
use self::spec::ListSpec;
use super::Call;
use crate::params::Fields;
use crate::rpc::RpcError;

const DEFAULT_LIMIT: i64 = 1000;
const MAX_LIMIT: i64 = 10_000;
const MAX_OFFSET: i64 = 100_000;

/// A `get.*` list method.
pub(super) fn list(call: Call<'_, '_>, method: &str) -> Result<Value, RpcError> {
    let params = call.params;
    params.only_method(&["limit", "offset", "filter", "fields", "sort"])?;
    let spec = ListSpec::of(method).ok_or_else(RpcError::method_not_found)?;
    let known = (spec.rows)(&call.account().seed);
    let mut rows: Vec<Map<String, Value>> = known.into_iter().map(|row| spec.row(row)).collect();

    let limit = bounded(params, "limit", DEFAULT_LIMIT, MAX_LIMIT)?;
    let offset = bounded(params, "offset", 0, MAX_OFFSET)?;
    let selected = selected_fields(params, spec)?;
    if let Some(filter) = params.raw("filter") {
        // Evaluate once on an empty row so a malformed filter fails even when there are no rows.
        matches(filter, &Map::new(), spec)?;
        let mut kept = Vec::with_capacity(rows.len());
        for row in rows {
            if matches(filter, &row, spec)? {
                kept.push(row);
            }
        }
        rows = kept;
    }
    if let Some(sort) = params.opt_array("sort")? {
        sort_rows(&mut rows, sort, spec)?;
    }
    let total = rows.len();
    let data: Vec<Value> = rows
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|row| {
            Value::Object(
                selected
                    .iter()
                    .map(|f| (f.clone(), row.get(f).cloned().unwrap_or(Value::Null)))
                    .collect(),
            )
        })
        .collect();
    Ok(json!({"data": data, "metadata": {"total_items": total}}))
}

/// `limit` / `offset`: `default` when absent, else within `0..=max`.
fn bounded(params: &Fields<'_>, key: &str, default: i64, max: i64) -> Result<i64, RpcError> {
    let value = params.opt_int(key)?.unwrap_or(default);
    if (0..=max).contains(&value) {
        Ok(value)
    } else {
        Err(RpcError::invalid_parameter_value(key, &json!(value)))
    }
}

/// `fields`: the method's defaults when absent, else each must be one of the method's fields.
fn selected_fields(params: &Fields<'_>, spec: &ListSpec) -> Result<Vec<String>, RpcError> {
    match params.opt_array("fields")? {
        None => Ok(spec.defaults().map(str::to_owned).collect()),
        Some(fields) => fields
            .iter()
            .map(|f| match f.as_str() {
                Some(name) if spec.known(name) => Ok(name.to_owned()),
                Some(_) => Err(RpcError::unexpected_parameters("fields").with_value(f.clone())),
                None => Err(RpcError::data_type_error("fields", f)),
            })
            .collect(),
    }
}

/// `sort: [{field, order}]`, the first key deciding first.
fn sort_rows(
    rows: &mut [Map<String, Value>],
    sort: &[Value],
    spec: &ListSpec,
) -> Result<(), RpcError> {
    let mut keys = Vec::new();
    for entry in sort {
        let entry = Fields::of(entry, "sort", "sort")?;
        entry.only(&["field", "order"])?;
        let field = entry.req_str("field")?;
        spec.check(field, true, "sort.field")?;
        let descending = entry.opt_enum("order", &["asc", "desc"])? == Some("desc");
        keys.push((field.to_owned(), descending));
    }
    rows.sort_by(|a, b| {
        keys.iter()
            .map(|(field, descending)| {
                let order = compare(
                    a.get(field).unwrap_or(&Value::Null),
                    b.get(field).unwrap_or(&Value::Null),
                );
                if *descending {
                    order.reverse()
                } else {
                    order
                }
            })
            .find(|o| *o != Ordering::Equal)
            .unwrap_or(Ordering::Equal)
    });
    Ok(())
}

/// `get.account`: `data: [{app_id, name, timezone}]`.
pub(super) fn account(call: Call<'_, '_>) -> Result<Value, RpcError> {
    call.params.only(&["access_token"])?;
    let seed = &call.account().seed;
    Ok(json!({"data": [{
        "app_id": seed.app_id,
        "name": seed.name,
        "timezone": seed.timezone,
    }]}))
}
