//! The tenant settings JSON, the same for the admin API and the CLI's `--settings FILE`:
//! `name`, `active`, `comagic: {api_url, access_token | login + password}` and the settings
//! markers at the top level. And the tenant as shown back: settings plus the kind of
//! credential, never a secret.

use bridge_store::{Tenant, TenantInput};
use leadback_model::{ComagicCredentials, TenantSettings};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::pages::i18n::Lang;
use crate::reasons::{add_field_error, joined, FieldErrors, Reason};
use crate::strict_fields::{struct_fields, unknown_field};

/// One tenant's settings as submitted.
#[derive(Debug, Clone, Deserialize)]
pub struct TenantFile {
    pub name: String,
    /// Saving the settings is what switches an integration on, so a file without `active`
    /// means active.
    #[serde(default = "active_by_default")]
    pub active: bool,
    /// Required on create; on update, absent keeps the stored credentials (write-only).
    #[serde(default)]
    pub comagic: Option<ComagicCredentials>,
    #[serde(flatten)]
    pub settings: TenantSettings,
    /// The `comagic.api_url` of a document whose `comagic` carries no secret (as `tenants
    /// show` prints it): the stored credentials are kept, so it must be the stored URL.
    #[serde(skip)]
    pub kept_api_url: Option<String>,
}

/// Which field a failed deserialization is about: each field is read on its own, and the
/// first that fails names the error.
fn field_of_type_error(object: &Value, whole: serde_json::Error) -> TenantFileError {
    let mut fields = FieldErrors::new();
    if let Value::Object(map) = object {
        for (key, value) in map {
            let alone = match key.as_str() {
                "name" => serde_json::from_value::<String>(value.clone()).err(),
                "active" => serde_json::from_value::<bool>(value.clone()).err(),
                "comagic" => serde_json::from_value::<ComagicCredentials>(value.clone())
                    .err()
                    .map(|_| {
                        serde::de::Error::custom(
                            "expected {api_url, access_token} or {api_url, login, password}",
                        )
                    }),
                _ => serde_json::from_value::<TenantSettings>(json!({ key: value })).err(),
            };
            if let Some(e) = alone {
                fields.insert(key.clone(), vec![Reason::WrongType(e.to_string())]);
            }
        }
        if !map.contains_key("name") {
            fields.insert("name".into(), vec![Reason::Required]);
        }
    }
    if fields.is_empty() {
        TenantFileError::Syntax(whole.to_string())
    } else {
        TenantFileError::Fields(fields)
    }
}

fn active_by_default() -> bool {
    true
}

/// Why a settings document was refused.
#[derive(Debug, thiserror::Error)]
pub enum TenantFileError {
    /// Not JSON of the expected shape.
    #[error("invalid tenant settings JSON: {0}")]
    Syntax(String),
    /// Well-formed, but fields are missing or inconsistent (field → its reasons).
    #[error("invalid tenant settings: {}", format_fields(.0))]
    Fields(FieldErrors),
}

fn format_fields(fields: &FieldErrors) -> String {
    fields
        .iter()
        .map(|(field, reasons)| format!("{field}: {}", joined(Lang::En, reasons)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The file's own fields besides the flattened [`TenantSettings`].
const OWN_FIELDS: [&str; 3] = ["name", "active", "comagic"];
/// What `tenants show` and the admin API print besides the settings: accepted back and ignored,
/// so a shown tenant can be edited and submitted as it is.
const SHOWN_FIELDS: [&str; 3] = ["id", "created_at", "updated_at"];
/// The keys of `comagic`; `auth` is the kind of credential as shown, never a secret.
const COMAGIC_FIELDS: [&str; 5] = ["api_url", "access_token", "login", "password", "auth"];
const COMAGIC_SECRETS: [&str; 3] = ["access_token", "login", "password"];

impl TenantFile {
    pub fn parse(text: &str) -> Result<Self, TenantFileError> {
        let value =
            serde_json::from_str(text).map_err(|e| TenantFileError::Syntax(e.to_string()))?;
        Self::from_value(value)
    }

    /// Strict: an unknown field is refused with its name and the nearest known one, a value of
    /// the wrong type names its field, and a `comagic` without a secret (as `tenants show`
    /// prints it) means "keep the stored credentials".
    pub fn from_value(value: Value) -> Result<Self, TenantFileError> {
        let Value::Object(mut object) = value else {
            return Err(TenantFileError::Syntax(
                "expected a JSON object of tenant settings".into(),
            ));
        };
        for shown in SHOWN_FIELDS {
            object.remove(shown);
        }
        let mut fields = FieldErrors::new();
        let settings_fields = struct_fields::<TenantSettings>();
        let known = || OWN_FIELDS.iter().chain(settings_fields).copied();
        for key in object.keys() {
            if !known().any(|name| name == key) {
                fields.insert(key.clone(), vec![unknown_field(key, known())]);
            }
        }
        let mut kept_api_url = None;
        if let Some(Value::Object(comagic)) = object.get_mut("comagic") {
            for key in comagic.keys() {
                if !COMAGIC_FIELDS.contains(&key.as_str()) {
                    let reason = unknown_field(key, COMAGIC_FIELDS);
                    fields.insert(format!("comagic.{key}"), vec![reason]);
                }
            }
            comagic.remove("auth");
            if !COMAGIC_SECRETS.iter().any(|k| comagic.contains_key(*k)) {
                kept_api_url = comagic
                    .get("api_url")
                    .and_then(Value::as_str)
                    .map(|url| url.trim().to_owned());
                object.remove("comagic");
            }
        }
        if !fields.is_empty() {
            return Err(TenantFileError::Fields(fields));
        }
        let object = Value::Object(object);
        let mut file: TenantFile =
            serde_json::from_value(object.clone()).map_err(|e| field_of_type_error(&object, e))?;
        file.kept_api_url = kept_api_url;
        Ok(file)
    }

    /// Every problem that can be seen without asking CoMagic, per field: the name, presence of
    /// credentials when `creating`, the API URL, and [`TenantSettings::validate`].
    pub fn field_errors(&self, creating: bool) -> FieldErrors {
        let mut fields = FieldErrors::new();
        if self.name.trim().is_empty() {
            add_field_error(&mut fields, "name", Reason::NameEmpty);
        }
        match &self.comagic {
            None if creating => add_field_error(&mut fields, "comagic", Reason::CredentialsMissing),
            Some(credentials) => {
                if let Err(reason) = check_api_url(&credentials.api_url) {
                    add_field_error(&mut fields, "comagic.api_url", reason);
                }
            }
            None => {}
        }
        if let Err(errors) = self.settings.validate() {
            for error in errors.errors {
                add_field_error(&mut fields, error.field, Reason::Setting(error.message));
            }
        }
        fields
    }

    /// The store's input, after [`TenantFile::field_errors`] found nothing.
    pub fn into_input(self, creating: bool) -> Result<TenantInput, TenantFileError> {
        let fields = self.field_errors(creating);
        if !fields.is_empty() {
            return Err(TenantFileError::Fields(fields));
        }
        Ok(TenantInput {
            name: self.name.trim().to_owned(),
            active: self.active,
            settings: self.settings,
            credentials: self.comagic,
        })
    }
}

/// An absolute http(s) URL, as the CoMagic client needs.
pub(crate) fn check_api_url(api_url: &str) -> Result<(), Reason> {
    match url::Url::parse(api_url.trim()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(()),
        Ok(_) => Err(Reason::ApiUrlNotHttp),
        Err(e) => Err(Reason::ApiUrlInvalid(e.to_string())),
    }
}

/// A tenant as shown to operators: settings and the kind of credential, never a secret.
pub fn tenant_json(tenant: &Tenant) -> Value {
    let mut value = json!({
        "id": tenant.id,
        "name": tenant.name,
        "active": tenant.active,
        "comagic": {
            "api_url": tenant.credentials.api_url,
            "auth": tenant.credentials.auth.kind(),
        },
        "created_at": tenant.created_at,
        "updated_at": tenant.updated_at,
    });
    if let (Some(obj), Ok(Value::Object(settings))) = (
        value.as_object_mut(),
        serde_json::to_value(&tenant.settings),
    ) {
        obj.extend(settings);
    }
    value
}

/// `{public_url}/hooks/leadback/{token}`.
pub fn webhook_url(public_url: &str, token: &str) -> String {
    format!(
        "{}/hooks/leadback/{token}",
        public_url.trim_end_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn missing_markers_are_reported_per_field() {
        let file = TenantFile::parse(
            r#"{"name":" ","default_entity":"source","set_tags":true,"tag_ids":[]}"#,
        )
        .unwrap();
        let fields = file.field_errors(true);
        for field in [
            "name",
            "comagic",
            "default_source_id",
            "default_site_id",
            "tag_ids",
            "chat_employee_id",
        ] {
            assert!(fields.contains_key(field), "{field} missing in {fields:?}");
        }
        assert!(!fields.contains_key("default_campaign_id"));
        // On update, absent credentials mean "keep the stored ones".
        assert!(!file.field_errors(false).contains_key("comagic"));
    }

    #[test]
    fn api_url_must_be_http() {
        let file = TenantFile::parse(
            r#"{"name":"a","comagic":{"api_url":"ftp://x","access_token":"t"},
                "default_campaign_id":101,"chat_employee_id":501}"#,
        )
        .unwrap();
        let fields = file.field_errors(true);
        assert_eq!(fields.len(), 1, "{fields:?}");
        assert!(fields.contains_key("comagic.api_url"));
        assert!(file.active, "active defaults to true");
    }

    fn refused_fields(text: &str) -> BTreeMap<String, String> {
        match TenantFile::parse(text) {
            Err(TenantFileError::Fields(fields)) => fields
                .iter()
                .map(|(field, reasons)| (field.clone(), joined(Lang::En, reasons)))
                .collect(),
            other => panic!("expected field errors, got {other:?}"),
        }
    }

    #[test]
    fn unknown_fields_are_refused_with_the_nearest_name() {
        let fields = refused_fields(
            r#"{"name":"a","upload_session":true,"set_tag":true,
                "comagic":{"api_url":"https://x.example","acces_token":"t"}}"#,
        );
        assert!(
            fields["upload_session"].contains("`upload_sessions`"),
            "{fields:?}"
        );
        assert!(fields["set_tag"].contains("`set_tags`"), "{fields:?}");
        assert!(
            fields["comagic.acces_token"].contains("`access_token`"),
            "{fields:?}"
        );
    }

    #[test]
    fn type_errors_name_their_field() {
        let fields = refused_fields(r#"{"name":"a","default_campaign_id":"101","active":1}"#);
        assert!(
            fields["default_campaign_id"].contains("expected i64"),
            "{fields:?}"
        );
        assert!(fields.contains_key("active"), "{fields:?}");
        assert_eq!(fields.len(), 2, "{fields:?}");
        let fields = refused_fields(r#"{"comagic":{"api_url":"https://x.example","login":"l"}}"#);
        assert!(fields["comagic"].contains("password"), "{fields:?}");
        assert_eq!(fields["name"], "required");
    }

    #[test]
    fn shown_tenant_is_accepted_back_keeping_credentials() {
        let shown = r#"{"id":"8c4b0f7e-2f4e-4d5e-9a43-0c4f5b9f3a11","name":"a","active":true,
            "comagic":{"api_url":"https://x.example","auth":"access_token"},
            "created_at":"2026-11-20T00:00:00Z","updated_at":"2026-11-20T00:00:00Z",
            "default_campaign_id":101,"chat_employee_id":501}"#;
        let file = TenantFile::parse(shown).expect("shown output is accepted");
        assert!(file.comagic.is_none(), "no secret given: credentials kept");
        assert!(file.field_errors(false).is_empty());
    }

    #[test]
    fn webhook_url_joins_without_double_slash() {
        assert_eq!(
            webhook_url("https://b.example/", "tok"),
            "https://b.example/hooks/leadback/tok"
        );
    }
}
