//! `LeadbackEvent`: what the bridge understood of one webhook, read from a [`RawPayload`] with
//! the alias table. Tolerant by design: a field that is missing or malformed is `None` (a
//! malformed phone keeps its raw text), and only a body that is not an object at all fails.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::aliases;
use crate::datetime::ComagicDateTime;
use crate::email::Email;
use crate::event_id::EventId;
use crate::field_map::{FieldMap, Lookup, Meaning};
use crate::payload::RawPayload;
use crate::phone::Phone;

/// What Leadback reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Callback,
    Chat,
}

impl EventKind {
    pub const ALL: [EventKind; 2] = [EventKind::Callback, EventKind::Chat];

    pub fn as_str(&self) -> &'static str {
        match self {
            EventKind::Callback => "callback",
            EventKind::Chat => "chat",
        }
    }
}

/// A text that names no event kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an event kind (callback, chat)")]
pub struct UnknownEventKind(pub String);

impl std::str::FromStr for EventKind {
    type Err = UnknownEventKind;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        EventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| UnknownEventKind(text.to_owned()))
    }
}

/// For rows read back from the store (`#[sqlx(try_from = "String")]`).
impl TryFrom<String> for EventKind {
    type Error = UnknownEventKind;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

/// Why a payload cannot become an event at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("the payload is a JSON {found}, not an object of event fields")]
    NotAnObject { found: &'static str },
}

/// Who wrote a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageAuthor {
    Visitor,
    Operator,
    System,
}

impl MessageAuthor {
    /// Reads an author word of the alias table (`visitor`, `operator`, `bot`, …).
    pub fn parse(word: &str) -> Option<MessageAuthor> {
        match word.trim().to_lowercase().as_str() {
            "visitor" | "client" | "user" | "guest" | "in" | "incoming" | "customer" => {
                Some(MessageAuthor::Visitor)
            }
            "operator" | "manager" | "agent" | "admin" | "out" | "outgoing" | "employee" => {
                Some(MessageAuthor::Operator)
            }
            "system" | "bot" | "auto" | "autoinvite" => Some(MessageAuthor::System),
            _ => None,
        }
    }
}

/// Contact data of the visitor.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Contact {
    pub name: Option<String>,
    pub phone: Option<Phone>,
    /// The phone text as received when it is not a valid number (noted in the record).
    pub phone_unparsed: Option<String>,
    pub email: Option<Email>,
    /// The email text as received when it is not a valid address.
    pub email_unparsed: Option<String>,
}

/// UTM tags of the visit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Utm {
    pub source: Option<String>,
    pub medium: Option<String>,
    pub campaign: Option<String>,
    pub term: Option<String>,
    pub content: Option<String>,
}

impl Utm {
    /// No tag at all (every field is an `Option`, so that is the default).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    fn set(&mut self, key: &str, value: String) {
        let slot = match key {
            "source" => &mut self.source,
            "medium" => &mut self.medium,
            "campaign" => &mut self.campaign,
            "term" => &mut self.term,
            "content" => &mut self.content,
            _ => return,
        };
        *slot = Some(value);
    }
}

/// One chat message. The author is `None` when the payload names none we know.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventMessage {
    pub author: Option<MessageAuthor>,
    pub time: Option<ComagicDateTime>,
    pub text: String,
}

/// Callback details CoMagic has no field for; they go into the record's message text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CallbackExtras {
    pub operator_phone: Option<String>,
    pub record_url: Option<String>,
    pub status: Option<String>,
    pub duration: Option<String>,
}

impl CallbackExtras {
    /// No detail at all (every field is an `Option`, so that is the default).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A Leadback callback or chat, as far as the payload tells.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadbackEvent {
    pub kind: EventKind,
    pub id: EventId,
    /// Leadback's own id, when the payload has one.
    pub leadback_id: Option<String>,
    pub created_at: Option<ComagicDateTime>,
    pub contact: Contact,
    /// The visitor's request text (callbacks only).
    pub comment: Option<String>,
    pub site: Option<String>,
    pub page_url: Option<String>,
    pub referrer: Option<String>,
    pub ip: Option<IpAddr>,
    pub utm: Utm,
    pub comagic_session_id: Option<i64>,
    pub messages: Vec<EventMessage>,
    pub callback: CallbackExtras,
    /// The whole parsed payload, kept for dead letters and replays.
    pub raw: Value,
}

impl LeadbackEvent {
    /// Reads an event; `naive_zone` is the zone of times written without an offset.
    pub fn from_payload(payload: &RawPayload, naive_zone: Tz) -> Result<LeadbackEvent, EventError> {
        Self::from_payload_mapped(payload, naive_zone, &FieldMap::default())
    }

    /// [`LeadbackEvent::from_payload`] with a tenant's field map tried before the aliases.
    pub fn from_payload_mapped(
        payload: &RawPayload,
        naive_zone: Tz,
        field_map: &FieldMap,
    ) -> Result<LeadbackEvent, EventError> {
        let map = payload.value().as_object().ok_or(EventError::NotAnObject {
            found: json_type(payload.value()),
        })?;
        let lookup = field_map.lookup();
        let first_text = |map: &Map<String, Value>, meaning| lookup.text(map, meaning);
        let kind = detect_kind_with(map, lookup);
        let time = |value: &Value| ComagicDateTime::from_value(value, naive_zone).ok();

        let mut contact = Contact {
            name: first_text(map, Meaning::Name),
            ..Contact::default()
        };
        if let Some(raw_phone) = first_text(map, Meaning::Phone) {
            match Phone::parse(&raw_phone) {
                Ok(phone) => contact.phone = Some(phone),
                Err(_) => contact.phone_unparsed = Some(raw_phone),
            }
        }
        if let Some(raw_email) = first_text(map, Meaning::Email) {
            match Email::parse(&raw_email) {
                Ok(email) => contact.email = Some(email),
                Err(_) => contact.email_unparsed = Some(raw_email),
            }
        }

        let page_url = first_text(map, Meaning::PageUrl);
        let page_query = page_url.as_deref().map(url_query_pairs).unwrap_or_default();
        let mut utm = utm_from_payload(map, lookup);
        if utm.is_empty() {
            for (key, value) in &page_query {
                if let Some(name) = key.to_lowercase().strip_prefix("utm_") {
                    if !value.trim().is_empty() {
                        utm.set(name, value.trim().to_owned());
                    }
                }
            }
        }
        let comagic_session_id = lookup
            .parsed(map, Meaning::ComagicSessionId, |v| {
                aliases::scalar_text(v).and_then(|t| parse_session_id(&t))
            })
            .or_else(|| {
                page_query
                    .iter()
                    .filter(|(k, _)| k.eq_ignore_ascii_case("comagic_session_id"))
                    .find_map(|(_, v)| parse_session_id(v))
            });

        let messages = lookup
            .parsed(map, Meaning::Messages, aliases::list_of_objects)
            .unwrap_or_default()
            .iter()
            .filter_map(|message| read_message(message, naive_zone, lookup))
            .collect();

        Ok(LeadbackEvent {
            kind,
            id: payload.event_id(),
            leadback_id: first_text(map, Meaning::EventId),
            created_at: lookup.parsed(map, Meaning::CreatedAt, time),
            contact,
            comment: match kind {
                EventKind::Callback => first_text(map, Meaning::Comment),
                EventKind::Chat => None,
            },
            site: first_text(map, Meaning::Site),
            page_url,
            referrer: first_text(map, Meaning::Referrer),
            ip: lookup.parsed(map, Meaning::Ip, |v| {
                aliases::scalar_text(v).and_then(|t| parse_ip(&t))
            }),
            utm,
            comagic_session_id,
            messages,
            callback: CallbackExtras {
                operator_phone: first_text(map, Meaning::OperatorPhone),
                record_url: first_text(map, Meaning::RecordUrl),
                status: first_text(map, Meaning::Status),
                duration: first_text(map, Meaning::Duration),
            },
            raw: payload.value().clone(),
        })
    }

    /// Whether the event carries visit data an `upload.sessions` call could be built from.
    pub fn has_visit_data(&self) -> bool {
        // An IP address alone is no visit: CoMagic needs one for a session, but it tells
        // nothing of where the visitor came from.
        !self.utm.is_empty() || self.referrer.is_some() || self.page_url.is_some()
    }

    /// Dates an event that carries no creation time when Leadback called us (`received`, the
    /// envelope's time), never when a worker happens to process it (a retry hours later).
    pub fn dated_at_receipt(mut self, received: DateTime<Utc>) -> LeadbackEvent {
        self.created_at
            .get_or_insert(ComagicDateTime::from_utc(received));
        self
    }
}

/// The kind by the alias table: a kind word, else a non-empty message list means chat.
pub(crate) fn detect_kind(map: &Map<String, Value>) -> EventKind {
    detect_kind_with(map, Lookup::builtin())
}

/// [`detect_kind`] with a tenant's field map tried first.
pub fn detect_kind_with(map: &Map<String, Value>, lookup: Lookup<'_>) -> EventKind {
    let by_word = lookup.parsed(map, Meaning::Kind, |value| {
        let word = aliases::scalar_text(value)?.to_lowercase();
        if word.contains("chat") {
            Some(EventKind::Chat)
        } else if ["call", "lead", "order"].iter().any(|w| word.contains(w)) {
            Some(EventKind::Callback)
        } else {
            None
        }
    });
    by_word.unwrap_or_else(|| {
        match lookup.parsed(map, Meaning::Messages, aliases::list_of_objects) {
            Some(list) if !list.is_empty() => EventKind::Chat,
            _ => EventKind::Callback,
        }
    })
}

fn read_message(
    message: &Map<String, Value>,
    naive_zone: Tz,
    lookup: Lookup<'_>,
) -> Option<EventMessage> {
    let text = lookup.text(message, Meaning::MessageText)?;
    let author = lookup.parsed(message, Meaning::MessageAuthor, |v| {
        aliases::scalar_text(v).and_then(|t| MessageAuthor::parse(&t))
    });
    let time = lookup.parsed(message, Meaning::MessageTime, |v| {
        ComagicDateTime::from_value(v, naive_zone).ok()
    });
    Some(EventMessage { author, time, text })
}

fn utm_from_payload(map: &Map<String, Value>, lookup: Lookup<'_>) -> Utm {
    let meanings = [
        ("source", Meaning::UtmSource),
        ("medium", Meaning::UtmMedium),
        ("campaign", Meaning::UtmCampaign),
        ("term", Meaning::UtmTerm),
        ("content", Meaning::UtmContent),
    ];
    let mut utm = Utm::default();
    for (key, meaning) in meanings {
        if let Some(value) = lookup.text(map, meaning) {
            utm.set(key, value);
        }
    }
    utm
}

/// The decoded query pairs of a URL (absolute, or without a scheme), fragment ignored.
fn url_query_pairs(url: &str) -> Vec<(String, String)> {
    let Some((_, after)) = url.split_once('?') else {
        return Vec::new();
    };
    let query = after.split('#').next().unwrap_or_default();
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn parse_session_id(text: &str) -> Option<i64> {
    text.trim().parse::<i64>().ok().filter(|id| *id > 0)
}

/// The first address of a forwarded-for style list.
fn parse_ip(text: &str) -> Option<IpAddr> {
    text.split(',').next()?.trim().parse().ok()
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
