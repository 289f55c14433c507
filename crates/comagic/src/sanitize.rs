//! Keeps credentials out of errors: CoMagic may echo what it was sent (`data.value`,
//! `data.params`), and an error travels to logs, the dead-letter store and the admin screen.

use serde_json::Value;

/// Keys whose values are never kept, wherever they appear.
const SECRET_KEYS: [&str; 3] = ["access_token", "login", "password"];

const REDACTED: &str = "***";

/// The secrets of one call: the token used and, for login auth, the login and password.
#[derive(Default)]
pub(crate) struct Secrets {
    values: Vec<String>,
}

impl Secrets {
    pub(crate) fn push(&mut self, secret: &str) {
        // Very short strings would redact ordinary words; real tokens and passwords are longer.
        if secret.len() >= 3 {
            self.values.push(secret.to_owned());
        }
    }

    /// `text` with every known secret replaced.
    pub(crate) fn scrub_text(&self, text: &str) -> String {
        self.values.iter().fold(text.to_owned(), |acc, secret| {
            acc.replace(secret.as_str(), REDACTED)
        })
    }

    /// `value` without credential keys and with secrets scrubbed from every string.
    pub(crate) fn scrub_value(&self, value: Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.scrub_text(&s)),
            Value::Array(items) => {
                Value::Array(items.into_iter().map(|v| self.scrub_value(v)).collect())
            }
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .filter(|(k, _)| !is_secret_key(k))
                    .map(|(k, v)| (k, self.scrub_value(v)))
                    .collect(),
            ),
            other => other,
        }
    }
}

/// True for `access_token`, `login`, `password` and dotted paths ending in one of them.
pub(crate) fn is_secret_key(key: &str) -> bool {
    let last = key.rsplit(['.', '[']).next().unwrap_or(key);
    SECRET_KEYS.contains(&last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strips_credential_keys_and_values() {
        let mut secrets = Secrets::default();
        secrets.push("tok-123456");
        let cleaned = secrets.scrub_value(json!({
            "access_token": "tok-123456",
            "nested": {"password": "p", "note": "used tok-123456 here"},
            "ok": 5
        }));
        assert_eq!(
            cleaned,
            json!({"nested": {"note": "used *** here"}, "ok": 5})
        );
        assert!(is_secret_key("params.login"));
        assert!(!is_secret_key("phone"));
    }
}
