//! The JSON-RPC 2.0 envelope, CoMagic's error object and the `metadata` block (limits).

use serde::{Deserialize, Serialize};

use super::lenient::{loose_counts, loose_i64};

/// The only protocol version CoMagic speaks.
pub const JSONRPC_VERSION: &str = "2.0";

/// A request id: CoMagic accepts a number or a string and echoes it (or `null` on a parse error).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RpcId {
    Number(i64),
    Text(String),
}

/// `{"jsonrpc":"2.0","id":…,"method":"…","params":{…}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonRpcRequest<P> {
    pub jsonrpc: String,
    pub id: RpcId,
    pub method: String,
    pub params: P,
}

impl<P> JsonRpcRequest<P> {
    pub fn new(id: RpcId, method: impl Into<String>, params: P) -> Self {
        Self {
            jsonrpc: JSONRPC_VERSION.to_owned(),
            id,
            method: method.into(),
            params,
        }
    }
}

/// A response: exactly one of `result` and `error` is expected; both are optional here so a
/// malformed reply can be told apart from a parse failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonRpcResponse<R> {
    #[serde(default = "jsonrpc_version")]
    pub jsonrpc: String,
    #[serde(default)]
    pub id: Option<RpcId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<R>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RpcError>,
}

fn jsonrpc_version() -> String {
    JSONRPC_VERSION.to_owned()
}

impl<R> JsonRpcResponse<R> {
    pub fn success(id: Option<RpcId>, result: R) -> Self {
        Self {
            jsonrpc: JSONRPC_VERSION.to_owned(),
            id,
            result: Some(result),
            error: None,
        }
    }

    pub fn failure(id: Option<RpcId>, error: RpcError) -> Self {
        Self {
            jsonrpc: JSONRPC_VERSION.to_owned(),
            id,
            result: None,
            error: Some(error),
        }
    }

    /// The error wins if a server sends both; `None` when it sent neither.
    pub fn into_outcome(self) -> Option<Result<R, RpcError>> {
        match (self.error, self.result) {
            (Some(error), _) => Some(Err(error)),
            (None, Some(result)) => Some(Ok(result)),
            (None, None) => None,
        }
    }
}

/// `error: {code, message, data: {mnemonic, field, value, params, extended_helper, metadata}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RpcError {
    pub code: i64,
    #[serde(default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<RpcErrorData>,
}

impl RpcError {
    /// `data.mnemonic`, the key CoMagic recommends classifying by.
    pub fn mnemonic(&self) -> Option<&str> {
        self.data
            .as_ref()
            .map(|d| d.mnemonic.as_str())
            .filter(|m| !m.is_empty())
    }

    /// `data.field`: the (dotted) parameter the error is about.
    pub fn field(&self) -> Option<&str> {
        self.data.as_ref().and_then(|d| d.field.as_deref())
    }

    /// `data.metadata.limits`, present on `limit_exceeded`.
    pub fn limits(&self) -> Option<&Limits> {
        self.data
            .as_ref()
            .and_then(|d| d.metadata.as_ref())
            .and_then(|m| m.limits.as_ref())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RpcErrorData {
    #[serde(deserialize_with = "super::lenient::null_as_default")]
    pub mnemonic: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What the caller sent, unchanged (documented as a string, seen as numbers too).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    /// Substitutions for the message template (limits, component names…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extended_helper: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

/// `metadata` (some pages spell it `meta_data`) of a result or an error.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Metadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<ApiVersion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "loose_i64"
    )]
    pub total_items: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiVersion {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version_deprecated: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_version: Option<String>,
}

loose_counts! {
    /// Points left per day and per minute; resets are in seconds. Any field may be missing
    /// (the sources sample returns `"limits": {}`).
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(default)]
    pub struct Limits {
        day_limit,
        day_remaining,
        day_reset,
        minute_limit,
        minute_remaining,
        minute_reset,
    }
}

impl Limits {
    /// True when no field was sent (`"limits": {}`).
    pub fn is_empty(&self) -> bool {
        *self == Limits::default()
    }
}
