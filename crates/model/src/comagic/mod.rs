//! CoMagic/UIS Data API v2.0 wire types: exactly the JSON the API reads and writes, with field
//! names as in CoMagic's docs. No I/O and no policy here; the client (`comagic_client`) sends
//! them and classifies errors, the mapping fills them from Leadback events.
//!
//! Requests skip absent optional fields (CoMagic treats an explicit `null` as "clear", and some
//! methods refuse unexpected keys); responses are read leniently (`#[serde(default)]`, unknown
//! fields ignored) because CoMagic adds columns without a version bump.

mod auth;
mod envelope;
mod lenient;
mod lists;
mod tags;
mod upload;

#[cfg(test)]
mod tests;

pub use auth::{LoginParams, LoginResult};
pub use envelope::{
    ApiVersion, JsonRpcRequest, JsonRpcResponse, Limits, Metadata, RpcError, RpcErrorData, RpcId,
    JSONRPC_VERSION,
};
pub use lists::{
    Account, Campaign, Employee, GetListParams, ListResult, Site, Source, Tag, DEFAULT_PAGE_LIMIT,
    MAX_PAGE_LIMIT,
};
pub use tags::{
    CommunicationTagItem, CommunicationType, SetCommunicationsTagsParams,
    SetTagCommunicationsParams,
};
pub use upload::{
    format_date_time, Attribution, Chat, ChatInitiator, ChatMessage, ChatStatus, MessageSource,
    OfflineMessage, UploadChatsParams, UploadOfflineMessagesParams, UploadResult, UploadSession,
    UploadSessionsParams, UploadSessionsResult, UploadedId, UploadedSession, VisitorDevice,
    DATE_TIME_FORMAT, MAX_UPLOAD_BATCH,
};

/// Method names, so callers and the emulator never disagree on a spelling.
pub mod methods {
    pub const LOGIN_USER: &str = "login.user";
    pub const UPLOAD_OFFLINE_MESSAGES: &str = "upload.offline_messages";
    pub const UPLOAD_CHATS: &str = "upload.chats";
    pub const UPLOAD_SESSIONS: &str = "upload.sessions";
    pub const SET_TAG_COMMUNICATIONS: &str = "set.tag_communications";
    pub const SET_COMMUNICATIONS_TAGS: &str = "set.communications_tags";
    pub const GET_CAMPAIGNS: &str = "get.campaigns";
    pub const GET_SITES: &str = "get.sites";
    pub const GET_SOURCES: &str = "get.sources";
    pub const GET_TAGS: &str = "get.tags";
    pub const GET_EMPLOYEES: &str = "get.employees";
    pub const GET_ACCOUNT: &str = "get.account";
}

/// Error codes and mnemonics the bridge reacts to (general.txt, "Обработка ошибок").
pub mod errors {
    pub const PARSE_ERROR: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const INVALID_PARAMS: i64 = -32602;
    pub const INTERNAL_ERROR: i64 = -32603;
    pub const AUTH: i64 = -32001;
    pub const FORBIDDEN: i64 = -32003;
    pub const COMPONENT: i64 = -32008;
    pub const ACCOUNT: i64 = -32009;
    pub const LIMITS: i64 = -32029;
    pub const UNSUPPORTED: i64 = -32099;

    pub const ACCESS_TOKEN_EXPIRED: &str = "access_token_expired";
    pub const ACCESS_TOKEN_INVALID: &str = "access_token_invalid";
    pub const ACCESS_TOKEN_BLOCKED: &str = "access_token_blocked";
    pub const AUTH_ERROR: &str = "auth_error";
    pub const LIMIT_EXCEEDED: &str = "limit_exceeded";
    pub const IP_NOT_WHITELISTED: &str = "ip_not_whitelisted";
    pub const METHOD_COMPONENT_DISABLED: &str = "method_component_disabled";
    pub const PARAMETER_COMPONENT_DISABLED: &str = "parameter_component_disabled";
    pub const INVALID_PARAMETER_VALUE: &str = "invalid_parameter_value";
    pub const ENTITY_NOT_FOUND: &str = "entity_not_found";
    pub const DUPLICATE_ENTITY: &str = "duplicate_entity";
    pub const INTERNAL: &str = "internal_error";
}
