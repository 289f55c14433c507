//! Credentials are bound to the API URL they were stored with. A settings document may repeat
//! `comagic` without its secret (as `tenants show` and the API print it) to keep the stored
//! credentials, but not with another `api_url`: the stored secret would then travel to an
//! address it was never entered for. Changing the URL needs the secret again.

use std::collections::BTreeMap;

use leadback_model::ComagicCredentials;
use serde_json::Value;

use crate::error::ApiError;

/// What a new API URL without a secret is missing.
pub(crate) const SECRET_REQUIRED: &str =
    "required: access_token, or login and password (a new api_url needs the secret again)";

/// 422 naming `comagic.access_token` when `body` changes the API URL without a secret.
pub(crate) fn refuse_url_change_without_secret(
    body: &[u8],
    stored: &ComagicCredentials,
) -> Result<(), ApiError> {
    let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(body) else {
        return Ok(());
    };
    let Some(Value::Object(comagic)) = object.get("comagic") else {
        return Ok(());
    };
    let has_secret = ["access_token", "login", "password"]
        .iter()
        .any(|key| comagic.get(*key).is_some_and(|v| !v.is_null()));
    let new_url = comagic
        .get("api_url")
        .and_then(Value::as_str)
        .is_some_and(|url| url.trim() != stored.api_url.trim());
    if has_secret || !new_url {
        return Ok(());
    }
    Err(ApiError::InvalidSettings {
        fields: BTreeMap::from([(
            "comagic.access_token".to_owned(),
            SECRET_REQUIRED.to_owned(),
        )]),
        warnings: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use leadback_model::ComagicAuth;
    use secrecy::SecretString;

    #[test]
    fn only_a_new_url_without_a_secret_is_refused() {
        let stored = ComagicCredentials {
            api_url: "https://dataapi.comagic.ru/v2.0".into(),
            auth: ComagicAuth::AccessToken {
                access_token: SecretString::from("stored"),
            },
        };
        let check = |body: &str| refuse_url_change_without_secret(body.as_bytes(), &stored);
        assert!(check(r#"{"name":"a"}"#).is_ok());
        assert!(check(
            r#"{"comagic":{"api_url":"https://dataapi.comagic.ru/v2.0","auth":"access_token"}}"#
        )
        .is_ok());
        assert!(check(
            r#"{"comagic":{"api_url":"https://other.example/v2.0","access_token":"new"}}"#
        )
        .is_ok());
        match check(r#"{"comagic":{"api_url":"https://other.example/v2.0"}}"#) {
            Err(ApiError::InvalidSettings { fields, .. }) => {
                assert!(fields.contains_key("comagic.access_token"))
            }
            other => panic!("{other:?}"),
        }
    }
}
