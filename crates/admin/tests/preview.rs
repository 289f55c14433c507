//! `POST /admin/v1/tenants/{id}/preview`: the parsed event and the exact CoMagic calls, using
//! the tenant's field map; nothing is sent to CoMagic and no secret is in the answer.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod support;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use support::{Rig, ADMIN_TOKEN};

async fn preview(rig: &Rig, id: &str, content_type: &str, body: &str) -> Value {
    let answer = rig
        .request(
            Method::POST,
            &format!("/admin/v1/tenants/{id}/preview"),
            &[
                ("authorization", format!("Bearer {ADMIN_TOKEN}")),
                ("content-type", content_type.to_owned()),
            ],
            Some(body.to_owned()),
        )
        .await;
    answer.assert_status(StatusCode::OK);
    assert!(!answer.body.contains("demo-token"), "{}", answer.body);
    answer.json()
}

#[tokio::test]
async fn preview_shows_the_calls_and_follows_the_field_map() {
    let rig = Rig::start().await;
    let (id, _) = rig.create(rig.settings()).await;

    let known = preview(
        &rig,
        &id,
        "application/json",
        r#"{"event":"callback","id":"pv-1","phone":"+7 916 123-45-67","name":"Иван"}"#,
    )
    .await;
    assert_eq!(known["mappable"], true, "{known}");
    assert_eq!(known["event"]["kind"], "callback");
    let calls = known["calls"].as_array().expect("calls");
    assert_eq!(calls[0]["method"], "upload.offline_messages", "{known}");
    let item = &calls[0]["params"]["offline_messages"][0];
    assert_eq!(item["phone"], "79161234567");
    assert_eq!(item["name"], "Иван");
    assert!(calls
        .iter()
        .any(|c| c["method"] == "set.tag_communications" && c["params"]["tag_id"] == 401));

    // A form whose phone no alias knows.
    let form_type = "application/x-www-form-urlencoded";
    let form_body = "event=callback&id=pv-2&lead%5Bcontact_phone%5D=89161112233";
    let form = preview(&rig, &id, form_type, form_body).await;
    assert_eq!(form["mappable"], false, "{form}");
    assert_eq!(form["stage"], "mapping", "{form}");
    // The parser says where the unknown phone is: an unmatched key.
    assert!(
        form["unmatched_keys"]
            .as_array()
            .is_some_and(|keys| keys.contains(&json!("lead.contact_phone"))),
        "{form}"
    );

    let saved = rig
        .put(
            &format!("/admin/v1/tenants/{id}/field-map"),
            json!({"phone": ["lead.contact_phone"]}),
        )
        .await;
    saved.assert_status(StatusCode::OK);
    let mapped = preview(&rig, &id, form_type, form_body).await;
    assert_eq!(mapped["mappable"], true, "{mapped}");
    assert_eq!(
        mapped["calls"][0]["params"]["offline_messages"][0]["phone"],
        "79161112233"
    );
    assert!(
        mapped["found"]
            .as_array()
            .is_some_and(|found| found.contains(
                &json!({"meaning": "phone", "path": "lead.contact_phone", "from": "field_map"})
            )),
        "{mapped}"
    );
    assert!(!mapped["unmatched_keys"]
        .as_array()
        .is_some_and(|keys| keys.contains(&json!("lead.contact_phone"))));

    let broken = preview(&rig, &id, "application/json", r#"{"event":"#).await;
    assert_eq!(broken["mappable"], false);
    assert_eq!(broken["stage"], "body");
    assert!(broken["reason"]
        .as_str()
        .is_some_and(|r| r.contains("invalid JSON")));

    // A preview writes nothing to CoMagic.
    assert!(rig.emulator.records().is_empty());
}
