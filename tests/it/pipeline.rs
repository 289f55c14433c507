//! The behavioural suite of the pipeline, one body run against both backends: the embedded
//! SQLite queue + store, and RabbitMQ + PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use crate::support;

use comagic_emulator::Fault;
use serde_json::{json, Value};
use std::time::Duration;
use support::{Backend, World};

const WAIT: Duration = Duration::from_secs(30);

fn by_ext<'a>(records: &'a [Value], kind: &str, needle: &str) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| r["kind"] == kind && r["ext_id"].as_str().unwrap_or("").contains(needle))
        .collect()
}

/// The payload of the one record of `kind` whose ext_id contains `needle`; fails unless exactly
/// one is there.
fn only_payload<'a>(records: &'a [Value], kind: &str, needle: &str) -> &'a Value {
    let found = by_ext(records, kind, needle);
    assert_eq!(found.len(), 1, "one {kind} {needle}: {records:?}");
    &found[0]["payload"]
}

/// Every shared fixture ends as the right CoMagic record.
async fn fixtures_become_records(backend: Backend) {
    let (world, url) = World::start_with_tenant(backend).await;
    for name in support::fixture_names() {
        let (status, body) = world.post_fixture(&url, &name).await;
        assert_eq!(status, 200, "{name}: {body}");
        assert_eq!(body["status"], "accepted", "{name}: {body}");
        assert!(body["event_id"].as_str().is_some_and(|s| !s.is_empty()));
    }
    // chat-no-contact: upload.chats needs a phone or an email, so it is not sent but
    // dead-lettered with the reason (replayable once the mapping is fixed).
    let records = world
        .wait_records(WAIT, |r| {
            // Tags are set after the upload: wait for them too.
            r.iter()
                .filter(|x| x["kind"] == "offline_message" && x["tags"] == json!([401]))
                .count()
                >= 4
                && by_ext(r, "chat", "c-77120")
                    .iter()
                    .any(|x| x["tags"] == json!([401]))
        })
        .await;

    let p = only_payload(&records, "offline_message", "9f3c2a71");
    assert_eq!(p["phone"], "79161234567");
    assert_eq!(p["email"], "ivan.petrov@example.ru");
    assert_eq!(p["name"], "Иван Петров");
    assert_eq!(p["date_time"], "2026-11-20 14:03:11");
    assert_eq!(p["form_name"], "Leadback");
    let message = p["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("https://records.example.net/9f3c2a71.mp3"),
        "{message}"
    );
    assert_eq!(p["campaign_id"], 102, "no session → default campaign");

    let session = only_payload(&records, "offline_message", "lb-000451");
    assert_eq!(session["visitor_session_id"], 4812337719_i64);
    assert!(session.get("campaign_id").is_none());

    let form = only_payload(&records, "offline_message", "1187342");
    assert_eq!(form["phone"], "79035550102");

    let c = only_payload(&records, "chat", "c-77120");
    assert_eq!(c["status"], "succeed");
    assert_eq!(c["initiator"], "visitor");
    assert_eq!(c["phone"], "79210001122");
    let messages = c["messages"].as_array().cloned().unwrap_or_default();
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[1]["source"], "operator");
    assert_eq!(messages[1]["employee_id"], 501);
    // set_tags: the tag is on every record.
    for r in by_ext(&records, "offline_message", "")
        .iter()
        .chain(&by_ext(&records, "chat", "c-77120"))
    {
        assert_eq!(r["tags"], json!([401]), "tags on {r}");
    }

    // chat-no-contact (B8): dead-lettered by the bridge, never refused by CoMagic.
    let dead = world.wait_dead_letters(1, WAIT).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(dead[0].event_id.as_str().contains("c-77121"), "{dead:?}");
    assert_eq!(dead[0].class, "mapping");
    assert_eq!(dead[0].mnemonic, None, "not CoMagic's refusal: {dead:?}");
    assert!(
        dead[0]
            .message
            .contains("neither a usable phone nor an email"),
        "{dead:?}"
    );
    assert!(by_ext(&world.records(), "chat", "c-77121").is_empty());
    world.stop().await;
}

/// The same event posted twice ends as one record.
async fn duplicate_post_is_one_record(backend: Backend) {
    let (world, url) = World::start_with_tenant(backend).await;
    let (s1, b1) = world.post_fixture(&url, "callback-basic.json").await;
    let (s2, b2) = world.post_fixture(&url, "callback-basic.json").await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(b1["event_id"], b2["event_id"], "same event, same id");
    // A body without a Leadback id: the id is the body's hash, stable across redeliveries.
    let body = br#"{"phone":"+7 916 000-00-01","name":"No id"}"#.to_vec();
    let (_, h1) = world.post(&url, "application/json", body.clone()).await;
    let (_, h2) = world.post(&url, "application/json", body).await;
    assert_eq!(h1["event_id"], h2["event_id"]);

    world.wait_records(WAIT, |r| r.len() >= 2).await;
    // Give a doubled delivery time to show up.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let records = world.records();
    assert_eq!(
        by_ext(&records, "offline_message", "9f3c2a71").len(),
        1,
        "{records:?}"
    );
    assert_eq!(records.len(), 2, "{records:?}");
    world.stop().await;
}

/// The next `count` offline-message uploads are answered 502 (a retryable CoMagic outage).
fn offline_uploads_fail(world: &World, count: u32) {
    world.emulator.inject(Fault::HttpStatus {
        status: 502,
        count,
        method: Some("upload.offline_messages".into()),
    });
}

/// A 5xx from CoMagic, then success: one record, after a retry through a delay tier.
async fn server_error_then_success_is_one_record(backend: Backend) {
    let (world, url) = World::start_with_tenant(backend).await;
    offline_uploads_fail(&world, 1);
    let (status, _) = world.post_fixture(&url, "callback-basic.json").await;
    assert_eq!(status, 200);
    let records = world.wait_records(WAIT, |r| !r.is_empty()).await;
    assert_eq!(records.len(), 1);
    let metrics = world.metrics_text().await;
    assert!(
        metrics.contains(
            r#"leadback_bridge_delivery_attempts_total{kind="callback",outcome="retry"} 1"#
        ),
        "{metrics}"
    );
    assert!(world.dead_letters().await.is_empty());
    world.stop().await;
}

/// A permanent error dead-letters the event with the reason; after fixing the settings, a
/// replay delivers it.
async fn permanent_error_then_fix_and_replay(backend: Backend) {
    let mut world = World::start(backend).await;
    // Provoked: a default campaign the account does not have.
    world.provokes_refusals(&["entity_not_found"]);
    let mut settings = support::tenant_settings(&world.emulator.api_url());
    settings["default_campaign_id"] = json!(999_999); // not in the account
    let (tenant_id, url) = world.create_tenant(settings.clone()).await;
    let (status, _) = world.post_fixture(&url, "callback-no-session.json").await;
    assert_eq!(status, 200);
    let dead = world.wait_dead_letters(1, WAIT).await;
    // The default campaign is the tenant's choice: fixing the settings cures it (B10).
    assert_eq!(dead[0].class, "tenant_permanent", "{dead:?}");
    assert!(dead[0].mnemonic.is_some(), "{dead:?}");
    assert_eq!(dead[0].tenant_id, tenant_id);
    assert!(world.records().is_empty());

    settings["default_campaign_id"] = json!(102);
    let input = bridge_app::TenantFile::parse(&settings.to_string())
        .unwrap()
        .into_input(false)
        .unwrap();
    world
        .bridge()
        .store
        .update_tenant(tenant_id, input)
        .await
        .unwrap();
    let report = bridge_app::replay_dead_letters(
        world.bridge().store.as_ref(),
        world.bridge().queue.as_ref(),
        Some(&world.bridge().metrics),
        &bridge_store::DeadLetterFilter {
            tenant_id: Some(tenant_id),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(report.replayed, 1);
    let records = world.wait_records(WAIT, |r| !r.is_empty()).await;
    assert_eq!(records[0]["payload"]["campaign_id"], 102);
    assert!(world.dead_letters().await.is_empty());
    world.stop().await;
}

/// A rate-limit error delays the event (no attempt used, no dead letter); it is delivered later.
async fn rate_limit_delays_not_dead_letters(backend: Backend) {
    let (world, url) = World::start_with_tenant(backend).await;
    world.emulator.inject(Fault::RpcError {
        code: -32029,
        mnemonic: "limit_exceeded".into(),
        message: "Limit exceeded".into(),
        count: 1,
        method: Some("upload.offline_messages".into()),
    });
    let (status, _) = world.post_fixture(&url, "callback-basic.json").await;
    assert_eq!(status, 200);
    // It is first delayed: a retry is counted, nothing dead.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let metrics = world.metrics_text().await;
        if metrics.contains(r#"outcome="retry"} 1"#) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no retry recorded: {metrics}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(world.dead_letters().await.is_empty());
    world.stop().await;
}

/// Ingress answers: unknown token 404, inactive 403, Leadback's save-time test 200 with nothing
/// queued, unparseable 400 with the reason, oversized 413.
async fn ingress_answers(backend: Backend) {
    let world = World::start(backend).await;
    let (tenant_id, url) = world.default_tenant().await;
    let base = world.bridge().public_url.clone();

    let unknown = format!("{base}/hooks/leadback/{}", "A".repeat(43));
    let (s, b) = world
        .post(&unknown, "application/json", b"{}".to_vec())
        .await;
    assert_eq!(s, 404, "{b}");
    assert_eq!(b["error"], "unknown_token");
    let (s, _) = world
        .post(
            &format!("{base}/hooks/leadback/short"),
            "application/json",
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(s, 404);

    // Leadback's test request when the URL is saved: exactly 200.
    let (s, b) = world.post(&url, "application/json", Vec::new()).await;
    assert_eq!((s, b["status"].as_str()), (200, Some("ok")), "{b}");
    let get = world.get(&url).await;
    assert_eq!(get.status().as_u16(), 200);
    let head = world.http.head(&url).send().await.unwrap();
    assert_eq!(head.status().as_u16(), 200);

    let (s, b) = world
        .post(&url, "application/json", b"{\"phone\": ".to_vec())
        .await;
    assert_eq!(s, 400, "{b}");
    assert!(b["reason"].as_str().is_some_and(|r| !r.is_empty()), "{b}");

    let big = vec![b'a'; 300 * 1024];
    let (s, _) = world.post(&url, "application/json", big).await;
    assert_eq!(s, 413);

    // A GET with query parameters is an event too.
    let get = world
        .get(&format!("{url}?id=q-1&phone=89161234567&name=Query"))
        .await;
    assert_eq!(get.status().as_u16(), 200);
    let records = world.wait_records(WAIT, |r| !r.is_empty()).await;
    assert_eq!(
        records.len(),
        1,
        "only the GET event was queued: {records:?}"
    );
    assert_eq!(records[0]["payload"]["phone"], "79161234567");

    world
        .bridge()
        .store
        .set_active(tenant_id, false)
        .await
        .unwrap();
    let (s, b) = world.post_fixture(&url, "callback-basic.json").await;
    assert_eq!(s, 403, "{b}");
    world.stop().await;
}

/// An event that cannot be mapped is dead-lettered with the reason and its raw body.
async fn unmappable_event_is_dead_lettered_with_raw_body(backend: Backend) {
    let (world, url) = World::start_with_tenant(backend).await;
    let body = br#"{"event":"callback","id":"no-contact-1","name":"Nobody"}"#.to_vec();
    let (s, _) = world.post(&url, "application/json", body.clone()).await;
    assert_eq!(s, 200);
    let dead = world.wait_dead_letters(1, WAIT).await;
    assert_eq!(dead[0].class, "mapping");
    let envelope: bridge_queue::Envelope =
        serde_json::from_value(dead[0].envelope.clone()).unwrap();
    assert_eq!(envelope.raw_body, body);
    world.stop().await;
}

/// The worker deletes ledger entries past the retention, complete ones only, and counts them.
async fn ledger_retention_deletes_delivered_entries(backend: Backend) {
    let world = World::start_with(backend, |config| {
        config.worker.ledger_retention = Some(bridge_worker::LedgerRetention {
            keep: Duration::from_secs(2),
            every: Duration::from_millis(200),
        });
    })
    .await;
    let (tenant_id, url) = world.default_tenant().await;
    let (status, body) = world.post_fixture(&url, "callback-basic.json").await;
    assert_eq!(status, 200, "{body}");
    let event_id = body["event_id"].as_str().expect("event id").to_owned();
    world
        .wait_records(WAIT, |r| {
            r.iter()
                .any(|x| x["kind"] == "offline_message" && x["tags"] == json!([401]))
        })
        .await;
    let store = world.bridge().store.clone();
    // Delivered and tagged: the entry is complete, and stays while it is younger than 2 s.
    let entry = store.ledger_get(tenant_id, &event_id).await.unwrap();
    assert!(entry.is_some_and(|e| e.complete));
    let deadline = std::time::Instant::now() + WAIT;
    while store
        .ledger_get(tenant_id, &event_id)
        .await
        .unwrap()
        .is_some()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the ledger entry outlived its retention"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(store.ledger_count().await.unwrap(), 0);
    let metrics = world.metrics_text().await;
    assert!(
        metrics.contains("leadback_bridge_ledger_pruned_total 1"),
        "{metrics}"
    );
    world.stop().await;
}

/// A tenant on one of the emulator's demo accounts (`demo-token`, `demo-token-ekb`,
/// `demo-token-kgd`), with extra settings.
async fn tenant_on(world: &World, token: &str, extra: Value) -> (uuid::Uuid, String) {
    let mut settings = support::tenant_settings(&world.emulator.api_url());
    settings["comagic"]["access_token"] = json!(token);
    if let (Some(settings), Value::Object(extra)) = (settings.as_object_mut(), extra) {
        settings.extend(extra);
    }
    world.create_tenant(settings).await
}

async fn offline_payload(world: &World, needle: &str) -> Value {
    stored_payload(world, "offline_message", needle).await
}

/// The payload of the chat whose `ext_id` contains `needle`, once stored.
async fn chat_payload(world: &World, needle: &str) -> Value {
    stored_payload(world, "chat", needle).await
}

/// The payload of the first record of `kind` whose `ext_id` contains `needle`, once stored.
async fn stored_payload(world: &World, kind: &str, needle: &str) -> Value {
    let records = world
        .wait_records(WAIT, |r| !by_ext(r, kind, needle).is_empty())
        .await;
    by_ext(&records, kind, needle)[0]["payload"].clone()
}

/// `written` (a CoMagic `date_time`) is the wall clock of `zone` at `before` or a second later.
fn assert_written_at(written: &Value, before: chrono::DateTime<chrono::Utc>, zone: chrono_tz::Tz) {
    let expected = [
        wall_clock(before, zone),
        wall_clock(before + chrono::Duration::seconds(1), zone),
    ];
    assert!(
        expected.contains(&written.as_str().unwrap_or_default().to_owned()),
        "{written} vs {expected:?}"
    );
}

/// CoMagic's wall-clock text of an instant in `zone`.
fn wall_clock(at: chrono::DateTime<chrono::Utc>, zone: chrono_tz::Tz) -> String {
    at.with_timezone(&zone)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// B1/B2: record times are written in the account's zone (read from get.account, no
/// `timezone` in the settings); Leadback times without an offset are read in
/// `leadback_timezone`; a fresh event for an account west of Moscow is not "in the future".
async fn account_zone_writes_record_times(backend: Backend) {
    let world = World::start(backend).await;
    let (_, ekb) = tenant_on(&world, "demo-token-ekb", json!({})).await;
    let body =
        json!({"id": "tz-offset", "phone": "+79161234567", "date": "2026-11-23T10:20:30+03:00"});
    world.post_json(&ekb, &body).await;
    let body = json!({"id": "tz-naive", "phone": "+79161234567", "date": "2026-11-23 10:20:30"});
    world.post_json(&ekb, &body).await;
    assert_eq!(
        offline_payload(&world, "tz-offset").await["date_time"],
        "2026-11-23 12:20:30"
    );
    assert_eq!(
        offline_payload(&world, "tz-naive").await["date_time"],
        "2026-11-23 12:20:30"
    );

    // Leadback in another zone: its naive times are read there.
    let (_, kgd_leadback) = tenant_on(
        &world,
        "demo-token-ekb",
        json!({"leadback_timezone": "Europe/Kaliningrad"}),
    )
    .await;
    let body = json!({"id": "tz-lb", "phone": "+79161234567", "date": "2026-11-23 09:20:30"});
    world.post_json(&kgd_leadback, &body).await;
    assert_eq!(
        offline_payload(&world, "tz-lb").await["date_time"],
        "2026-11-23 12:20:30"
    );

    // West of Moscow, an event of right now: written on Kaliningrad's clock, accepted.
    let (_, kgd) = tenant_on(&world, "demo-token-kgd", json!({})).await;
    let before = chrono::Utc::now();
    let body = json!({"id": "tz-fresh", "phone": "+79161234567"});
    world.post_json(&kgd, &body).await;
    let written = offline_payload(&world, "tz-fresh").await["date_time"].clone();
    let kaliningrad = chrono_tz::Europe::Kaliningrad;
    assert_written_at(&written, before, kaliningrad);
    assert!(world.dead_letters().await.is_empty());
    world.stop().await;
}

/// B3: fractions of a second are dropped before ordering: a message in the chat's start second
/// goes one second after it (CoMagic wants it strictly later).
async fn times_are_whole_seconds(backend: Backend) {
    let (world, url) = World::start_with_tenant(backend).await;
    let body = json!({"event": "chat", "chat_id": "frac-1", "phone": "+79161234567",
        "date": "2026-11-20T10:00:00.700+03:00", "messages": [
            {"from": "visitor", "date": "2026-11-20T10:00:00.900+03:00", "text": "a"},
            {"from": "operator", "date": "2026-11-20T10:00:01.100+03:00", "text": "b"}]});
    world.post_json(&url, &body).await;
    let chat = &chat_payload(&world, "frac-1").await;
    assert_eq!(chat["start_date_time"], "2026-11-20 10:00:00");
    let times: Vec<_> = chat["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["date_time"].clone())
        .collect();
    assert_eq!(
        times,
        [json!("2026-11-20 10:00:01"), json!("2026-11-20 10:00:02")]
    );
    world.stop().await;
}

/// B4: an IP address alone is no visit: no session is uploaded, the default campaign is used.
async fn ip_alone_is_no_visit(backend: Backend) {
    let world = World::start(backend).await;
    let (_, url) = tenant_on(&world, "demo-token", json!({"upload_sessions": true})).await;
    let body = json!({"id": "ip-only", "phone": "+79161234567", "ip": "93.184.216.34"});
    world.post_json(&url, &body).await;
    let payload = offline_payload(&world, "ip-only").await;
    assert_eq!(payload["campaign_id"], 102);
    assert!(payload.get("visitor_session_id").is_none(), "{payload}");
    let sessions = world
        .emulator
        .records()
        .into_iter()
        .filter(|r| serde_json::to_value(r).unwrap()["kind"] == "session")
        .count();
    assert_eq!(sessions, 0);
    world.stop().await;
}

/// B5: a regular campaign goes without a site; saving settings checks that the default
/// campaign belongs to the default site and is active, and that a given zone is the account's.
async fn campaign_and_site_agree(backend: Backend) {
    let (world, url) = World::start_with_tenant(backend).await;
    world.post_fixture(&url, "callback-no-session.json").await;
    let records = world.wait_records(WAIT, |r| !r.is_empty()).await;
    assert_eq!(records[0]["payload"]["campaign_id"], 102);
    assert!(
        records[0]["payload"].get("site_id").is_none(),
        "{}",
        records[0]
    );

    let post = reqwest::Method::POST;
    let base = support::tenant_settings(&world.emulator.api_url());
    let with = |extra: Value| {
        let mut settings = base.clone();
        if let (Some(s), Value::Object(extra)) = (settings.as_object_mut(), extra) {
            s.extend(extra);
        }
        settings
    };
    let cases = [
        (
            json!({"default_campaign_id": 101, "default_site_id": 201}),
            "default_site_id",
            "202",
        ),
        (
            json!({"default_campaign_id": 103, "default_site_id": 201}),
            "default_campaign_id",
            "not active",
        ),
        (
            json!({"timezone": "Europe/Moscow", "comagic": {"api_url": world.emulator.api_url(), "access_token": "demo-token-ekb"}}),
            "timezone",
            "Asia/Yekaterinburg",
        ),
    ];
    for (extra, field, says) in cases {
        let (status, body) = world
            .admin(post.clone(), "/admin/v1/tenants", &with(extra.clone()))
            .await;
        assert_eq!(status, 422, "{extra}: {body}");
        let text = body.to_string();
        assert!(
            text.contains(field) && text.contains(says),
            "{extra}: {body}"
        );
    }
    // Without a zone: the account's is stored.
    let ekb = with(
        json!({"comagic": {"api_url": world.emulator.api_url(), "access_token": "demo-token-ekb"}}),
    );
    let (status, body) = world.admin(post, "/admin/v1/tenants", &ekb).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["timezone"], "Asia/Yekaterinburg", "{body}");
    world.stop().await;
}

/// B6: an event without its own time is dated when Leadback called us, even when CoMagic takes
/// it only seconds later (after two retries).
async fn undated_event_is_dated_at_receipt(backend: Backend) {
    let (world, url) = World::start_with_tenant(backend).await;
    offline_uploads_fail(&world, 2);
    let before = chrono::Utc::now();
    let body = json!({"id": "undated", "phone": "+79161234567"});
    world.post_json(&url, &body).await;
    let after = chrono::Utc::now();
    let written = offline_payload(&world, "undated").await["date_time"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let moscow = chrono_tz::Europe::Moscow;
    assert!(
        wall_clock(before, moscow) <= written && written <= wall_clock(after, moscow),
        "{written} not within the post ({before} … {after})"
    );
    world.stop().await;
}

/// B7: a record dated before the session it carries is refused by CoMagic; it falls back to the
/// default campaign, callbacks and chats alike.
async fn time_before_session_falls_back_to_default(backend: Backend) {
    let mut world = World::start(backend).await;
    // Provoked: a time before the session, refused, then the fallback.
    world.provokes_refusals(&["invalid_date_time"]);
    let (_, url) = tenant_on(&world, "demo-token", json!({"upload_sessions": true})).await;
    // An event with visit data makes a session starting a second before it.
    let body = json!({"id": "visit", "phone": "+79161234567", "ip": "93.184.216.34",
        "utm_source": "yandex", "date": "2026-11-20 12:00:00"});
    world.post_json(&url, &body).await;
    offline_payload(&world, "visit").await;
    let session = world
        .emulator
        .records()
        .into_iter()
        .find(|r| serde_json::to_value(r).unwrap()["kind"] == "session")
        .expect("a session was uploaded");
    let early = json!({"id": "early", "phone": "+79161234567", "comagic_session_id": session.id,
        "date": "2026-11-20 11:00:00"});
    world.post_json(&url, &early).await;
    let chat = json!({"event": "chat", "chat_id": "early-chat", "phone": "+79161234567",
        "comagic_session_id": session.id, "date": "2026-11-20 11:00:00",
        "messages": [{"from": "visitor", "date": "2026-11-20 11:00:05", "text": "a"}]});
    world.post_json(&url, &chat).await;
    let payload = offline_payload(&world, "early").await;
    assert_eq!(payload["campaign_id"], 102, "{payload}");
    assert!(payload.get("visitor_session_id").is_none(), "{payload}");
    let chat = &chat_payload(&world, "early-chat").await;
    assert_eq!(chat["campaign_id"], 102, "{chat}");
    assert!(chat.get("visitor_session_id").is_none(), "{chat}");
    assert!(world.dead_letters().await.is_empty());
    // Each fell back after CoMagic's refusal, not before it.
    let refused = world
        .emulator
        .calls()
        .into_iter()
        .filter(|c| c.outcome == "invalid_date_time")
        .count();
    assert!(refused >= 2, "{:?}", world.emulator.calls());
    world.stop().await;
}

/// B9: a chat keeps a contact value it could not parse as a final system message.
async fn chat_keeps_unparsable_contact(backend: Backend) {
    let (world, url) = World::start_with_tenant(backend).await;
    let body = json!({"event": "chat", "chat_id": "bad-phone", "email": "a@example.ru", "phone": "12-34",
        "messages": [{"from": "visitor", "text": "Здравствуйте"}]});
    world.post_json(&url, &body).await;
    let chat = &chat_payload(&world, "bad-phone").await;
    let last = chat["messages"]
        .as_array()
        .and_then(|m| m.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(last["source"], "system", "{chat}");
    assert_eq!(last["message"], "Телефон (не распознан): 12-34");
    assert_eq!(chat["email"], "a@example.ru");
    world.stop().await;
}

/// B10: a refusal of the tenant's choice (an inactive default campaign) is dead-lettered with
/// the tenant class and CoMagic's mnemonic.
async fn tenant_problem_is_tenant_class(backend: Backend) {
    let mut world = World::start(backend).await;
    // Provoked: the inactive default campaign is the point.
    world.provokes_refusals(&["campaign_is_inactive"]);
    let (_, url) = tenant_on(&world, "demo-token", json!({"default_campaign_id": 103})).await;
    world.post_fixture(&url, "callback-no-session.json").await;
    let dead = world.wait_dead_letters(1, WAIT).await;
    assert_eq!(dead[0].class, "tenant_permanent", "{dead:?}");
    assert_eq!(dead[0].mnemonic.as_deref(), Some("campaign_is_inactive"));
    world.stop().await;
}

/// The account's owner moves it to another zone: the first event written on the old clock is
/// refused as "in the future", the worker reads get.account again, applies the new zone and the
/// event is accepted on the new clock — nothing dead-lettered.
async fn changed_account_zone_is_read_again(backend: Backend) {
    let mut world = World::start(backend).await;
    // Provoked: the old zone's clock, refused, then the re-read.
    world.provokes_refusals(&["invalid_date_time"]);
    let (_, url) = tenant_on(&world, "demo-token", json!({})).await;
    let body = json!({"id": "zone-before", "phone": "+79161234567"});
    world.post_json(&url, &body).await;
    offline_payload(&world, "zone-before").await;

    // Moscow → Kaliningrad (an hour west): Moscow's "now" is in Kaliningrad's future.
    let kaliningrad = chrono_tz::Europe::Kaliningrad;
    assert!(world.emulator.set_timezone("demo-token", kaliningrad));
    let before = chrono::Utc::now();
    let body = json!({"id": "zone-after", "phone": "+79161234567"});
    world.post_json(&url, &body).await;
    let written = offline_payload(&world, "zone-after").await["date_time"].clone();
    assert_written_at(&written, before, kaliningrad);
    let refused_for_time = world
        .emulator
        .calls()
        .into_iter()
        .filter(|c| c.outcome.contains("invalid_date_time"))
        .count();
    assert!(
        refused_for_time >= 1,
        "the old zone's time was never refused: the test did not test the re-read"
    );
    assert!(world.dead_letters().await.is_empty());
    world.stop().await;
}

/// B1: the account's zone is read again once the last read is older than the zone TTL (a day
/// in production, a second here) — without waiting for CoMagic to refuse a time: an account
/// moved west is written on its new clock from then on. The worker's `get.account` calls are
/// counted in `comagic_requests_total` like every other CoMagic call.
async fn account_zone_is_read_again_daily(backend: Backend) {
    let world = World::start_with(backend, |config| {
        config.worker.account_zone_ttl = Duration::from_secs(1);
    })
    .await;
    let (_, url) = tenant_on(&world, "demo-token", json!({})).await;
    let at = "2026-11-23T10:20:30+03:00";
    let body = json!({"id": "daily-before", "phone": "+79161234567", "date": at});
    world.post_json(&url, &body).await;
    assert_eq!(
        offline_payload(&world, "daily-before").await["date_time"],
        "2026-11-23 10:20:30"
    );

    // Moscow → Kaliningrad; the same instant is an hour earlier on the account's new clock.
    // Written on Moscow's clock it would still be accepted (it is in the past), so only the
    // scheduled re-read can make the record right.
    assert!(world
        .emulator
        .set_timezone("demo-token", chrono_tz::Europe::Kaliningrad));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let body = json!({"id": "daily-after", "phone": "+79161234567", "date": at});
    world.post_json(&url, &body).await;
    assert_eq!(
        offline_payload(&world, "daily-after").await["date_time"],
        "2026-11-23 09:20:30"
    );

    let metrics = world.metrics_text().await;
    let worker_reads = metrics
        .lines()
        .find(|line| {
            line.starts_with("leadback_bridge_comagic_requests_total{")
                && line.contains(r#"method="get.account""#)
                && line.contains(r#"outcome="ok""#)
        })
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(
        worker_reads >= 2.0,
        "the worker's get.account reads are not counted: {worker_reads}\n{metrics}"
    );
    assert!(world.dead_letters().await.is_empty());
    world.stop().await;
}

crate::on_every_backend!(
    fixtures_become_records,
    duplicate_post_is_one_record,
    server_error_then_success_is_one_record,
    permanent_error_then_fix_and_replay,
    rate_limit_delays_not_dead_letters,
    ingress_answers,
    unmappable_event_is_dead_lettered_with_raw_body,
    ledger_retention_deletes_delivered_entries,
    account_zone_writes_record_times,
    times_are_whole_seconds,
    ip_alone_is_no_visit,
    campaign_and_site_agree,
    undated_event_is_dated_at_receipt,
    time_before_session_falls_back_to_default,
    chat_keeps_unparsable_contact,
    tenant_problem_is_tenant_class,
    changed_account_zone_is_read_again,
    account_zone_is_read_again_daily,
);
