//! Issue 16's operator API end to end on both backends: recent payloads (what Leadback sent,
//! with the parser's reading and the event's fate; bounded by count; off with 0), tenant
//! health and the list's status, and the test request through the real pipeline.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use crate::support;

use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::{tenant_settings, Backend, World};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);

/// Polls `GET path` until `done` holds for the answer (200), or panics with the last one.
async fn wait_admin(world: &World, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, body) = world.admin_get(path).await;
        if status == 200 && done(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "timed out on {path}: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn has(list: &Value, item: &str) -> bool {
    list.as_array()
        .is_some_and(|items| items.iter().any(|i| i == item))
}

async fn payloads_show_what_arrived_and_what_became_of_it(backend: Backend) {
    let world = World::start(backend).await;
    let (tenant, url) = world.default_tenant().await;
    let path = format!("/admin/v1/tenants/{tenant}/payloads");
    let (status, body) = world.admin_get(&path).await;
    assert_eq!((status, body), (200, json!([])));

    // A shape whose phone no alias knows: accepted, then dead-lettered for the missing phone.
    let unknown = json!({
        "event": "callback",
        "id": "rp-unknown-phone-1",
        "lead": {"contact_phone": "+7 (916) 765-43-21"},
        "visitor": {"fio": "Анна Смирнова"},
    });
    let dead = world
        .post_until_dead_lettered(&url, &unknown, "mapping")
        .await;
    let unknown = unknown.to_string();
    // A body the ingress refuses (400) is kept too, with the reason.
    let (status, _) = world
        .post(
            &url,
            "application/json",
            b"{\"event\": \"callback\", ".to_vec(),
        )
        .await;
    assert_eq!(status, 400);

    let listed = wait_admin(&world, &path, |b| {
        b.as_array().is_some_and(|l| l.len() == 2) && b[1]["delivery"]["state"] == "dead_letter"
    })
    .await;
    // Newest first: the refused body, then the dead-lettered one.
    let refused = &listed[0];
    assert_eq!(refused["ingress"], "rejected", "{listed}");
    assert!(refused["ingress_error"].as_str().is_some(), "{refused}");
    assert_eq!(refused["event_id"], Value::Null);
    assert_eq!(refused["delivery"], Value::Null);
    let dead_one = &listed[1];
    assert_eq!(dead_one["ingress"], "accepted");
    assert_eq!(dead_one["event_id"], dead[0].event_id.as_str());
    assert_eq!(dead_one["body"], unknown.as_str());
    assert_eq!(dead_one["content_type"], "application/json");
    assert_eq!(dead_one["parsed"]["kind"], "callback", "{dead_one}");
    assert_eq!(dead_one["parsed"]["mappable"], false);
    assert_eq!(dead_one["parsed"]["problem"]["class"], "mapping");
    assert!(
        has(&dead_one["parsed"]["unmatched_keys"], "lead.contact_phone"),
        "{dead_one}"
    );
    assert!(has(&dead_one["parsed"]["unmatched_keys"], "visitor.fio"));
    assert!(dead_one["parsed"]["found"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["meaning"] == "event_id" && f["path"] == "id" && f["from"] == "alias"));
    assert_eq!(dead_one["delivery"]["class"], "mapping");
    assert!(dead_one["delivery"]["dead_letter_id"].as_str().is_some());

    // The reading is the current one: after mapping the path the same payload maps.
    let (status, _) = world
        .admin(
            Method::PUT,
            &format!("/admin/v1/tenants/{tenant}/field-map"),
            &json!({"phone": ["lead.contact_phone"]}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, listed) = world.admin_get(&path).await;
    let parsed = &listed[1]["parsed"];
    assert_eq!(parsed["mappable"], true, "{parsed}");
    assert!(parsed["found"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["meaning"] == "phone"
            && f["path"] == "lead.contact_phone"
            && f["from"] == "field_map"));
    assert!(!has(&parsed["unmatched_keys"], "lead.contact_phone"));

    // Replayed and delivered: the payload says so.
    let (status, _) = world
        .admin_post("/admin/v1/dead-letters/replay", &json!({"tenant": tenant}))
        .await;
    assert_eq!(status, 200);
    let listed = wait_admin(&world, &path, |b| b[1]["delivery"]["state"] == "delivered").await;
    assert!(
        listed[1]["delivery"]["comagic_id"].as_i64().is_some(),
        "{listed}"
    );

    let (status, limited) = world.admin_get(&format!("{path}?limit=1")).await;
    assert_eq!((status, limited.as_array().map(Vec::len)), (200, Some(1)));
    for bad in ["0", "1001", "x"] {
        let (status, body) = world.admin_get(&format!("{path}?limit={bad}")).await;
        assert_eq!(status, 400, "limit={bad}: {body}");
    }
    for unknown in [Uuid::new_v4().to_string(), "not-a-uuid".to_owned()] {
        let (status, body) = world
            .admin_get(&format!("/admin/v1/tenants/{unknown}/payloads"))
            .await;
        assert_eq!(
            (status, &body["error"]),
            (404, &json!("not_found")),
            "{body}"
        );
    }

    // They go with their tenant.
    world.bridge().store.delete_tenant(tenant).await.unwrap();
    let kept = world
        .bridge()
        .store
        .recent_payloads(tenant, chrono::DateTime::<chrono::Utc>::UNIX_EPOCH, 100)
        .await
        .unwrap();
    assert!(kept.is_empty());
    world.stop().await;
}

async fn payloads_kept_per_tenant_by_count(backend: Backend) {
    let world = World::start_with(backend, |c| c.ingress.recent_payloads = 2).await;
    let (tenant, url) = world.default_tenant().await;
    for i in 0..4 {
        let body =
            json!({"event": "callback", "id": format!("count-{i}"), "phone": "+79161234567"});
        let (status, _) = world.post_json(&url, &body).await;
        assert_eq!(status, 200);
    }
    world.wait_records(WAIT, |r| r.len() == 4).await;
    let path = format!("/admin/v1/tenants/{tenant}/payloads");
    // The recorder writes once a second: wait for the last body, then check nothing older
    // than the newest two is kept.
    let listed = wait_admin(&world, &path, |b| b[0]["event_id"] == "callback:count-3").await;
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["callback:count-3", "callback:count-2"], "{listed}");
    world.stop().await;
}

async fn payloads_off_with_zero(backend: Backend) {
    let world = World::start_with(backend, |c| c.ingress.recent_payloads = 0).await;
    let (tenant, url) = world.default_tenant().await;
    let (status, _) = world.post_fixture(&url, "callback-basic.json").await;
    assert_eq!(status, 200);
    world.wait_records(WAIT, |r| r.len() == 1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, body) = world
        .admin_get(&format!("/admin/v1/tenants/{tenant}/payloads"))
        .await;
    assert_eq!((status, body), (200, json!([])));
    world.stop().await;
}

/// A world whose test provokes CoMagic into refusing a tenant's credentials.
async fn world_refusing_a_tenant(backend: Backend) -> World {
    let mut world = World::start(backend).await;
    world.provokes_refusals(&["access_token_invalid"]);
    world
}

async fn health_and_status(backend: Backend) {
    // Provoked: a tenant whose credentials CoMagic refuses.
    let world = world_refusing_a_tenant(backend).await;
    let (tenant, url) = world.default_tenant().await;
    let health_path = format!("/admin/v1/tenants/{tenant}/health");
    let (status, health) = world.admin_get(&health_path).await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["status_reason"], "no webhook received yet");
    assert_eq!(health["comagic"]["reachable"], true);
    assert_eq!(health["comagic"]["credentials_accepted"], true);
    assert_eq!(health["timezone"]["account"], "Europe/Moscow");
    assert_eq!(health["last_accepted_at"], Value::Null);
    assert_eq!(health["dead_letters"]["total"], 0);

    // One delivered, one dead-lettered (no phone anywhere).
    let (status, _) = world.post_fixture(&url, "callback-basic.json").await;
    assert_eq!(status, 200);
    world.wait_records(WAIT, |r| r.len() == 1).await;
    let body = json!({"event": "callback", "id": "health-no-phone", "lead": {"tel": "x"}});
    let (status, _) = world.post_json(&url, &body).await;
    assert_eq!(status, 200);
    world.wait_dead_letters(1, WAIT).await;

    // Written by the ingress and the worker at most once a second: wait for it.
    let health = wait_admin(&world, &health_path, |h| {
        h["last_accepted_at"].is_string()
            && h["last_delivered_at"].is_string()
            && h["last_error"]["class"] == "mapping"
    })
    .await;
    assert_eq!(health["status"], "needs_attention", "{health}");
    assert!(health["status_reason"]
        .as_str()
        .unwrap()
        .contains("dead letter"));
    assert_eq!(
        health["dead_letters"],
        json!({"total": 1, "by_class": {"mapping": 1}})
    );
    assert_eq!(health["budget"]["source"], "get.account", "{health}");
    assert!(
        health["budget"]["day"]["remaining"].as_i64().is_some(),
        "{health}"
    );
    // The worker kept the limits CoMagic reported with its uploads.
    let stored = world
        .bridge()
        .store
        .tenant_activity(Some(tenant))
        .await
        .unwrap();
    assert!(
        stored[0].limits.and_then(|l| l.minute_remaining).is_some(),
        "{stored:?}"
    );
    // …and noted the delivery itself (the answer above could fall back to the ledger).
    assert!(stored[0].last_delivered_at.is_some(), "{stored:?}");

    // The list: this one needs attention; one with refused credentials too; one whose CoMagic
    // is unreachable waits for it (live check) but is `ok` in the list until an event fails.
    let mut refused = tenant_settings(&world.emulator.api_url());
    refused["comagic"]["access_token"] = json!("not-a-valid-token");
    let (refused, _) = world.create_tenant(refused).await;
    let (status, health) = world
        .admin_get(&format!("/admin/v1/tenants/{refused}/health"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(health["comagic"]["credentials_accepted"], false, "{health}");
    assert_eq!(health["status"], "needs_attention", "{health}");
    let (down, _) = world
        .create_tenant(tenant_settings("http://127.0.0.1:9/v2.0"))
        .await;
    let (_, health) = world
        .admin_get(&format!("/admin/v1/tenants/{down}/health"))
        .await;
    assert_eq!(health["comagic"]["reachable"], false, "{health}");
    assert_eq!(health["status"], "waiting_for_comagic", "{health}");

    let (status, list) = world.admin_get("/admin/v1/tenants").await;
    assert_eq!(status, 200);
    let status_of = |id: Uuid| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id.to_string())
            .map(|t| (t["status"].clone(), t["status_reason"].is_string()))
            .unwrap()
    };
    assert_eq!(
        status_of(tenant),
        (json!("needs_attention"), true),
        "{list}"
    );
    assert_eq!(status_of(down), (json!("ok"), true), "{list}");

    let (status, health) = world
        .admin_get(&format!("/admin/v1/tenants/{}/health", Uuid::new_v4()))
        .await;
    assert_eq!(status, 404, "{health}");
    world.stop().await;
}

async fn test_request_through_the_pipeline(backend: Backend) {
    // Provoked: a test request for a tenant whose credentials CoMagic refuses.
    let world = world_refusing_a_tenant(backend).await;
    let (tenant, _) = world.default_tenant().await;
    let path = format!("/admin/v1/tenants/{tenant}/test-request");

    let (status, sent) = world
        .admin_post(&format!("{path}?wait=30"), &Value::Null)
        .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["state"], "delivered", "{sent}");
    let event_id = sent["event_id"].as_str().unwrap().to_owned();
    assert!(event_id.starts_with("callback:lbtest-"), "{sent}");
    let comagic_id = sent["comagic_id"].as_i64().expect("CoMagic's record id");
    let records = world.records();
    let record = records
        .iter()
        .find(|r| r["id"] == comagic_id)
        .unwrap_or_else(|| panic!("no record {comagic_id} in {records:?}"));
    assert_eq!(
        record["payload"]["name"], "Тестовое обращение leadback-bridge",
        "{record}"
    );
    assert!(
        record["payload"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("тестовое")),
        "{record}"
    );

    let (status, again) = world.admin_get(sent["result_url"].as_str().unwrap()).await;
    assert_eq!(
        (status, &again["comagic_id"]),
        (200, &json!(comagic_id)),
        "{again}"
    );

    // Without waiting: 202 and pending, then delivered.
    let (status, queued) = world.admin_post(&path, &Value::Null).await;
    assert_eq!(
        (status, &queued["state"]),
        (202, &json!("pending")),
        "{queued}"
    );
    let result_url = queued["result_url"].as_str().unwrap().to_owned();
    let done = wait_admin(&world, &result_url, |r| r["state"] != "pending").await;
    assert_eq!(done["state"], "delivered", "{done}");

    // A tenant CoMagic refuses: failed, with the error and what to fix.
    let mut refused = tenant_settings(&world.emulator.api_url());
    refused["comagic"]["access_token"] = json!("not-a-valid-token");
    let (refused, _) = world.create_tenant(refused).await;
    let (status, failed) = world
        .admin_post(
            &format!("/admin/v1/tenants/{refused}/test-request?wait=30"),
            &Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{failed}");
    assert_eq!(failed["state"], "failed", "{failed}");
    assert_eq!(failed["error"]["class"], "tenant_permanent", "{failed}");
    assert!(
        failed["fix"]
            .as_str()
            .is_some_and(|f| f.contains("credentials")),
        "{failed}"
    );

    // Bad input.
    for wait in ["61", "x"] {
        let (status, _) = world
            .admin_post(&format!("{path}?wait={wait}"), &Value::Null)
            .await;
        assert_eq!(status, 400, "wait={wait}");
    }
    let (status, _) = world
        .admin_post(
            &format!("/admin/v1/tenants/{}/test-request", Uuid::new_v4()),
            &Value::Null,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = world.admin_get(&format!("{path}/not-a-test-id")).await;
    assert_eq!(status, 404);
    world
        .bridge()
        .store
        .set_active(tenant, false)
        .await
        .unwrap();
    let (status, body) = world.admin_post(&path, &Value::Null).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["fields"]["active"].is_string(), "{body}");
    world.stop().await;
}

crate::on_every_backend!(
    payloads_show_what_arrived_and_what_became_of_it,
    payloads_kept_per_tenant_by_count,
    payloads_off_with_zero,
    health_and_status,
    test_request_through_the_pipeline,
);
