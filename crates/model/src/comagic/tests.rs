//! Wire shapes: what we send is exactly CoMagic's field names with absent options skipped; what we
//! read survives CoMagic's documented variations (`expire`/`expire_at`, `meta_data`, nulls,
//! numbers as strings).

use secrecy::ExposeSecret;
use serde_json::json;

use super::*;

#[test]
fn offline_message_skips_absent_fields() {
    let message = OfflineMessage {
        date_time: "2024-05-01 10:00:00".to_owned(),
        email: Some("a@b.ru".to_owned()),
        attribution: Attribution {
            site_id: Some(201),
            campaign_id: Some(-1),
            ..Attribution::default()
        },
        ext_id: Some("evt".to_owned()),
        ..OfflineMessage::default()
    };
    assert_eq!(
        serde_json::to_value(&message).unwrap(),
        json!({"date_time": "2024-05-01 10:00:00", "email": "a@b.ru", "campaign_id": -1,
            "site_id": 201, "ext_id": "evt"})
    );
}

#[test]
fn chat_enums_are_lowercase() {
    let chat = Chat {
        start_date_time: "2024-05-01 10:00:00".to_owned(),
        name: None,
        phone: None,
        email: None,
        status: ChatStatus::Refused,
        initiator: Some(ChatInitiator::Autoinvite),
        attribution: Attribution {
            site_id: Some(1),
            ..Attribution::default()
        },
        messages: vec![ChatMessage {
            date_time: "2024-05-01 10:00:01".to_owned(),
            source: MessageSource::System,
            employee_id: None,
            message: "m".to_owned(),
        }],
        ext_id: None,
    };
    let value = serde_json::to_value(&chat).unwrap();
    assert_eq!(value["status"], "refused");
    assert_eq!(value["initiator"], "autoinvite");
    assert_eq!(value["messages"][0]["source"], "system");
    assert!(value["messages"][0].get("employee_id").is_none());
    let tag = SetTagCommunicationsParams::by_ext_id("evt", CommunicationType::OfflineMessage, 4);
    assert_eq!(
        serde_json::to_value(&tag).unwrap(),
        json!({"communication_ext_id": "evt", "communication_type": "offline_message", "tag_id": 4})
    );
}

#[test]
fn documented_error_parses() {
    let response: JsonRpcResponse<serde_json::Value> = serde_json::from_value(json!({
        "jsonrpc": "2.0", "id": null,
        "error": {"code": -32029, "message": "Limit per minute has been exceeded",
            "data": {"mnemonic": "limit_exceeded", "field": null, "value": null,
                "params": {"limit_type": "minute"}, "extended_helper": "https://…",
                "metadata": {"limits": {"minute_reset": 12.2, "day_remaining": "100"}}}}
    }))
    .unwrap();
    let error = response.into_outcome().unwrap().unwrap_err();
    assert_eq!(error.mnemonic(), Some("limit_exceeded"));
    let limits = error.limits().unwrap();
    assert_eq!(limits.minute_reset, Some(13));
    assert_eq!(limits.day_remaining, Some(100));
    assert_eq!(limits.day_limit, None);
}

#[test]
fn login_accepts_expire_and_expire_at() {
    let sample: LoginResult =
        serde_json::from_value(json!({"access_token": "t", "expire": 1700000000, "app_id": 5}))
            .unwrap();
    assert_eq!(sample.expire_at, Some(1_700_000_000));
    assert_eq!(sample.access_token.expose_secret(), "t");
    let table: LoginResult =
        serde_json::from_value(json!({"access_token": "t", "expire_at": 1700000001})).unwrap();
    assert_eq!(table.expire_at, Some(1_700_000_001));
    assert!(!format!("{table:?}").contains("\"t\""));
}

#[test]
fn lists_tolerate_nulls_and_meta_data() {
    let list: ListResult<Site> = serde_json::from_value(json!({
        "meta_data": {"total_items": 1},
        "data": [{"id": 1, "domain_name": null, "site_key": "k", "extra": {"a": 1}}]
    }))
    .unwrap();
    assert_eq!(list.data[0].domain_name, "");
    assert_eq!(list.metadata.unwrap().total_items, Some(1));
    let empty: ListResult<Tag> = serde_json::from_value(json!({"data": null})).unwrap();
    assert!(empty.data.is_empty());
    let sessions: UploadSessionsResult =
        serde_json::from_value(json!({"data": [{"ext_id": "v", "session_id": 9}]})).unwrap();
    assert_eq!(sessions.data[0].session_id, 9);
}
