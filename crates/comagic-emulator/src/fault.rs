//! Fault injection: the next N matching calls misbehave (HTTP status, delay, a given JSON-RPC error,
//! or a dropped connection).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A fault applied to the next `count` calls (of `method`, when given). Queued faults are consumed
/// in order; a call takes the first queued fault that matches it.
///
/// JSON form (for `POST /_emulator/faults`, one object or an array):
/// `{"kind":"http_status","status":502,"count":1,"method":"upload.chats"}`,
/// `{"kind":"delay","duration_ms":1500}`, `{"kind":"rpc_error","code":-32603,"mnemonic":"internal_error","message":"..."}`,
/// `{"kind":"drop_connection"}`. `count` defaults to 1, `method` to any method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Answer with this HTTP status and a non-JSON body, without running the method.
    HttpStatus {
        status: u16,
        #[serde(default = "one")]
        count: u32,
        #[serde(default)]
        method: Option<String>,
    },
    /// Sleep, then handle the call normally.
    Delay {
        #[serde(rename = "duration_ms", with = "millis")]
        duration: Duration,
        #[serde(default = "one")]
        count: u32,
        #[serde(default)]
        method: Option<String>,
    },
    /// Answer with this JSON-RPC error without running the method (nothing is charged or stored).
    RpcError {
        code: i64,
        mnemonic: String,
        message: String,
        #[serde(default = "one")]
        count: u32,
        #[serde(default)]
        method: Option<String>,
    },
    /// Close the TCP connection without answering. Served by [`crate::Emulator::start`] this is a real
    /// close; a router embedded elsewhere ([`crate::router`]) cannot reach the connection and instead
    /// never answers (the client's timeout fires).
    DropConnection {
        #[serde(default = "one")]
        count: u32,
        #[serde(default)]
        method: Option<String>,
    },
}

fn one() -> u32 {
    1
}

impl Fault {
    pub(crate) fn method(&self) -> Option<&str> {
        match self {
            Self::HttpStatus { method, .. }
            | Self::Delay { method, .. }
            | Self::RpcError { method, .. }
            | Self::DropConnection { method, .. } => method.as_deref(),
        }
    }

    pub(crate) fn count_mut(&mut self) -> &mut u32 {
        match self {
            Self::HttpStatus { count, .. }
            | Self::Delay { count, .. }
            | Self::RpcError { count, .. }
            | Self::DropConnection { count, .. } => count,
        }
    }

    pub(crate) fn matches(&self, method: &str) -> bool {
        self.method().is_none_or(|m| m == method)
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
