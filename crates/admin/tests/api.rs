//! The JSON admin API against a real SQLite store, the embedded queue and the CoMagic emulator.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod support;

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use bridge_queue::EventQueue;
use bridge_store::TokenHash;
use chrono::Utc;
use futures::StreamExt as _;
use serde_json::{json, Value};
use support::{Rig, ADMIN_TOKEN, PUBLIC_URL};
use uuid::Uuid;

#[tokio::test]
async fn api_wants_the_admin_token() {
    let rig = Rig::start().await;
    let none = rig.anonymous("/admin/v1/tenants").await;
    assert_eq!(
        none.expect(StatusCode::UNAUTHORIZED)["error"],
        "unauthorized"
    );
    // A wrong token, the right one as Basic, a create without any: refused alike.
    let wrong = ("authorization", format!("Bearer {ADMIN_TOKEN}x"));
    let basic = ("authorization", format!("Basic {ADMIN_TOKEN}"));
    let json = ("content-type", "application/json".to_owned());
    let settings = Some(rig.settings().to_string());
    let refused = [
        (Method::GET, "/admin/v1/tenants", wrong, None),
        (Method::GET, "/admin/v1/dead-letters", basic, None),
        (Method::POST, "/admin/v1/tenants", json, settings),
    ];
    for (method, path, header, body) in refused {
        let answer = rig.request(method, path, &[header], body).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    assert!(rig.store.list_tenants().await.unwrap().is_empty());
    let ok = rig.get("/admin/v1/tenants").await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.json(), json!([]));
}

#[tokio::test]
async fn create_show_list_and_no_secret_echoed() {
    let rig = Rig::start().await;
    let answer = rig.post_tenant(rig.settings()).await;
    answer.assert_status(StatusCode::CREATED);
    assert!(!answer.body.contains("demo-token"));
    let created = answer.json();
    let id = created["id"].as_str().unwrap();
    let url = created["webhook_url"].as_str().unwrap();
    let token = url
        .strip_prefix(&format!("{PUBLIC_URL}/hooks/leadback/"))
        .unwrap();
    assert_eq!(token.len(), 43);
    assert_eq!(created["active"], true);
    assert_eq!(
        created["comagic"],
        json!({"api_url": rig.emulator.api_url(), "auth": "access_token"})
    );
    assert_eq!(created["default_campaign_id"], 101);
    assert_eq!(created["tag_ids"], json!([401]));
    assert_eq!(created["warnings"], json!([]));

    let by_token = rig
        .store
        .tenant_by_token(&TokenHash::of(token))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_token.id.to_string(), id);

    let shown = rig.get(&format!("/admin/v1/tenants/{id}")).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(!shown.body.contains("demo-token"));
    assert_eq!(shown.json()["name"], "Shop");
    assert!(shown.json().get("webhook_url").is_none());

    let list = rig.get("/admin/v1/tenants").await;
    assert_eq!(list.json().as_array().unwrap().len(), 1);

    let missing = rig
        .get(&format!("/admin/v1/tenants/{}", Uuid::new_v4()))
        .await;
    assert_eq!(missing.expect(StatusCode::NOT_FOUND)["error"], "not_found");
}

#[tokio::test]
async fn login_credentials_are_accepted_and_reported_as_login() {
    let rig = Rig::start().await;
    let mut settings = rig.settings();
    settings["comagic"] =
        json!({"api_url": rig.emulator.api_url(), "login": "demo", "password": "demo-password"});
    let answer = rig.post_tenant(settings).await;
    answer.assert_status(StatusCode::CREATED);
    assert_eq!(answer.json()["comagic"]["auth"], "login");
    assert!(!answer.body.contains("demo-password"));
}

#[tokio::test]
async fn missing_markers_are_422_per_field() {
    let rig = Rig::start().await;
    let cases = [
        // campaign mode needs a campaign
        (json!({"default_campaign_id": null}), "default_campaign_id"),
        // -1 needs a site
        (json!({"default_campaign_id": -1}), "default_site_id"),
        // source mode needs a source (and a site)
        (
            json!({"default_entity": "source", "default_site_id": 201}),
            "default_source_id",
        ),
        (
            json!({"default_entity": "source", "default_source_id": 301}),
            "default_site_id",
        ),
        // set_tags needs a tag
        (json!({"tag_ids": []}), "tag_ids"),
        // chats need an employee
        (json!({"chat_employee_id": null}), "chat_employee_id"),
        (json!({"name": ""}), "name"),
        (json!({"comagic": null}), "comagic"),
    ];
    for (patch, field) in cases {
        let mut settings = rig.settings();
        for (key, value) in patch.as_object().unwrap() {
            settings[key] = value.clone();
        }
        let answer = rig.post_tenant(settings).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {}",
            answer.body
        );
        let json = answer.json();
        assert_eq!(json["error"], "invalid_settings");
        assert!(
            json["fields"][field].is_string(),
            "{field} not named: {json}"
        );
    }
    assert!(rig.store.list_tenants().await.unwrap().is_empty());

    let bad_json = rig
        .request(
            Method::POST,
            "/admin/v1/tenants",
            &[("authorization", format!("Bearer {ADMIN_TOKEN}"))],
            Some("{not json".into()),
        )
        .await;
    assert_eq!(
        bad_json.expect(StatusCode::BAD_REQUEST)["error"],
        "bad_request"
    );
}

#[tokio::test]
async fn ids_missing_from_the_account_are_422_per_field() {
    let rig = Rig::start().await;
    let mut settings = rig.settings();
    settings["default_campaign_id"] = json!(999);
    settings["tag_ids"] = json!([401, 499]);
    settings["chat_employee_id"] = json!(599);
    settings["default_site_id"] = json!(299);
    let answer = rig.post_tenant(settings).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields = &answer.json()["fields"];
    assert!(fields["default_campaign_id"]
        .as_str()
        .unwrap()
        .contains("999"));
    assert!(fields["tag_ids"].as_str().unwrap().contains("499"));
    assert!(!fields["tag_ids"].as_str().unwrap().contains("401"));
    assert!(fields["chat_employee_id"].as_str().unwrap().contains("599"));
    assert!(fields["default_site_id"].as_str().unwrap().contains("299"));

    let mut source = rig.settings();
    source["default_entity"] = json!("source");
    source["default_source_id"] = json!(399);
    source["default_site_id"] = json!(202);
    let answer = rig.post_tenant(source).await;
    assert!(
        answer.expect(StatusCode::UNPROCESSABLE_ENTITY)["fields"]["default_source_id"].is_string()
    );

    let mut good_source = rig.settings();
    good_source["default_entity"] = json!("source");
    good_source["default_source_id"] = json!(302);
    good_source["default_site_id"] = json!(202);
    rig.create(good_source).await;
}

#[tokio::test]
async fn refused_credentials_are_422_on_comagic() {
    let rig = Rig::start().await;
    let settings = rig.settings_with("/comagic/access_token", json!("wrong-token"));
    let answer = rig.post_tenant(settings).await;
    let json = answer.expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json["error"], "invalid_settings");
    assert!(json["fields"]["comagic"]
        .as_str()
        .unwrap()
        .contains("refused"));
    assert!(!answer.body.contains("wrong-token"));
    assert!(rig.store.list_tenants().await.unwrap().is_empty());
}

#[tokio::test]
async fn unreachable_comagic_saves_with_warnings() {
    let rig = Rig::start().await;
    // Nothing listens on port 9 of localhost: a transport error.
    let settings = rig.settings_with("/comagic/api_url", json!("http://127.0.0.1:9/v2.0"));
    let answer = rig.post_tenant(settings).await;
    answer.assert_status(StatusCode::CREATED);
    assert!(!answer.json()["warnings"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn lists_come_from_the_tenants_account() {
    let rig = Rig::start().await;
    let (id, _) = rig.create(rig.settings()).await;
    let ids = |value: &Value| -> BTreeSet<i64> {
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["id"].as_i64().unwrap())
            .collect()
    };
    for (kind, expected) in [
        ("campaigns", vec![101, 102]),
        ("sites", vec![201, 202]),
        ("sources", vec![301, 302]),
        ("tags", vec![401, 402]),
        ("employees", vec![501, 502]),
    ] {
        let answer = rig
            .get(&format!("/admin/v1/tenants/{id}/comagic/{kind}"))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{kind}: {}", answer.body);
        let got = ids(&answer.json());
        for id in expected {
            assert!(got.contains(&id), "{kind} lacks {id}: {got:?}");
        }
    }
    let account = rig
        .get(&format!("/admin/v1/tenants/{id}/comagic/account"))
        .await;
    assert_eq!(account.status, StatusCode::OK);
    assert_eq!(account.json()["timezone"], "Europe/Moscow");

    let unknown = rig
        .get(&format!("/admin/v1/tenants/{id}/comagic/calls"))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    // A CoMagic failure is passed on as 502 with its mnemonic.
    let fail_once = |code, mnemonic: &str, message: &str, method: &str| {
        rig.emulator.inject(comagic_emulator::Fault::RpcError {
            code,
            mnemonic: mnemonic.into(),
            message: message.into(),
            count: 1,
            method: Some(method.into()),
        });
    };
    fail_once(
        -32008,
        "method_component_disabled",
        "component disabled",
        "get.tags",
    );
    let failed = rig
        .get(&format!("/admin/v1/tenants/{id}/comagic/tags"))
        .await;
    failed.assert_status(StatusCode::BAD_GATEWAY);
    assert_eq!(failed.json()["mnemonic"], "method_component_disabled");

    fail_once(-32001, "access_token_invalid", "invalid token", "get.sites");
    let refused = rig
        .get(&format!("/admin/v1/tenants/{id}/comagic/sites"))
        .await;
    assert!(refused.expect(StatusCode::UNPROCESSABLE_ENTITY)["fields"]["comagic"].is_string());
}

#[tokio::test]
async fn update_without_comagic_keeps_credentials() {
    let rig = Rig::start().await;
    let (id, _) = rig.create(rig.settings()).await;
    let mut update = rig.settings();
    update.as_object_mut().unwrap().remove("comagic");
    update["name"] = json!("Shop 2");
    update["default_campaign_id"] = json!(102);
    update["active"] = json!(false);
    let answer = rig
        .put(&format!("/admin/v1/tenants/{id}"), update.clone())
        .await;
    answer.assert_status(StatusCode::OK);
    assert_eq!(answer.json()["name"], "Shop 2");
    assert_eq!(answer.json()["active"], false);
    let stored = rig.stored(&id).await;
    assert_eq!(stored.settings.default_campaign_id, Some(102));
    assert_eq!(stored.credentials.auth.kind(), "access_token");
    assert_eq!(stored.credentials.api_url, rig.emulator.api_url());
    // The kept credentials still work: the lists load.
    let tags = rig
        .get(&format!("/admin/v1/tenants/{id}/comagic/tags"))
        .await;
    assert_eq!(tags.status, StatusCode::OK);

    // Validation applies to updates too, against the stored credentials.
    update["default_campaign_id"] = json!(999);
    let invalid = rig.put(&format!("/admin/v1/tenants/{id}"), update).await;
    assert!(
        invalid.expect(StatusCode::UNPROCESSABLE_ENTITY)["fields"]["default_campaign_id"]
            .is_string()
    );
}

#[tokio::test]
async fn rotate_invalidates_the_old_token_and_delete_removes() {
    let rig = Rig::start().await;
    let (id, old_url) = rig.create(rig.settings()).await;
    let token_of = |url: &str| url.rsplit('/').next().unwrap().to_owned();
    let old = TokenHash::of(&token_of(&old_url));
    assert!(rig.store.tenant_by_token(&old).await.unwrap().is_some());
    let answer = rig
        .api(
            Method::POST,
            &format!("/admin/v1/tenants/{id}/rotate-token"),
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let new_url = answer.json()["webhook_url"].as_str().unwrap().to_owned();
    assert_ne!(new_url, old_url);
    assert!(new_url.starts_with(&format!("{PUBLIC_URL}/hooks/leadback/")));
    assert!(rig.store.tenant_by_token(&old).await.unwrap().is_none());
    let new = TokenHash::of(&token_of(&new_url));
    assert!(rig.store.tenant_by_token(&new).await.unwrap().is_some());

    let deleted = rig
        .api(Method::DELETE, &format!("/admin/v1/tenants/{id}"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(rig.store.tenant_by_token(&new).await.unwrap().is_none());
    let again = rig
        .api(Method::DELETE, &format!("/admin/v1/tenants/{id}"), None)
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

async fn dead_letter(rig: &Rig, tenant: Uuid, event: &str, class: &str) -> Uuid {
    let refusal = ("entity_not_found", "campaign not found");
    rig.dead_letter(tenant, event, class, refusal).await
}

#[tokio::test]
async fn dead_letters_list_show_replay_delete() {
    let rig = Rig::start().await;
    let (id, _) = rig.create(rig.settings()).await;
    let tenant: Uuid = id.parse().unwrap();
    let other = Uuid::new_v4();
    let a = dead_letter(&rig, tenant, "evt-a", "event_permanent").await;
    let b = dead_letter(&rig, tenant, "evt-b", "exhausted").await;
    let c = dead_letter(&rig, other, "evt-c", "exhausted").await;

    let all = rig.get("/admin/v1/dead-letters").await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(all.json().as_array().unwrap().len(), 3);
    assert!(all.json()[0].get("raw_body").is_none());
    let mine = rig
        .get(&format!(
            "/admin/v1/dead-letters?tenant={id}&class=exhausted"
        ))
        .await;
    let mine = mine.json();
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(mine[0]["id"], b.to_string());
    let limited = rig.get("/admin/v1/dead-letters?limit=2").await;
    assert_eq!(limited.json().as_array().unwrap().len(), 2);
    let future = rig
        .get("/admin/v1/dead-letters?since=2999-01-01T00:00:00Z")
        .await;
    assert_eq!(future.json(), json!([]));
    let bad = rig.get("/admin/v1/dead-letters?since=yesterday").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    let shown = rig.get(&format!("/admin/v1/dead-letters/{a}")).await;
    assert_eq!(shown.status, StatusCode::OK);
    let shown = shown.json();
    assert_eq!(shown["event_id"], "evt-a");
    assert!(shown["raw_body"].as_str().unwrap().contains("+79001234567"));
    assert_eq!(shown["mnemonic"], "entity_not_found");

    let empty = rig.replay(json!({})).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    let empty_ids = rig.replay(json!({"ids": []})).await;
    assert_eq!(empty_ids.status, StatusCode::BAD_REQUEST);

    let mut stream = rig.queue.consume(10).await.unwrap();
    let replayed = rig.replay(json!({"ids": [a]})).await;
    replayed.assert_status(StatusCode::OK);
    assert_eq!(replayed.json(), json!({"replayed": 1, "failed": []}));
    assert_eq!(rig.metrics.replays_total.get(), 1);
    let delivery = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let envelope = delivery.envelope().clone();
    assert_eq!(envelope.event_id.as_str(), "evt-a");
    assert_eq!(envelope.attempt, 0);
    assert!(envelope.first_attempt_at.is_none());
    assert!(envelope.last_error.is_none());
    assert_eq!(
        envelope.raw_body,
        br#"{"name":"Ivan","phone":"+79001234567"}"#
    );
    delivery.ack().await.unwrap();
    let gone = rig.get(&format!("/admin/v1/dead-letters/{a}")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);

    // A filter replays only its own.
    let by_tenant = rig.replay(json!({"tenant": other})).await;
    assert_eq!(by_tenant.json()["replayed"], 1);
    assert!(!rig.has_dead_letter(c).await);
    assert!(rig.has_dead_letter(b).await);

    let deleted = rig
        .api(Method::DELETE, &format!("/admin/v1/dead-letters/{b}"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let again = rig
        .api(Method::DELETE, &format!("/admin/v1/dead-letters/{b}"), None)
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);

    let d = dead_letter(&rig, tenant, "evt-d", "exhausted").await;
    let all = rig.replay(json!({"all": true})).await;
    assert_eq!(all.json()["replayed"], 1);
    assert!(!rig.has_dead_letter(d).await);
    assert_eq!(rig.metrics.replays_total.get(), 3);
}

#[tokio::test]
async fn deliveries_are_listed_newest_first() {
    let rig = Rig::start().await;
    let (id, _) = rig.create(rig.settings()).await;
    let tenant: Uuid = id.parse().unwrap();
    for (n, event) in ["evt-1", "evt-2", "evt-3"].iter().enumerate() {
        let at = Utc::now() + chrono::Duration::seconds(n as i64);
        rig.store
            .ledger_record_upload(&bridge_store::UploadRecord {
                tenant_id: tenant,
                event_id: event.parse().unwrap(),
                kind: leadback_model::EventKind::Callback,
                ext_id: format!("lb-{event}"),
                comagic_id: Some(1000 + n as i64),
                attempts: 1,
                received_at: at,
                delivered_at: at,
                complete: true,
            })
            .await
            .unwrap();
    }
    let answer = rig
        .get(&format!("/admin/v1/tenants/{id}/deliveries?limit=2"))
        .await;
    let list = answer.expect(StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[0]["event_id"], "evt-3");
    assert_eq!(list[1]["event_id"], "evt-2");
    let bad = rig
        .get(&format!("/admin/v1/tenants/{id}/deliveries?limit=0"))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn openapi_lists_every_route_the_router_serves() {
    let rig = Rig::start().await;
    let answer = rig.anonymous("/admin/v1/openapi.json").await;
    assert_eq!(answer.status, StatusCode::OK);
    let doc = answer.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.0"));
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        // Paths with servers of their own (the webhook, /healthz, /readyz) are on the public
        // listener, not under /admin/v1 (tests/deploy_files.rs checks those).
        if item.get("servers").is_some() {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                documented.insert((method.to_uppercase(), format!("/admin/v1{path}")));
            }
        }
    }
    let routed: BTreeSet<(String, String)> = bridge_admin::api_routes()
        .map(|(m, p)| (m.to_owned(), p.to_owned()))
        .collect();
    assert_eq!(documented, routed);

    // And each route is really served: not the catch-all, not "method not allowed".
    for (method, path) in &routed {
        let concrete = path
            .replace("{id}", &Uuid::new_v4().to_string())
            .replace("{kind}", "tags")
            .replace("{event_id}", "callback:lbtest-0");
        let answer = rig
            .api(
                Method::from_bytes(method.as_bytes()).unwrap(),
                &concrete,
                Some(json!({})),
            )
            .await;
        assert_ne!(
            answer.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert!(
            answer.body != r#"{"error":"no_such_route"}"#,
            "{method} {path} not routed"
        );
    }
    let unknown = rig.get("/admin/v1/nope").await;
    assert_eq!(unknown.json()["error"], "no_such_route");

    // The document on disk is the one served.
    let on_disk: Value = serde_json::from_str(include_str!("../../../docs/openapi.json")).unwrap();
    assert_eq!(on_disk, doc);
}

/// `{"all": true}` replays every dead letter, however many (no page-sized cap), and reports
/// the true count.
#[tokio::test]
async fn replay_all_has_no_silent_cap() {
    let rig = Rig::start().await;
    let (id, _) = rig.create(rig.settings()).await;
    let tenant: Uuid = id.parse().unwrap();
    for i in 0..152 {
        dead_letter(&rig, tenant, &format!("evt-{i}"), "exhausted").await;
    }
    let all = rig.replay(json!({"all": true})).await;
    all.assert_status(StatusCode::OK);
    assert_eq!(all.json(), json!({"replayed": 152, "failed": []}));
    assert_eq!(rig.metrics.replays_total.get(), 152);
    assert_eq!(rig.store.dead_letter_count().await.unwrap(), 0);
    let depths = rig.queue.depths().await.unwrap();
    let main = depths.iter().find(|d| d.queue == "main").unwrap();
    assert_eq!(main.messages, 152);
}

/// The same event dead-lettered twice is one row; `?resolved=true` shows resolved ones too.
#[tokio::test]
async fn one_dead_letter_per_event() {
    let rig = Rig::start().await;
    let (id, _) = rig.create(rig.settings()).await;
    let tenant: Uuid = id.parse().unwrap();
    let first = dead_letter(&rig, tenant, "evt-twice", "exhausted").await;
    let second = dead_letter(&rig, tenant, "evt-twice", "exhausted").await;
    assert_eq!(first, second);
    let listed = rig.get("/admin/v1/dead-letters").await;
    let listed = listed.json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["attempts"], 18);
    assert!(listed[0]["resolved_at"].is_null());
}

/// Dead letters of the tenant class are offered for replay when the settings are saved, and the
/// offered call replays exactly those (not the events' own failures).
#[tokio::test]
async fn saved_settings_offer_to_replay_the_tenants_problems() {
    let rig = Rig::start().await;
    let (id, _) = rig.create(rig.settings()).await;
    let tenant: Uuid = id.parse().unwrap();
    dead_letter(&rig, tenant, "evt-held-1", "tenant_permanent").await;
    dead_letter(&rig, tenant, "evt-held-2", "tenant_permanent").await;
    let own = dead_letter(&rig, tenant, "evt-own", "exhausted").await;

    let mut update = rig.settings();
    update.as_object_mut().unwrap().remove("comagic");
    let saved = rig
        .put(&format!("/admin/v1/tenants/{id}"), update.clone())
        .await;
    saved.assert_status(StatusCode::OK);
    let offer = saved.json()["tenant_problems"].clone();
    assert_eq!(offer["open"], 2, "{offer}");
    assert_eq!(offer["problems"][0]["mnemonic"], "entity_not_found");
    assert!(offer["problems"][0]["fix"]
        .as_str()
        .is_some_and(|fix| fix.contains("pick it again")));
    assert_eq!(offer["replay"]["path"], "/admin/v1/dead-letters/replay");

    let replayed = rig.replay(offer["replay"]["body"].clone()).await;
    replayed.assert_status(StatusCode::OK);
    assert_eq!(replayed.json()["replayed"], 2);
    let left = rig
        .get(&format!("/admin/v1/dead-letters?tenant={id}"))
        .await;
    let left = left.json();
    assert_eq!(left.as_array().map(Vec::len), Some(1), "{left}");
    assert_eq!(left[0]["id"], own.to_string());

    let again = rig.put(&format!("/admin/v1/tenants/{id}"), update).await;
    assert!(again.json()["tenant_problems"].is_null(), "{}", again.body);
}
