//! The alias table of `docs/leadback-webhooks.md`, as data, plus the case-insensitive lookups
//! that walk a parsed payload with it.
//!
//! Leadback's webhook field names are not documented, so every meaning has a list of names, tried
//! in order; the first one holding a usable value wins. A dotted alias (`contact.phone`) is a path
//! into nested objects. Keep this file and the table in the docs in step.

use serde_json::{Map, Value};

/// Stable event id.
pub const EVENT_ID: &[&str] = &["id", "id_call", "call_id", "chat_id", "event_id", "uuid"];
/// Event kind (`chat` or a callback word).
pub const KIND: &[&str] = &["event", "type", "event_type", "kind"];
/// Creation time of the event.
pub const CREATED_AT: &[&str] = &[
    "date_create",
    "created_at",
    "date",
    "datetime",
    "date_time",
    "time",
    "timestamp",
];
/// Visitor phone.
pub const PHONE: &[&str] = &[
    "callback_phone",
    "phone",
    "client_phone",
    "visitor_phone",
    "tel",
    "contact.phone",
    "visitor.phone",
    "client.phone",
];
/// Visitor name.
pub const NAME: &[&str] = &[
    "name",
    "client_name",
    "visitor_name",
    "fio",
    "contact.name",
    "visitor.name",
    "client.name",
];
/// Visitor email.
pub const EMAIL: &[&str] = &[
    "email",
    "client_email",
    "visitor_email",
    "contact.email",
    "visitor.email",
    "client.email",
];
/// Request text (callbacks only: for chats these names would pick up a message).
pub const COMMENT: &[&str] = &["comment", "message", "text", "question"];
/// Site the widget runs on.
pub const SITE: &[&str] = &["site", "domain", "host", "site_url"];
/// Page the visitor was on.
pub const PAGE_URL: &[&str] = &["page_url", "url", "page", "landing_page", "entrance_page"];
/// HTTP referrer of the visit.
pub const REFERRER: &[&str] = &["referrer", "referer", "ref"];
/// Visitor IP address.
pub const IP: &[&str] = &["ip", "client_ip", "visitor_ip"];
/// A CoMagic visitor session id passed through Leadback by the site.
pub const COMAGIC_SESSION_ID: &[&str] = &[
    "comagic_session_id",
    "visitor_session_id",
    "comagic.session_id",
    "cm_session_id",
];
/// The chat's message list.
pub const MESSAGES: &[&str] = &["messages", "chat", "dialog", "history", "conversation"];
/// Text of one chat message.
pub const MESSAGE_TEXT: &[&str] = &["text", "message", "body", "content"];
/// Author of one chat message.
pub const MESSAGE_AUTHOR: &[&str] = &["from", "author", "sender", "source", "role", "direction"];
/// Time of one chat message.
pub const MESSAGE_TIME: &[&str] = &["date", "date_time", "created_at", "time", "timestamp"];
/// Callback extras, kept in the record's message text.
pub const OPERATOR_PHONE: &[&str] = &["operator_phone"];
pub const RECORD_URL: &[&str] = &["record_url"];
pub const STATUS: &[&str] = &["status"];
pub const DURATION: &[&str] = &["duration"];
/// The UTM tag names, in CoMagic's order; looked up flat (`utm_source`), then nested
/// (`utm.source`, `utm.utm_source`).
pub const UTM_KEYS: &[&str] = &["source", "medium", "campaign", "term", "content"];

/// Keys by which a save-time test request marks itself.
pub const TEST_MARKERS: &[&str] = &["test", "ping", "check", "is_test", "healthcheck"];
/// `event`/`type` values of a save-time test request.
pub const TEST_KIND_VALUES: &[&str] = &["test", "ping", "check", "healthcheck"];

/// The value under `key` in `object`: an exact match first, then the first key equal ignoring
/// ASCII and Unicode case.
pub fn get_ci<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if let Some(value) = object.get(key) {
        return Some(value);
    }
    object
        .iter()
        .find(|(k, _)| eq_ignore_case(k, key))
        .map(|(_, v)| v)
}

/// Whether `a` and `b` are equal ignoring ASCII and Unicode case (each character lowercased),
/// without allocating: this runs for every key against every alias of a field.
pub fn eq_ignore_case(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// Whether `word` is one of `list` ignoring case.
pub fn is_one_of(word: &str, list: &[&str]) -> bool {
    list.iter().any(|candidate| eq_ignore_case(word, candidate))
}

/// The value at a dotted `path` (`contact.phone`), each step case-insensitive.
pub fn get_path<'a>(object: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut steps = path.split('.');
    let first = steps.next()?;
    let mut current = get_ci(object, first)?;
    for step in steps {
        current = get_ci(current.as_object()?, step)?;
    }
    Some(current)
}

/// A scalar as trimmed text (strings, numbers, booleans); `None` for null, empty text and
/// containers, so that an empty field lets the next alias win.
pub fn scalar_text(value: &Value) -> Option<String> {
    let text = match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null | Value::Array(_) | Value::Object(_) => return None,
    };
    // NUL characters are never meaningful in these fields and some stores refuse them.
    let text = if text.contains('\0') {
        text.replace('\0', "")
    } else {
        text
    };
    if text.is_empty() {
        None
    } else {
        Some(text)
    }
}

/// The first alias holding non-empty scalar text.
pub fn first_text(object: &Map<String, Value>, aliases: &[&str]) -> Option<String> {
    aliases
        .iter()
        .filter_map(|alias| get_path(object, alias))
        .find_map(scalar_text)
}

/// The first alias whose value `parse` accepts.
pub fn first_parsed<T>(
    object: &Map<String, Value>,
    aliases: &[&str],
    parse: impl FnMut(&Value) -> Option<T>,
) -> Option<T> {
    aliases
        .iter()
        .filter_map(|alias| get_path(object, alias))
        .find_map(parse)
}

/// A list of objects under one of the message-list aliases: a JSON array, an object with numeric
/// keys (how some form encoders send lists), or a string holding a JSON array (a form field
/// carrying the dialog as JSON).
pub fn message_list(object: &Map<String, Value>) -> Option<Vec<Map<String, Value>>> {
    first_parsed(object, MESSAGES, list_of_objects)
}

/// A chat message list in any of the shapes [`message_list`] accepts.
pub fn list_of_objects(value: &Value) -> Option<Vec<Map<String, Value>>> {
    match value {
        Value::Array(items) => {
            let objects: Vec<_> = items.iter().filter_map(Value::as_object).cloned().collect();
            // A list of strings or numbers is not a dialog; let the next alias try.
            if objects.is_empty() && !items.is_empty() {
                None
            } else {
                Some(objects)
            }
        }
        Value::Object(map) if !map.is_empty() && map.keys().all(|k| k.parse::<u64>().is_ok()) => {
            let mut indexed: Vec<(u64, &Value)> = map
                .iter()
                .filter_map(|(k, v)| k.parse::<u64>().ok().map(|i| (i, v)))
                .collect();
            indexed.sort_by_key(|(i, _)| *i);
            let objects: Vec<_> = indexed
                .into_iter()
                .filter_map(|(_, v)| v.as_object().cloned())
                .collect();
            (!objects.is_empty()).then_some(objects)
        }
        Value::String(text) if text.trim_start().starts_with('[') => {
            let parsed: Value = serde_json::from_str(text).ok()?;
            list_of_objects(&parsed)
        }
        _ => None,
    }
}
