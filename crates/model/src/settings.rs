//! Per-tenant settings: the markers of the original integration card plus what a service needs.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// Which CoMagic entity receives events that carry no usable session
/// ("Рекламная кампания/источник": off = campaign, on = source).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultEntity {
    #[default]
    Campaign,
    Source,
}

/// How events of one tenant are mapped. Holds no secret; see [`ComagicCredentials`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TenantSettings {
    /// "Игнорировать сессию": every event goes to the default campaign/source.
    pub ignore_session: bool,
    /// "Устанавливать теги": put `tag_ids` on every uploaded record.
    pub set_tags: bool,
    pub tag_ids: Vec<i64>,
    pub default_entity: DefaultEntity,
    /// Required in campaign mode; `-1` ("visitors without campaign") also needs `default_site_id`.
    pub default_campaign_id: Option<i64>,
    /// Required in source mode, together with `default_site_id`.
    pub default_source_id: Option<i64>,
    pub default_site_id: Option<i64>,
    /// CoMagic employee credited with operator messages of chats (CoMagic requires one).
    pub chat_employee_id: Option<i64>,
    /// IANA zone of the CoMagic account, as its `get.account` reports it. Optional: the bridge
    /// reads it from the account (a value given must match the account's); record times are
    /// written in it. `None` until read: CoMagic's usual zone (Moscow) is assumed meanwhile.
    pub timezone: Option<String>,
    /// Leadback's zone: only reads Leadback times that carry no offset (times with an offset or
    /// as Unix seconds/milliseconds need none).
    pub leadback_timezone: String,
    /// Create a CoMagic session from visit data (`upload.sessions`) when no session id came.
    pub upload_sessions: bool,
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self {
            ignore_session: false,
            set_tags: false,
            tag_ids: Vec::new(),
            default_entity: DefaultEntity::Campaign,
            default_campaign_id: None,
            default_source_id: None,
            default_site_id: None,
            chat_employee_id: None,
            timezone: None,
            leadback_timezone: DEFAULT_TIMEZONE.to_owned(),
            upload_sessions: false,
        }
    }
}

/// Leadback's home zone (the default of `leadback_timezone`), and CoMagic's usual account zone
/// (assumed until the account's own is read).
pub const DEFAULT_TIMEZONE: &str = "Europe/Moscow";

/// [`DEFAULT_TIMEZONE`] parsed.
pub const DEFAULT_ZONE: chrono_tz::Tz = chrono_tz::Europe::Moscow;

/// Where and how to reach one tenant's CoMagic account. Secrets never print (`secrecy`).
#[derive(Debug, Clone, Deserialize)]
pub struct ComagicCredentials {
    /// `https://dataapi.comagic.ru/v2.0` or `https://dataapi.uiscom.ru/v2.0` (or the emulator).
    pub api_url: String,
    #[serde(flatten)]
    pub auth: ComagicAuth,
}

/// A permanent API key, or a login and password exchanged for hour-long tokens.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ComagicAuth {
    AccessToken {
        access_token: SecretString,
    },
    Login {
        login: String,
        password: SecretString,
    },
}

impl ComagicAuth {
    /// `access_token` or `login`: what kind of secret is kept, never the secret itself.
    pub fn kind(&self) -> &'static str {
        match self {
            ComagicAuth::AccessToken { .. } => "access_token",
            ComagicAuth::Login { .. } => "login",
        }
    }
}
