//! The configurable behaviours (item positions in errors, repeated ext_ids), the upload counter
//! and the built-in accounts in three time zones.

use chrono::Utc;
use chrono_tz::Tz;
use comagic_emulator::{EmulatorConfig, RepeatedExtId};
use serde_json::{json, Value};

use crate::common::{assert_error, chat, message, with, Api, TOKEN};

async fn indexed() -> Api {
    Api::start_with(EmulatorConfig {
        report_item_index: true,
        ..EmulatorConfig::default()
    })
    .await
}

async fn updating() -> Api {
    Api::start_with(EmulatorConfig {
        repeated_ext_id: RepeatedExtId::Update,
        ..EmulatorConfig::default()
    })
    .await
}

/// `minutes_ago` minutes ago on the wall clock of `zone`.
fn local(zone: Tz, minutes_ago: i64) -> String {
    (Utc::now() - chrono::Duration::minutes(minutes_ago))
        .with_timezone(&zone)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

#[tokio::test]
async fn item_positions_only_when_asked_for() {
    let bad_phone = with(message("bad"), "phone", json!("12"));
    let bad_message = with(
        chat("c-bad"),
        "messages",
        json!([
            {"date_time": crate::common::moscow(9), "source": "visitor", "message": "a"},
            {"date_time": crate::common::moscow(8), "source": "bot", "message": "b"},
        ]),
    );
    let strict = Api::start().await;
    let refused = strict
        .upload_messages(vec![message("ok"), bad_phone.clone()])
        .await;
    assert_error(&refused, -32602, "invalid_parameter_value", Some("phone"));
    assert!(
        refused["error"]["data"].get("params").is_none(),
        "{refused}"
    );
    let refused = strict
        .upload_chats(vec![chat("c-ok"), bad_message.clone()])
        .await;
    assert_error(
        &refused,
        -32602,
        "invalid_parameter_value",
        Some("messages.source"),
    );
    assert!(
        refused["error"]["data"].get("params").is_none(),
        "{refused}"
    );

    let api = indexed().await;
    let refused = api.upload_messages(vec![message("ok"), bad_phone]).await;
    assert_error(&refused, -32602, "invalid_parameter_value", Some("phone"));
    assert_eq!(refused["error"]["data"]["params"]["index"], 1);
    let refused = api.upload_chats(vec![chat("c-ok"), bad_message]).await;
    assert_eq!(refused["error"]["data"]["params"]["index"], 1);
    assert_eq!(refused["error"]["data"]["params"]["message_index"], 1);
    let twice = api
        .upload_messages(vec![message("x1"), message("x1")])
        .await;
    assert_error(&twice, -32602, "duplicate_entity", Some("ext_id"));
    assert_eq!(twice["error"]["data"]["params"]["index"], 1);
    // the other diagnostics come back too: the stored duplicate's id
    let id = api.upload_messages(vec![message("x2")]).await["result"]["data"][0]["id"].clone();
    let again = api.upload_messages(vec![message("x2")]).await;
    assert_eq!(again["error"]["data"]["params"]["id"], id, "{again}");
    let tags = api
        .err(
            "set.communications_tags",
            json!({"access_token": TOKEN, "items": [
                {"tag_id": 401, "communication_id": 1, "communication_type": "chat"},
            ]}),
        )
        .await;
    assert_eq!(tags["data"]["params"]["index"], 0);
    assert_eq!(api.emu.records().len(), 1);
}

#[tokio::test]
async fn repeated_ext_id_is_refused_and_counted_by_default() {
    let api = Api::start().await;
    api.upload_messages_ok(vec![message("m-1")]).await;
    let again = api.upload_messages(vec![message("m-1")]).await;
    assert_error(&again, -32602, "duplicate_entity", Some("ext_id"));
    api.upload_chats(vec![chat("c-1")]).await;
    let counts = api.emu.ext_id_upload_counts();
    assert_eq!(counts.get("m-1"), Some(&2));
    assert_eq!(counts.get("c-1"), Some(&1));
    assert_eq!(api.emu.reuploads(), 1);
    assert_eq!(api.emu.state().reuploads(), 1);
    assert_eq!(api.emu.records().len(), 2);
}

#[tokio::test]
async fn repeated_ext_id_updates_the_record_in_update_mode() {
    let api = updating().await;
    let first = api.upload_messages(vec![message("m-1")]).await;
    let id = first["result"]["data"][0]["id"].as_u64().unwrap();
    let changed = with(message("m-1"), "name", json!("Пётр"));
    let again = api.upload_messages(vec![changed]).await;
    assert_eq!(again["result"]["data"][0]["id"], id, "{again}");
    // within one batch: both items answer the same id
    let twice = api
        .upload_chats(vec![
            chat("c-1"),
            with(chat("c-1"), "status", json!("lost")),
        ])
        .await;
    let chat_ids = &twice["result"]["data"];
    assert_eq!(chat_ids[0]["id"], chat_ids[1]["id"], "{twice}");

    let records = api.emu.records();
    assert_eq!(records.len(), 2, "one record per ext_id: {records:?}");
    assert_eq!(records[0].id, id);
    assert_eq!(records[0].payload["name"], "Пётр");
    assert_eq!(records[1].payload["status"], "lost");
    assert_eq!(api.emu.ext_id_upload_counts().get("m-1"), Some(&2));
    assert_eq!(api.emu.ext_id_upload_counts().get("c-1"), Some(&2));
    assert_eq!(api.emu.reuploads(), 2);

    let inspected: Value = api.get("/_emulator/uploads").await.json().await.unwrap();
    assert_eq!(
        inspected,
        json!({"ext_id_upload_counts": {"c-1": 2, "m-1": 2}, "reuploads": 2})
    );
    api.emu.reset();
    assert_eq!(api.emu.reuploads(), 0);
    assert!(api.emu.ext_id_upload_counts().is_empty());
}

#[tokio::test]
async fn the_same_ext_id_in_two_accounts_is_no_reupload() {
    let api = Api::start().await;
    api.upload_messages(vec![message("shared")]).await;
    let other = api
        .call(
            "upload.offline_messages",
            json!({"access_token": "demo-token-ekb", "offline_messages": [
                with(message("shared"), "date_time", json!(local(chrono_tz::Asia::Yekaterinburg, 5))),
            ]}),
        )
        .await;
    assert!(other.get("result").is_some(), "{other}");
    assert_eq!(api.emu.ext_id_upload_counts().get("shared"), Some(&2));
    assert_eq!(api.emu.reuploads(), 0);
}

#[tokio::test]
async fn three_accounts_in_three_time_zones() {
    let api = Api::start().await;
    let zones = [
        ("demo-token", "demo", 90001, chrono_tz::Europe::Moscow),
        (
            "demo-token-ekb",
            "demo-ekb",
            90002,
            chrono_tz::Asia::Yekaterinburg,
        ),
        (
            "demo-token-kgd",
            "demo-kgd",
            90003,
            chrono_tz::Europe::Kaliningrad,
        ),
    ];
    for (token, name, app_id, zone) in zones {
        let account = api.ok("get.account", json!({"access_token": token})).await;
        assert_eq!(
            account["data"][0],
            json!({"app_id": app_id, "name": name, "timezone": zone.name()})
        );
        let campaigns = api
            .ok("get.campaigns", json!({"access_token": token}))
            .await;
        assert_eq!(campaigns["data"][1]["id"], 101);
        assert_eq!(campaigns["data"][1]["site_id"], 202);
        assert_eq!(campaigns["data"][3]["status"], "inactive");
        // a minute ago on the account's clock is fine, a minute ahead is the future
        let upload = |date_time: String| {
            json!({"access_token": token, "offline_messages": [
                with(message(&format!("{name}-{date_time}")), "date_time", json!(date_time)),
            ]})
        };
        api.ok("upload.offline_messages", upload(local(zone, 1)))
            .await;
        in_future(&api, upload(local(zone, -1))).await;
    }
    // Moscow's "now" is an hour in Kaliningrad's future...
    let moscow_now = json!({"access_token": "demo-token-kgd", "offline_messages": [
        with(message("kgd-msk"), "date_time", json!(local(chrono_tz::Europe::Moscow, 1))),
    ]});
    in_future(&api, moscow_now).await;
    // ...and Yekaterinburg's "now" two hours in Moscow's.
    let ekb_now = json!({"access_token": TOKEN, "offline_messages": [
        with(message("msk-ekb"), "date_time", json!(local(chrono_tz::Asia::Yekaterinburg, 1))),
    ]});
    in_future(&api, ekb_now).await;
}

/// The upload is refused: its `date_time` is in the account's future.
async fn in_future(api: &Api, upload: Value) {
    let field = Some("date_time");
    api.refused(
        "upload.offline_messages",
        upload,
        -32602,
        "invalid_date_time",
        field,
    )
    .await;
}
