use serde_json::json;

use crate::common::{assert_error, token_only, Api, TOKEN};

#[tokio::test]
async fn invalid_json_is_parse_error() {
    let api = Api::start().await;
    let response = api.raw("{\"jsonrpc\": \"2.0\", ").await;
    assert_error(&response, -32700, "parse_error", None);
    assert_eq!(response["id"], serde_json::Value::Null);
}

#[tokio::test]
async fn batch_is_refused() {
    let api = Api::start().await;
    let one =
        json!({"jsonrpc": "2.0", "id": 1, "method": "get.tags", "params": {"access_token": TOKEN}});
    let response = api.raw(&json!([one.clone(), one]).to_string()).await;
    assert_error(&response, -32099, "batch_opreations_not_supported", None);
}

#[tokio::test]
async fn missing_id_is_refused() {
    let api = Api::start().await;
    let body = json!({"jsonrpc": "2.0", "method": "get.tags", "params": {"access_token": TOKEN}});
    let response = api.raw(&body.to_string()).await;
    assert_error(&response, -32099, "notifications_not_supported", None);
}

#[tokio::test]
async fn unknown_method_and_bad_envelope() {
    let api = Api::start().await;
    let response = api.call("get.nothing", token_only()).await;
    assert_error(&response, -32601, "method_not_found", None);

    let body =
        json!({"jsonrpc": "1.0", "id": 1, "method": "get.tags", "params": {"access_token": TOKEN}});
    assert_error(
        &api.raw(&body.to_string()).await,
        -32600,
        "invalid_request",
        Some("jsonrpc"),
    );

    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "get.tags"});
    assert_error(
        &api.raw(&body.to_string()).await,
        -32600,
        "invalid_request",
        Some("params"),
    );
}

#[tokio::test]
async fn root_path_serves_the_api_too_and_string_ids_echo() {
    let api = Api::start().await;
    let body = json!({"jsonrpc": "2.0", "id": "abc", "method": "get.tags", "params": {"access_token": TOKEN}});
    let response: serde_json::Value = api
        .post_raw("/", body.to_string())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(response["id"], "abc");
    assert_eq!(response["result"]["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn access_token_required_and_known() {
    let api = Api::start().await;
    let missing = Some("access_token");
    api.refused(
        "get.tags",
        json!({}),
        -32602,
        "required_parameter_missed",
        missing,
    )
    .await;
    let unknown = json!({"access_token": "nope"});
    api.refused("get.tags", unknown, -32001, "access_token_invalid", None)
        .await;
}
