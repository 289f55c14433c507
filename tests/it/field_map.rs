//! Issue 16, the field map end to end on both backends: the admin API (defaults, 422s naming
//! the entry, save, reset, 404) and the pipeline (a payload with the phone under an unknown
//! path is dead-lettered; map the path; replay; CoMagic has the record with that phone).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use crate::support;

use reqwest::Method;
use serde_json::json;
use std::time::Duration;
use support::{Backend, World};

const WAIT: Duration = Duration::from_secs(30);

fn field_map_path(tenant: impl std::fmt::Display) -> String {
    format!("/admin/v1/tenants/{tenant}/field-map")
}

async fn field_map_api(backend: Backend) {
    let world = World::start(backend).await;
    let (tenant, _) = world.default_tenant().await;
    let path = field_map_path(tenant);

    let (status, body) = world.admin_get(&path).await;
    assert_eq!((status, body), (200, json!({})), "no map: the defaults");

    let (status, body) = world
        .admin(
            Method::PUT,
            &path,
            &json!({"telephone": ["a.b"], "phone": ["lead.phone", "lead..phone"], "email": "x"}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"], "invalid_settings");
    let fields = body["fields"].as_object().expect("fields named");
    let mut named: Vec<&str> = fields.keys().map(String::as_str).collect();
    named.sort_unstable();
    assert_eq!(named, ["email", "phone[1]", "telephone"], "{body}");
    assert!(fields["telephone"]
        .as_str()
        .is_some_and(|m| m.contains("unknown meaning")));
    let (status, body) = world.admin(Method::PUT, &path, &json!(["phone"])).await;
    assert_eq!(status, 422, "{body}");
    let (_, unchanged) = world.admin_get(&path).await;
    assert_eq!(unchanged, json!({}), "a refused map changes nothing");

    let map = json!({"phone": ["lead.contact_phone", "visitor.phones.0"], "name": ["visitor.fio"]});
    let (status, body) = world.admin(Method::PUT, &path, &map).await;
    assert_eq!((status, &body), (200, &map), "{body}");
    let (status, body) = world.admin_get(&path).await;
    assert_eq!((status, body), (200, map));

    let (status, body) = world.admin(Method::PUT, &path, &json!({})).await;
    assert_eq!((status, body), (200, json!({})));
    let (_, body) = world.admin_get(&path).await;
    assert_eq!(body, json!({}), "an empty object restores the defaults");

    let unknown = field_map_path(uuid::Uuid::new_v4());
    let (status, _) = world.admin_get(&unknown).await;
    assert_eq!(status, 404);
    let (status, _) = world.admin(Method::PUT, &unknown, &json!({})).await;
    assert_eq!(status, 404);
    world.stop().await;
}

async fn unknown_phone_path_mapped_then_replayed(backend: Backend) {
    let world = World::start(backend).await;
    let (tenant, url) = world.default_tenant().await;
    let body = json!({
        "event": "callback",
        "id": "fm-unknown-shape-1",
        "lead": {"contact_phone": "+7 (916) 765-43-21"},
        "visitor": {"fio": "Анна Смирнова"},
    });
    world.post_until_dead_lettered(&url, &body, "mapping").await;
    assert!(world.records().is_empty());

    let (status, saved) = world
        .admin(
            Method::PUT,
            &field_map_path(tenant),
            &json!({"phone": ["lead.contact_phone"], "name": ["visitor.fio"]}),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    let (status, report) = world
        .admin_post("/admin/v1/dead-letters/replay", &json!({"tenant": tenant}))
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["replayed"], 1, "{report}");

    let records = world
        .wait_records(WAIT, |r| r.iter().any(|x| x["kind"] == "offline_message"))
        .await;
    let payload = &records[0]["payload"];
    assert_eq!(payload["phone"], "79167654321", "{records:?}");
    assert_eq!(payload["name"], "Анна Смирнова");
    world.stop().await;
}

crate::on_every_backend!(field_map_api, unknown_phone_path_mapped_then_replayed);
