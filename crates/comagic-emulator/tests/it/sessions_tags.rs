use comagic_emulator::{AccountSeed, Component, EmulatorConfig, RecordKind};
use serde_json::{json, Value};

use crate::common::{assert_error, chat, message, moscow, session, with, Api, TOKEN};

async fn upload_sessions(api: &Api, items: Vec<Value>) -> Value {
    api.call(
        "upload.sessions",
        json!({"access_token": TOKEN, "sessions": items}),
    )
    .await
}

#[tokio::test]
async fn uploaded_session_becomes_a_visitor_session() {
    let api = Api::start().await;
    let response = upload_sessions(&api, vec![session("s-1", 60)]).await;
    let data = &response["result"]["data"][0];
    assert_eq!(data["ext_id"], "s-1");
    let session_id = data["session_id"].as_u64().unwrap();
    assert!(api
        .emu
        .records()
        .iter()
        .any(|r| r.kind == RecordKind::Session && r.id == session_id));

    let item = with(
        with(message("m"), "site_id", Value::Null),
        "visitor_session_id",
        json!(session_id),
    );
    api.upload_messages_ok(vec![item]).await;

    // a record older than its session
    let early = with(
        with(
            with(message("m2"), "site_id", Value::Null),
            "visitor_session_id",
            json!(session_id),
        ),
        "date_time",
        json!(moscow(120)),
    );
    assert_error(
        &api.upload_messages(vec![early]).await,
        -32602,
        "invalid_date_time",
        Some("date_time"),
    );

    // the session is on site 201, the record says 202
    let other_site = with(
        with(message("m3"), "site_id", json!(202)),
        "visitor_session_id",
        json!(session_id),
    );
    assert_error(
        &api.upload_messages(vec![other_site]).await,
        -32602,
        "invalid_parameters_combination",
        Some("visitor_session_id"),
    );

    // the same ext_id again: the same session, no new record
    let again = upload_sessions(&api, vec![session("s-1", 60)]).await;
    assert_eq!(again["result"]["data"][0]["session_id"], session_id);
    assert_eq!(
        api.emu
            .records()
            .iter()
            .filter(|r| r.kind == RecordKind::Session)
            .count(),
        1
    );
}

#[tokio::test]
async fn session_rules() {
    let api = Api::start().await;
    // (key, value) set on a valid session, and the refusal
    let cases = [
        (
            "is_visitor_new",
            Value::Null,
            "required_parameter_missed",
            "is_visitor_new",
        ),
        ("ext_id", Value::Null, "required_parameter_missed", "ext_id"),
        (
            "visitor_ip_address",
            json!("999.1.1.1"),
            "invalid_parameter_value",
            "visitor_ip_address",
        ),
        ("site_id", json!(7), "entity_not_found", "site_id"),
        (
            "date_time",
            json!("2010-12-31 23:59:59"),
            "invalid_date_time",
            "date_time",
        ),
        (
            "visitor_device",
            json!("fridge"),
            "invalid_parameter_value",
            "visitor_device",
        ),
        (
            "campaign_id",
            json!(101),
            "invalid_parameters_combination",
            "site_id",
        ),
        (
            "utm_whatever",
            json!("x"),
            "unexpected_parameters",
            "utm_whatever",
        ),
    ];
    for (key, value, mnemonic, field) in cases {
        let response = upload_sessions(&api, vec![with(session("a", 5), key, value)]).await;
        assert_error(&response, -32602, mnemonic, Some(field));
    }
    // five minutes in the future
    let ahead = with(session("a", -5), "is_visitor_new", json!(false));
    let response = upload_sessions(&api, vec![ahead]).await;
    assert_error(&response, -32602, "invalid_date_time", Some("date_time"));
    let too_many: Vec<Value> = (0..51).map(|i| session(&format!("s{i}"), 5)).collect();
    assert_error(
        &upload_sessions(&api, too_many).await,
        -32602,
        "data_limit_exceeded",
        Some("sessions"),
    );
}

#[tokio::test]
async fn disabled_component_refuses_the_method() {
    let mut seed = AccountSeed::demo();
    seed.disabled_components = vec![Component::UploadSessions];
    let api = Api::start_with(EmulatorConfig::with_accounts(vec![seed])).await;
    let response = upload_sessions(&api, vec![session("s", 5)]).await;
    assert_error(&response, -32008, "method_component_disabled", None);
    assert!(response["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Загрузка сессий"));
    // other methods still work
    api.upload_messages_ok(vec![message("m")]).await;
}

#[tokio::test]
async fn tag_by_ext_id_and_by_id() {
    let api = Api::start().await;
    api.upload_messages(vec![message("t-1")]).await;
    let chat_id = api.upload_chats(vec![chat("t-2")]).await["result"]["data"][0]["id"].clone();

    api.ok(
        "set.tag_communications",
        json!({"access_token": TOKEN, "communication_ext_id": "t-1", "communication_type": "offline_message", "tag_id": 401}),
    )
    .await;
    api.ok(
        "set.tag_communications",
        json!({"access_token": TOKEN, "communication_id": chat_id, "communication_type": "chat", "tag_id": 402}),
    )
    .await;
    let records = api.emu.records();
    assert_eq!(records[0].tags, vec![401]);
    assert_eq!(records[1].tags, vec![402]);

    let cases = vec![
        (
            json!({"communication_ext_id": "t-1", "communication_type": "offline_message", "tag_id": 999}),
            "entity_not_found",
            "tag_id",
        ),
        (
            json!({"communication_ext_id": "nope", "communication_type": "offline_message", "tag_id": 401}),
            "entity_not_found",
            "communication_ext_id",
        ),
        // right ext_id, wrong kind
        (
            json!({"communication_ext_id": "t-1", "communication_type": "chat", "tag_id": 401}),
            "entity_not_found",
            "communication_ext_id",
        ),
        (
            json!({"communication_type": "chat", "tag_id": 401}),
            "required_parameter_missed",
            "communication_id",
        ),
        (
            json!({"communication_id": chat_id, "communication_type": "sms", "tag_id": 401}),
            "invalid_parameter_value",
            "communication_type",
        ),
    ];
    for (mut params, mnemonic, field) in cases {
        params["access_token"] = json!(TOKEN);
        assert_error(
            &api.err("set.tag_communications", params).await,
            -32602,
            mnemonic,
            Some(field),
        );
    }
}

#[tokio::test]
async fn bulk_tags_both_forms() {
    let api = Api::start().await;
    let message_id =
        api.upload_messages(vec![message("b-1")]).await["result"]["data"][0]["id"].clone();
    let chat_id = api.upload_chats(vec![chat("b-2")]).await["result"]["data"][0]["id"].clone();
    let result = api
        .ok(
            "set.communications_tags",
            json!({"access_token": TOKEN, "items": [
                {"tag_id": 401, "communication_id": message_id, "communication_type": "offline_message"},
                {"tag_id": 402, "communication_id": chat_id, "communication_type": "chat"},
            ]}),
        )
        .await;
    assert_eq!(result["success"], true);
    api.ok(
        "set.communications_tags",
        json!({"access_token": TOKEN, "communication_id": message_id, "communication_type": "offline_message", "tag_ids": [401, 402]}),
    )
    .await;
    let records = api.emu.records();
    assert_eq!(records[0].tags, vec![401, 402]);
    assert_eq!(records[1].tags, vec![402]);

    // one bad item: nothing is tagged
    let error = api
        .err(
            "set.communications_tags",
            json!({"access_token": TOKEN, "items": [
                {"tag_id": 402, "communication_id": chat_id, "communication_type": "chat"},
                {"tag_id": 401, "communication_id": 1, "communication_type": "chat"},
            ]}),
        )
        .await;
    assert_error(
        &error,
        -32602,
        "entity_not_found",
        Some("items.communication_id"),
    );
    assert!(error["data"]["params"].get("index").is_none(), "{error}");
}

#[tokio::test]
async fn delete_frees_the_ext_id() {
    let api = Api::start().await;
    let id = api.upload_messages(vec![message("d-1")]).await["result"]["data"][0]["id"].clone();
    let chat_id = api.upload_chats(vec![chat("d-2")]).await["result"]["data"][0]["id"].clone();
    // wrong kind
    assert_error(
        &api.err("delete.chats", json!({"access_token": TOKEN, "id": id}))
            .await,
        -32602,
        "entity_not_found",
        Some("id"),
    );
    let result = api
        .ok(
            "delete.offline_messages",
            json!({"access_token": TOKEN, "id": id}),
        )
        .await;
    assert_eq!(result["success"], true);
    api.ok(
        "delete.chats",
        json!({"access_token": TOKEN, "id": chat_id}),
    )
    .await;
    assert!(api.emu.records().is_empty());
    assert_error(
        &api.err(
            "delete.offline_messages",
            json!({"access_token": TOKEN, "id": id}),
        )
        .await,
        -32602,
        "entity_not_found",
        Some("id"),
    );
    assert!(api
        .upload_messages(vec![message("d-1")])
        .await
        .get("result")
        .is_some());
}
