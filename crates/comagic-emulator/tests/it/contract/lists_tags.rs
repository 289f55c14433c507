//! Rules of set.tag_communications (rows `T…`) and the get.* methods (rows `L…`).

use serde_json::{json, Value};

use super::{call, Ctx, Rule};
use crate::common::TOKEN;

/// `{"access_token": TOKEN, …extra}`.
fn params(extra: Value) -> Value {
    let mut params = json!({"access_token": TOKEN});
    if let (Some(params), Value::Object(extra)) = (params.as_object_mut(), extra) {
        params.extend(extra);
    }
    params
}

pub fn rules(ctx: &Ctx) -> Vec<Rule> {
    let tag = |id, extra: Value| call(id, "set.tag_communications", params(extra));
    let list = |id, method, extra: Value| call(id, method, params(extra));
    vec![
        tag("T01", json!({"communication_ext_id": "stored-m", "tag_id": 401}))
            .refused("required_parameter_missed", Some("communication_type")),
        tag(
            "T02",
            json!({"communication_ext_id": "stored-m", "communication_type": "letter", "tag_id": 401}),
        )
        .refused("invalid_parameter_value", Some("communication_type")),
        tag(
            "T03",
            json!({"communication_ext_id": "stored-m", "communication_type": "offline_message"}),
        )
        .refused("required_parameter_missed", Some("tag_id")),
        tag(
            "T04",
            json!({"communication_ext_id": "stored-m", "communication_type": "offline_message", "tag_id": 999}),
        )
        .refused("entity_not_found", Some("tag_id")),
        tag(
            "T05",
            json!({"communication_type": "offline_message", "tag_id": 401}),
        )
        .refused("required_parameter_missed", Some("communication_id")),
        tag(
            "T06",
            json!({"communication_id": 5, "communication_type": "offline_message", "tag_id": 401}),
        )
        .refused("entity_not_found", Some("communication_id")),
        tag(
            "T07",
            json!({"communication_ext_id": "never-sent", "communication_type": "offline_message", "tag_id": 401}),
        )
        .refused("entity_not_found", Some("communication_ext_id")),
        tag(
            "T08",
            json!({"communication_ext_id": "stored-m", "communication_type": "chat", "tag_id": 401}),
        )
        .refused("entity_not_found", Some("communication_ext_id")),
        tag(
            "T09",
            json!({"communication_id": ctx.stored_message_id, "communication_ext_id": "never-sent",
                "communication_type": "offline_message", "tag_id": 401}),
        )
        .answers(),
        list("L01", "get.tags", json!({"limit": 10_001}))
            .refused("invalid_parameter_value", Some("limit")),
        list("L02", "get.tags", json!({"offset": 100_001}))
            .refused("invalid_parameter_value", Some("offset")),
        list("L03", "get.sites", json!({"fields": ["id", "colour"]}))
            .refused("unexpected_parameters", Some("fields")),
        list(
            "L04",
            "get.sites",
            json!({"filter": {"field": "colour", "operator": "=", "value": 1}}),
        )
        .refused("unexpected_parameters", Some("filter.field")),
        list(
            "L05",
            "get.campaigns",
            json!({"filter": {"field": "description", "operator": "=", "value": "x"}}),
        )
        .refused("filter_prohibited", Some("filter.field")),
        list("L06", "get.tags", json!({"sort": [{"field": "colour"}]}))
            .refused("unexpected_parameters", Some("sort.field")),
        list("L07", "get.campaigns", json!({"sort": [{"field": "id"}]}))
            .refused("sort_prohibited", Some("sort.field")),
        list(
            "L08",
            "get.tags",
            json!({"filter": {"field": "name", "operator": "~", "value": "x"}}),
        )
        .refused("invalid_parameter_value", Some("filter.operator")),
        list("L09", "get.campaigns", json!({})).answers_with("/data/1/site_id", json!(202)),
        list("L10", "get.campaigns", json!({})).answers_with("/data/3/status", json!("inactive")),
        call(
            "L11",
            "get.account",
            json!({"access_token": "demo-token-ekb"}),
        )
        .answers_with("/data/0/timezone", json!("Asia/Yekaterinburg")),
        list("L12", "get.account", json!({"limit": 1}))
            .refused("unexpected_parameters", Some("limit")),
        list(
            "L13",
            "get.sources",
            json!({"filter": {"field": "id", "operator": "=", "value": 301}, "sort": [{"field": "name", "order": "up"}]}),
        )
        .refused("invalid_parameter_value", Some("sort.order")),
    ]
}
