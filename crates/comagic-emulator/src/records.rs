//! What the emulator keeps for inspection: the records uploads created and the log of calls.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The kind of an uploaded record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    OfflineMessage,
    Chat,
    Session,
}

impl RecordKind {
    /// The `communication_type` the tag methods use for this kind (sessions cannot be tagged).
    pub fn communication_type(self) -> Option<&'static str> {
        match self {
            Self::OfflineMessage => Some("offline_message"),
            Self::Chat => Some("chat"),
            Self::Session => None,
        }
    }
}

/// One record created by an upload, as received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRecord {
    pub kind: RecordKind,
    /// The id the upload returned (`id`, or `session_id` for sessions).
    pub id: u64,
    /// The account's non-secret name (never its token).
    pub account: String,
    pub ext_id: Option<String>,
    /// The item exactly as received.
    pub payload: Value,
    /// Tag ids set on the record by `set.tag_communications` / `set.communications_tags`.
    pub tags: Vec<i64>,
    pub received_at: DateTime<Utc>,
}

/// One JSON-RPC call as the emulator saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallLogEntry {
    /// The method name (empty when the request could not be parsed).
    pub method: String,
    /// `"ok"`, an error mnemonic, `"http_<status>"` or `"dropped"` for injected transport faults.
    pub outcome: String,
    /// Number of items in the call's list (`offline_messages`, `chats`, `sessions`, `items`), else 0.
    pub items: usize,
    /// The account's name when the token was recognised.
    pub account: Option<String>,
    pub at: DateTime<Utc>,
    /// Whether the outcome was a fault a test injected (not a rule of the reference pages).
    #[serde(default)]
    pub injected: bool,
}

impl CallLogEntry {
    /// A refusal by a documented rule: neither accepted nor a fault a test injected. The
    /// end-to-end suites expect none unless the test provokes one.
    pub fn is_rule_refusal(&self) -> bool {
        self.outcome != "ok" && !self.injected
    }
}
