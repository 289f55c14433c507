//! A tenant's field map: validation naming the entry, its paths tried before the aliases,
//! array indices, per-message meanings, and an empty map meaning the built-in table.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use chrono_tz::Europe::Moscow;
use leadback_model::{FieldMap, LeadbackEvent, Meaning, RawPayload};
use serde_json::json;

fn event(value: serde_json::Value, map: &FieldMap) -> LeadbackEvent {
    LeadbackEvent::from_payload_mapped(&RawPayload::from_value(value), Moscow, map)
        .expect("an object is an event")
}

#[test]
fn every_meaning_round_trips_by_name() {
    for meaning in Meaning::ALL {
        assert_eq!(Meaning::parse(meaning.as_str()), Some(*meaning));
        assert!(!meaning.aliases().is_empty(), "{meaning} has aliases");
    }
}

#[test]
fn an_unknown_meaning_and_malformed_paths_are_named() {
    let errors = FieldMap::from_json(&json!({
        "telephone": ["a"],
        "phone": ["ok.path", "bad..path", 7, ""],
        "email": "contact.email",
        "name": ["has space"],
    }))
    .expect_err("invalid");
    let mut entries: Vec<&str> = errors.iter().map(|e| e.entry.as_str()).collect();
    entries.sort_unstable();
    assert_eq!(
        entries,
        [
            "email",
            "name[0]",
            "phone[1]",
            "phone[2]",
            "phone[3]",
            "telephone"
        ]
    );
    let unknown = errors.iter().find(|e| e.entry == "telephone");
    assert!(unknown.is_some_and(|e| e.message.contains("unknown meaning")));
    assert!(FieldMap::from_json(&json!(["phone"])).is_err());
}

#[test]
fn mapped_paths_win_over_aliases_and_index_arrays() {
    let map = FieldMap::from_json(&json!({
        "phone": ["lead.contact_phone", "visitor.phones.0"],
        "name": ["visitor.full_name"],
    }))
    .expect("valid");
    let payload = json!({
        "phone": "+7 900 000-00-00",
        "visitor": {"phones": ["+7 (916) 123-45-67"], "full_name": "Анна"},
    });
    let mapped = event(payload.clone(), &map);
    assert_eq!(
        mapped.contact.phone.as_ref().map(|p| p.to_string()),
        Some("79161234567".to_owned())
    );
    assert_eq!(mapped.contact.name.as_deref(), Some("Анна"));
    // The first listed path holding a value wins.
    let first = event(
        json!({"lead": {"contact_phone": "89031112233"}, "visitor": {"phones": ["89161234567"]}}),
        &map,
    );
    assert_eq!(
        first.contact.phone.map(|p| p.to_string()),
        Some("79031112233".to_owned())
    );
    // Without the map the alias table alone answers.
    let builtin = event(payload, &FieldMap::default());
    assert_eq!(
        builtin.contact.phone.map(|p| p.to_string()),
        Some("79000000000".to_owned())
    );
}

#[test]
fn an_empty_map_restores_the_defaults_and_round_trips() {
    let empty = FieldMap::from_json(&json!({})).expect("valid");
    assert!(empty.is_empty());
    assert_eq!(empty, FieldMap::default());
    let map =
        FieldMap::from_json(&json!({"utm_source": ["visit.src"], "phone": []})).expect("valid");
    assert_eq!(map.to_json(), json!({"utm_source": ["visit.src"]}));
}

#[test]
fn message_meanings_are_read_inside_each_message() {
    let map = FieldMap::from_json(&json!({
        "messages": ["dialog_v2.items"],
        "message_text": ["payload.body_text"],
    }))
    .expect("valid");
    let chat = event(
        json!({"event": "chat", "dialog_v2": {"items": [
            {"payload": {"body_text": "Здравствуйте"}, "from": "visitor"}
        ]}}),
        &map,
    );
    assert_eq!(chat.messages.len(), 1);
    assert_eq!(chat.messages[0].text, "Здравствуйте");
}
