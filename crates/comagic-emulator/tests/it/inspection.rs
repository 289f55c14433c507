use serde_json::{json, Value};

use crate::common::{chat, message, token_only, Api, TOKEN};

#[tokio::test]
async fn records_and_calls_endpoints() {
    let api = Api::start().await;
    api.upload_messages(vec![message("i-1")]).await;
    api.upload_chats(vec![chat("i-2")]).await;
    api.ok(
        "set.tag_communications",
        json!({"access_token": TOKEN, "communication_ext_id": "i-1", "communication_type": "offline_message", "tag_id": 401}),
    )
    .await;
    api.call("get.nothing", json!({})).await;

    let text = api.get("/_emulator/records").await.text().await.unwrap();
    assert!(!text.contains(TOKEN), "the token never appears in records");
    let records: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["kind"], "offline_message");
    assert_eq!(records[0]["account"], "demo");
    assert_eq!(records[0]["ext_id"], "i-1");
    assert_eq!(records[0]["tags"], json!([401]));
    assert_eq!(
        records[0]["payload"],
        message_without_time(&records[0]["payload"])
    );
    assert_eq!(records[1]["kind"], "chat");
    assert!(records[1]["received_at"].is_string());

    let calls: Vec<Value> = api.get("/_emulator/calls").await.json().await.unwrap();
    let summary: Vec<(String, String, u64)> = calls
        .iter()
        .map(|c| {
            (
                c["method"].as_str().unwrap().to_owned(),
                c["outcome"].as_str().unwrap().to_owned(),
                c["items"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("upload.offline_messages".to_owned(), "ok".to_owned(), 1),
            ("upload.chats".to_owned(), "ok".to_owned(), 1),
            ("set.tag_communications".to_owned(), "ok".to_owned(), 0),
            ("get.nothing".to_owned(), "method_not_found".to_owned(), 0),
        ]
    );
    assert_eq!(calls[0]["account"], "demo");
    assert_eq!(api.emu.call_count(), 4);

    assert_eq!(api.post("/_emulator/reset", None).await.status(), 200);
    assert!(api.emu.records().is_empty());
    assert!(api.emu.calls().is_empty());
    assert_eq!(api.emu.call_count(), 0);
    // ext_ids are free again after a reset
    api.upload_messages_ok(vec![message("i-1")]).await;
}

/// The stored payload is the item as sent (date aside, which the helper generates).
fn message_without_time(payload: &Value) -> Value {
    let mut expected = message("i-1");
    expected["date_time"] = payload["date_time"].clone();
    expected
}

#[tokio::test]
async fn limits_and_token_expiry_over_http() {
    let api = Api::start().await;
    let login = api
        .ok(
            "login.user",
            json!({"login": "demo", "password": "demo-password"}),
        )
        .await;
    let token = login["data"]["access_token"].clone();
    let limits = json!({"access_token": TOKEN, "minute": 1, "day": 10});
    let response = api.post("/_emulator/limits", Some(limits)).await;
    assert_eq!(response.status(), 200);
    api.ok("get.tags", token_only()).await;
    let error = api.err("get.tags", token_only()).await;
    assert_eq!(error["data"]["mnemonic"], "limit_exceeded");

    api.post("/_emulator/expire_tokens", None).await;
    let error = api.err("get.tags", json!({"access_token": token})).await;
    // general.txt keeps `access_token_expired` for permanent keys: a session key that ran out
    // is no longer found.
    assert_eq!(error["data"]["mnemonic"], "access_token_invalid");
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let api = Api::start().await;
    let url = api.emu.api_url();
    let http = api.http.clone();
    api.emu.shutdown().await;
    let result = http.post(url).body("{}").send().await;
    assert!(result.is_err());
}
