//! `EventId`: the bridge's idempotency key for one Leadback event, and the CoMagic `ext_id`
//! derived from it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::payload::sha256_hex;

/// Longest accepted id; longer Leadback ids are hashed.
pub const MAX_EVENT_ID_LEN: usize = 128;
/// Longest `ext_id` the bridge sends to CoMagic (its type is a string of undocumented length).
pub const MAX_EXT_ID_LEN: usize = 64;
const EXT_ID_PREFIX: &str = "leadback:";

/// Why a text is not an event id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventIdError {
    #[error("event id is empty")]
    Empty,
    #[error("event id is longer than {MAX_EVENT_ID_LEN} characters")]
    TooLong,
    #[error("event id contains a control or whitespace character")]
    NotPrintable,
}

/// Non-empty, at most 128 printable characters without whitespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct EventId(String);

impl EventId {
    /// Parses any id text (as stored in the queue envelope or the ledger).
    pub fn parse(text: &str) -> Result<EventId, EventIdError> {
        if text.is_empty() {
            return Err(EventIdError::Empty);
        }
        if text.chars().count() > MAX_EVENT_ID_LEN {
            return Err(EventIdError::TooLong);
        }
        if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(EventIdError::NotPrintable);
        }
        Ok(EventId(text.to_owned()))
    }

    /// An id Leadback gave the event. Surrounding whitespace is ignored; inner whitespace is
    /// replaced by `_`, and an id longer than 128 characters is replaced by `lb:<sha256>` so
    /// that any non-empty id Leadback sends yields a stable key.
    pub fn from_leadback(id: &str) -> Result<EventId, EventIdError> {
        let trimmed = id.trim();
        if trimmed.is_empty() {
            return Err(EventIdError::Empty);
        }
        let cleaned: String = trimmed
            .chars()
            .filter(|c| !c.is_control())
            .map(|c| if c.is_whitespace() { '_' } else { c })
            .collect();
        if cleaned.is_empty() {
            return Err(EventIdError::NotPrintable);
        }
        if cleaned.chars().count() > MAX_EVENT_ID_LEN {
            return Ok(EventId(format!("lb:{}", sha256_hex(cleaned.as_bytes()))));
        }
        EventId::parse(&cleaned)
    }

    /// An id for a body without a Leadback id: `sha256:` + SHA-256 of its canonical bytes.
    pub fn from_body_hash(canonical_body: &[u8]) -> EventId {
        EventId(format!("sha256:{}", sha256_hex(canonical_body)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The CoMagic `ext_id`: `leadback:<id>`, or, when that exceeds 64 characters,
    /// `leadback:#` + the first 54 hex digits of SHA-256(id) (still unique in practice, and
    /// stable, which is what deduplication at CoMagic needs).
    pub fn ext_id(&self) -> String {
        let plain = format!("{EXT_ID_PREFIX}{}", self.0);
        if plain.chars().count() <= MAX_EXT_ID_LEN {
            return plain;
        }
        let digest = sha256_hex(self.0.as_bytes());
        let room = MAX_EXT_ID_LEN - EXT_ID_PREFIX.len() - 1;
        format!("{EXT_ID_PREFIX}#{}", &digest[..room])
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for EventId {
    type Err = EventIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventId::parse(s)
    }
}

impl AsRef<str> for EventId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Compared with a text as is (no parsing: a text that is not an id equals no id).
impl PartialEq<str> for EventId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for EventId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// For rows read back from the store (`#[sqlx(try_from = "String")]`).
impl TryFrom<String> for EventId {
    type Error = EventIdError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        EventId::parse(&text)
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        EventId::parse(&text).map_err(serde::de::Error::custom)
    }
}
