//! Webhook URL tokens: 32 random bytes, base64url; only a SHA-256 hash is stored, so a copy of
//! the database does not let anyone post events for a tenant.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::rngs::OsRng;
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};
use std::fmt;

/// Random bytes in a token: 256 bits, far beyond guessing.
const TOKEN_BYTES: usize = 32;
/// Length of the base64url (unpadded) text of [`TOKEN_BYTES`] bytes.
const TOKEN_CHARS: usize = 43;

/// A freshly issued webhook token. It exists in clear only between issue and the answer that
/// shows it to the operator; its `Debug` never prints it.
#[derive(Clone)]
pub struct WebhookToken(SecretString);

impl WebhookToken {
    /// A new token from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = [0u8; TOKEN_BYTES];
        OsRng.fill_bytes(&mut bytes);
        let text = URL_SAFE_NO_PAD.encode(bytes);
        secrecy::zeroize::Zeroize::zeroize(&mut bytes);
        Self(SecretString::from(text))
    }

    /// The token text (43 URL-safe characters) for the webhook URL shown once to the operator.
    pub fn as_str(&self) -> &str {
        self.0.expose_secret()
    }

    /// What the store keeps.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(self.as_str())
    }

    /// Whether `candidate` has the shape of a token this type issues (43 base64url characters
    /// decoding to 32 bytes), so the ingress can answer 404 without a database query.
    pub fn looks_valid(candidate: &str) -> bool {
        candidate.len() == TOKEN_CHARS
            && URL_SAFE_NO_PAD
                .decode(candidate)
                .is_ok_and(|bytes| bytes.len() == TOKEN_BYTES)
    }
}

impl fmt::Debug for WebhookToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookToken([REDACTED])")
    }
}

/// Lowercase hex SHA-256 of a token's text: the lookup key for a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl TokenHash {
    /// Hashes any text: a malformed token still hashes and simply matches no tenant.
    pub fn of(token: &str) -> TokenHash {
        TokenHash(hex::encode(Sha256::digest(token.as_bytes())))
    }

    /// The 64 hex characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_43_url_safe_chars_and_distinct() {
        let a = WebhookToken::generate();
        let b = WebhookToken::generate();
        assert_eq!(a.as_str().len(), 43);
        assert!(a
            .as_str()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(a.as_str(), b.as_str());
        assert!(WebhookToken::looks_valid(a.as_str()));
    }

    #[test]
    fn looks_valid_rejects_wrong_shapes() {
        let good = WebhookToken::generate();
        assert!(!WebhookToken::looks_valid(""));
        assert!(!WebhookToken::looks_valid(&good.as_str()[..42]));
        assert!(!WebhookToken::looks_valid(&format!("{}A", good.as_str())));
        // '+' and '/' belong to standard base64, not to the URL-safe alphabet.
        assert!(!WebhookToken::looks_valid(&format!(
            "+{}",
            &good.as_str()[1..]
        )));
        assert!(!WebhookToken::looks_valid(&format!(
            "/{}",
            &good.as_str()[1..]
        )));
        // 43 characters whose last one carries non-zero padding bits: not canonical.
        assert!(!WebhookToken::looks_valid(&format!("{}B", "A".repeat(42))));
        assert!(WebhookToken::looks_valid(&"A".repeat(43)));
    }

    #[test]
    fn hash_is_sha256_hex_and_matches_token() {
        let t = WebhookToken::generate();
        assert_eq!(t.hash(), TokenHash::of(t.as_str()));
        assert_eq!(
            TokenHash::of("abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn debug_does_not_print_the_token() {
        let t = WebhookToken::generate();
        let shown = format!("{t:?}");
        assert!(!shown.contains(t.as_str()));
        assert!(shown.contains("REDACTED"));
    }
}
