//! The tenant page's dynamic texts in the page's language (issue 16): what to fix after a
//! failed test request, the health warnings, the preview's warnings and mapping reasons, the
//! recent payloads' readings and refusals, and why settings or a field map were refused. The
//! Russian page says them in Russian with no English sentence of them; `?lang=en` in English.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod support;

use bridge_store::{TenantInput, OUTCOME_ACCEPTED, OUTCOME_REJECTED};
use support::browser::{csrf_of, sign_in, Browser};
use support::{recent_payload, Rig};
use uuid::Uuid;

/// The part of `html` from the element with `id` to the end of its section.
fn part<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!(r#"id="{id}""#))
        .unwrap_or_else(|| panic!("no {id} in\n{html}"));
    let rest = &html[start..];
    &rest[..rest.find("</section>").unwrap_or(rest.len())]
}

/// In the part `id` (all when empty) of the pages `[Russian, English]`, each text of `texts`
/// (Russian, English) is said in its page's language and not in the other.
#[track_caller]
fn one_language_each(pages: [String; 2], id: &str, texts: &[(&str, &str)]) {
    let [russian, english] = pages.map(|page| match id {
        "" => page,
        id => part(&page, id).to_owned(),
    });
    for (ru, en) in texts {
        for (html, said, unsaid) in [(&russian, ru, en), (&english, en, ru)] {
            assert!(html.contains(said), "{said:?} missing in\n{html}");
            assert!(!html.contains(unsaid), "{unsaid:?} shown in\n{html}");
        }
    }
}

/// An active tenant made through the API, a signed-in browser, and the tenant's page path.
async fn tenant(rig: &Rig) -> (Uuid, Browser<'_>, String) {
    let (id, _) = rig.create(rig.settings()).await;
    let browser = sign_in(rig).await;
    let path = format!("/admin/tenants/{id}");
    (id.parse().unwrap(), browser, path)
}

/// `path` in Russian (the default) and in English.
async fn both(browser: &Browser<'_>, path: &str) -> [String; 2] {
    let join = if path.contains('?') { '&' } else { '?' };
    let english = browser.get(&format!("{path}{join}lang=en")).await.body;
    // The switch is remembered: back to Russian explicitly.
    let russian = browser.get(&format!("{path}{join}lang=ru")).await.body;
    [russian, english]
}

/// `path` in both languages, checked as [`one_language_each`].
async fn says_in_each(browser: &Browser<'_>, path: &str, id: &str, texts: &[(&str, &str)]) {
    one_language_each(both(browser, path).await, id, texts);
}

/// `fields` posted to `path` in Russian and in English.
async fn both_posted(browser: &Browser<'_>, path: &str, fields: &[(&str, &str)]) -> [String; 2] {
    let english = browser.post(&format!("{path}?lang=en"), fields).await.body;
    let russian = browser.post(&format!("{path}?lang=ru"), fields).await.body;
    [russian, english]
}

#[tokio::test]
async fn what_to_fix_after_a_failed_test_request() {
    let rig = Rig::start().await;
    let (id, browser, path) = tenant(&rig).await;
    let event = "callback:lbtest-page-language";
    let refusal = ("access_token_invalid", "token");
    rig.dead_letter(id, event, "tenant_permanent", refusal)
        .await;
    let result = format!("{path}?test_request={event}");
    let texts = [
        ("действующий API-ключ", "a valid access token"),
        ("обращение ещё раз", "another test request"),
    ];
    says_in_each(&browser, &result, "test-request-result", &texts).await;
}

#[tokio::test]
async fn preview_warnings_and_why_it_would_not_map() {
    let rig = Rig::start().await;
    let (_, browser, path) = tenant(&rig).await;
    let csrf = csrf_of(&browser.get(&path).await.body);
    let preview = format!("{path}/preview");
    // No phone, no email, no time: two warnings, and CoMagic needs a contact.
    let body = r#"{"event":"callback","id":"pl-1","name":"Анна"}"#;
    let fields = [("csrf", csrf.as_str()), ("body", body)];
    let pages = both_posted(&browser, &preview, &fields).await;
    let texts = [
        ("нет времени создания", "no creation time"),
        ("ни телефон, ни email", "no phone and no email"),
        ("ни пригодного телефона", "a usable phone"),
    ];
    one_language_each(pages, "preview-result", &texts);
    // A body that is no JSON at all.
    let broken = [("csrf", csrf.as_str()), ("body", r#"{"event":"#)];
    let pages = both_posted(&browser, &preview, &broken).await;
    let texts = [("неверный JSON (строка 1", "invalid JSON at line 1")];
    one_language_each(pages, "preview-result", &texts);
}

/// The page's read-outs: the health section's time zone warning, and the recent payloads'
/// readings and refusals.
#[tokio::test]
async fn health_and_recent_payloads() {
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
    let bad_phone = r#"{"event":"callback","id":"rp-1","phone":"12","email":"a@b.example"}"#;
    let reason = "invalid JSON at line 1 column 9: EOF while parsing a value";
    let json = "application/json";
    let rows = [
        recent_payload(
            id,
            Some("callback:rp-1"),
            (json, bad_phone),
            (OUTCOME_ACCEPTED, None),
            1,
        ),
        recent_payload(
            id,
            None,
            (json, r#"{"event":"#),
            (OUTCOME_REJECTED, Some(reason)),
            0,
        ),
    ];
    rig.store.record_recent_payloads(&rows, 50).await.unwrap();
    let health = [
        ("теперь Europe/Moscow", "now Europe/Moscow"),
        ("чтобы запомнить его", "to store it"),
    ];
    says_in_each(&browser, &path, "health", &health).await;
    let payloads = [
        ("оставлен в тексте", "kept in the message text"),
        ("тело запроса не читается", "invalid JSON at line 1"),
    ];
    says_in_each(&browser, &path, "recent-payloads", &payloads).await;
}

#[tokio::test]
async fn refused_settings_and_field_map_entries() {
    let rig = Rig::start().await;
    let (_, browser, path) = tenant(&rig).await;
    let csrf = csrf_of(&browser.get(&path).await.body);
    // A campaign the account does not have, and no chat operator.
    let campaign = [("default_campaign_id", "999"), ("active", "true")];
    let settings = [[("csrf", csrf.as_str()), ("name", "Shop")], campaign].concat();
    let pages = both_posted(&browser, &path, &settings).await;
    let texts = [
        ("999: нет в кабинете", "999 not found"),
        ("нужен сотрудник", "needs an employee"),
    ];
    one_language_each(pages, "", &texts);
    let map = [("csrf", csrf.as_str()), ("map.phone", "lead..phone")];
    let field_map = format!("{path}/field-map");
    let pages = both_posted(&browser, &field_map, &map).await;
    let texts = [("пустой шаг", "an empty step")];
    one_language_each(pages, "field-map", &texts);
}
