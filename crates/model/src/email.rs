//! `Email`: a visitor address that looks deliverable enough for CoMagic.

use std::fmt;

use serde::Serialize;

/// Why a text is not an email address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an email address: {reason}")]
pub struct EmailError {
    reason: &'static str,
}

/// `local@domain.tld`, trimmed, without whitespace, at most 254 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(text: &str) -> Result<Email, EmailError> {
        let text = text.trim();
        let text = text
            .strip_prefix("mailto:")
            .or_else(|| text.strip_prefix("MAILTO:"))
            .unwrap_or(text)
            .trim();
        let fail = |reason| Err(EmailError { reason });
        if text.is_empty() {
            return fail("empty");
        }
        if text.chars().count() > 254 {
            return fail("longer than 254 characters");
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return fail("contains whitespace");
        }
        let Some((local, domain)) = text.rsplit_once('@') else {
            return fail("no @");
        };
        if local.is_empty() || local.contains('@') {
            return fail("bad local part");
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
            return fail("bad domain");
        }
        Ok(Email(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
