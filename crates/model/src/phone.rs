//! `Phone`: an E.164 number as CoMagic wants it (digits only, country code first).

use std::fmt;

use serde::Serialize;

/// Why a text is not a phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a phone number ({reason}): {raw:?}")]
pub struct PhoneError {
    pub raw: String,
    pub reason: &'static str,
}

/// E.164 digits without `+`: 8 to 15 digits, not starting with 0. Russian national forms are
/// normalised to `7XXXXXXXXXX`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Phone(String);

impl Phone {
    /// Accepts `+7 916 123-45-67`, `8 (916) 123-45-67`, `9161234567`, `+44 20 7946 0958`,
    /// `0044…`, and separators ` -().` ; refuses letters, extensions and impossible lengths.
    pub fn parse(text: &str) -> Result<Phone, PhoneError> {
        let fail = |reason| {
            Err(PhoneError {
                raw: text.to_owned(),
                reason,
            })
        };
        let trimmed = text.trim();
        let trimmed = trimmed.strip_prefix("tel:").unwrap_or(trimmed).trim_start();
        let (plus, body) = match trimmed.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        let mut digits = String::with_capacity(body.len());
        for c in body.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '(' | ')' | '.' | '\u{a0}' | '\u{2010}'..='\u{2015}' => {}
                _ => return fail("unexpected character"),
            }
        }
        if digits.is_empty() {
            return fail("no digits");
        }
        let international = if plus {
            Some(digits.clone())
        } else {
            digits.strip_prefix("00").map(str::to_owned)
        };
        let normalised = match international {
            Some(number) => number,
            // National Russian forms: 8XXXXXXXXXX / 7XXXXXXXXXX, or the bare ten digits with a
            // mobile (9xx), geographic (3xx, 4xx, 8xx) code.
            None if digits.len() == 11 && (digits.starts_with('8') || digits.starts_with('7')) => {
                format!("7{}", &digits[1..])
            }
            None if digits.len() == 10
                && matches!(digits.as_bytes()[0], b'3' | b'4' | b'8' | b'9') =>
            {
                format!("7{digits}")
            }
            // Longer numbers without `+` are taken as international with the plus left out.
            None if (11..=15).contains(&digits.len()) => digits,
            None => return fail("too short for a national number"),
        };
        if !(8..=15).contains(&normalised.len()) {
            return fail("E.164 numbers have 8 to 15 digits");
        }
        if normalised.starts_with('0') {
            return fail("country code cannot start with 0");
        }
        if normalised.starts_with('7') && normalised.len() != 11 {
            return fail("+7 numbers have 11 digits");
        }
        Ok(Phone(normalised))
    }

    /// The E.164 digits, e.g. `79161234567`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
