//! Account seeds: what an emulated CoMagic account contains before any call (credentials, time zone,
//! campaigns, sites, sources, tags, employees, existing visitor sessions, limits, components).
//!
//! A seed file is JSON: either one account object or an array of them.

use std::path::Path;

use secrecy::SecretString;
use serde::Deserialize;

use crate::EmulatorError;

/// One emulated CoMagic account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSeed {
    /// Non-secret account name: shown in `/_emulator/records` and returned by `get.account`.
    pub name: String,
    /// The account id (`app_id` of `login.user` and `get.account`).
    pub app_id: u64,
    /// Permanent API keys ("ключ") accepted as `access_token`.
    #[serde(default)]
    pub access_tokens: Vec<SecretString>,
    /// Keys of the account whose lifetime is over: refused with `access_token_expired`.
    #[serde(default)]
    pub expired_access_tokens: Vec<SecretString>,
    /// Keys of the account that were blocked: refused with `access_token_blocked`.
    #[serde(default)]
    pub blocked_access_tokens: Vec<SecretString>,
    /// Login for `login.user` (no login → `login.user` always answers `auth_error` for this account).
    #[serde(default)]
    pub login: Option<String>,
    /// Password for `login.user`.
    #[serde(default)]
    pub password: Option<SecretString>,
    /// IANA time zone of the account (dates in requests are local to it).
    #[serde(default = "default_timezone")]
    pub timezone: String,
    #[serde(default)]
    pub campaigns: Vec<CampaignSeed>,
    #[serde(default)]
    pub sites: Vec<SiteSeed>,
    #[serde(default)]
    pub sources: Vec<SourceSeed>,
    #[serde(default)]
    pub tags: Vec<TagSeed>,
    #[serde(default)]
    pub employees: Vec<EmployeeSeed>,
    /// `ext_id`s of the offline-message user fields the account has (as if created with
    /// `create.offline_message_user_field`); `user_fields` may name only these.
    #[serde(default)]
    pub offline_message_user_fields: Vec<String>,
    /// Visitor session ids that already exist (as if created by CoMagic's site script).
    #[serde(default)]
    pub session_ids: Vec<u64>,
    /// Point limits of the account.
    #[serde(default)]
    pub limits: LimitsSeed,
    /// Components the account does NOT have (everything else is enabled).
    #[serde(default)]
    pub disabled_components: Vec<Component>,
}

pub(crate) fn default_timezone() -> String {
    "Europe/Moscow".to_owned()
}

/// An advertising campaign (`get.campaigns`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignSeed {
    pub id: i64,
    pub name: String,
    /// Site the campaign belongs to; used for the "consistent data" rule of uploads.
    #[serde(default)]
    pub site_id: Option<i64>,
    #[serde(default)]
    pub status: CampaignStatus,
    /// `basic`, `system` or `integrated`.
    #[serde(default = "default_campaign_type", rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub creation_time: Option<String>,
}

fn default_campaign_type() -> String {
    "basic".to_owned()
}

/// Campaign status; uploads to an inactive campaign fail with `campaign_is_inactive`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    #[default]
    Active,
    Inactive,
}

impl CampaignStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
        }
    }
}

/// A site (`get.sites`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSeed {
    pub id: i64,
    pub domain_name: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// A source (`get.sources`); a `removed` source cannot be used in uploads.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSeed {
    pub id: i64,
    pub name: String,
    /// `active`, `off` or `removed`.
    #[serde(default = "default_source_state")]
    pub state: String,
    #[serde(default)]
    pub channel_name: Option<String>,
}

fn default_source_state() -> String {
    "active".to_owned()
}

/// A tag (`get.tags`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagSeed {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub is_system: bool,
}

/// An employee (`get.employees`); chat messages from an operator must name one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmployeeSeed {
    pub id: i64,
    pub first_name: String,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub login: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

/// Points per minute and per day (every successful call costs 1 point).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSeed {
    pub minute: u32,
    pub day: u32,
}

impl Default for LimitsSeed {
    /// Generous, so tests and benchmarks are not throttled unless they ask to be.
    fn default() -> Self {
        Self {
            minute: 100_000,
            day: 1_000_000,
        }
    }
}

/// Account components that gate methods (-32008 `method_component_disabled` when missing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    /// "Data API": every method except `login.user`.
    DataApi,
    /// "Загрузка офлайн-заявок из внешней системы": offline messages and chats (upload/delete).
    UploadOfflineMessages,
    /// "Загрузка сессий из внешней системы": `upload.sessions`.
    UploadSessions,
}

impl Component {
    /// The component's name as the account's UI (and the error message) calls it.
    pub fn title(self) -> &'static str {
        match self {
            Self::DataApi => "Data API",
            Self::UploadOfflineMessages => "Загрузка офлайн-заявок из внешней системы",
            Self::UploadSessions => "Загрузка сессий из внешней системы",
        }
    }
}

impl AccountSeed {
    /// Parse seed JSON: one account object or an array of accounts.
    pub fn parse_many(json: &str) -> Result<Vec<Self>, EmulatorError> {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(EmulatorError::SeedParse)?;
        if value.is_array() {
            serde_json::from_value(value).map_err(EmulatorError::SeedParse)
        } else {
            serde_json::from_value(value)
                .map(|one| vec![one])
                .map_err(EmulatorError::SeedParse)
        }
    }

    /// Read a seed file (see [`AccountSeed::parse_many`]).
    pub fn load_file(path: &Path) -> Result<Vec<Self>, EmulatorError> {
        let text = std::fs::read_to_string(path).map_err(|source| EmulatorError::SeedFile {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse_many(&text)
    }
}
