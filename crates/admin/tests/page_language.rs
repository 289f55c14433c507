//! The tenant page's dynamic texts in the page's language (issue 16): what to fix after a
//! failed test request, the health warnings, the preview's warnings and mapping reasons, the
//! recent payloads' readings and refusals, and why settings or a field map were refused. The
//! Russian page says them in Russian with no English sentence of them; `?lang=en` in English.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod support;

use bridge_store::{NewRecentPayload, TenantInput, OUTCOME_ACCEPTED, OUTCOME_REJECTED};
use chrono::Utc;
use support::browser::{csrf_of, sign_in, Browser};
use support::Rig;
use uuid::Uuid;

/// `html` says each of `said` and none of `unsaid`.
#[track_caller]
fn says(html: &str, said: &[&str], unsaid: &[&str]) {
    for text in said {
        assert!(html.contains(text), "{text:?} missing in\n{html}");
    }
    for text in unsaid {
        assert!(!html.contains(text), "{text:?} shown in\n{html}");
    }
}

/// The element with `id` up to the end of its section.
fn part<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!(r#"id="{id}""#))
        .unwrap_or_else(|| panic!("no {id} in\n{html}"));
    let rest = &html[start..];
    &rest[..rest.find("</section>").unwrap_or(rest.len())]
}

/// An active tenant made through the API, a signed-in browser, and the tenant's page path.
async fn tenant(rig: &Rig) -> (Uuid, Browser<'_>, String) {
    let (id, _) = rig.create(rig.settings()).await;
    let browser = sign_in(rig).await;
    let path = format!("/admin/tenants/{id}");
    (id.parse().unwrap(), browser, path)
}

#[tokio::test]
async fn what_to_fix_after_a_failed_test_request() {
    let rig = Rig::start().await;
    let (id, browser, path) = tenant(&rig).await;
    let event = "callback:lbtest-page-language";
    let refusal = ("access_token_invalid", "token");
    rig.dead_letter(id, event, "tenant_permanent", refusal)
        .await;
    let query = format!("{path}?test_request={event}");
    let russian = browser.get(&query).await.body;
    says(
        part(&russian, "test-request-result"),
        &[
            "введите действующий API-ключ",
            "отправьте тестовое обращение ещё раз",
        ],
        &["enter a valid access token", "send another test request"],
    );
    let english = browser.get(&format!("{query}&lang=en")).await.body;
    says(
        part(&english, "test-request-result"),
        &["enter a valid access token", "send another test request"],
        &["введите действующий API-ключ"],
    );
}

#[tokio::test]
async fn the_account_time_zone_warning() {
    let rig = Rig::start().await;
    let (id, browser, path) = tenant(&rig).await;
    // Stored before the account moved to another zone (the emulator's is Europe/Moscow).
    let mut tenant = rig.store.get_tenant(id).await.unwrap().unwrap();
    tenant.settings.timezone = Some("Asia/Yekaterinburg".into());
    let input = TenantInput {
        name: tenant.name,
        active: tenant.active,
        settings: tenant.settings,
        credentials: None,
    };
    rig.store.update_tenant(id, input).await.unwrap();
    let russian = browser.get(&path).await.body;
    says(
        part(&russian, "health"),
        &[
            "часовой пояс кабинета теперь Europe/Moscow",
            "сохраните настройки",
        ],
        &["time zone is now", "save the settings to store it"],
    );
    let english = browser.get(&format!("{path}?lang=en")).await.body;
    says(
        part(&english, "health"),
        &[
            "time zone is now Europe/Moscow",
            "save the settings to store it",
        ],
        &["часовой пояс кабинета теперь"],
    );
}

#[tokio::test]
async fn preview_warnings_and_why_it_would_not_map() {
    let rig = Rig::start().await;
    let (_, browser, path) = tenant(&rig).await;
    let csrf = csrf_of(&browser.get(&path).await.body);
    // No phone, no email, no time: two warnings, and CoMagic needs a contact.
    let body = r#"{"event":"callback","id":"pl-1","name":"Анна"}"#;
    let fields = [("csrf", csrf.as_str()), ("body", body)];
    let russian = browser.post(&format!("{path}/preview"), &fields).await.body;
    says(
        part(&russian, "preview-result"),
        &[
            "в запросе нет времени создания",
            "не найдены ни телефон, ни email",
            "нет ни пригодного телефона, ни email",
        ],
        &[
            "no creation time in the payload",
            "no phone and no email found",
            "neither a usable phone nor an email",
        ],
    );
    let english = browser
        .post(&format!("{path}/preview?lang=en"), &fields)
        .await
        .body;
    says(
        part(&english, "preview-result"),
        &[
            "no creation time in the payload",
            "no phone and no email found",
            "neither a usable phone nor an email",
        ],
        &["не найдены ни телефон"],
    );
    // A body that is no JSON at all.
    let broken = [("csrf", csrf.as_str()), ("body", r#"{"event":"#)];
    let russian = browser
        .post(&format!("{path}/preview?lang=ru"), &broken)
        .await;
    says(
        part(&russian.body, "preview-result"),
        &["тело запроса не читается: неверный JSON (строка 1"],
        &["unparseable body", "invalid JSON at line"],
    );
}

#[tokio::test]
async fn recent_payload_readings_and_refusals() {
    let rig = Rig::start().await;
    let (id, browser, path) = tenant(&rig).await;
    let payload =
        |event: Option<&str>, body: &str, outcome: &str, error: Option<&str>| NewRecentPayload {
            tenant_id: id,
            received_at: Utc::now(),
            content_type: Some("application/json".into()),
            event_id: event.map(str::to_owned),
            body: body.as_bytes().to_vec(),
            outcome: outcome.into(),
            error: error.map(str::to_owned),
        };
    let bad_phone = r#"{"event":"callback","id":"rp-1","phone":"12","email":"a@b.example"}"#;
    let unreadable = r#"{"event":"#;
    let reason = "invalid JSON at line 1 column 9: EOF while parsing a value";
    let rows = [
        payload(Some("callback:rp-1"), bad_phone, OUTCOME_ACCEPTED, None),
        payload(None, unreadable, OUTCOME_REJECTED, Some(reason)),
    ];
    rig.store.record_recent_payloads(&rows, 50).await.unwrap();
    let russian = browser.get(&path).await.body;
    says(
        part(&russian, "recent-payloads"),
        &[
            "не номер; он оставлен в тексте сообщения",
            "тело запроса не читается",
        ],
        &[
            "is not a valid number",
            "kept in the message text",
            "unparseable body",
            "invalid JSON at line",
        ],
    );
    let english = browser.get(&format!("{path}?lang=en")).await.body;
    says(
        part(&english, "recent-payloads"),
        &[
            "is not a valid number; kept in the message text",
            "invalid JSON at line 1",
        ],
        &["не номер", "тело запроса не читается"],
    );
}

#[tokio::test]
async fn refused_settings_and_field_map_entries() {
    let rig = Rig::start().await;
    let (_, browser, path) = tenant(&rig).await;
    let csrf = csrf_of(&browser.get(&path).await.body);
    // A campaign the account does not have, and no chat operator.
    let settings = [
        ("csrf", csrf.as_str()),
        ("name", "Shop"),
        ("active", "true"),
        ("default_campaign_id", "999"),
    ];
    let russian = browser.post(&path, &settings).await.body;
    says(
        &russian,
        &[
            "кампания 999: нет в кабинете CoMagic",
            "обязательно: CoMagic нужен сотрудник",
        ],
        &[
            "not found in the CoMagic account",
            "CoMagic needs an employee",
        ],
    );
    let english = browser
        .post(&format!("{path}?lang=en"), &settings)
        .await
        .body;
    says(
        &english,
        &[
            "campaign 999 not found in the CoMagic account",
            "CoMagic needs an employee for operator messages of chats",
        ],
        &["нет в кабинете CoMagic"],
    );
    let map = [("csrf", csrf.as_str()), ("map.phone", "lead..phone")];
    let russian = browser
        .post(&format!("{path}/field-map?lang=ru"), &map)
        .await;
    says(
        part(&russian.body, "field-map"),
        &["в пути пустой шаг"],
        &["the path has an empty step"],
    );
    let english = browser
        .post(&format!("{path}/field-map?lang=en"), &map)
        .await;
    says(
        part(&english.body, "field-map"),
        &["the path has an empty step"],
        &["в пути пустой шаг"],
    );
}
