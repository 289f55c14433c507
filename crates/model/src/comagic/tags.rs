//! `set.tag_communications` (one tag on one record) and `set.communications_tags` (bulk).

use serde::{Deserialize, Serialize};

/// What kind of record a tag goes on; the bridge uploads `offline_message`s and `chat`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommunicationType {
    OfflineMessage,
    Chat,
    Call,
    Goal,
    Email,
}

/// `params` of `set.tag_communications`. Address the record by `communication_ext_id` (our
/// `ext_id`; the docs do not say the upload's `id` is a `communication_id`) or by
/// `communication_id` (which wins when both are set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetTagCommunicationsParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub communication_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub communication_ext_id: Option<String>,
    pub communication_type: CommunicationType,
    pub tag_id: i64,
}

impl SetTagCommunicationsParams {
    /// Tag the record uploaded with our `ext_id`.
    pub fn by_ext_id(
        ext_id: impl Into<String>,
        communication_type: CommunicationType,
        tag_id: i64,
    ) -> Self {
        Self {
            communication_id: None,
            communication_ext_id: Some(ext_id.into()),
            communication_type,
            tag_id,
        }
    }
}

/// One item of `set.communications_tags`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommunicationTagItem {
    pub tag_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub communication_id: Option<i64>,
    /// Not on the method page (which names only `communication_id`); accepted by analogy
    /// with `set.tag_communications`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub communication_ext_id: Option<String>,
    pub communication_type: CommunicationType,
}

/// `params` of `set.communications_tags` (the example's `items` form).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetCommunicationsTagsParams {
    pub items: Vec<CommunicationTagItem>,
}
