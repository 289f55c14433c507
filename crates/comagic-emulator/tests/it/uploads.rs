use comagic_emulator::RecordKind;
use serde_json::{json, Value};

use crate::common::{assert_error, chat, message, moscow, with, Api, TOKEN};

#[tokio::test]
async fn offline_message_is_stored_as_received() {
    let api = Api::start().await;
    let item = message("evt-1");
    let response = api.upload_messages(vec![item.clone()]).await;
    let data = response["result"]["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    let id = data[0]["id"].as_u64().unwrap();
    let records = api.emu.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].kind, RecordKind::OfflineMessage);
    assert_eq!(records[0].id, id);
    assert_eq!(records[0].account, "demo");
    assert_eq!(records[0].ext_id.as_deref(), Some("evt-1"));
    assert_eq!(records[0].payload, item);
}

#[tokio::test]
async fn offline_message_rules() {
    let api = Api::start().await;
    // (key, value) set on a valid message, and the refusal
    let cases = [
        ("phone", Value::Null, "required_parameter_missed", "phone"),
        (
            "phone",
            json!("+79161234567"),
            "invalid_parameter_value",
            "phone",
        ),
        ("phone", json!("7916"), "invalid_parameter_value", "phone"),
        ("phone", json!(79161234567_i64), "data_type_error", "phone"),
        (
            "email",
            json!("not-an-email"),
            "invalid_parameter_value",
            "email",
        ),
        (
            "site_id",
            Value::Null,
            "required_parameter_missed",
            "visitor_session_id",
        ),
        (
            "date_time",
            json!("2024-01-01T10:00:00"),
            "invalid_parameter_value",
            "date_time",
        ),
        (
            "date_time",
            Value::Null,
            "required_parameter_missed",
            "date_time",
        ),
        (
            "date_time",
            json!(moscow(-30)),
            "invalid_date_time",
            "date_time",
        ),
        ("site_id", json!(999), "entity_not_found", "site_id"),
        ("campaign_id", json!(999), "entity_not_found", "campaign_id"),
        (
            "campaign_id",
            json!(103),
            "campaign_is_inactive",
            "campaign_id",
        ),
        // campaign 101 belongs to site 202, the item says 201
        (
            "campaign_id",
            json!(101),
            "invalid_parameters_combination",
            "site_id",
        ),
        ("source_id", json!(999), "entity_not_found", "source_id"),
        (
            "visitor_session_id",
            json!(1),
            "entity_not_found",
            "visitor_session_id",
        ),
        (
            "utm_source",
            json!("x"),
            "unexpected_parameters",
            "utm_source",
        ),
        (
            "user_fields",
            json!([{"ext_id": "f", "bogus": 1}]),
            "unexpected_parameters",
            "user_fields.bogus",
        ),
    ];
    for (key, value, mnemonic, field) in cases {
        let response = api
            .upload_messages(vec![with(message("a"), key, value)])
            .await;
        assert_error(&response, -32602, mnemonic, Some(field));
        // general.txt documents no position of the refused item: none is invented.
        assert!(
            response["error"]["data"]["params"].get("index").is_none(),
            "{response}"
        );
    }
    assert!(api.emu.records().is_empty());
}

#[tokio::test]
async fn offline_message_accepted_variants() {
    let api = Api::start().await;
    let variants = vec![
        // email instead of phone
        with(
            with(message("v1"), "phone", Value::Null),
            "email",
            json!("ivan@example.ru"),
        ),
        // campaign -1 with a site
        with(message("v2"), "campaign_id", json!(-1)),
        // campaign only, consistent with nothing else
        with(
            with(message("v3"), "site_id", Value::Null),
            "campaign_id",
            json!(102),
        ),
        // a seeded session only
        with(
            with(message("v4"), "site_id", Value::Null),
            "visitor_session_id",
            json!(4812337719_u64),
        ),
        // source and user fields
        with(
            with(message("v5"), "source_id", json!(301)),
            "user_fields",
            json!([{"ext_id": "leadback_page", "value": "x"}]),
        ),
    ];
    for item in variants {
        let response = api.upload_messages(vec![item]).await;
        assert!(response.get("result").is_some(), "{response}");
    }
    assert_eq!(api.emu.records().len(), 5);
}

#[tokio::test]
async fn campaign_minus_one_needs_site() {
    let api = Api::start().await;
    let item = with(
        with(message("m1"), "site_id", Value::Null),
        "campaign_id",
        json!(-1),
    );
    let response = api.upload_messages(vec![item]).await;
    assert_error(
        &response,
        -32602,
        "invalid_parameters_combination",
        Some("campaign_id"),
    );
}

#[tokio::test]
async fn unknown_top_level_parameter_is_refused() {
    let api = Api::start().await;
    let params =
        json!({"access_token": TOKEN, "offline_messages": [message("x")], "dry_run": true});
    let field = Some("dry_run");
    api.refused(
        "upload.offline_messages",
        params,
        -32602,
        "unexpected_parameters",
        field,
    )
    .await;
}

#[tokio::test]
async fn batch_of_fifty_passes_fifty_one_does_not() {
    let api = Api::start().await;
    let items: Vec<Value> = (0..51).map(|i| message(&format!("b{i}"))).collect();
    let response = api.upload_messages(items.clone()).await;
    assert_error(
        &response,
        -32602,
        "data_limit_exceeded",
        Some("offline_messages"),
    );
    assert!(api.emu.records().is_empty());
    let response = api.upload_messages(items[..50].to_vec()).await;
    assert_eq!(response["result"]["data"].as_array().unwrap().len(), 50);
    let chats: Vec<Value> = (0..51).map(|i| chat(&format!("c{i}"))).collect();
    let response = api.upload_chats(chats).await;
    assert_error(&response, -32602, "data_limit_exceeded", Some("chats"));
}

#[tokio::test]
async fn one_bad_item_fails_the_whole_batch() {
    let api = Api::start().await;
    let items = vec![
        message("ok-0"),
        message("ok-1"),
        with(message("bad-2"), "phone", json!("12")),
    ];
    let response = api.upload_messages(items).await;
    assert_error(&response, -32602, "invalid_parameter_value", Some("phone"));
    assert!(response["error"]["data"]["params"].get("index").is_none());
    assert!(
        api.emu.records().is_empty(),
        "nothing stored from a failed batch"
    );
}

#[tokio::test]
async fn repeated_ext_id_is_duplicate_entity() {
    let api = Api::start().await;
    let first = api.upload_messages(vec![message("dup")]).await;
    assert!(first.get("result").is_some(), "{first}");
    let again = api.upload_messages(vec![message("dup")]).await;
    assert_error(&again, -32602, "duplicate_entity", Some("ext_id"));
    assert_eq!(again["error"]["data"]["value"], "dup");
    assert!(again["error"]["data"].get("params").is_none(), "{again}");
    // within one batch
    let twice = api
        .upload_messages(vec![message("x1"), message("x1")])
        .await;
    assert_error(&twice, -32602, "duplicate_entity", Some("ext_id"));
    assert_eq!(twice["error"]["data"]["value"], "x1");
    // the same ext_id as a chat is a different kind: fine
    let as_chat = api.upload_chats(vec![chat("dup")]).await;
    assert!(as_chat.get("result").is_some(), "{as_chat}");
    assert_eq!(api.emu.records().len(), 2);
}

#[tokio::test]
async fn chat_is_stored() {
    let api = Api::start().await;
    let response = api.upload_chats(vec![chat("chat-1")]).await;
    let id = response["result"]["data"][0]["id"].as_u64().unwrap();
    let records = api.emu.records();
    assert_eq!(records[0].kind, RecordKind::Chat);
    assert_eq!(records[0].id, id);
    assert_eq!(records[0].payload["phone"], "79161234567");
}

#[tokio::test]
async fn chat_rules() {
    let api = Api::start().await;
    let operator_without_employee =
        json!([{"date_time": moscow(9), "source": "operator", "message": "hi"}]);
    let unknown_employee = json!([{"date_time": moscow(9), "source": "operator", "employee_id": 999, "message": "hi"}]);
    let before_start = json!([{"date_time": moscow(20), "source": "visitor", "message": "hi"}]);
    let bad_source = json!([{"date_time": moscow(9), "source": "bot", "message": "hi"}]);
    let no_text = json!([{"date_time": moscow(9), "source": "visitor"}]);
    // (key, value) set on a valid chat, and the refusal
    let cases = [
        ("status", Value::Null, "required_parameter_missed", "status"),
        ("status", json!("done"), "invalid_parameter_value", "status"),
        (
            "initiator",
            json!("robot"),
            "invalid_parameter_value",
            "initiator",
        ),
        (
            "messages",
            Value::Null,
            "required_parameter_missed",
            "messages",
        ),
        (
            "start_date_time",
            Value::Null,
            "required_parameter_missed",
            "start_date_time",
        ),
        (
            "start_date_time",
            json!(moscow(-10)),
            "invalid_date_time",
            "start_date_time",
        ),
        (
            "messages",
            operator_without_employee,
            "required_parameter_missed",
            "messages.employee_id",
        ),
        (
            "messages",
            unknown_employee,
            "entity_not_found",
            "messages.employee_id",
        ),
        (
            "messages",
            before_start,
            "invalid_date_time",
            "messages.date_time",
        ),
        (
            "messages",
            bad_source,
            "invalid_parameter_value",
            "messages.source",
        ),
        (
            "messages",
            no_text,
            "required_parameter_missed",
            "messages.message",
        ),
        (
            "campaign_id",
            json!(-1),
            "invalid_parameter_value",
            "campaign_id",
        ),
        (
            "site_id",
            Value::Null,
            "required_parameter_missed",
            "visitor_session_id",
        ),
        (
            "phone",
            json!("8 916 123"),
            "invalid_parameter_value",
            "phone",
        ),
        (
            "date_time",
            json!(moscow(1)),
            "unexpected_parameters",
            "date_time",
        ),
    ];
    for (key, value, mnemonic, field) in cases {
        let response = api.upload_chats(vec![with(chat("c"), key, value)]).await;
        assert_error(&response, -32602, mnemonic, Some(field));
    }
    assert!(api.emu.records().is_empty());
}
