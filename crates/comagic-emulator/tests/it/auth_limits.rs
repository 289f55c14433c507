use std::time::Duration;

use comagic_emulator::{AccountSeed, EmulatorConfig};
use serde_json::json;

use crate::common::{assert_error, message, token_only, Api, TOKEN};

async fn login(api: &Api) -> serde_json::Value {
    api.ok(
        "login.user",
        json!({"login": "demo", "password": "demo-password"}),
    )
    .await
}

#[tokio::test]
async fn login_token_works_then_expires() {
    let api = Api::start().await;
    let result = login(&api).await;
    let token = result["data"]["access_token"].as_str().unwrap().to_owned();
    assert_eq!(result["data"]["app_id"], 90001);
    let expire_at = result["data"]["expire_at"].as_u64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        (now + 3590..=now + 3610).contains(&expire_at),
        "{expire_at} vs {now}"
    );
    api.ok("get.tags", json!({"access_token": token})).await;
    api.emu.expire_tokens();
    assert_error(
        &api.err("get.tags", json!({"access_token": token})).await,
        -32001,
        "access_token_invalid",
        None,
    );
    // a permanent key does not expire
    api.ok("get.tags", token_only()).await;
    // a new login gives a working token
    let fresh = login(&api).await["data"]["access_token"].clone();
    api.ok("get.tags", json!({"access_token": fresh})).await;
}

#[tokio::test]
async fn login_token_ttl_is_configurable() {
    let api = Api::start_with(EmulatorConfig {
        login_token_ttl: Duration::from_millis(300),
        ..EmulatorConfig::default()
    })
    .await;
    let token = login(&api).await["data"]["access_token"].clone();
    api.ok("get.tags", json!({"access_token": token})).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_error(
        &api.err("get.tags", json!({"access_token": token})).await,
        -32001,
        "access_token_invalid",
        None,
    );
}

#[tokio::test]
async fn wrong_login_is_auth_error() {
    let api = Api::start().await;
    let error = api
        .err("login.user", json!({"login": "demo", "password": "guess"}))
        .await;
    assert_error(&error, -32001, "auth_error", None);
    let error = api.err("login.user", json!({"login": "demo"})).await;
    assert_error(
        &error,
        -32602,
        "required_parameter_missed",
        Some("password"),
    );
    let error = api
        .err(
            "login.user",
            json!({"login": "demo", "password": "demo-password", "x": 1}),
        )
        .await;
    assert_error(&error, -32602, "unexpected_parameters", Some("x"));
}

#[tokio::test]
async fn successful_calls_cost_one_point_and_report_limits() {
    let api = Api::start().await;
    let first = api.ok("get.tags", token_only()).await;
    let limits = &first["metadata"]["limits"];
    for key in [
        "day_limit",
        "day_remaining",
        "day_reset",
        "minute_limit",
        "minute_remaining",
        "minute_reset",
    ] {
        assert!(limits[key].is_u64(), "{key} missing in {limits}");
    }
    assert_eq!(limits["day_limit"], 1_000_000);
    assert_eq!(limits["minute_limit"], 100_000);
    let day_before = limits["day_remaining"].as_u64().unwrap();
    // a failed call is not charged
    api.err("get.tags", json!({"access_token": TOKEN, "limit": -5}))
        .await;
    let upload = api.upload_messages(vec![message("p")]).await;
    let after = upload["result"]["metadata"]["limits"]["day_remaining"]
        .as_u64()
        .unwrap();
    assert_eq!(after, day_before - 1);
}

#[tokio::test]
async fn minute_limit_exceeded_then_fresh_window() {
    let api = Api::start().await;
    assert!(api.emu.set_limits(TOKEN, 2, 100));
    assert!(!api.emu.set_limits("unknown", 2, 100));
    api.ok("get.tags", token_only()).await;
    let second = api.ok("get.sites", token_only()).await;
    assert_eq!(second["metadata"]["limits"]["minute_remaining"], 0);
    let error = api.err("get.tags", token_only()).await;
    assert_error(&error, -32029, "limit_exceeded", None);
    assert_eq!(error["data"]["params"]["limit_type"], "minute");
    let limits = &error["data"]["metadata"]["limits"];
    assert_eq!(limits["minute_remaining"], 0);
    assert_eq!(limits["day_remaining"], 98);
    let reset = limits["minute_reset"].as_u64().unwrap();
    assert!((1..=60).contains(&reset), "{reset}");
    // a refused call is not charged and stores nothing
    let refused = api.upload_messages(vec![message("l")]).await;
    assert_error(&refused, -32029, "limit_exceeded", None);
    assert!(api.emu.records().is_empty());
    // new limits start fresh windows
    api.emu.set_limits(TOKEN, 5, 100);
    api.ok("get.tags", token_only()).await;
}

#[tokio::test]
async fn day_limit_exceeded_reports_day_reset() {
    let api = Api::start().await;
    api.emu.set_limits(TOKEN, 100, 1);
    api.ok("get.tags", token_only()).await;
    let error = api.err("get.tags", token_only()).await;
    assert_error(&error, -32029, "limit_exceeded", None);
    assert_eq!(error["data"]["params"]["limit_type"], "day");
    let reset = error["data"]["metadata"]["limits"]["day_reset"]
        .as_u64()
        .unwrap();
    assert!((1..=86_400).contains(&reset));
}

#[tokio::test]
async fn accounts_are_separate() {
    let mut other = AccountSeed::parse_many(
        r#"{"name": "other", "app_id": 7, "access_tokens": ["other-token"], "timezone": "Asia/Yekaterinburg",
            "sites": [{"id": 201, "domain_name": "other.example"}],
            "limits": {"minute": 1, "day": 10}}"#,
    )
    .unwrap();
    let mut accounts = vec![AccountSeed::demo()];
    accounts.append(&mut other);
    let api = Api::start_with(EmulatorConfig {
        accounts,
        ..EmulatorConfig::default()
    })
    .await;
    // the same ext_id in two accounts is not a duplicate
    assert!(api
        .upload_messages(vec![message("same")])
        .await
        .get("result")
        .is_some());
    let other_upload = api
        .call(
            "upload.offline_messages",
            json!({"access_token": "other-token", "offline_messages": [message("same")]}),
        )
        .await;
    assert!(other_upload.get("result").is_some(), "{other_upload}");
    let accounts: Vec<String> = api.emu.records().into_iter().map(|r| r.account).collect();
    assert_eq!(accounts, vec!["demo", "other"]);
    // the other account's minute limit (1) is spent, demo's is not
    let error = api
        .err("get.account", json!({"access_token": "other-token"}))
        .await;
    assert_error(&error, -32029, "limit_exceeded", None);
    api.ok("get.account", token_only()).await;
}

#[test]
fn bad_seeds_are_refused() {
    let error =
        AccountSeed::parse_many(r#"{"name": "x", "app_id": 1, "colour": "red"}"#).unwrap_err();
    assert!(error.to_string().contains("colour"), "{error}");
    let seed =
        AccountSeed::parse_many(r#"{"name": "x", "app_id": 1, "timezone": "Mars/Base"}"#).unwrap();
    let state = comagic_emulator::EmulatorState::new(&EmulatorConfig {
        accounts: seed,
        ..EmulatorConfig::default()
    });
    assert!(matches!(
        state,
        Err(comagic_emulator::EmulatorError::InvalidTimeZone { .. })
    ));
}
