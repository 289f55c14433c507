//! The settings pages over plain HTTP: sign-in, cookies, CSRF, the two-step creation flow, the
//! settings form, rotate, replay, and that no secret reaches the HTML.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod support;

use axum::http::{header, StatusCode};
use bridge_store::TokenHash;
use support::browser::{
    create_via_page, csrf_of, location, post_login, sign_in, webhook_url_in, Browser, CARD_FIELDS,
};
use support::{recent_payload, Rig, ADMIN_TOKEN, PUBLIC_URL};
use uuid::Uuid;

#[tokio::test]
async fn sign_in_sets_a_strict_http_only_cookie() {
    let rig = Rig::start().await;
    let anonymous = rig.anonymous("/admin/").await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&anonymous), "/admin/login");

    let form = rig.anonymous("/admin/login").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains(r#"name="token""#));

    let wrong = post_login(&rig, "guess").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.headers.get(header::SET_COOKIE).is_none());

    let right = post_login(&rig, ADMIN_TOKEN).await;
    assert_eq!(right.status, StatusCode::SEE_OTHER);
    let cookie = right.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("Secure"), "{cookie}");
    assert!(!cookie.contains(ADMIN_TOKEN));

    let browser = Browser::new(&rig, cookie.split(';').next().unwrap().to_owned());
    let list = browser.get("/admin/").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(!list.body.contains(ADMIN_TOKEN));

    // A made-up session id is not a session.
    let forged = Browser::new(&rig, "bridge_admin_session=forged".into());
    assert_eq!(forged.get("/admin/").await.status, StatusCode::SEE_OTHER);

    // Logout needs the CSRF token too, and ends the session.
    assert_eq!(
        browser.post("/admin/logout", &[]).await.status,
        StatusCode::FORBIDDEN
    );
    let out = browser.submit("/admin/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(browser.get("/admin/").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn posts_without_the_csrf_token_are_refused() {
    let rig = Rig::start().await;
    let browser = sign_in(&rig).await;
    let (id, page) = create_via_page(&browser).await;
    let api_url = rig.emulator.api_url();
    for (path, fields) in [
        (
            "/admin/tenants".to_owned(),
            vec![
                ("name", "X"),
                ("api_url", api_url.as_str()),
                ("access_token", "demo-token"),
            ],
        ),
        (format!("/admin/tenants/{id}"), vec![("name", "X")]),
        (format!("/admin/tenants/{id}/rotate"), vec![]),
        (format!("/admin/tenants/{id}/replay"), vec![]),
        (format!("/admin/tenants/{id}/delete"), vec![]),
        (
            format!("/admin/tenants/{id}/field-map"),
            vec![("map.phone", "lead.contact_phone")],
        ),
        (format!("/admin/tenants/{id}/preview"), vec![("body", "{}")]),
        (format!("/admin/tenants/{id}/test-request"), vec![]),
    ] {
        let missing = browser.post(&path, &fields).await;
        assert_eq!(missing.status, StatusCode::FORBIDDEN, "{path}");
        let mut wrong = fields.clone();
        wrong.push(("csrf", "not-the-token"));
        assert_eq!(
            browser.post(&path, &wrong).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    // Nothing happened: one tenant, its URL still the first one, no field map.
    assert_eq!(rig.store.list_tenants().await.unwrap().len(), 1);
    assert!(rig.store.get_field_map(id).await.unwrap().is_empty());
    let url = webhook_url_in(&page.body).unwrap();
    let token = url.rsplit('/').next().unwrap();
    assert!(rig
        .store
        .tenant_by_token(&TokenHash::of(token))
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn two_step_creation_then_save_activates_without_leaking_secrets() {
    let rig = Rig::start().await;
    let browser = sign_in(&rig).await;
    let (id, page) = create_via_page(&browser).await;
    let html = &page.body;

    // Step 2: the card's labels, the lists from the demo account, the URL to copy.
    for label in [
        "Активен",
        "Маркеры",
        "Игнорировать сессию",
        "Устанавливать теги",
        "Рекламная кампания/источник",
        "Сохранить",
        "Профиль → API → URL-адрес обработчика",
        "оставьте тестовое обращение",
    ] {
        assert!(html.contains(label), "label {label:?} missing");
    }
    // One language at a time: none of the English labels beside the Russian ones.
    for english in [
        "Active",
        "Ignore session",
        "Set tags",
        ">Save<",
        "/ Save",
        "/ Active",
    ] {
        assert!(!html.contains(english), "{english:?} on the Russian page");
    }
    for field in CARD_FIELDS
        .into_iter()
        .chain(["access_token", "login", "password"])
    {
        assert!(
            html.contains(&format!(r#"name="{field}""#)),
            "field {field} missing"
        );
    }
    for option in [
        r#"option value="101""#,
        r#"option value="102""#,
        r#"option value="201""#,
        r#"option value="301""#,
        r#"option value="401""#,
        r#"option value="501""#,
    ] {
        assert!(html.contains(option), "{option} missing");
    }
    assert!(html.contains(r#"id="deliveries""#));
    assert!(html.contains(r#"id="dead-letters""#));
    let url = webhook_url_in(html).expect("webhook URL shown after create");
    assert!(url.starts_with(&format!("{PUBLIC_URL}/hooks/leadback/")));
    let token = url.rsplit('/').next().unwrap().to_owned();
    let tenant = rig
        .store
        .tenant_by_token(&TokenHash::of(&token))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tenant.id, id);
    assert!(!tenant.active, "inactive until the settings are saved");
    assert!(!html.contains("demo-token"));
    assert!(!html.contains(ADMIN_TOKEN));

    // An incomplete save is refused per field and stores nothing.
    let incomplete = browser
        .submit(
            &format!("/admin/tenants/{id}"),
            &[("name", "Цветы"), ("active", "true")],
        )
        .await;
    assert_eq!(incomplete.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(incomplete
        .body
        .contains(r#"data-field="default_campaign_id""#));
    assert!(incomplete.body.contains(r#"data-field="chat_employee_id""#));
    assert!(!rig.store.get_tenant(id).await.unwrap().unwrap().active);

    // A complete save: source mode, two tags, a chat operator, and a new access token.
    let saved = browser
        .submit(
            &format!("/admin/tenants/{id}"),
            &[
                ("name", "Цветы"),
                ("active", "true"),
                ("set_tags", "true"),
                ("tag_ids", "401"),
                ("tag_ids", "402"),
                ("default_entity", "source"),
                ("default_campaign_id", ""),
                ("default_source_id", "302"),
                ("default_site_id", "202"),
                ("chat_employee_id", "502"),
                ("timezone", "Europe/Moscow"),
                ("api_url", &rig.emulator.api_url()),
                ("access_token", "demo-token"),
                ("login", ""),
                ("password", ""),
            ],
        )
        .await;
    saved.assert_status(StatusCode::OK);
    assert!(saved.body.contains("Сохранено, интеграция активна"));
    assert!(!saved.body.contains("demo-token"));
    assert!(!saved.body.contains(ADMIN_TOKEN));
    assert_eq!(webhook_url_in(&saved.body).as_deref(), Some(url.as_str()));
    let stored = rig.store.get_tenant(id).await.unwrap().unwrap();
    assert!(stored.active);
    assert_eq!(stored.settings.tag_ids, vec![401, 402]);
    assert!(stored.settings.set_tags);
    assert_eq!(
        stored.settings.default_entity,
        leadback_model::DefaultEntity::Source
    );
    assert_eq!(stored.settings.default_source_id, Some(302));
    assert_eq!(stored.settings.chat_employee_id, Some(502));
    assert!(!stored.settings.ignore_session);

    // Later visits no longer show the URL; the form shows the saved choices.
    let later = browser.get(&format!("/admin/tenants/{id}")).await;
    assert!(webhook_url_in(&later.body).is_none());
    assert!(!later.body.contains(&token));
    assert!(later.body.contains(r#"option value="302" selected"#));
    assert!(later.body.contains(r#"option value="402" selected"#));
    assert!(!later.body.contains("demo-token"));

    // Refused credentials are reported on the credentials block; nothing changes.
    let refused = browser
        .submit(
            &format!("/admin/tenants/{id}"),
            &[
                ("name", "Цветы"),
                ("active", "true"),
                ("default_campaign_id", "101"),
                ("chat_employee_id", "501"),
                ("access_token", "stolen-or-wrong"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains(r#"data-field="comagic""#));
    assert!(!refused.body.contains("stolen-or-wrong"));
    assert_eq!(
        rig.store
            .get_tenant(id)
            .await
            .unwrap()
            .unwrap()
            .settings
            .default_source_id,
        Some(302)
    );
}

#[tokio::test]
async fn refused_credentials_stop_step_one() {
    let rig = Rig::start().await;
    let browser = sign_in(&rig).await;
    let api_url = rig.emulator.api_url();
    let answer = browser
        .submit(
            "/admin/tenants",
            &[
                ("name", "Shop"),
                ("api_url", &api_url),
                ("login", "demo"),
                ("password", "not-the-password"),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer.body.contains(r#"data-field="comagic""#));
    assert!(!answer.body.contains("not-the-password"));
    assert!(rig.store.list_tenants().await.unwrap().is_empty());
}

#[tokio::test]
async fn rotate_and_replay_from_the_page() {
    let rig = Rig::start().await;
    let browser = sign_in(&rig).await;
    let (id, page) = create_via_page(&browser).await;
    let old = webhook_url_in(&page.body).unwrap();

    let rotated = browser
        .submit(&format!("/admin/tenants/{id}/rotate"), &[])
        .await;
    assert_eq!(rotated.status, StatusCode::SEE_OTHER);
    let page = browser.get(&location(&rotated)).await;
    let new = webhook_url_in(&page.body).unwrap();
    assert_ne!(new, old);
    let hash = |url: &str| TokenHash::of(url.rsplit('/').next().unwrap());
    assert!(rig
        .store
        .tenant_by_token(&hash(&old))
        .await
        .unwrap()
        .is_none());
    assert!(rig
        .store
        .tenant_by_token(&hash(&new))
        .await
        .unwrap()
        .is_some());

    let mut dead_ids = Vec::new();
    for event in ["evt-page-1", "evt-page-2", "evt-page-3"] {
        let refusal = ("method_component_disabled", "component disabled");
        dead_ids.push(
            rig.dead_letter(id, event, "tenant_permanent", refusal)
                .await,
        );
    }
    let page = browser.get(&format!("/admin/tenants/{id}")).await;
    assert!(page.body.contains("evt-page-2"));
    assert!(page.body.contains("method_component_disabled"));
    assert!(page.body.contains(r#"id="replay-all""#));

    let one = browser
        .submit(
            &format!("/admin/tenants/{id}/replay"),
            &[("dead_letter_id", &dead_ids[0].to_string())],
        )
        .await;
    assert_eq!(one.status, StatusCode::SEE_OTHER);
    assert!(location(&one).contains("replayed=1"));
    assert!(!rig.has_dead_letter(dead_ids[0]).await);
    assert!(rig.has_dead_letter(dead_ids[1]).await);

    let all = browser
        .submit(&format!("/admin/tenants/{id}/replay"), &[])
        .await;
    assert!(location(&all).contains("replayed=2"));
    assert_eq!(rig.store.dead_letter_count().await.unwrap(), 0);
    assert_eq!(rig.metrics.replays_total.get(), 3);
}

#[tokio::test]
async fn unreachable_comagic_still_lets_the_operator_type_ids() {
    let rig = Rig::start().await;
    let browser = sign_in(&rig).await;
    // Nothing listens on port 9: CoMagic is unreachable, the tenant is created unverified.
    let created = browser
        .submit(
            "/admin/tenants",
            &[
                ("name", "Offline"),
                ("api_url", "http://127.0.0.1:9/v2.0"),
                ("access_token", "some-key"),
            ],
        )
        .await;
    created.assert_status(StatusCode::SEE_OTHER);
    assert!(location(&created).contains("created=unverified"));
    let page = browser.get(&location(&created)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page
        .body
        .contains(r#"type="number" name="default_campaign_id""#));
    assert!(page.body.contains("CoMagic недоступен"));
    assert!(!page.body.contains("some-key"));
    let id = location(&created)
        .strip_prefix("/admin/tenants/")
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let saved = browser
        .submit(
            &format!("/admin/tenants/{id}"),
            &[
                ("name", "Offline"),
                ("active", "true"),
                ("default_campaign_id", "101"),
                ("chat_employee_id", "501"),
                ("timezone", "Europe/Moscow"),
                ("api_url", "http://127.0.0.1:9/v2.0"),
            ],
        )
        .await;
    saved.assert_status(StatusCode::OK);
    assert!(saved.body.contains("Не проверено в CoMagic"));
    let stored = rig.stored(&id).await;
    assert!(stored.active);
    assert_eq!(stored.settings.default_campaign_id, Some(101));
}

/// A server on loopback that records every request body it receives.
async fn capture_server() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |body: String| {
        let log = log.clone();
        async move {
            log.lock().unwrap().push(body);
            axum::Json(serde_json::json!({"jsonrpc":"2.0","id":1,"result":{"data":[]}}))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v2.0", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

/// Issue 18, item 1: changing only the API URL must not send the stored secret to the new URL.
#[tokio::test]
async fn a_new_api_url_needs_the_secret_again() {
    let rig = Rig::start().await;
    let browser = sign_in(&rig).await;
    let (id, _) = create_via_page(&browser).await;
    let (capture, seen) = capture_server().await;
    let saved = browser
        .submit(
            &format!("/admin/tenants/{id}"),
            &[
                ("name", "Цветы"),
                ("active", "true"),
                ("api_url", &capture),
                ("default_campaign_id", "101"),
                ("chat_employee_id", "501"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        saved.body.contains(r#"data-field="comagic.access_token""#),
        "{}",
        saved.body
    );
    // The form shows the URL typed, so the operator only adds the secret.
    assert!(saved.body.contains(&capture));
    let stored = rig.store.get_tenant(id).await.unwrap().unwrap();
    assert_eq!(stored.credentials.api_url, rig.emulator.api_url());

    // The JSON API: the same change is a 422 naming the field, not a 400 about serde.
    let answer = rig
        .put(
            &format!("/admin/v1/tenants/{id}"),
            serde_json::json!({"name": "Цветы", "comagic": {"api_url": capture},
                "default_campaign_id": 101, "chat_employee_id": 501}),
        )
        .await;
    answer.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        answer.json()["fields"]["comagic.access_token"].is_string(),
        "{}",
        answer.body
    );
    assert!(
        seen.lock().unwrap().is_empty(),
        "the capture server got {:?}",
        seen.lock().unwrap()
    );
}

/// The tenant page lists the tenant's own problems with what to fix and replays exactly those.
#[tokio::test]
async fn tenant_problems_are_shown_with_the_fix_and_replayed_alone() {
    let rig = Rig::start().await;
    let browser = sign_in(&rig).await;
    let (id, page) = create_via_page(&browser).await;
    assert!(!page.body.contains(r#"id="tenant-problems""#));
    let mut dead_ids = Vec::new();
    for (event, class) in [
        ("evt-held-1", "tenant_permanent"),
        ("evt-held-2", "tenant_permanent"),
        ("evt-own", "event_permanent"),
    ] {
        let refusal = ("campaign_is_inactive", "campaign 103 is inactive");
        dead_ids.push(rig.dead_letter(id, event, class, refusal).await);
    }
    let page = browser.get(&format!("/admin/tenants/{id}")).await;
    assert!(
        page.body.contains(r#"id="tenant-problems""#),
        "{}",
        page.body
    );
    assert!(page
        .body
        .contains("Рекламная кампания по умолчанию не активна"));
    assert!(page.body.contains(r#"id="replay-tenant-problems""#));

    let replayed = browser
        .submit(
            &format!("/admin/tenants/{id}/replay"),
            &[("class", "tenant_permanent")],
        )
        .await;
    assert_eq!(replayed.status, StatusCode::SEE_OTHER);
    assert!(
        location(&replayed).contains("replayed=2"),
        "{}",
        location(&replayed)
    );
    assert!(!rig.has_dead_letter(dead_ids[0]).await);
    assert!(!rig.has_dead_letter(dead_ids[1]).await);
    assert!(rig.has_dead_letter(dead_ids[2]).await);
    let page = browser.get(&format!("/admin/tenants/{id}")).await;
    assert!(!page.body.contains(r#"id="tenant-problems""#));
}

/// One language at a time: Russian by default, English for `Accept-Language: en` or
/// `?lang=en` (remembered in a cookie for the pages that follow, e.g. after a form post).
#[tokio::test]
async fn one_language_at_a_time_english_on_request() {
    let rig = Rig::start().await;
    let browser = sign_in(&rig).await;
    let (id, russian) = create_via_page(&browser).await;
    let page = format!("/admin/tenants/{id}");
    assert!(russian.body.contains(r#"<html lang="ru">"#));
    assert!(russian
        .body
        .contains(&format!(r#"id="lang-switch" href="{page}?lang=en""#)));

    let english_labels = [
        "Active",
        "Markers",
        "Ignore session",
        "Set tags",
        "Ad campaign/source",
        ">Save<",
        "Profile → API → handler URL",
    ];
    let check_english = |html: &str, how: &str| {
        assert!(html.contains(r#"<html lang="en">"#), "{how}");
        for label in english_labels {
            assert!(html.contains(label), "{how}: {label:?} missing");
        }
        for russian in ["Активен", "Игнорировать сессию", "Сохранить"]
        {
            assert!(
                !html.contains(russian),
                "{how}: {russian:?} on the English page"
            );
        }
    };
    let by_header = browser.get_in(&page, "en-GB,en;q=0.9").await;
    check_english(&by_header.body, "Accept-Language");
    let preferring_russian = browser.get_in(&page, "ru-RU,ru;q=0.9,en;q=0.8").await;
    assert!(preferring_russian.body.contains("Активен"));

    let switched = browser.get(&format!("{page}?lang=en")).await;
    check_english(&switched.body, "?lang=en");
    let remembered = switched.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        remembered.starts_with("bridge_admin_lang=en;"),
        "{remembered}"
    );
    // A form posted from the English page answers in English.
    let with_choice = Browser::new(&rig, format!("{}; bridge_admin_lang=en", browser.cookie));
    let csrf = csrf_of(&switched.body);
    let refused = with_choice
        .post(
            &page,
            &[("csrf", &csrf), ("name", "Цветы"), ("active", "true")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("Settings not saved"),
        "{}",
        refused.body
    );
    let back = with_choice.get(&format!("{page}?lang=ru")).await;
    assert!(back.body.contains("Активен"));
    let login = rig.anonymous("/admin/login?lang=en").await;
    assert!(login.body.contains("Admin token"), "{}", login.body);
}

/// The stylesheet and the script come from the bridge itself (no CDN), readable on a phone,
/// and every form control of the card has a label.
#[tokio::test]
async fn the_page_brings_its_own_stylesheet_and_labels_every_control() {
    let rig = Rig::start().await;
    let css = rig.anonymous("/admin/assets/page.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    assert!(css.body.contains("@media"), "a layout for small screens");
    let js = rig.anonymous("/admin/assets/page.js").await;
    assert_eq!(js.status, StatusCode::OK);
    assert!(js.body.contains("copy-webhook-url"));

    let browser = sign_in(&rig).await;
    let (_, page) = create_via_page(&browser).await;
    let html = &page.body;
    assert!(html.contains(r#"<link rel="stylesheet" href="/admin/assets/page.css">"#));
    assert!(html.contains(r#"<script src="/admin/assets/page.js" defer>"#));
    assert!(html.contains(r#"name="viewport" content="width=device-width, initial-scale=1""#));
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "nothing from elsewhere"
    );
    assert!(!html.contains("<style>"), "no inline style");
    // The copy button exists only for the script to show; the URL itself is plain text.
    assert!(html.contains(r#"id="copy-webhook-url""#));
    let others = ["access_token", "map-phone", "preview-body"];
    for id in CARD_FIELDS.into_iter().chain(others) {
        assert!(
            html.contains(&format!(r#"<label for="{id}""#))
                || html.contains(&format!(r#"<label class="check" for="{id}""#)),
            "no label for {id}"
        );
    }
}

/// The field map is edited on the tenant page with the API's own check: a refused entry is
/// named next to its row and nothing is stored; a valid one is what the API then answers.
#[tokio::test]
async fn field_map_edited_on_the_page_with_errors_naming_the_entry() {
    let rig = Rig::start().await;
    let browser = sign_in(&rig).await;
    let (id, _) = create_via_page(&browser).await;
    let path = format!("/admin/tenants/{id}/field-map");

    // The phone and email rows posted.
    let post_map = |phone, email| {
        let (browser, path) = (&browser, &path);
        async move {
            let rows = [("map.phone", phone), ("map.email", email)];
            browser.submit(path, &rows).await
        }
    };
    let bad = post_map("lead.contact_phone, lead..phone", "lead.mail").await;
    bad.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains(r#"id="field-map-errors""#));
    assert!(
        bad.body.contains(r#"data-field="phone[1]""#),
        "{}",
        bad.body
    );
    // What was typed stays in the rows.
    assert!(bad
        .body
        .contains(r#"value="lead.contact_phone, lead..phone""#));
    assert!(rig.store.get_field_map(id).await.unwrap().is_empty());

    let forged = browser.submit(&path, &[("map.telephone", "x")]).await;
    assert_eq!(forged.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(forged.body.contains(r#"data-field="telephone""#));

    let saved = post_map("lead.contact_phone,\n visitor.phones.0", "").await;
    saved.assert_status(StatusCode::SEE_OTHER);
    assert!(location(&saved).contains("field_map_saved=1"));
    let api = rig.get(&format!("/admin/v1/tenants/{id}/field-map")).await;
    assert_eq!(
        api.json(),
        serde_json::json!({"phone": ["lead.contact_phone", "visitor.phones.0"]})
    );
    let shown = browser.get(&location(&saved)).await;
    assert!(shown
        .body
        .contains(r#"value="lead.contact_phone, visitor.phones.0""#));
    assert!(shown.body.contains("Поля сохранены"));

    // An empty form restores the built-in names.
    let cleared = browser.submit(&path, &[("map.phone", " ")]).await;
    assert_eq!(cleared.status, StatusCode::SEE_OTHER);
    assert!(rig.store.get_field_map(id).await.unwrap().is_empty());
}

/// "Проверить" on the page: the pasted body's parsed event and CoMagic calls, or why not; with
/// the phone's path mapped, the preview shows the phone.
#[tokio::test]
async fn preview_on_the_page_follows_the_field_map() {
    let rig = Rig::start().await;
    let (id, _) = rig.create(rig.settings()).await;
    let browser = sign_in(&rig).await;
    let body = "event=callback&id=pv-page&lead%5Bcontact_phone%5D=89161112233";
    let check = || {
        let browser = &browser;
        let id = id.clone();
        async move {
            browser
                .submit(
                    &format!("/admin/tenants/{id}/preview"),
                    &[
                        ("body", body),
                        ("content_type", "application/x-www-form-urlencoded"),
                    ],
                )
                .await
        }
    };
    let unmapped = check().await;
    unmapped.assert_status(StatusCode::OK);
    assert!(
        unmapped.body.contains(r#"id="preview-refused""#),
        "{}",
        unmapped.body
    );
    assert!(
        unmapped.body.contains("lead.contact_phone"),
        "the unmatched key is named"
    );
    // The pasted body and its content type stay in the form.
    assert!(unmapped.body.contains("pv-page&amp;lead"));
    assert!(unmapped
        .body
        .contains(r#"<option value="application/x-www-form-urlencoded" selected>"#));

    let saved = browser
        .submit(
            &format!("/admin/tenants/{id}/field-map"),
            &[("map.phone", "lead.contact_phone")],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let mapped = check().await;
    assert!(
        !mapped.body.contains(r#"id="preview-refused""#),
        "{}",
        mapped.body
    );
    assert!(mapped.body.contains("Будет доставлено в CoMagic"));
    assert!(
        mapped
            .body
            .contains(r#"<dd id="preview-phone">79161112233</dd>"#),
        "{}",
        mapped.body
    );
    assert!(mapped.body.contains("upload.offline_messages"));
    assert!(!mapped.body.contains("demo-token"));
    assert!(rig.emulator.records().is_empty(), "nothing sent");
}

/// The recent payloads (newest first, each with its "Проверить" carrying exactly its body), the
/// tenant's health, the status in the list, and a test request refused for an inactive tenant.
#[tokio::test]
async fn recent_payloads_health_status_and_test_request_on_the_page() {
    let rig = Rig::start().await;
    let (id, _) = rig.create(rig.settings()).await;
    let tenant: Uuid = id.parse().unwrap();
    let accepted = (bridge_store::OUTCOME_ACCEPTED, None);
    let old = r#"{"event":"callback","id":"pv-old","phone":"+7 916 123-45-67"}"#;
    let new = "event=callback&id=pv-new&lead%5Bcontact_phone%5D=89161112233";
    let form = "application/x-www-form-urlencoded";
    let rows = [
        recent_payload(
            tenant,
            Some("callback:pv-old"),
            ("application/json", old),
            accepted,
            60,
        ),
        recent_payload(tenant, Some("callback:pv-new"), (form, new), accepted, 1),
    ];
    rig.store.record_recent_payloads(&rows, 50).await.unwrap();
    let browser = sign_in(&rig).await;
    let page = browser.get(&format!("/admin/tenants/{id}")).await;
    let html = &page.body;
    let table = &html[html
        .find(r#"id="recent-payloads""#)
        .expect("payloads listed")..];
    let new = table.find("callback:pv-new").unwrap();
    let old = table.find("callback:pv-old").unwrap();
    assert!(new < old, "newest first");
    // The unknown phone's path is named, and the row's check posts that very body.
    assert!(table.contains("lead.contact_phone"));
    assert!(table.contains(
        r#"name="body" value="event=callback&amp;id=pv-new&amp;lead%5Bcontact_phone%5D=89161112233""#
    ));
    assert!(table.contains(r#"name="content_type" value="application/x-www-form-urlencoded""#));
    assert!(html.contains(r#"id="health""#), "health shown");
    assert!(html.contains(r#"id="send-test-request""#));

    // The list: the active tenant's status, and an inactive one that needs attention.
    let (inactive, _) = create_via_page(&browser).await;
    let list = browser.get("/admin/").await.body;
    let row = |tenant: &str| {
        let start = list.find(&format!(r#"data-tenant-id="{tenant}""#)).unwrap();
        list[start..].split("</tr>").next().unwrap().to_owned()
    };
    assert!(row(&id).contains(r#"data-status="ok""#), "{}", row(&id));
    let row_inactive = row(&inactive.to_string());
    assert!(
        row_inactive.contains(r#"data-status="needs_attention""#),
        "{row_inactive}"
    );
    // The reason in the page's language too (the API keeps English in `status_reason`).
    assert!(
        row_inactive.contains("требует внимания")
            && row_inactive.contains("интеграция выключена")
            && !row_inactive.contains("inactive"),
        "{row_inactive}"
    );
    let english = browser.get("/admin/?lang=en").await.body;
    let start = english
        .find(&format!(r#"data-tenant-id="{inactive}""#))
        .unwrap();
    let english_row = english[start..].split("</tr>").next().unwrap();
    assert!(
        english_row.contains("needs attention") && english_row.contains("the tenant is inactive"),
        "{english_row}"
    );
    // Back to Russian for the rest (the switch is remembered in a cookie).
    browser.get("/admin/?lang=ru").await;

    // A test request for the inactive tenant is refused on the page; nothing is queued.
    let refused = browser
        .submit(&format!("/admin/tenants/{inactive}/test-request"), &[])
        .await;
    refused.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("Тестовое обращение не отправлено"));
}
