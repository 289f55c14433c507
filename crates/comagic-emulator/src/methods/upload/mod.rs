//! `upload.offline_messages`, `upload.chats`, `upload.sessions`.
//!
//! The whole batch is validated before anything is stored: if any item is invalid the call fails
//! with that item's error and nothing is stored (its position is added as `data.params.index` and
//! stripped again unless `report_item_index` is on). The docs do not say what the real API does
//! with partly valid batches; this is an assumption.

mod checks;
mod items;
mod sessions;

use serde_json::{json, Value};

pub(super) use self::sessions::sessions;
use super::{Call, MAX_BATCH};
use crate::params::Fields;
use crate::records::RecordKind;
use crate::rpc::RpcError;

/// The list parameter of an upload: present, an array, 1..=50 items.
fn batch<'a>(params: &Fields<'a>, key: &str) -> Result<&'a Vec<Value>, RpcError> {
    let items = params.req_array(key)?;
    if items.is_empty() {
        return Err(RpcError::invalid_parameter_value(
            key,
            &Value::Array(vec![]),
        ));
    }
    if items.len() > MAX_BATCH {
        return Err(RpcError::data_limit_exceeded(key, MAX_BATCH).with_param("count", items.len()));
    }
    Ok(items)
}

/// `upload.offline_messages` (`kind` an offline message) or `upload.chats`: validate every item,
/// then store (or, for a repeated ext_id in `Update` mode, replace) them all.
pub(super) fn records(call: Call<'_, '_>, kind: RecordKind) -> Result<Value, RpcError> {
    let (inner, account, params, now) = (call.inner, call.account, call.params, call.now);
    let list = items::list_name(kind);
    params.only_method(&[list])?;
    let items = batch(params, list)?;
    let acc = &inner.accounts[account];
    let mut checker = items::Checker::new(acc, acc.local_now(now), call.modes.repeated_ext_id);
    for (index, item) in items.iter().enumerate() {
        if let Err(error) = checker.check(kind, item) {
            // A refused repeat is still an upload of that ext_id: the counter shows it.
            if error.mnemonic == "duplicate_entity" {
                if let Some(Value::String(ext_id)) = &error.value {
                    inner.count_upload(account, kind, ext_id);
                }
            }
            return Err(error.with_param(super::ITEM_INDEX, index));
        }
    }
    let ids = inner.upsert_all(account, kind, items, now);
    let data: Vec<Value> = ids.into_iter().map(|id| json!({"id": id})).collect();
    Ok(json!({"data": data}))
}
