//! Fixture loading shared by the model's tests.
#![allow(dead_code)]

use std::path::PathBuf;

use leadback_model::{LeadbackEvent, RawPayload};

/// The repository's copy of the fixtures, else the shared directory beside the checkout.
pub fn fixture_path(name: &str) -> PathBuf {
    let in_repo = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/leadback"
    ))
    .join(name);
    if in_repo.exists() {
        return in_repo;
    }
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/leadback"
    ))
    .join(name)
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// Parses a fixture with the content type its extension implies.
pub fn fixture_payload(name: &str) -> RawPayload {
    let content_type = if name.ends_with(".json") {
        "application/json"
    } else {
        "application/x-www-form-urlencoded"
    };
    let body = fixture(name);
    let body = if name.ends_with(".txt") {
        // The form fixture ends with a newline that a real client would not send.
        String::from_utf8(body)
            .unwrap()
            .trim_end()
            .as_bytes()
            .to_vec()
    } else {
        body
    };
    RawPayload::parse(Some(content_type), &body).unwrap()
}

pub fn fixture_event(name: &str) -> LeadbackEvent {
    LeadbackEvent::from_payload(&fixture_payload(name), chrono_tz::Europe::Moscow).unwrap()
}

pub fn json_event(value: serde_json::Value) -> LeadbackEvent {
    LeadbackEvent::from_payload(&RawPayload::from_value(value), chrono_tz::Europe::Moscow).unwrap()
}

pub const ALL_FIXTURES: &[&str] = &[
    "callback-basic.json",
    "callback-form.txt",
    "callback-no-session.json",
    "callback-session.json",
    "chat-basic.json",
    "chat-no-contact.json",
];
