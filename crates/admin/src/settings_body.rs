//! Reading a settings document sent to the JSON API. serde's own error for a bad document is
//! one line about the first problem — for the credentials an "untagged enum" message that
//! names no field — so a document that does not deserialize is checked again field by field
//! and refused with 422 and every field named.

use std::collections::BTreeMap;

use leadback_model::TenantSettings;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::tenant_file::{add_field_error, TenantFile};

/// What a new API URL, or credentials without a secret, are missing.
pub(crate) const SECRET_REQUIRED: &str =
    "required: access_token, or login and password (a new api_url needs the secret again)";

/// The document, or 400 when the body is not a JSON object, 422 naming each bad field.
pub(crate) fn parse_settings_body(body: &[u8]) -> Result<TenantFile, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not JSON: {e}")))?;
    let Value::Object(object) = &value else {
        return Err(ApiError::BadRequest(
            "the body must be a JSON object".into(),
        ));
    };
    match TenantFile::from_value(value.clone()) {
        Ok(file) => Ok(file),
        Err(error) => {
            let mut fields = field_errors(object);
            if fields.is_empty() {
                add_field_error(&mut fields, "body", &error.to_string());
            }
            Err(ApiError::InvalidSettings {
                fields,
                warnings: Vec::new(),
            })
        }
    }
}

/// Every field of `object` that does not have the type the document needs.
fn field_errors(object: &Map<String, Value>) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    match object.get("name") {
        Some(Value::String(_)) => {}
        Some(_) => add_field_error(&mut fields, "name", "must be a string"),
        None => add_field_error(&mut fields, "name", "required"),
    }
    if object.get("active").is_some_and(|v| !v.is_boolean()) {
        add_field_error(&mut fields, "active", "must be true or false");
    }
    match object.get("comagic") {
        None | Some(Value::Null) => {}
        Some(Value::Object(comagic)) => credentials_errors(comagic, &mut fields),
        Some(_) => add_field_error(&mut fields, "comagic", "must be an object"),
    }
    for (key, value) in object {
        if matches!(key.as_str(), "name" | "active" | "comagic") {
            continue;
        }
        // Settings fields all have defaults, so each one can be read on its own.
        let alone = Value::Object(Map::from_iter([(key.clone(), value.clone())]));
        if let Err(e) = serde_json::from_value::<TenantSettings>(alone) {
            add_field_error(&mut fields, key, &e.to_string());
        }
    }
    fields
}

fn credentials_errors(comagic: &Map<String, Value>, fields: &mut BTreeMap<String, String>) {
    match comagic.get("api_url") {
        Some(Value::String(_)) => {}
        Some(_) => add_field_error(fields, "comagic.api_url", "must be a string"),
        None => add_field_error(fields, "comagic.api_url", "required"),
    }
    let present = |key: &str| comagic.get(key).is_some_and(|v| !v.is_null());
    for key in ["access_token", "login", "password"] {
        if present(key) && !comagic[key].is_string() {
            add_field_error(fields, &format!("comagic.{key}"), "must be a string");
        }
    }
    match (
        present("access_token"),
        present("login"),
        present("password"),
    ) {
        (true, _, _) | (false, true, true) => {}
        (false, true, false) => add_field_error(fields, "comagic.password", "required with login"),
        (false, false, true) => add_field_error(fields, "comagic.login", "required with password"),
        (false, false, false) => add_field_error(fields, "comagic.access_token", SECRET_REQUIRED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused_fields(body: &str) -> BTreeMap<String, String> {
        match parse_settings_body(body.as_bytes()) {
            Err(ApiError::InvalidSettings { fields, .. }) => fields,
            other => panic!("{body}: expected 422, got {other:?}"),
        }
    }

    #[test]
    fn a_new_url_without_a_secret_names_the_secret() {
        let fields =
            refused_fields(r#"{"name":"a","comagic":{"api_url":"https://x.example/v2.0"}}"#);
        assert!(
            fields["comagic.access_token"].contains("required"),
            "{fields:?}"
        );
    }

    #[test]
    fn each_malformed_field_is_named() {
        let cases = [
            (r#"{"name":1}"#, "name"),
            (r#"{"name":"a","active":"yes"}"#, "active"),
            (r#"{"name":"a","comagic":"x"}"#, "comagic"),
            (
                r#"{"name":"a","comagic":{"access_token":"t"}}"#,
                "comagic.api_url",
            ),
            (
                r#"{"name":"a","comagic":{"api_url":"u","access_token":5}}"#,
                "comagic.access_token",
            ),
            (
                r#"{"name":"a","comagic":{"api_url":"u","login":"l"}}"#,
                "comagic.password",
            ),
            (
                r#"{"name":"a","comagic":{"api_url":"u","password":"p"}}"#,
                "comagic.login",
            ),
            (r#"{"name":"a","tag_ids":"1,2"}"#, "tag_ids"),
            (
                r#"{"name":"a","default_campaign_id":"x"}"#,
                "default_campaign_id",
            ),
            (r#"{"name":"a","default_entity":"site"}"#, "default_entity"),
            (r#"{"name":"a","set_tags":1}"#, "set_tags"),
        ];
        for (body, field) in cases {
            let fields = refused_fields(body);
            assert!(fields.contains_key(field), "{body}: {fields:?}");
        }
    }

    #[test]
    fn not_json_is_a_bad_request() {
        assert!(matches!(
            parse_settings_body(b"{nope"),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            parse_settings_body(b"[1]"),
            Err(ApiError::BadRequest(_))
        ));
    }
}
