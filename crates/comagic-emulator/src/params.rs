//! Strict reading of raw JSON params: unknown keys refused (`unexpected_parameters`), wrong JSON types
//! refused (`data_type_error`), missing required keys refused (`required_parameter_missed`), dates in
//! the documented `YYYY-MM-DD hh:mm:ss` form. An explicit `null` counts as "not passed".

use chrono::NaiveDateTime;
use serde_json::{Map, Value};

use crate::rpc::RpcError;

/// The documented date-time format.
pub const DATE_TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// A JSON object being validated; `prefix` names nested fields (`messages.source`).
pub struct Fields<'a> {
    map: &'a Map<String, Value>,
    prefix: String,
}

impl<'a> Fields<'a> {
    /// `value` must be an object; `name` is the field reported when it is not.
    pub fn of(value: &'a Value, name: &str, prefix: &str) -> Result<Self, RpcError> {
        match value {
            Value::Object(map) => Ok(Self {
                map,
                prefix: prefix.to_owned(),
            }),
            other => Err(RpcError::data_type_error(name, other)),
        }
    }

    pub fn map(&self) -> &'a Map<String, Value> {
        self.map
    }

    pub fn path(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    /// Refuse any key outside `allowed`.
    pub fn only(&self, allowed: &[&str]) -> Result<(), RpcError> {
        self.refuse_unless(|key| allowed.contains(&key))
    }

    /// The top-level `params` of a method: refuse any key outside `access_token`, `user_id` (an
    /// integer, accepted by every method but `login.user` and `get.account`) and `allowed`.
    pub fn only_method(&self, allowed: &[&str]) -> Result<(), RpcError> {
        self.refuse_unless(|key| {
            ["access_token", "user_id"].contains(&key) || allowed.contains(&key)
        })?;
        self.opt_int("user_id").map(drop)
    }

    fn refuse_unless(&self, allowed: impl Fn(&str) -> bool) -> Result<(), RpcError> {
        match self.map.keys().find(|k| !allowed(k.as_str())) {
            Some(key) => Err(RpcError::unexpected_parameters(self.path(key))
                .with_value(Value::String(key.clone()))),
            None => Ok(()),
        }
    }

    /// The value of `key`, `None` when absent or null.
    pub fn raw(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub fn has(&self, key: &str) -> bool {
        self.raw(key).is_some()
    }

    fn required(&self, key: &str) -> Result<&'a Value, RpcError> {
        self.raw(key)
            .ok_or_else(|| RpcError::required_parameter_missed(self.path(key)))
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<&'a str>, RpcError> {
        match self.raw(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(RpcError::data_type_error(self.path(key), other)),
        }
    }

    pub fn req_str(&self, key: &str) -> Result<&'a str, RpcError> {
        let value = self.required(key)?;
        value
            .as_str()
            .ok_or_else(|| RpcError::data_type_error(self.path(key), value))
    }

    pub fn opt_int(&self, key: &str) -> Result<Option<i64>, RpcError> {
        match self.raw(key) {
            None => Ok(None),
            Some(value) => value
                .as_i64()
                .map(Some)
                .ok_or_else(|| RpcError::data_type_error(self.path(key), value)),
        }
    }

    pub fn req_int(&self, key: &str) -> Result<i64, RpcError> {
        let value = self.required(key)?;
        value
            .as_i64()
            .ok_or_else(|| RpcError::data_type_error(self.path(key), value))
    }

    pub fn req_bool(&self, key: &str) -> Result<bool, RpcError> {
        let value = self.required(key)?;
        value
            .as_bool()
            .ok_or_else(|| RpcError::data_type_error(self.path(key), value))
    }

    pub fn opt_array(&self, key: &str) -> Result<Option<&'a Vec<Value>>, RpcError> {
        match self.raw(key) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(other) => Err(RpcError::data_type_error(self.path(key), other)),
        }
    }

    pub fn req_array(&self, key: &str) -> Result<&'a Vec<Value>, RpcError> {
        let value = self.required(key)?;
        value
            .as_array()
            .ok_or_else(|| RpcError::data_type_error(self.path(key), value))
    }

    /// A required string from a closed set.
    pub fn req_enum(&self, key: &str, allowed: &[&str]) -> Result<&'a str, RpcError> {
        let text = self.req_str(key)?;
        self.check_enum(key, text, allowed)
    }

    pub fn opt_enum(&self, key: &str, allowed: &[&str]) -> Result<Option<&'a str>, RpcError> {
        match self.opt_str(key)? {
            None => Ok(None),
            Some(text) => self.check_enum(key, text, allowed).map(Some),
        }
    }

    fn check_enum(&self, key: &str, text: &'a str, allowed: &[&str]) -> Result<&'a str, RpcError> {
        if allowed.contains(&text) {
            Ok(text)
        } else {
            Err(RpcError::invalid_parameter_value(
                self.path(key),
                &Value::String(text.to_owned()),
            ))
        }
    }

    pub fn req_date_time(&self, key: &str) -> Result<NaiveDateTime, RpcError> {
        let text = self.req_str(key)?;
        parse_date_time(text).ok_or_else(|| {
            RpcError::invalid_parameter_value(self.path(key), &Value::String(text.into()))
        })
    }
}

/// `YYYY-MM-DD hh:mm:ss` exactly (chrono alone would accept one-digit fields).
pub fn parse_date_time(text: &str) -> Option<NaiveDateTime> {
    let shape_ok = text.len() == 19
        && text.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b' ',
            13 | 16 => b == b':',
            _ => b.is_ascii_digit(),
        });
    if !shape_ok {
        return None;
    }
    NaiveDateTime::parse_from_str(text, DATE_TIME_FORMAT).ok()
}

/// E.164 as the API wants it: digits only, 8 to 15 of them.
pub fn is_e164(phone: &str) -> bool {
    (8..=15).contains(&phone.len()) && phone.bytes().all(|b| b.is_ascii_digit())
}

/// A deliberately loose email check: one `@` with something on both sides and a dot in the domain.
pub fn is_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !email.contains(char::is_whitespace)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_time_shape_is_strict() {
        assert!(parse_date_time("2024-05-01 10:20:30").is_some());
        assert!(parse_date_time("2024-5-01 10:20:30").is_none());
        assert!(parse_date_time("2024-05-01T10:20:30").is_none());
        assert!(parse_date_time("2024-02-30 10:20:30").is_none());
        assert!(parse_date_time("2024-05-01 10:20:30Z").is_none());
    }

    #[test]
    fn phone_and_email() {
        assert!(is_e164("79161234567"));
        assert!(!is_e164("+79161234567"));
        assert!(!is_e164("1234567"));
        assert!(!is_e164("1234567890123456"));
        assert!(is_email("a@b.ru"));
        assert!(!is_email("a@b"));
        assert!(!is_email("ab.ru"));
    }
}
