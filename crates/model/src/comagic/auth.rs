//! `login.user`: a login and password exchanged for an hour-long `access_token`.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

use super::lenient::loose_i64;

/// `params` of `login.user`. The password only leaves memory inside the request body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginParams {
    pub login: String,
    #[serde(serialize_with = "expose")]
    pub password: SecretString,
}

/// `result.data` of `login.user`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginResult {
    #[serde(serialize_with = "expose")]
    pub access_token: SecretString,
    #[serde(
        default,
        deserialize_with = "loose_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub app_id: Option<i64>,
    /// Unix timestamp (seconds). The table names it `expire_at`, the sample `expire`.
    #[serde(
        default,
        alias = "expire",
        deserialize_with = "loose_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub expire_at: Option<i64>,
}

fn expose<S: Serializer>(secret: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose_secret())
}
