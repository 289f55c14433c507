//! What the admin side tells an operator beyond its fixed labels, as structured reasons: why a
//! body would not map and what the parser warns about, what to fix after a failed test
//! request, the health warnings, why a setting was refused, why the ingress refused a body.
//!
//! The JSON API says a reason in English (it serializes as that text, so the API's fields keep
//! their shape) and, where it helps a program, its stable [`Reason::code`]; the pages say it in
//! their own language (`pages::i18n::reasons`, where both languages stand side by side).

use std::collections::BTreeMap;
use std::fmt;

use bridge_store::BodyRefusal;
use leadback_model::{BodyError, EventError, MappingError};
use serde::{Serialize, Serializer};

use crate::pages::i18n::Lang;

/// A CoMagic entity a setting names (for "not found in the account").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Campaign,
    Source,
    Site,
    Tag,
    Employee,
}

/// What an operator does about a failed test request (by the dead letter's class).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fix {
    /// CoMagic refused the credentials.
    Credentials,
    /// The settings do not fit the account.
    Settings,
    /// CoMagic refused the record itself.
    Record,
    /// The request could not be mapped.
    Mapping,
    /// CoMagic kept failing until the attempts ran out.
    Exhausted,
    /// Anything else.
    SeeLog,
}

/// One reason, with what it needs to be said in either language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    // A form's own checks on the pages.
    NotANumber,
    Required,
    CredentialsRequired,
    LoginAndPassword,

    // The parser and the mapping (preview, recent payloads).
    PhoneInvalid(String),
    EmailInvalid(String),
    NoCreatedAt,
    NoContactFound,
    NoAccountZoneStored,
    UnparseableBody(BodyError),
    Ping,
    LeadbackZoneInvalid(String),
    NotAnEvent(EventError),
    Unmappable(MappingError),

    /// Refused by the ingress before the body was read whole.
    CutOff(BodyRefusal),

    // Tenant health.
    TimezoneChanged {
        account: String,
        stored: String,
    },

    // The test request.
    FixFor(Fix),
    InactiveForTest,

    // Settings refused (per field) or not checked (warnings).
    NameEmpty,
    CredentialsMissing,
    SecretRequired,
    ApiUrlNotHttp,
    ApiUrlInvalid(String),
    ApiUrlRefused {
        ip: String,
        range: String,
    },
    /// A message of `TenantSettings::validate` (said by the pages from a table of them).
    Setting(String),
    /// A message of `FieldMap::from_json` about one entry (likewise).
    FieldMapEntry(String),
    UnknownField {
        nearest: Option<String>,
        known: Vec<String>,
    },
    WrongType(String),
    SyntaxError(String),
    NotInAccount {
        entity: Entity,
        ids: Vec<i64>,
    },
    CampaignInactive {
        id: i64,
    },
    CampaignOtherSite {
        id: i64,
        own: i64,
        site: i64,
    },
    AccountZoneDiffers {
        account: String,
        given: String,
    },
    CredentialsRefused(String),
    ComagicFailed(String),
    NotChecked {
        field: String,
        why: String,
    },
    AccountZoneUnread(String),
}

impl Reason {
    /// A stable name of the kind of reason, for programs reading the API.
    pub fn code(&self) -> &'static str {
        use Reason::*;
        match self {
            NotANumber => "not_a_number",
            Required => "required",
            CredentialsRequired => "credentials_required",
            LoginAndPassword => "login_and_password",
            PhoneInvalid(_) => "phone_invalid",
            EmailInvalid(_) => "email_invalid",
            NoCreatedAt => "no_created_at",
            NoContactFound => "no_contact_found",
            NoAccountZoneStored => "no_account_zone_stored",
            UnparseableBody(_) => "unparseable_body",
            Ping => "ping",
            LeadbackZoneInvalid(_) => "leadback_timezone_invalid",
            NotAnEvent(_) => "not_an_event",
            Unmappable(_) => "unmappable",
            CutOff(refusal) => refusal.outcome(),
            TimezoneChanged { .. } => "timezone_changed",
            FixFor(Fix::Credentials) => "fix_credentials",
            FixFor(Fix::Settings) => "fix_settings",
            FixFor(Fix::Record) => "fix_record",
            FixFor(Fix::Mapping) => "fix_mapping",
            FixFor(Fix::Exhausted) => "fix_exhausted",
            FixFor(Fix::SeeLog) => "see_log",
            InactiveForTest => "inactive",
            NameEmpty => "name_empty",
            CredentialsMissing => "credentials_missing",
            SecretRequired => "secret_required",
            ApiUrlNotHttp => "api_url_not_http",
            ApiUrlInvalid(_) => "api_url_invalid",
            ApiUrlRefused { .. } => "api_url_refused",
            Setting(_) => "invalid_setting",
            FieldMapEntry(_) => "invalid_field_map_entry",
            UnknownField { .. } => "unknown_field",
            WrongType(_) => "wrong_type",
            SyntaxError(_) => "syntax",
            NotInAccount { .. } => "not_in_account",
            CampaignInactive { .. } => "campaign_inactive",
            CampaignOtherSite { .. } => "campaign_other_site",
            AccountZoneDiffers { .. } => "account_timezone_differs",
            CredentialsRefused(_) => "credentials_refused",
            ComagicFailed(_) => "comagic_error",
            NotChecked { .. } => "not_checked",
            AccountZoneUnread(_) => "account_timezone_unread",
        }
    }

    /// The reason in English, as the API and the log say it.
    pub fn english(&self) -> String {
        Lang::En.say(self)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.english())
    }
}

/// In JSON a reason is its English text (the API's fields keep their shape).
impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.english())
    }
}

/// Field → the reasons it was refused for (several per field, each once).
pub type FieldErrors = BTreeMap<String, Vec<Reason>>;

/// Adds `reason` to `field` unless it is there already.
pub(crate) fn add_field_error(fields: &mut FieldErrors, field: &str, reason: Reason) {
    let reasons = fields.entry(field.to_owned()).or_default();
    if !reasons.contains(&reason) {
        reasons.push(reason);
    }
}

/// The reasons of one field in one language, joined as one message.
pub(crate) fn joined(lang: Lang, reasons: &[Reason]) -> String {
    reasons
        .iter()
        .map(|r| lang.say(r))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The fields as the API answers them: field → its reasons in English, joined.
pub(crate) fn fields_json(fields: &FieldErrors) -> BTreeMap<&str, String> {
    fields
        .iter()
        .map(|(field, reasons)| (field.as_str(), joined(Lang::En, reasons)))
        .collect()
}
