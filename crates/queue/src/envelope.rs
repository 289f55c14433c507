//! The one message format of every backend, serialised once at the ingress.

use chrono::{DateTime, Utc};
use leadback_model::{EventId, LastError};
use serde::{Deserialize, Serialize};

pub const ENVELOPE_SCHEMA_VERSION: u32 = 1;

/// A Leadback event on its way to CoMagic: the raw body plus what the worker learned so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub schema_version: u32,
    /// The stable event id (Leadback's id, or a hash of the canonical body); with `tenant_id`
    /// the idempotency key. Parsed on the way in: a message whose id is not one is poison.
    pub event_id: EventId,
    pub tenant_id: uuid::Uuid,
    pub received_at: DateTime<Utc>,
    /// The request's `Content-Type`, or `application/x-www-form-urlencoded` for a GET query.
    pub content_type: Option<String>,
    /// The body exactly as received (for GET: the query string).
    #[serde(with = "raw_body_base64")]
    pub raw_body: Vec<u8>,
    /// Delivery attempts made so far (0 before the first).
    pub attempt: u32,
    pub first_attempt_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub progress: Progress,
    pub last_error: Option<LastError>,
    /// The W3C trace context of the publish, when the ingress exports traces (see
    /// `trace_context`): per envelope, so each event of a group-published message keeps its
    /// own trace. Absent (not even a key) when tracing is off; older binaries ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<crate::TraceContext>,
}

/// Steps that already succeeded, so a retry never redoes them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// The CoMagic session created by `upload.sessions` for this event.
    pub session_id: Option<i64>,
    /// The CoMagic record id once the upload succeeded (None for `duplicate_entity`).
    pub uploaded: bool,
    pub comagic_id: Option<i64>,
    /// Tag ids already set on the record.
    #[serde(default)]
    pub tagged: Vec<i64>,
}

impl Envelope {
    pub fn new(
        event_id: EventId,
        tenant_id: uuid::Uuid,
        content_type: Option<String>,
        raw_body: Vec<u8>,
        received_at: DateTime<Utc>,
    ) -> Self {
        Self {
            schema_version: ENVELOPE_SCHEMA_VERSION,
            event_id,
            tenant_id,
            received_at,
            content_type,
            raw_body,
            attempt: 0,
            first_attempt_at: None,
            progress: Progress::default(),
            last_error: None,
            trace: None,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        // Room for the base64 body and the fields around it, so the buffer is not regrown
        // several times for every webhook.
        let mut json = Vec::with_capacity(self.raw_body.len() / 3 * 4 + 512);
        // Serialising plain data with string keys into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut json, self);
        json
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

mod raw_body_base64 {
    use base64::{engine::general_purpose::STANDARD, Engine};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}
