//! The behavioural suite of the pipeline, one body run against both backends: the embedded
//! SQLite queue + store, and RabbitMQ + PostgreSQL.

mod support;

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

/// Every shared fixture ends as the right CoMagic record.
async fn fixtures_become_records(backend: Backend) {
    let world = World::start(backend).await;
    let (_, url) = world.default_tenant().await;
    for name in [
        "callback-basic.json",
        "callback-form.txt",
        "callback-no-session.json",
        "callback-session.json",
        "chat-basic.json",
        "chat-no-contact.json",
    ] {
        let (status, body) = world.post_fixture(&url, name).await;
        assert_eq!(status, 200, "{name}: {body}");
        assert_eq!(body["status"], "accepted", "{name}: {body}");
        assert!(body["event_id"].as_str().is_some_and(|s| !s.is_empty()));
    }
    // chat-no-contact: CoMagic's docs contradict themselves; the bridge sends it and the
    // emulator decides. Either way it is not lost: a record or a dead letter.
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

    let basic = by_ext(&records, "offline_message", "9f3c2a71");
    assert_eq!(basic.len(), 1, "{records:?}");
    let p = &basic[0]["payload"];
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

    let session = by_ext(&records, "offline_message", "lb-000451");
    assert_eq!(session.len(), 1, "{records:?}");
    assert_eq!(session[0]["payload"]["visitor_session_id"], 4812337719_i64);
    assert!(session[0]["payload"].get("campaign_id").is_none());

    let form = by_ext(&records, "offline_message", "1187342");
    assert_eq!(form.len(), 1, "{records:?}");
    assert_eq!(form[0]["payload"]["phone"], "79035550102");

    let chat = by_ext(&records, "chat", "c-77120");
    assert_eq!(chat.len(), 1, "{records:?}");
    let c = &chat[0]["payload"];
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
        .chain(chat.iter())
    {
        assert_eq!(r["tags"], json!([401]), "tags on {r}");
    }

    // chat-no-contact: a record, or a dead letter with CoMagic's reason — whichever comes.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let records = world.records();
        let no_contact = by_ext(&records, "chat", "c-77121");
        if let Some(chat) = no_contact.first() {
            assert_eq!(no_contact.len(), 1);
            assert_eq!(chat["payload"]["status"], "lost");
            break;
        }
        let dead = world.dead_letters().await;
        if let Some(d) = dead.iter().find(|d| d.event_id.contains("c-77121")) {
            assert!(d.mnemonic.is_some(), "CoMagic's reason is kept: {d:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "chat-no-contact was lost"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    world.stop().await;
}

/// The same event posted twice ends as one record.
async fn duplicate_post_is_one_record(backend: Backend) {
    let world = World::start(backend).await;
    let (_, url) = world.default_tenant().await;
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

/// A 5xx from CoMagic, then success: one record, after a retry through a delay tier.
async fn server_error_then_success_is_one_record(backend: Backend) {
    let world = World::start(backend).await;
    let (_, url) = world.default_tenant().await;
    world.emulator.inject(Fault::HttpStatus {
        status: 502,
        count: 1,
        method: Some("upload.offline_messages".into()),
    });
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
    let world = World::start(backend).await;
    let mut settings = support::tenant_settings(&world.emulator.api_url());
    settings["default_campaign_id"] = json!(999_999); // not in the account
    let (tenant_id, url) = world.create_tenant(settings.clone()).await;
    let (status, _) = world.post_fixture(&url, "callback-no-session.json").await;
    assert_eq!(status, 200);
    let dead = world.wait_dead_letters(1, WAIT).await;
    assert_eq!(dead[0].class, "event_permanent", "{dead:?}");
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
    let world = World::start(backend).await;
    let (_, url) = world.default_tenant().await;
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
    let get = world.http.get(&url).send().await.unwrap();
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
        .http
        .get(format!("{url}?id=q-1&phone=89161234567&name=Query"))
        .send()
        .await
        .unwrap();
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
    let world = World::start(backend).await;
    let (_, url) = world.default_tenant().await;
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

macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name(super::Backend::Embedded).await }
            )*
        }
        mod rabbitmq_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name(super::Backend::RabbitPostgres).await }
            )*
        }
    };
}

on_every_backend!(
    fixtures_become_records,
    duplicate_post_is_one_record,
    server_error_then_success_is_one_record,
    permanent_error_then_fix_and_replay,
    rate_limit_delays_not_dead_letters,
    ingress_answers,
    unmappable_event_is_dead_lettered_with_raw_body,
    ledger_retention_deletes_delivered_entries,
);
