//! `set.tag_communications`, `set.communications_tags` (tags on uploaded records) and
//! `delete.offline_messages` / `delete.chats`.
//!
//! Only records uploaded to the emulator exist as communications; `call` and `goal` communications
//! are accepted as types but are never found.

use serde_json::{json, Value};

use super::Call;
use crate::params::Fields;
use crate::records::RecordKind;
use crate::rpc::RpcError;
use crate::state::{Account, Inner};

const COMMUNICATION_TYPES: &[&str] = &["chat", "call", "goal", "offline_message"];

fn kind_of(communication_type: &str) -> Option<RecordKind> {
    match communication_type {
        "chat" => Some(RecordKind::Chat),
        "offline_message" => Some(RecordKind::OfflineMessage),
        _ => None,
    }
}

fn check_tag(account: &Account, field: &str, tag: i64) -> Result<(), RpcError> {
    if account.seed.tags.iter().any(|t| t.id == tag) {
        Ok(())
    } else {
        Err(RpcError::entity_not_found(field, &json!(tag)))
    }
}

/// Index in `inner.records` of the account's record of this kind with this id (`None` for a
/// kind that is never stored, or an id no record has).
fn find_by_id(inner: &Inner, account: usize, kind: Option<RecordKind>, id: i64) -> Option<usize> {
    inner.find_record(account, kind?, u64::try_from(id).ok()?)
}

fn find_by_ext_id(
    inner: &Inner,
    account: usize,
    kind: Option<RecordKind>,
    ext_id: &str,
) -> Option<usize> {
    inner.find_by_ext_id(account, kind?, ext_id)
}

fn add_tag(inner: &mut Inner, record: usize, tag: i64) {
    if let Some(record) = inner.records.get_mut(record) {
        if !record.tags.contains(&tag) {
            record.tags.push(tag);
        }
    }
}

/// `set.tag_communications`: one tag on one communication, addressed by `communication_id` or
/// (when no id is given) `communication_ext_id`.
pub(super) fn set_tag_communications(call: Call<'_, '_>) -> Result<Value, RpcError> {
    let (inner, account, params) = (call.inner, call.account, call.params);
    params.only_method(&[
        "communication_id",
        "communication_ext_id",
        "communication_type",
        "tag_id",
    ])?;
    let kind = kind_of(params.req_enum("communication_type", COMMUNICATION_TYPES)?);
    let tag = params.req_int("tag_id")?;
    check_tag(&inner.accounts[account], "tag_id", tag)?;
    let id = params.opt_int("communication_id")?;
    let ext_id = params.opt_str("communication_ext_id")?;
    let record = match (id, ext_id) {
        (Some(id), _) => find_by_id(inner, account, kind, id)
            .ok_or_else(|| RpcError::entity_not_found("communication_id", &json!(id)))?,
        (None, Some(ext_id)) => find_by_ext_id(inner, account, kind, ext_id)
            .ok_or_else(|| RpcError::entity_not_found("communication_ext_id", &json!(ext_id)))?,
        (None, None) => {
            return Err(
                RpcError::required_parameter_missed("communication_id").with_param(
                    "one_of",
                    json!(["communication_id", "communication_ext_id"]),
                ),
            )
        }
    };
    add_tag(inner, record, tag);
    Ok(json!({}))
}

/// `set.communications_tags`: the page's JSON example (`items: [{tag_id, communication_id,
/// communication_type}]`) and its parameter table (`communication_id`, `communication_type`,
/// `tag_ids`) disagree; both forms are accepted, not mixed. Everything is checked before any tag
/// is set.
pub(super) fn set_communications_tags(call: Call<'_, '_>) -> Result<Value, RpcError> {
    let (inner, account, params) = (call.inner, call.account, call.params);
    params.only_method(&["items", "communication_id", "communication_type", "tag_ids"])?;
    let mut pairs = Vec::new();
    if let Some(items) = params.opt_array("items")? {
        if let Some(key) = ["communication_id", "communication_type", "tag_ids"]
            .into_iter()
            .find(|k| params.has(k))
        {
            return Err(RpcError::invalid_parameters_combination(key));
        }
        if items.is_empty() {
            return Err(RpcError::invalid_parameter_value("items", &json!([])));
        }
        for (index, item) in items.iter().enumerate() {
            let pair = (|| {
                let item = Fields::of(item, "items", "items")?;
                item.only(&["tag_id", "communication_id", "communication_type"])?;
                let tag = item.req_int("tag_id")?;
                let id = item.req_int("communication_id")?;
                let kind = kind_of(item.req_enum("communication_type", COMMUNICATION_TYPES)?);
                check_tag(&inner.accounts[account], "items.tag_id", tag)?;
                let record = find_by_id(inner, account, kind, id).ok_or_else(|| {
                    RpcError::entity_not_found("items.communication_id", &json!(id))
                })?;
                Ok((record, tag))
            })()
            .map_err(|e: RpcError| e.with_param(super::ITEM_INDEX, index))?;
            pairs.push(pair);
        }
    } else {
        let id = params.req_int("communication_id")?;
        let kind = kind_of(params.req_enum("communication_type", COMMUNICATION_TYPES)?);
        let tags = params.req_array("tag_ids")?;
        if tags.is_empty() {
            return Err(RpcError::invalid_parameter_value("tag_ids", &json!([])));
        }
        let record = find_by_id(inner, account, kind, id)
            .ok_or_else(|| RpcError::entity_not_found("communication_id", &json!(id)))?;
        for tag in tags {
            let tag_id = tag
                .as_i64()
                .ok_or_else(|| RpcError::data_type_error("tag_ids", tag))?;
            check_tag(&inner.accounts[account], "tag_ids", tag_id)?;
            pairs.push((record, tag_id));
        }
    }
    for (record, tag) in pairs {
        add_tag(inner, record, tag);
    }
    Ok(json!({"success": true}))
}

/// `delete.offline_messages` / `delete.chats`: only records uploaded through the API can be deleted;
/// the record's ext_id becomes free again.
pub(super) fn delete(call: Call<'_, '_>, kind: RecordKind) -> Result<Value, RpcError> {
    let (inner, account, params) = (call.inner, call.account, call.params);
    params.only_method(&["id"])?;
    let id = params.req_int("id")?;
    let index = find_by_id(inner, account, Some(kind), id)
        .ok_or_else(|| RpcError::entity_not_found("id", &json!(id)))?;
    let record = inner.records.remove(index);
    if let Some(ext_id) = record.ext_id {
        inner.accounts[account].ext_ids.remove(&(kind, ext_id));
    }
    Ok(json!({"success": true}))
}
