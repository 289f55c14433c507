use std::time::{Duration, Instant};

use comagic_emulator::Fault;
use serde_json::json;

use crate::common::{assert_error, message, token_only, Api, TOKEN};

fn tags_body() -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "get.tags", "params": {"access_token": TOKEN}})
        .to_string()
}

/// One `internal_error` for the next `upload.offline_messages`.
fn internal_error(message: &str) -> Fault {
    Fault::RpcError {
        code: -32603,
        mnemonic: "internal_error".into(),
        message: message.into(),
        count: 1,
        method: Some("upload.offline_messages".into()),
    }
}

#[tokio::test]
async fn http_status_for_the_next_calls() {
    let api = Api::start().await;
    api.emu.inject(Fault::HttpStatus {
        status: 502,
        count: 2,
        method: None,
    });
    for status in [502_u16, 502, 200] {
        assert_eq!(api.post_raw("/v2.0", tags_body()).await.status(), status);
    }
    let outcomes: Vec<String> = api.emu.calls().into_iter().map(|c| c.outcome).collect();
    assert_eq!(outcomes, vec!["http_502", "http_502", "ok"]);
}

#[tokio::test]
async fn rpc_error_fault_stores_nothing() {
    let api = Api::start().await;
    api.emu.inject(internal_error(
        "Internal error, contact the support service",
    ));
    // a different method is not affected
    api.ok("get.tags", token_only()).await;
    let response = api.upload_messages(vec![message("f")]).await;
    assert_error(&response, -32603, "internal_error", None);
    assert_eq!(response["id"], 1);
    assert!(api.emu.records().is_empty());
    api.upload_messages_ok(vec![message("f")]).await;
}

#[tokio::test]
async fn delay_then_normal_answer() {
    let api = Api::start().await;
    api.emu.inject(Fault::Delay {
        duration: Duration::from_millis(400),
        count: 1,
        method: None,
    });
    let started = Instant::now();
    api.ok("get.tags", token_only()).await;
    assert!(started.elapsed() >= Duration::from_millis(400));
    let started = Instant::now();
    api.ok("get.tags", token_only()).await;
    assert!(started.elapsed() < Duration::from_millis(400));
}

#[tokio::test]
async fn dropped_connection_gets_no_response() {
    let api = Api::start().await;
    api.emu.inject(Fault::DropConnection {
        count: 1,
        method: None,
    });
    let started = Instant::now();
    let error = api
        .http
        .post(api.emu.api_url())
        .body(tags_body())
        .send()
        .await
        .unwrap_err();
    assert!(!error.is_timeout(), "closed, not timed out: {error}");
    assert!(started.elapsed() < Duration::from_secs(5));
    api.upload_messages_ok(vec![message("after")]).await;
    assert_eq!(api.emu.calls()[0].outcome, "dropped");
}

#[tokio::test]
async fn faults_over_http() {
    let api = Api::start().await;
    let faults = json!([
        {"kind": "http_status", "status": 503, "method": "get.sites"},
        {"kind": "rpc_error", "code": -32029, "mnemonic": "limit_exceeded", "message": "Limit per minute has been exceeded", "count": 1}
    ]);
    let response = api.post("/_emulator/faults", Some(faults)).await;
    assert_eq!(response.status(), 200);
    // get.tags skips the get.sites fault and takes the rpc_error
    let tags = token_only();
    api.refused("get.tags", tags, -32029, "limit_exceeded", None)
        .await;
    let sites = api.emu.call("get.sites", token_only()).await;
    let status = match sites {
        Err(comagic_emulator::EmulatorError::Call(error)) => error.status(),
        other => panic!("an HTTP status, not {other:?}"),
    };
    assert_eq!(status.map(|s| s.as_u16()), Some(503));
    api.ok("get.sites", token_only()).await;

    let bad = api
        .post("/_emulator/faults", Some(json!({"kind": "explode"})))
        .await;
    assert_eq!(bad.status(), 400);
}

/// The call log tells a fault a test injected from a refusal by a rule of the reference pages,
/// so the end-to-end suites can fail on the latter only.
#[tokio::test]
async fn injected_faults_are_not_rule_refusals() {
    let api = Api::start().await;
    api.emu.inject(internal_error("injected"));
    let response = api.upload_messages(vec![message("inj")]).await;
    assert_error(&response, -32603, "internal_error", None);
    assert!(api.emu.calls()[0].injected);
    assert!(api.emu.unprovoked_refusals(&[]).is_empty());

    // A rule's refusal: an unknown parameter.
    let response = api
        .call("get.tags", json!({"access_token": TOKEN, "bogus": 1}))
        .await;
    let mnemonic = response["error"]["data"]["mnemonic"]
        .as_str()
        .expect("a refusal")
        .to_owned();
    let refused = api.emu.unprovoked_refusals(&[]);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].outcome, mnemonic);
    assert!(!refused[0].injected);
    assert!(api.emu.unprovoked_refusals(&[mnemonic.as_str()]).is_empty());
}
