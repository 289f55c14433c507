//! The pure mapping, table-tested: record shape, time rules, session resolution, chat rules, tags.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use chrono::{DateTime, TimeZone, Utc};
use common::{fixture_event, json_event};
use leadback_model::comagic::{
    Attribution, ChatInitiator, ChatStatus, CommunicationType, MessageSource, OfflineMessage,
};
use leadback_model::{
    map, map_with_default, ComagicPlan, DefaultEntity, EventKind, MappingError, PlannedRecord,
    TenantSettings,
};
use serde_json::json;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap()
}

fn settings() -> TenantSettings {
    TenantSettings {
        default_campaign_id: Some(100),
        chat_employee_id: Some(7),
        ..TenantSettings::default()
    }
}

fn offline(plan: &ComagicPlan) -> &OfflineMessage {
    match plan.record() {
        PlannedRecord::OfflineMessage(item) => item,
        PlannedRecord::Chat(_) => panic!("expected an offline message"),
    }
}

fn chat(plan: &ComagicPlan) -> &leadback_model::comagic::Chat {
    match plan.record() {
        PlannedRecord::Chat(item) => item,
        PlannedRecord::OfflineMessage(_) => panic!("expected a chat"),
    }
}

/// (visitor_session_id, campaign_id, source_id, site_id) of the record.
fn attribution(plan: &ComagicPlan) -> (Option<i64>, Option<i64>, Option<i64>, Option<i64>) {
    let a = plan.record().attribution();
    (a.visitor_session_id, a.campaign_id, a.source_id, a.site_id)
}

#[test]
fn callback_becomes_one_offline_message() {
    let plan = map(&fixture_event("callback-basic.json"), &settings(), now()).unwrap();
    assert_eq!(plan.kind(), EventKind::Callback);
    assert_eq!(
        plan.ext_id(),
        "leadback:callback:9f3c2a71-5d1e-4b0a-8e51-0c2f6d7a1b01"
    );
    assert!(plan.session.is_none());
    assert!(plan.tag_ids().is_empty());
    let item = offline(&plan);
    assert_eq!(
        item,
        &OfflineMessage {
            date_time: "2026-11-20 14:03:11".into(),
            name: Some("Иван Петров".into()),
            phone: Some("79161234567".into()),
            email: Some("ivan.petrov@example.ru".into()),
            message: Some(
                "Телефон оператора: +7 495 123-45-67\n\
                 Статус звонка: success\n\
                 Длительность: 94 с\n\
                 Запись разговора: https://records.example.net/9f3c2a71.mp3\n\
                 Страница: https://shop.example.ru/catalog/sofas?utm_source=yandex&utm_medium=cpc&utm_campaign=sofas_msk&utm_term=%D0%B4%D0%B8%D0%B2%D0%B0%D0%BD"
                    .into()
            ),
            attribution: Attribution {
                campaign_id: Some(100),
                ..Attribution::default()
            },
            form_name: Some("Leadback".into()),
            ext_id: Some("leadback:callback:9f3c2a71-5d1e-4b0a-8e51-0c2f6d7a1b01".into()),
        }
    );
    // Wire shape: absent fields are not sent.
    let wire = serde_json::to_value(item).unwrap();
    assert!(wire.get("visitor_session_id").is_none());
    assert!(wire.get("site_id").is_none());
}

#[test]
fn comment_comes_first_and_unparseable_contact_is_noted() {
    let event = json_event(json!({
        "id": "1", "comment": "Перезвоните после обеда",
        "phone": "после 18:00", "email": "a@b.ru", "duration": "01:34"
    }));
    let plan = map(&event, &settings(), now()).unwrap();
    let item = offline(&plan);
    assert_eq!(item.phone, None);
    assert_eq!(item.email.as_deref(), Some("a@b.ru"));
    assert_eq!(
        item.message.as_deref(),
        Some("Перезвоните после обеда\n\nДлительность: 01:34\nТелефон (не распознан): после 18:00")
    );
    let bare = map(
        &json_event(json!({"id": "2", "phone": "9161234567"})),
        &settings(),
        now(),
    )
    .unwrap();
    assert_eq!(offline(&bare).message, None);
}

#[test]
fn callback_times_zone_missing_and_future() {
    let cases = [
        (
            "Europe/Moscow",
            json!({"date": "2026-11-20 14:03:11"}),
            "2026-11-20 14:03:11",
        ),
        (
            "Asia/Yekaterinburg",
            json!({"date": "2026-11-20T11:03:11Z"}),
            "2026-11-20 16:03:11",
        ),
        ("UTC", json!({"date": 1763719200}), "2025-11-21 10:00:00"),
        (
            "Europe/Moscow",
            json!({"date": 1763719200000_i64}),
            "2025-11-21 13:00:00",
        ),
        ("Europe/Moscow", json!({}), "2026-11-25 03:00:00"),
        (
            "Europe/Moscow",
            json!({"date": "2027-01-01 00:00:00"}),
            "2026-11-25 03:00:00",
        ),
        (
            "Europe/Moscow",
            json!({"date": "not a date"}),
            "2026-11-25 03:00:00",
        ),
    ];
    for (zone, extra, expected) in cases {
        let mut value = json!({"id": "1", "phone": "9161234567"});
        value
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let settings = TenantSettings {
            timezone: Some(zone.into()),
            ..settings()
        };
        let plan = map(&json_event(value.clone()), &settings, now()).unwrap();
        assert_eq!(offline(&plan).date_time, expected, "{zone} {value}");
    }
}

#[test]
fn callback_without_phone_and_email_is_refused() {
    let map_plain = |value| map(&json_event(value), &settings(), now());
    let no_contact = |unparsed_phone: Option<&str>| MappingError::NoContact {
        kind: EventKind::Callback,
        unparsed_phone: unparsed_phone.map(Into::into),
    };
    let err = map_plain(json!({"id": "1", "name": "Аноним"})).unwrap_err();
    assert_eq!(err, no_contact(None));
    assert_eq!(err.class().as_str(), "event_permanent");
    let err = map_plain(json!({"id": "1", "phone": "123"})).unwrap_err();
    assert_eq!(err, no_contact(Some("123")));
    assert!(err.to_string().contains("\"123\""), "{err}");
    // Email alone is enough.
    assert!(map_plain(json!({"id": "1", "email": "a@b.ru"})).is_ok());
}

#[test]
fn session_resolution() {
    let with_visit = json!({"id": "1", "phone": "9161234567", "ip": "93.184.216.34", "utm_source": "g",
        "date": "2026-11-20 14:00:00"});
    let mut with_both = with_visit.clone();
    with_both["comagic_session_id"] = json!("555");
    let no_visit = json!({"id": "1", "phone": "9161234567"});
    let uploads = TenantSettings {
        upload_sessions: true,
        default_site_id: Some(9),
        ..settings()
    };

    type Case = (
        &'static str,
        serde_json::Value,
        TenantSettings,
        bool,
        (Option<i64>, Option<i64>, Option<i64>, Option<i64>),
    );
    let cases: Vec<Case> = vec![
        (
            "session id wins",
            with_both.clone(),
            uploads.clone(),
            false,
            (Some(555), None, None, None),
        ),
        (
            "ignore_session → default",
            with_both.clone(),
            TenantSettings {
                ignore_session: true,
                ..uploads.clone()
            },
            false,
            (None, Some(100), None, None),
        ),
        (
            "visit data + upload_sessions → session first",
            with_visit.clone(),
            uploads.clone(),
            true,
            (None, Some(100), None, None),
        ),
        (
            "upload_sessions off → default",
            with_visit.clone(),
            settings(),
            false,
            (None, Some(100), None, None),
        ),
        (
            "no visit data → default",
            no_visit.clone(),
            uploads.clone(),
            false,
            (None, Some(100), None, None),
        ),
        (
            "an IP alone is no visit → default",
            json!({"id": "1", "phone": "9161234567", "ip": "93.184.216.34"}),
            uploads.clone(),
            false,
            (None, Some(100), None, None),
        ),
        (
            "visit data without IP → default",
            json!({"id": "1", "phone": "9161234567", "referrer": "https://ya.ru/"}),
            uploads.clone(),
            false,
            (None, Some(100), None, None),
        ),
        (
            "campaign -1 → with site",
            no_visit.clone(),
            TenantSettings {
                default_campaign_id: Some(-1),
                default_site_id: Some(9),
                ..settings()
            },
            false,
            (None, Some(-1), None, Some(9)),
        ),
        (
            "source mode → source + site",
            no_visit.clone(),
            TenantSettings {
                default_entity: DefaultEntity::Source,
                default_source_id: Some(33),
                default_site_id: Some(9),
                ..settings()
            },
            false,
            (None, None, Some(33), Some(9)),
        ),
    ];
    for (name, value, settings, has_session, expected) in cases {
        let plan = map(&json_event(value), &settings, now()).unwrap();
        assert_eq!(plan.session.is_some(), has_session, "{name}");
        assert_eq!(attribution(&plan), expected, "{name}");
    }
}

#[test]
fn planned_session_carries_the_visit() {
    let settings = TenantSettings {
        upload_sessions: true,
        default_site_id: Some(9),
        ..settings()
    };
    let plan = map(&fixture_event("callback-basic.json"), &settings, now()).unwrap();
    let session = plan.session.clone().unwrap();
    assert_eq!(session.ext_id, plan.ext_id());
    assert_eq!(session.site_id, 9);
    assert_eq!(session.date_time, "2026-11-20 14:03:10");
    assert_eq!(offline(&plan).date_time, "2026-11-20 14:03:11");
    assert!(session.is_visitor_new);
    assert_eq!(session.visitor_ip_address, "93.184.216.34");
    assert_eq!(session.utm_source.as_deref(), Some("yandex"));
    assert_eq!(session.utm_medium.as_deref(), Some("cpc"));
    assert_eq!(session.utm_campaign.as_deref(), Some("sofas_msk"));
    assert_eq!(session.utm_term.as_deref(), Some("диван"));
    assert_eq!(session.utm_content, None);
    assert_eq!(session.referrer.as_deref(), Some("https://yandex.ru/"));
    assert!(session
        .entrance_page_url
        .as_deref()
        .unwrap()
        .starts_with("https://shop.example.ru/catalog/sofas?"));
    assert_eq!(session.campaign_id, None);

    let mut plan = plan;
    plan.with_session_id(4242);
    assert!(plan.session.is_none());
    assert_eq!(attribution(&plan), (Some(4242), None, None, None));
    assert_eq!(plan.record().visitor_session_id(), Some(4242));
    plan.with_default_entity(&settings);
    assert_eq!(attribution(&plan), (None, Some(100), None, None));
}

#[test]
fn missing_default_entity_is_a_tenant_problem() {
    let event = json_event(json!({"id": "1", "phone": "9161234567"}));
    let chat_event = json_event(
        json!({"id": "1", "phone": "9161234567", "messages": [{"from": "visitor", "text": "a"}]}),
    );
    let cases = [
        (
            TenantSettings {
                default_campaign_id: None,
                ..settings()
            },
            "default_campaign_id",
        ),
        (
            TenantSettings {
                default_campaign_id: Some(-1),
                ..settings()
            },
            "default_site_id",
        ),
        (
            TenantSettings {
                default_entity: DefaultEntity::Source,
                default_site_id: Some(9),
                ..settings()
            },
            "default_source_id",
        ),
        (
            TenantSettings {
                default_entity: DefaultEntity::Source,
                default_source_id: Some(3),
                ..settings()
            },
            "default_site_id",
        ),
    ];
    for (settings, missing) in cases {
        for event in [&event, &chat_event] {
            let err = map(event, &settings, now()).unwrap_err();
            assert_eq!(err, MappingError::NoDefaultEntity { missing });
            assert_eq!(err.class().as_str(), "tenant_permanent");
        }
    }
    // A session id in the event needs no default.
    let with_session = json_event(json!({"id": "1", "phone": "9161234567", "cm_session_id": 5}));
    let no_default = TenantSettings {
        default_campaign_id: None,
        ..settings()
    };
    let mut plan = map(&with_session, &no_default, now()).unwrap();
    assert_eq!(attribution(&plan), (Some(5), None, None, None));
    // If CoMagic then rejects the session, the fallback reports the missing default.
    assert_eq!(
        plan.try_with_default_entity(&no_default),
        Err(MappingError::NoDefaultEntity {
            missing: "default_campaign_id"
        })
    );
    assert_eq!(attribution(&plan), (Some(5), None, None, None));
    plan.with_default_entity(&no_default);
    assert_eq!(attribution(&plan), (None, None, None, None));
}

#[test]
fn map_with_default_ignores_the_session() {
    let plan =
        map_with_default(&fixture_event("callback-session.json"), &settings(), now()).unwrap();
    assert_eq!(attribution(&plan), (None, Some(100), None, None));
    assert_eq!(offline(&plan).date_time, "2025-11-21 13:00:00");
}

#[test]
fn chat_becomes_one_chat_with_every_message() {
    let plan = map(&fixture_event("chat-basic.json"), &settings(), now()).unwrap();
    assert_eq!(plan.kind(), EventKind::Chat);
    assert_eq!(plan.ext_id(), "leadback:chat:c-77120");
    assert_eq!(plan.communication_type(), CommunicationType::Chat);
    let item = chat(&plan);
    assert_eq!(item.start_date_time, "2026-11-20 15:00:02");
    assert_eq!(item.name.as_deref(), Some("Мария"));
    assert_eq!(item.phone.as_deref(), Some("79210001122"));
    assert_eq!(item.email.as_deref(), Some("maria@example.org"));
    assert_eq!(item.status, ChatStatus::Succeed);
    assert_eq!(item.initiator, Some(ChatInitiator::Visitor));
    assert_eq!(item.ext_id.as_deref(), Some("leadback:chat:c-77120"));
    assert_eq!(item.attribution.campaign_id, Some(100));
    let messages: Vec<_> = item
        .messages
        .iter()
        .map(|m| {
            (
                m.date_time.as_str(),
                m.source,
                m.employee_id,
                m.message.as_str(),
            )
        })
        .collect();
    assert_eq!(
        messages,
        [
            (
                "2026-11-20 15:00:03",
                MessageSource::Visitor,
                None,
                "Здравствуйте! Доставляете в Химки?"
            ),
            (
                "2026-11-20 15:00:40",
                MessageSource::Operator,
                Some(7),
                "Добрый день! Да, доставка 1–2 дня."
            ),
            (
                "2026-11-20 15:01:15",
                MessageSource::Visitor,
                None,
                "Отлично, перезвоните мне, пожалуйста."
            ),
        ]
    );
    // Wire shape: operator messages carry the employee, visitor messages do not.
    let wire = serde_json::to_value(item).unwrap();
    assert_eq!(wire["messages"][1]["employee_id"], 7);
    assert!(wire["messages"][0].get("employee_id").is_none());
    assert_eq!(wire["status"], "succeed");
}

#[test]
fn chat_without_contact_is_not_sent() {
    // upload.chats lists phone/email among the required parameters: such a chat is
    // dead-lettered (the event's problem), not refused by CoMagic.
    let err = map(&fixture_event("chat-no-contact.json"), &settings(), now()).unwrap_err();
    assert_eq!(
        err,
        MappingError::NoContact {
            kind: EventKind::Chat,
            unparsed_phone: None
        }
    );
    assert_eq!(err.class().as_str(), "event_permanent");
    assert!(err.to_string().starts_with("the chat has neither"), "{err}");
}

#[test]
fn chat_keeps_an_unparsable_contact_as_a_final_system_message() {
    let event = json_event(json!({"event": "chat", "email": "a@b.ru", "phone": "12-34",
        "date": "2026-11-20 16:10:00", "messages": [
            {"from": "visitor", "date": "2026-11-20 16:10:05", "text": "Здравствуйте"}]}));
    let plan = map(&event, &settings(), now()).unwrap();
    let item = chat(&plan);
    assert_eq!(item.email.as_deref(), Some("a@b.ru"));
    assert_eq!(item.phone, None);
    assert_eq!(item.messages.len(), 2);
    let note = &item.messages[1];
    assert_eq!(note.source, MessageSource::System);
    assert_eq!(note.message, "Телефон (не распознан): 12-34");
    assert_eq!(
        note.date_time, "2026-11-20 16:10:06",
        "after the last message"
    );
    assert_eq!(
        item.initiator,
        Some(ChatInitiator::Visitor),
        "the note opens nothing"
    );
    // An unparsable email alongside a valid phone is kept the same way.
    let event = json_event(
        json!({"event": "chat", "phone": "9161234567", "email": "nope@",
        "messages": [{"from": "visitor", "text": "x"}]}),
    );
    let plan = map(&event, &settings(), now()).unwrap();
    let last = chat(&plan).messages.last().cloned().unwrap();
    assert_eq!(
        (last.source, last.message.as_str()),
        (MessageSource::System, "Email (не распознан): nope@")
    );
}

#[test]
fn chat_without_messages_carries_one_system_message() {
    // CoMagic refuses an empty `messages` list; the lead (its contact) is still delivered.
    let event = json_event(json!({"event": "chat", "phone": "9161234567",
        "date": "2026-11-20 16:10:00", "messages": []}));
    let plan = map(&event, &settings(), now()).unwrap();
    let item = chat(&plan);
    assert_eq!(item.messages.len(), 1);
    let only = &item.messages[0];
    assert_eq!(only.source, MessageSource::System);
    assert_eq!(only.message, leadback_model::mapping::NO_TRANSCRIPT);
    assert!(
        only.date_time.as_str() > item.start_date_time.as_str(),
        "strictly after the start: {} vs {}",
        only.date_time,
        item.start_date_time
    );
    // With an unparsable email beside it, both lines are kept in that one message.
    let event = json_event(
        json!({"event": "chat", "phone": "9161234567", "email": "nope@",
        "messages": []}),
    );
    let plan = map(&event, &settings(), now()).unwrap();
    let messages = chat(&plan).messages.clone();
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0].message,
        format!(
            "{}\nEmail (не распознан): nope@",
            leadback_model::mapping::NO_TRANSCRIPT
        )
    );
}

#[test]
fn chat_status_and_initiator() {
    let msg = |from: &str| json!({"from": from, "text": "x"});
    let cases = [
        (vec![], ChatStatus::Lost, ChatInitiator::Visitor),
        (
            vec![msg("visitor")],
            ChatStatus::Lost,
            ChatInitiator::Visitor,
        ),
        (
            vec![msg("visitor"), msg("visitor")],
            ChatStatus::Lost,
            ChatInitiator::Visitor,
        ),
        (
            vec![msg("visitor"), msg("operator")],
            ChatStatus::Succeed,
            ChatInitiator::Visitor,
        ),
        (
            vec![msg("operator"), msg("client")],
            ChatStatus::Succeed,
            ChatInitiator::Operator,
        ),
        (
            vec![msg("operator")],
            ChatStatus::Lost,
            ChatInitiator::Operator,
        ),
        (
            vec![msg("bot"), msg("guest")],
            ChatStatus::Lost,
            ChatInitiator::Autoinvite,
        ),
        (
            vec![msg("auto"), msg("user"), msg("agent")],
            ChatStatus::Succeed,
            ChatInitiator::Autoinvite,
        ),
        (
            vec![msg("who?"), msg("agent")],
            ChatStatus::Succeed,
            ChatInitiator::Visitor,
        ),
    ];
    for (messages, status, initiator) in cases {
        let event = json_event(
            json!({"event": "chat", "chat_id": "1", "phone": "9161234567", "messages": messages}),
        );
        let plan = map(&event, &settings(), now()).unwrap();
        let item = chat(&plan);
        assert_eq!(
            (item.status, item.initiator),
            (status, Some(initiator)),
            "{messages:?}"
        );
        // A chat without messages carries one system message (CoMagic refuses none).
        assert_eq!(item.messages.len(), messages.len().max(1));
    }
}

#[test]
fn operator_messages_need_the_chat_employee() {
    let no_employee = TenantSettings {
        chat_employee_id: None,
        ..settings()
    };
    let with_operator = json_event(
        json!({"phone": "9161234567", "messages": [{"from": "visitor", "text": "a"}, {"from": "operator", "text": "b"}]}),
    );
    let err = map(&with_operator, &no_employee, now()).unwrap_err();
    assert_eq!(err, MappingError::NoChatEmployee);
    assert_eq!(err.class().as_str(), "tenant_permanent");
    let visitor_only = json_event(
        json!({"phone": "9161234567", "messages": [{"from": "visitor", "text": "a"}, {"from": "system", "text": "b"}]}),
    );
    let plan = map(&visitor_only, &no_employee, now()).unwrap();
    assert!(chat(&plan).messages.iter().all(|m| m.employee_id.is_none()));
    assert_eq!(chat(&plan).messages[1].source, MessageSource::System);
}

/// A chat payload created at `date` whose messages, the visitor's and the operator's in turn
/// (texts "a", "b", …), were sent at `times` (`None`: without a time).
fn chat_at(date: Option<&str>, times: &[Option<&str>]) -> serde_json::Value {
    let messages: Vec<_> = times
        .iter()
        .zip(["visitor", "operator"].iter().cycle())
        .zip(["a", "b", "c", "d"])
        .map(|((time, from), text)| match time {
            Some(time) => json!({"from": from, "date": time, "text": text}),
            None => json!({"from": from, "text": text}),
        })
        .collect();
    let mut chat = json!({"messages": messages});
    if let Some(date) = date {
        chat["date"] = json!(date);
    }
    chat
}

#[test]
fn chat_message_times_stay_after_the_start_in_order() {
    // Each case: the chat's date | its messages' times | the start CoMagic gets | the messages'
    // times CoMagic gets. `-` is no time; a bare time is on 2026-11-20 (UTC); `now` is
    // 2026-11-25 00:00:00.
    let cases = [
        // Same second as the start and as each other; one without a time.
        "10:00:00 | 10:00:00 10:00:00 - 10:05:00 | 10:00:00 | 10:00:01 10:00:02 10:00:03 10:05:00",
        // created_at is the chat's end: the chat starts at its first message.
        "11:00:00 | 10:00:00 10:01:00 | 10:00:00 | 10:00:01 10:01:00",
        // Out of order times keep Leadback's order.
        "10:00:00 | 10:03:00 10:02:00 | 10:00:00 | 10:03:00 10:03:01",
        // No times at all: start now, messages shifted back so none is in the future.
        "- | - - | 2026-11-24_23:59:58 | 2026-11-24_23:59:59 2026-11-25_00:00:00",
        // Future times are clamped to now, then spread backwards.
        "2027-01-01_00:00:00 | 2027-01-01_00:00:00 2027-01-01_00:01:00 \
         | 2026-11-24_23:59:58 | 2026-11-24_23:59:59 2026-11-25_00:00:00",
    ];
    let time = |token: &str| match token {
        "-" => None,
        t if t.len() == 8 => Some(format!("2026-11-20 {t}")),
        t => Some(t.replace('_', " ")),
    };
    let cases = cases.map(|case| {
        let columns: Vec<Vec<Option<String>>> = case
            .split('|')
            .map(|column| column.split_whitespace().map(time).collect())
            .collect();
        let [date, sent, start, got] = &columns[..] else {
            panic!("four columns: {case}");
        };
        let sent: Vec<Option<&str>> = sent.iter().map(Option::as_deref).collect();
        let value = chat_at(date[0].as_deref(), &sent);
        let got: Vec<String> = got.iter().flatten().cloned().collect();
        (value, start[0].clone().unwrap_or_default(), got)
    });
    let utc_settings = TenantSettings {
        timezone: Some("UTC".into()),
        ..settings()
    };
    for (value, start, times) in cases {
        let mut value = value;
        value["event"] = json!("chat");
        value["phone"] = json!("9161234567");
        // Naive times in these cases are UTC to keep the table readable.
        let payload = leadback_model::RawPayload::from_value(value.clone());
        let event = leadback_model::LeadbackEvent::from_payload(&payload, chrono_tz::UTC).unwrap();
        let plan = map(&event, &utc_settings, now()).unwrap();
        let item = chat(&plan);
        assert_eq!(item.start_date_time, start, "{value}");
        let got: Vec<_> = item.messages.iter().map(|m| m.date_time.as_str()).collect();
        assert_eq!(got, times, "{value}");
        let texts: Vec<_> = item.messages.iter().map(|m| m.message.as_str()).collect();
        let mut sorted = texts.clone();
        sorted.sort();
        assert_eq!(texts, sorted, "order kept");
    }
}

#[test]
fn chats_never_send_campaign_minus_one() {
    let settings = TenantSettings {
        default_campaign_id: Some(-1),
        default_site_id: Some(9),
        ..settings()
    };
    let mut plan = map(&fixture_event("chat-basic.json"), &settings, now()).unwrap();
    assert_eq!(attribution(&plan), (None, None, None, Some(9)));
    plan.with_session_id(1);
    plan.with_default_entity(&settings);
    assert_eq!(attribution(&plan), (None, None, None, Some(9)));
    let callback = map(&fixture_event("callback-basic.json"), &settings, now()).unwrap();
    assert_eq!(attribution(&callback), (None, Some(-1), None, Some(9)));
}

#[test]
fn chat_session_upload_starts_before_the_chat() {
    let settings = TenantSettings {
        upload_sessions: true,
        default_site_id: Some(9),
        ..settings()
    };
    let mut value: serde_json::Value =
        serde_json::from_slice(&common::fixture("chat-basic.json")).unwrap();
    value["ip"] = json!("93.184.216.34");
    let plan = map(&json_event(value), &settings, now()).unwrap();
    let session = plan.session.as_ref().unwrap();
    assert_eq!(session.date_time, "2026-11-20 15:00:01");
    assert_eq!(chat(&plan).start_date_time, "2026-11-20 15:00:02");
    assert_eq!(session.utm_source.as_deref(), Some("vk"));
    assert_eq!(session.utm_medium.as_deref(), Some("social"));
}

#[test]
fn tags_address_the_record_by_ext_id() {
    let tagging = TenantSettings {
        set_tags: true,
        tag_ids: vec![11, 12, 11],
        ..settings()
    };
    let plan = map(&fixture_event("callback-basic.json"), &tagging, now()).unwrap();
    assert_eq!(plan.tag_ids(), &[11, 12]);
    let params = plan.tag_params(&[12]);
    assert_eq!(params.len(), 1);
    assert_eq!(params[0].tag_id, 12);
    assert_eq!(
        params[0].communication_ext_id.as_deref(),
        Some(plan.ext_id())
    );
    assert_eq!(params[0].communication_id, None);
    assert_eq!(
        params[0].communication_type,
        CommunicationType::OfflineMessage
    );
    assert_eq!(
        serde_json::to_value(&params[0]).unwrap(),
        json!({"communication_ext_id": plan.ext_id(), "communication_type": "offline_message", "tag_id": 12})
    );
    let items = plan.tag_items(plan.tag_ids());
    assert_eq!(items.iter().map(|i| i.tag_id).collect::<Vec<_>>(), [11, 12]);
    assert!(items
        .iter()
        .all(|i| i.communication_ext_id.as_deref() == Some(plan.ext_id())));

    let chat_plan = map(&fixture_event("chat-basic.json"), &tagging, now()).unwrap();
    assert_eq!(
        chat_plan.tag_params(&[11])[0].communication_type,
        CommunicationType::Chat
    );

    let off = TenantSettings {
        set_tags: false,
        tag_ids: vec![11],
        ..settings()
    };
    assert!(map(&fixture_event("chat-basic.json"), &off, now())
        .unwrap()
        .tag_ids()
        .is_empty());
}

#[test]
fn invalid_time_zone_is_a_tenant_problem() {
    let bad = TenantSettings {
        timezone: Some("Moscow".into()),
        ..settings()
    };
    let err = map(&fixture_event("callback-basic.json"), &bad, now()).unwrap_err();
    assert!(
        matches!(err, MappingError::InvalidSettings(ref e) if e.has("timezone")),
        "{err}"
    );
    assert_eq!(err.class().as_str(), "tenant_permanent");
}

#[test]
fn every_fixture_maps() {
    let full = TenantSettings {
        upload_sessions: true,
        default_site_id: Some(9),
        set_tags: true,
        tag_ids: vec![1],
        ..settings()
    };
    let expected = [
        ("callback-basic.json", EventKind::Callback, true, None),
        ("callback-form.txt", EventKind::Callback, false, None),
        ("callback-no-session.json", EventKind::Callback, false, None),
        (
            "callback-session.json",
            EventKind::Callback,
            false,
            Some(4812337719),
        ),
        ("chat-basic.json", EventKind::Chat, false, None),
    ];
    for (name, kind, session, visitor_session) in expected {
        let plan =
            map(&fixture_event(name), &full, now()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(plan.kind(), kind, "{name}");
        assert_eq!(plan.session.is_some(), session, "{name}");
        assert_eq!(
            plan.record().visitor_session_id(),
            visitor_session,
            "{name}"
        );
        assert_eq!(plan.tag_ids(), &[1], "{name}");
        assert!(
            plan.ext_id().starts_with("leadback:") && plan.ext_id().len() <= 64,
            "{name}"
        );
    }
}

/// The account's zone writes the record; Leadback's zone only reads times without an offset.
#[test]
fn account_zone_writes_and_leadback_zone_reads() {
    let ekb = TenantSettings {
        timezone: Some("Asia/Yekaterinburg".into()),
        ..settings()
    };
    let cases = [
        // (Leadback's time, record's date_time in the Yekaterinburg account)
        ("2026-11-23T10:20:30+03:00", "2026-11-23 12:20:30"),
        ("2026-11-23T07:20:30Z", "2026-11-23 12:20:30"),
        // Without an offset: read in leadback_timezone (Moscow by default).
        ("2026-11-23 10:20:30", "2026-11-23 12:20:30"),
        ("1795418430", "2026-11-23 12:20:30"),
    ];
    for (leadback, expected) in cases {
        let event = json_event(json!({"id": "1", "phone": "9161234567", "date": leadback}));
        let plan = map(&event, &ekb, now()).unwrap();
        assert_eq!(offline(&plan).date_time, expected, "{leadback}");
    }
    let kaliningrad_leadback = TenantSettings {
        leadback_timezone: "Europe/Kaliningrad".into(),
        ..ekb.clone()
    };
    let payload = leadback_model::RawPayload::from_value(
        json!({"id": "1", "phone": "9161234567", "date": "2026-11-23 09:20:30"}),
    );
    let zone = kaliningrad_leadback.leadback_zone().unwrap();
    let event = leadback_model::LeadbackEvent::from_payload(&payload, zone).unwrap();
    let plan = map(&event, &kaliningrad_leadback, now()).unwrap();
    assert_eq!(offline(&plan).date_time, "2026-11-23 12:20:30");
}

/// An event without its own time is dated when Leadback called us, not when it is mapped.
#[test]
fn undated_event_is_dated_at_receipt() {
    let received = Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap();
    let event = json_event(json!({"id": "1", "phone": "9161234567"})).dated_at_receipt(received);
    let plan = map(&event, &settings(), now()).unwrap();
    assert_eq!(offline(&plan).date_time, "2026-11-24 12:00:00");
    // Its own time wins over the receipt.
    let event =
        json_event(json!({"id": "1", "phone": "9161234567", "date": "2026-11-20 10:00:00"}))
            .dated_at_receipt(received);
    let plan = map(&event, &settings(), now()).unwrap();
    assert_eq!(offline(&plan).date_time, "2026-11-20 10:00:00");
}
