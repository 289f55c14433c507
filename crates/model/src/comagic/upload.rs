//! `upload.offline_messages`, `upload.chats` and `upload.sessions`: the records the bridge
//! creates, and what CoMagic answers.

use serde::{Deserialize, Serialize};

use super::lists::ListResult;

/// CoMagic's one date-time format (`YYYY-MM-DD hh:mm:ss`, in the account's time zone).
pub const DATE_TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// Items per upload call: current pages say 50 (older copies 500), so never more than 50.
pub const MAX_UPLOAD_BATCH: usize = 50;

/// Formats a wall-clock time (already in the account's zone) the way CoMagic expects.
pub fn format_date_time(local: chrono::NaiveDateTime) -> String {
    local.format(DATE_TIME_FORMAT).to_string()
}

/// Where a record is attributed: `visitor_session_id` (a session), or the entity (campaign,
/// source, site) it counts for. The same four optional fields of `offline_messages[]` and
/// `chats[]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribution {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor_session_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_id: Option<i64>,
}

/// One offline request (`offline_messages[]`). Needs `phone` or `email`, and one of
/// `visitor_session_id`, `campaign_id`, `site_id` (`campaign_id: -1` also needs `site_id`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflineMessage {
    /// Always sent: the docs call it required yet default it to the call time.
    pub date_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// E.164 digits, e.g. `79161234567`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(flatten)]
    pub attribution: Attribution,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form_name: Option<String>,
    /// Our event id: makes a re-upload recognisable (`duplicate_entity`) and lets us tag by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext_id: Option<String>,
}

/// `params` of `upload.offline_messages` (the client adds `access_token`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadOfflineMessagesParams {
    pub offline_messages: Vec<OfflineMessage>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatStatus {
    Lost,
    Succeed,
    Refused,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatInitiator {
    Operator,
    Visitor,
    Autoinvite,
}

/// Who wrote a chat message; `system` is CoMagic's name for the auto-invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageSource {
    Operator,
    Visitor,
    System,
}

/// One chat (`chats[]`). `campaign_id: -1` is forbidden here: send `site_id` alone instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chat {
    pub start_date_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub status: ChatStatus,
    /// When absent CoMagic takes the first message's `source`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiator: Option<ChatInitiator>,
    #[serde(flatten)]
    pub attribution: Attribution,
    pub messages: Vec<ChatMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext_id: Option<String>,
}

/// One message of a chat; times must be after the chat's `start_date_time`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub date_time: String,
    pub source: MessageSource,
    /// Required by CoMagic when `source` is `operator`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employee_id: Option<i64>,
    pub message: String,
}

/// `params` of `upload.chats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadChatsParams {
    pub chats: Vec<Chat>,
}

/// `result` of `upload.offline_messages` and `upload.chats`: one `{id}` per uploaded item.
pub type UploadResult = ListResult<UploadedId>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadedId {
    pub id: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VisitorDevice {
    Desktop,
    Mobile,
    Tablet,
    Other,
}

/// One visitor session (`sessions[]` of `upload.sessions`), built from a visit's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadSession {
    /// Our id for the session; CoMagic drops duplicates on load.
    pub ext_id: String,
    pub site_id: i64,
    /// In the account's zone; not in the future, not before 2011-01-01.
    pub date_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor_id: Option<i64>,
    pub is_visitor_new: bool,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<i64>,
    pub visitor_ip_address: String,
    /// When absent CoMagic infers the campaign, else uses -1 ("visitors without campaign").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor_device: Option<VisitorDevice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor_browser_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor_browser_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor_os_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor_os_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor_screen: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor_language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_engine: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_query: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ua_client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ym_client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_medium: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_term: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_campaign: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_referrer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_expid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openstat_ad: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openstat_campaign: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openstat_service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openstat_source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gclid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yclid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ymclid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ef_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cm_id: Option<String>,
    /// 1 Yandex.Direct, 2 Google Ads, … (see the method page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adv_system: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrance_page_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrance_page_title: Option<String>,
}

impl UploadSession {
    /// A session with only the required fields set.
    pub fn new(
        ext_id: impl Into<String>,
        site_id: i64,
        date_time: impl Into<String>,
        is_visitor_new: bool,
        visitor_ip_address: impl Into<String>,
    ) -> Self {
        Self {
            ext_id: ext_id.into(),
            site_id,
            date_time: date_time.into(),
            visitor_id: None,
            is_visitor_new,
            duration: None,
            visitor_ip_address: visitor_ip_address.into(),
            campaign_id: None,
            visitor_device: None,
            visitor_browser_name: None,
            visitor_browser_version: None,
            visitor_os_name: None,
            visitor_os_version: None,
            visitor_screen: None,
            visitor_language: None,
            search_engine: None,
            search_query: None,
            ua_client_id: None,
            ym_client_id: None,
            referrer: None,
            utm_source: None,
            utm_medium: None,
            utm_term: None,
            utm_content: None,
            utm_campaign: None,
            utm_referrer: None,
            utm_expid: None,
            openstat_ad: None,
            openstat_campaign: None,
            openstat_service: None,
            openstat_source: None,
            gclid: None,
            yclid: None,
            ymclid: None,
            ef_id: None,
            tag_from: None,
            cm_id: None,
            adv_system: None,
            entrance_page_url: None,
            entrance_page_title: None,
        }
    }
}

/// `params` of `upload.sessions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadSessionsParams {
    pub sessions: Vec<UploadSession>,
}

/// `result` of `upload.sessions`: CoMagic's session id for each of our `ext_id`s.
pub type UploadSessionsResult = ListResult<UploadedSession>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadedSession {
    pub ext_id: String,
    pub session_id: i64,
}
