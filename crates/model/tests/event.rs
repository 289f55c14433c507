//! LeadbackEvent: every row of the alias table, and every fixture.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use std::net::IpAddr;

use chrono::{TimeZone, Utc};
use common::{fixture_event, json_event};
use leadback_model::{EventError, EventKind, LeadbackEvent, MessageAuthor, RawPayload};
use serde_json::json;

#[test]
fn kind_aliases() {
    let cases = [
        (json!({"event": "chat"}), EventKind::Chat),
        (json!({"type": "chat_finished"}), EventKind::Chat),
        (json!({"event_type": "Callback"}), EventKind::Callback),
        (json!({"kind": "lead"}), EventKind::Callback),
        (json!({"EVENT": "order"}), EventKind::Callback),
        (
            json!({"type": "call", "messages": [{"text": "x"}]}),
            EventKind::Callback,
        ),
        (json!({"event": "unknown", "type": "chat"}), EventKind::Chat),
        (json!({"messages": [{"text": "x"}]}), EventKind::Chat),
        (json!({"dialog": [{"text": "x"}]}), EventKind::Chat),
        (json!({"messages": []}), EventKind::Callback),
        (json!({}), EventKind::Callback),
    ];
    for (value, kind) in cases {
        assert_eq!(json_event(value.clone()).kind, kind, "{value}");
    }
    assert_eq!(EventKind::Chat.as_str(), "chat");
    assert_eq!(EventKind::Callback.as_str(), "callback");
}

#[test]
fn contact_aliases_in_table_order_and_case_insensitive() {
    let cases = [
        (
            json!({"callback_phone": "89161234567", "phone": "+79990000000"}),
            "79161234567",
        ),
        (json!({"Phone": "+7 916 123 45 67"}), "79161234567"),
        (json!({"client_phone": "9161234567"}), "79161234567"),
        (json!({"visitor_phone": "9161234567"}), "79161234567"),
        (json!({"TEL": "9161234567"}), "79161234567"),
        (json!({"contact": {"phone": "9161234567"}}), "79161234567"),
        (json!({"Visitor": {"PHONE": "9161234567"}}), "79161234567"),
        (json!({"client": {"phone": 79161234567_i64}}), "79161234567"),
        (
            json!({"phone": "", "client_phone": "9161234567"}),
            "79161234567",
        ),
    ];
    for (value, phone) in cases {
        let event = json_event(value.clone());
        assert_eq!(
            event.contact.phone.map(|p| p.to_string()).as_deref(),
            Some(phone),
            "{value}"
        );
    }
    for alias in ["name", "client_name", "visitor_name", "fio"] {
        assert_eq!(
            json_event(json!({ alias: "Иван" })).contact.name.as_deref(),
            Some("Иван")
        );
    }
    for path in ["contact", "visitor", "client"] {
        let e = json_event(json!({ path: {"name": "Олег", "email": "o@x.ru"} }));
        assert_eq!(e.contact.name.as_deref(), Some("Олег"));
        assert_eq!(
            e.contact.email.map(|m| m.to_string()).as_deref(),
            Some("o@x.ru")
        );
    }
    for alias in ["email", "client_email", "visitor_email"] {
        let e = json_event(json!({ alias: "a@b.ru" }));
        assert_eq!(e.contact.email.unwrap().as_str(), "a@b.ru");
    }
    let e = json_event(json!({"name": "A", "fio": "B"}));
    assert_eq!(e.contact.name.as_deref(), Some("A"));
}

#[test]
fn unparseable_contact_keeps_the_raw_text() {
    let e = json_event(json!({"phone": "звоните после 18", "email": "not-an-email"}));
    assert!(e.contact.phone.is_none());
    assert_eq!(
        e.contact.phone_unparsed.as_deref(),
        Some("звоните после 18")
    );
    assert!(e.contact.email.is_none());
    assert_eq!(e.contact.email_unparsed.as_deref(), Some("not-an-email"));
}

#[test]
fn created_at_aliases_and_formats() {
    let moscow_14 = Utc.with_ymd_and_hms(2026, 11, 20, 11, 0, 0).unwrap();
    let cases = [
        json!({"date_create": "2026-11-20 14:00:00"}),
        json!({"created_at": "2026-11-20T11:00:00Z"}),
        json!({"date": "2026-11-20T14:00:00+03:00"}),
        json!({"datetime": moscow_14.timestamp()}),
        json!({"date_time": moscow_14.timestamp_millis()}),
        json!({"time": moscow_14.timestamp().to_string()}),
        json!({"timestamp": "2026-11-20 14:00:00"}),
        json!({"date_create": "garbage", "created_at": "2026-11-20 14:00:00"}),
    ];
    for value in cases {
        assert_eq!(
            json_event(value.clone()).created_at.map(|t| t.utc()),
            Some(moscow_14),
            "{value}"
        );
    }
    assert_eq!(json_event(json!({"date": "whenever"})).created_at, None);
    // The tenant's zone reads naive times.
    let payload = RawPayload::from_value(json!({"date": "2026-11-20 14:00:00"}));
    let e = LeadbackEvent::from_payload(&payload, chrono_tz::UTC).unwrap();
    assert_eq!(
        e.created_at.unwrap().utc(),
        Utc.with_ymd_and_hms(2026, 11, 20, 14, 0, 0).unwrap()
    );
}

#[test]
fn comment_site_page_referrer_ip_aliases() {
    for alias in ["comment", "message", "text", "question"] {
        assert_eq!(
            json_event(json!({ alias: "перезвоните" }))
                .comment
                .as_deref(),
            Some("перезвоните")
        );
    }
    // Chats take no comment (those names would be a message).
    assert_eq!(
        json_event(json!({"event": "chat", "text": "x"})).comment,
        None
    );
    // Each field, the names it is read from, a value, and how to read the field back.
    type Field = (
        &'static [&'static str],
        &'static str,
        fn(LeadbackEvent) -> Option<String>,
    );
    let fields: [Field; 4] = [
        (&["site", "domain", "host", "site_url"], "a.ru", |e| e.site),
        (
            &["page_url", "url", "page", "landing_page", "entrance_page"],
            "https://a.ru/x",
            |e| e.page_url,
        ),
        (&["referrer", "referer", "ref"], "https://ya.ru/", |e| {
            e.referrer
        }),
        (&["ip", "client_ip", "visitor_ip"], "93.184.216.34", |e| {
            e.ip.map(|ip: IpAddr| ip.to_string())
        }),
    ];
    for (aliases, value, read) in fields {
        for alias in aliases {
            let event = json_event(json!({ *alias: value }));
            assert_eq!(read(event).as_deref(), Some(value), "{alias}");
        }
    }
    assert_eq!(
        json_event(json!({"ip": "10.0.0.1, 93.184.216.34"})).ip,
        Some("10.0.0.1".parse().unwrap())
    );
    assert_eq!(
        json_event(json!({"ip": "::1"})).ip,
        Some("::1".parse().unwrap())
    );
    assert_eq!(
        json_event(json!({"ip": "localhost", "client_ip": "1.2.3.4"})).ip,
        Some("1.2.3.4".parse().unwrap())
    );
}

#[test]
fn utm_flat_nested_and_from_page_url() {
    let flat = json_event(
        json!({"utm_source": "g", "utm_medium": "cpc", "utm_campaign": "c", "utm_term": "t", "utm_content": "x"}),
    );
    assert_eq!(flat.utm.source.as_deref(), Some("g"));
    assert_eq!(flat.utm.medium.as_deref(), Some("cpc"));
    assert_eq!(flat.utm.campaign.as_deref(), Some("c"));
    assert_eq!(flat.utm.term.as_deref(), Some("t"));
    assert_eq!(flat.utm.content.as_deref(), Some("x"));
    let short = json_event(json!({"utm": {"source": "s", "medium": "m"}}));
    assert_eq!(
        (short.utm.source.as_deref(), short.utm.medium.as_deref()),
        (Some("s"), Some("m"))
    );
    let long = json_event(json!({"UTM": {"utm_source": "s2"}}));
    assert_eq!(long.utm.source.as_deref(), Some("s2"));
    let from_url = json_event(
        json!({"page_url": "https://a.ru/p?utm_source=vk&UTM_MEDIUM=social&utm_term=%D0%B4&x=1#top"}),
    );
    assert_eq!(from_url.utm.source.as_deref(), Some("vk"));
    assert_eq!(from_url.utm.medium.as_deref(), Some("social"));
    assert_eq!(from_url.utm.term.as_deref(), Some("д"));
    // Payload tags win as a set over the page URL's.
    let both = json_event(
        json!({"utm_source": "payload", "page_url": "a.ru/?utm_source=url&utm_medium=cpc"}),
    );
    assert_eq!(both.utm.source.as_deref(), Some("payload"));
    assert_eq!(both.utm.medium, None);
}

#[test]
fn comagic_session_id_aliases_and_page_url() {
    for value in [
        json!({"comagic_session_id": "4812337719"}),
        json!({"visitor_session_id": 4812337719_i64}),
        json!({"comagic": {"session_id": "4812337719"}}),
        json!({"cm_session_id": "4812337719"}),
        json!({"comagic_session_id": "abc", "cm_session_id": "4812337719"}),
        json!({"page_url": "https://a.ru/?comagic_session_id=4812337719"}),
    ] {
        assert_eq!(
            json_event(value.clone()).comagic_session_id,
            Some(4812337719),
            "{value}"
        );
    }
    assert_eq!(
        json_event(json!({"comagic_session_id": "-5"})).comagic_session_id,
        None
    );
}

#[test]
fn chat_messages_aliases() {
    let e = json_event(json!({
        "conversation": [
            {"author": "client", "time": "2026-11-20 15:00:00", "body": "a"},
            {"sender": "Manager", "timestamp": 1763640060, "content": "b"},
            {"role": "bot", "created_at": "2026-11-20T12:01:30Z", "message": "c"},
            {"direction": "out", "date_time": "2026-11-20 15:02:00", "text": "d"},
            {"source": "in", "text": "e"},
            {"from": "martian", "text": "f"},
            {"from": "visitor"},
            {"from": "user", "text": "g"},
            "not an object"
        ]
    }));
    assert_eq!(e.kind, EventKind::Chat);
    let texts: Vec<_> = e.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["a", "b", "c", "d", "e", "f", "g"]);
    let authors: Vec<_> = e.messages.iter().map(|m| m.author).collect();
    assert_eq!(
        authors,
        [
            Some(MessageAuthor::Visitor),
            Some(MessageAuthor::Operator),
            Some(MessageAuthor::System),
            Some(MessageAuthor::Operator),
            Some(MessageAuthor::Visitor),
            None,
            Some(MessageAuthor::Visitor),
        ]
    );
    assert_eq!(
        e.messages[0].time.unwrap().utc(),
        Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
    );
    assert_eq!(e.messages[1].time.unwrap().utc().timestamp(), 1763640060);
    assert!(e.messages[4].time.is_none());
    for alias in ["messages", "chat", "dialog", "history", "conversation"] {
        let e = json_event(json!({ alias: [{"from": "visitor", "text": "hi"}] }));
        assert_eq!(e.messages.len(), 1, "{alias}");
    }
    // A dialog sent as a JSON string inside a form field.
    let payload = RawPayload::parse(
        Some("application/x-www-form-urlencoded"),
        b"messages=%5B%7B%22from%22%3A%22visitor%22%2C%22text%22%3A%22hi%22%7D%5D",
    )
    .unwrap();
    let e = LeadbackEvent::from_payload(&payload, chrono_tz::Europe::Moscow).unwrap();
    assert_eq!((e.kind, e.messages.len()), (EventKind::Chat, 1));
    // Form brackets.
    let payload = RawPayload::from_query("messages[0][from]=visitor&messages[0][text]=a&messages[1][from]=operator&messages[1][text]=b").unwrap();
    let e = LeadbackEvent::from_payload(&payload, chrono_tz::Europe::Moscow).unwrap();
    assert_eq!(e.messages.len(), 2);
    assert_eq!(e.messages[1].author, Some(MessageAuthor::Operator));
}

#[test]
fn callback_extras() {
    let e = json_event(
        json!({"operator_phone": "+7 495 1", "record_url": "https://r/1.mp3", "status": "success", "duration": 94}),
    );
    assert_eq!(e.callback.operator_phone.as_deref(), Some("+7 495 1"));
    assert_eq!(e.callback.record_url.as_deref(), Some("https://r/1.mp3"));
    assert_eq!(e.callback.status.as_deref(), Some("success"));
    assert_eq!(e.callback.duration.as_deref(), Some("94"));
}

#[test]
fn non_objects_are_refused_with_a_reason() {
    let err = LeadbackEvent::from_payload(
        &RawPayload::from_value(json!([1])),
        chrono_tz::Europe::Moscow,
    )
    .unwrap_err();
    assert_eq!(err, EventError::NotAnObject { found: "array" });
    assert!(err.to_string().contains("array"));
}

#[test]
fn fixture_callback_basic() {
    let e = fixture_event("callback-basic.json");
    assert_eq!(e.kind, EventKind::Callback);
    assert_eq!(
        e.id.as_str(),
        "callback:9f3c2a71-5d1e-4b0a-8e51-0c2f6d7a1b01"
    );
    assert_eq!(
        e.leadback_id.as_deref(),
        Some("9f3c2a71-5d1e-4b0a-8e51-0c2f6d7a1b01")
    );
    assert_eq!(
        e.created_at.unwrap().utc(),
        Utc.with_ymd_and_hms(2026, 11, 20, 11, 3, 11).unwrap()
    );
    assert_eq!(e.contact.phone.as_ref().unwrap().as_str(), "79161234567");
    assert_eq!(e.contact.name.as_deref(), Some("Иван Петров"));
    assert_eq!(
        e.contact.email.as_ref().unwrap().as_str(),
        "ivan.petrov@example.ru"
    );
    assert_eq!(
        e.callback.operator_phone.as_deref(),
        Some("+7 495 123-45-67")
    );
    assert_eq!(e.callback.duration.as_deref(), Some("94"));
    assert_eq!(e.callback.status.as_deref(), Some("success"));
    assert_eq!(e.site.as_deref(), Some("shop.example.ru"));
    assert_eq!(e.referrer.as_deref(), Some("https://yandex.ru/"));
    assert_eq!(e.ip, Some("93.184.216.34".parse().unwrap()));
    assert_eq!(e.utm.source.as_deref(), Some("yandex"));
    assert_eq!(e.utm.medium.as_deref(), Some("cpc"));
    assert_eq!(e.utm.campaign.as_deref(), Some("sofas_msk"));
    assert_eq!(e.utm.term.as_deref(), Some("диван"));
    assert_eq!(e.comagic_session_id, None);
    assert!(e.messages.is_empty());
    assert_eq!(e.raw["id_call"], "9f3c2a71-5d1e-4b0a-8e51-0c2f6d7a1b01");
}

#[test]
fn fixture_callback_form() {
    let e = fixture_event("callback-form.txt");
    assert_eq!(e.kind, EventKind::Callback);
    assert_eq!(e.id.as_str(), "callback:1187342");
    assert_eq!(
        e.created_at.unwrap().utc(),
        Utc.with_ymd_and_hms(2026, 11, 21, 6, 15, 0).unwrap()
    );
    assert_eq!(e.contact.phone.as_ref().unwrap().as_str(), "79035550102");
    assert_eq!(e.contact.name.as_deref(), Some("Ольга"));
    assert_eq!(e.site.as_deref(), Some("flowers.example.com"));
    assert_eq!(e.utm.source.as_deref(), Some("google"));
    assert_eq!(e.utm.medium.as_deref(), Some("cpc"));
    assert_eq!(e.utm.campaign.as_deref(), Some("roses"));
    assert_eq!(e.ip, None);
}

#[test]
fn fixture_callback_no_session() {
    let e = fixture_event("callback-no-session.json");
    assert_eq!(e.kind, EventKind::Callback);
    assert_eq!(e.contact.phone.as_ref().unwrap().as_str(), "79161112233");
    assert!(!e.has_visit_data());
    assert_eq!(e.comagic_session_id, None);
}

#[test]
fn fixture_callback_session() {
    let e = fixture_event("callback-session.json");
    assert_eq!(e.kind, EventKind::Callback);
    assert_eq!(e.id.as_str(), "callback:lb-000451");
    assert_eq!(e.created_at.unwrap().utc().timestamp(), 1763719200);
    assert_eq!(e.comagic_session_id, Some(4812337719));
    assert_eq!(e.contact.phone.as_ref().unwrap().as_str(), "79035550102");
}

#[test]
fn fixture_chat_basic() {
    let e = fixture_event("chat-basic.json");
    assert_eq!(e.kind, EventKind::Chat);
    assert_eq!(e.id.as_str(), "chat:c-77120");
    assert_eq!(e.contact.name.as_deref(), Some("Мария"));
    assert_eq!(e.contact.phone.as_ref().unwrap().as_str(), "79210001122");
    assert_eq!(
        e.contact.email.as_ref().unwrap().as_str(),
        "maria@example.org"
    );
    assert_eq!(e.utm.source.as_deref(), Some("vk"));
    assert_eq!(e.messages.len(), 3);
    assert_eq!(e.messages[1].author, Some(MessageAuthor::Operator));
    assert_eq!(e.messages[1].text, "Добрый день! Да, доставка 1–2 дня.");
    assert_eq!(e.comment, None);
}

#[test]
fn fixture_chat_no_contact() {
    let e = fixture_event("chat-no-contact.json");
    assert_eq!(e.kind, EventKind::Chat);
    assert!(e.contact.phone.is_none() && e.contact.email.is_none());
    assert_eq!(e.messages.len(), 1);
}
