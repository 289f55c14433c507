//! Tenant CoMagic credentials at rest: ChaCha20-Poly1305 under the operator's
//! `BRIDGE_SECRET_KEY`.
//!
//! Stored bytes are `nonce (12) || ciphertext+tag`. The associated data binds a ciphertext to
//! its tenant id, API URL and auth kind, so rows cannot be swapped between tenants and the
//! clear `api_url` column cannot be pointed at another server to harvest a tenant's secret:
//! either change makes decryption fail.

use crate::StoreError;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use leadback_model::{ComagicAuth, ComagicCredentials};
use rand::rngs::OsRng;
use rand::RngCore as _;
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret as _, SecretBox};
use serde::Serialize;
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 12;
/// Versions the associated-data layout, so a future format cannot be confused with this one.
const AAD_CONTEXT: &[u8] = b"leadback-bridge/comagic-credentials/v1\0";

/// The 256-bit key that encrypts credentials. Prints as `[REDACTED]`; zeroed on drop.
pub struct SecretKey(SecretBox<[u8; KEY_BYTES]>);

impl SecretKey {
    /// Reads `BRIDGE_SECRET_KEY` text: 32 bytes as 64 hex characters, or as base64 (standard or
    /// URL-safe, padded or not). Surrounding whitespace is ignored. The error never echoes the
    /// value.
    pub fn parse(text: &str) -> Result<SecretKey, StoreError> {
        let text = text.trim();
        // Hex first: 64 hex characters are also valid base64 (of 48 bytes).
        let bytes: Zeroizing<Vec<u8>> = Zeroizing::new(
            (text.len() == 2 * KEY_BYTES)
                .then(|| hex::decode(text).ok())
                .flatten()
                .or_else(|| {
                    [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
                        .into_iter()
                        .find_map(|engine| engine.decode(text).ok())
                })
                .unwrap_or_default(),
        );
        if bytes.len() != KEY_BYTES {
            return Err(StoreError::Config(
                "BRIDGE_SECRET_KEY must be 32 random bytes written as 64 hex characters or as \
                 base64 (standard or URL-safe, 43-44 characters); the value given is neither \
                 (generate one with `openssl rand -base64 32`)"
                    .into(),
            ));
        }
        let mut key = Box::new([0u8; KEY_BYTES]);
        key.copy_from_slice(&bytes);
        Ok(SecretKey(SecretBox::new(key)))
    }

    /// A new random key, for a first run that has none configured.
    pub fn generate() -> SecretKey {
        let mut key = Box::new([0u8; KEY_BYTES]);
        OsRng.fill_bytes(&mut key[..]);
        SecretKey(SecretBox::new(key))
    }

    /// Standard padded base64 (44 characters), what [`SecretKey::parse`] reads back. The caller
    /// stores it (e.g. a 0600 file in the data dir); it is the only copy of the key.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0.expose_secret())
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(Key::from_slice(self.0.expose_secret()))
    }

    /// Encrypts `plaintext` with a fresh random nonce; returns `nonce || ciphertext`.
    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut nonce = [0u8; NONCE_BYTES];
        OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| StoreError::Crypto("encryption of tenant credentials failed".into()))?;
        let mut out = Vec::with_capacity(NONCE_BYTES + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    fn open(&self, aad: &[u8], stored: &[u8]) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        if stored.len() < NONCE_BYTES {
            return Err(StoreError::Crypto(
                "stored tenant credentials are truncated".into(),
            ));
        }
        let (nonce, sealed) = stored.split_at(NONCE_BYTES);
        self.cipher()
            .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad })
            .map(Zeroizing::new)
            .map_err(|_| {
                StoreError::Crypto(
                    "cannot decrypt tenant credentials: BRIDGE_SECRET_KEY does not match the key \
                     used to write the data (or the row was altered)"
                        .into(),
                )
            })
    }

    /// Encrypts the secret part of `credentials` for tenant `tenant_id`.
    pub(crate) fn seal_credentials(
        &self,
        tenant_id: Uuid,
        credentials: &ComagicCredentials,
    ) -> Result<Vec<u8>, StoreError> {
        let plain = Zeroizing::new(
            serde_json::to_vec(&AuthPlain::from(&credentials.auth))
                .map_err(|e| StoreError::Crypto(format!("cannot serialise credentials: {e}")))?,
        );
        let aad = associated_data(tenant_id, &credentials.api_url, credentials.auth.kind());
        self.seal(&aad, &plain)
    }

    /// Decrypts credentials written by [`SecretKey::seal_credentials`].
    pub(crate) fn open_credentials(
        &self,
        tenant_id: Uuid,
        api_url: &str,
        auth_kind: &str,
        stored: &[u8],
    ) -> Result<ComagicCredentials, StoreError> {
        let plain = self.open(&associated_data(tenant_id, api_url, auth_kind), stored)?;
        let auth: ComagicAuth = serde_json::from_slice(&plain).map_err(|_| {
            StoreError::Crypto("decrypted tenant credentials are not valid JSON".into())
        })?;
        if auth.kind() != auth_kind {
            return Err(StoreError::Crypto(format!(
                "decrypted tenant credentials are of kind {} but the row says {auth_kind}",
                auth.kind()
            )));
        }
        Ok(ComagicCredentials {
            api_url: api_url.to_owned(),
            auth,
        })
    }
}

impl FromStr for SecretKey {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SecretKey::parse(s)
    }
}

impl Clone for SecretKey {
    fn clone(&self) -> Self {
        SecretKey(SecretBox::new(Box::new(*self.0.expose_secret())))
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey([REDACTED])")
    }
}

fn associated_data(tenant_id: Uuid, api_url: &str, auth_kind: &str) -> Vec<u8> {
    // Length prefixes keep the fields unambiguous whatever bytes they hold.
    let mut aad = Vec::with_capacity(AAD_CONTEXT.len() + 16 + api_url.len() + auth_kind.len() + 16);
    aad.extend_from_slice(AAD_CONTEXT);
    aad.extend_from_slice(tenant_id.as_bytes());
    for field in [api_url, auth_kind] {
        aad.extend_from_slice(&(field.len() as u64).to_be_bytes());
        aad.extend_from_slice(field.as_bytes());
    }
    aad
}

/// The serialisable twin of [`ComagicAuth`] (which only deserialises, so secrets cannot leak
/// through an accidental `Serialize`). Same untagged shape, so `ComagicAuth` reads it back.
#[derive(Serialize)]
#[serde(untagged)]
enum AuthPlain<'a> {
    AccessToken { access_token: &'a str },
    Login { login: &'a str, password: &'a str },
}

impl<'a> From<&'a ComagicAuth> for AuthPlain<'a> {
    fn from(auth: &'a ComagicAuth) -> Self {
        match auth {
            ComagicAuth::AccessToken { access_token } => AuthPlain::AccessToken {
                access_token: access_token.expose_secret(),
            },
            ComagicAuth::Login { login, password } => AuthPlain::Login {
                login,
                password: password.expose_secret(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn access(token: &str) -> ComagicCredentials {
        ComagicCredentials {
            api_url: "https://dataapi.comagic.ru/v2.0".into(),
            auth: ComagicAuth::AccessToken {
                access_token: SecretString::from(token),
            },
        }
    }

    #[test]
    fn parses_hex_and_every_base64_flavour_to_the_same_key() {
        let from_hex = SecretKey::parse(HEX).unwrap();
        let bytes: Vec<u8> = (0u8..32).collect();
        for text in [
            STANDARD.encode(&bytes),
            STANDARD_NO_PAD.encode(&bytes),
            URL_SAFE.encode(&bytes),
            URL_SAFE_NO_PAD.encode(&bytes),
            format!("  {}\n", STANDARD.encode(&bytes)),
            HEX.to_uppercase(),
        ] {
            let k = SecretKey::parse(&text).unwrap();
            assert_eq!(k.to_base64(), from_hex.to_base64(), "{text}");
        }
    }

    #[test]
    fn url_safe_only_characters_parse() {
        // Bytes chosen so the URL-safe text contains '-' and '_'.
        let bytes = [0xfbu8; 32];
        let text = URL_SAFE_NO_PAD.encode(bytes);
        assert!(text.contains('-') || text.contains('_'));
        assert_eq!(
            SecretKey::parse(&text).unwrap().to_base64(),
            STANDARD.encode(bytes)
        );
    }

    #[test]
    fn rejects_wrong_lengths_without_echoing() {
        for bad in [
            "",
            "short",
            &HEX[..62],
            &STANDARD.encode([1u8; 31]),
            &STANDARD.encode([1u8; 33]),
            "zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        ] {
            let err = SecretKey::parse(bad).unwrap_err();
            assert!(matches!(err, StoreError::Config(_)));
            let shown = err.to_string();
            assert!(shown.contains("64 hex"));
            if bad.len() > 3 {
                assert!(!shown.contains(bad), "{shown}");
            }
        }
    }

    #[test]
    fn generate_round_trips_through_base64_and_debug_is_redacted() {
        let k = SecretKey::generate();
        let text = k.to_base64();
        assert_eq!(SecretKey::parse(&text).unwrap().to_base64(), text);
        assert_ne!(SecretKey::generate().to_base64(), text);
        assert_eq!(format!("{k:?}"), "SecretKey([REDACTED])");
    }

    #[test]
    fn credentials_round_trip_and_bind_to_tenant_and_url() {
        let k = SecretKey::generate();
        let tenant = Uuid::new_v4();
        let creds = access("tok-123");
        let sealed = k.seal_credentials(tenant, &creds).unwrap();
        let back = k
            .open_credentials(tenant, &creds.api_url, "access_token", &sealed)
            .unwrap();
        match back.auth {
            ComagicAuth::AccessToken { access_token } => {
                assert_eq!(access_token.expose_secret(), "tok-123")
            }
            other => panic!("wrong kind {}", other.kind()),
        }
        // Each encryption uses a fresh nonce.
        assert_ne!(sealed, k.seal_credentials(tenant, &creds).unwrap());
        // Another tenant, URL, kind or key cannot open it.
        for (t, url, kind) in [
            (Uuid::new_v4(), creds.api_url.as_str(), "access_token"),
            (tenant, "https://evil.example/v2.0", "access_token"),
            (tenant, creds.api_url.as_str(), "login"),
        ] {
            assert!(matches!(
                k.open_credentials(t, url, kind, &sealed),
                Err(StoreError::Crypto(_))
            ));
        }
        let err = SecretKey::generate()
            .open_credentials(tenant, &creds.api_url, "access_token", &sealed)
            .unwrap_err();
        assert!(err.to_string().contains("BRIDGE_SECRET_KEY"));
    }

    #[test]
    fn login_credentials_round_trip() {
        let k = SecretKey::generate();
        let tenant = Uuid::new_v4();
        let creds = ComagicCredentials {
            api_url: "http://127.0.0.1:1/v2.0".into(),
            auth: ComagicAuth::Login {
                login: "user".into(),
                password: SecretString::from("pa\"ss"),
            },
        };
        let sealed = k.seal_credentials(tenant, &creds).unwrap();
        let back = k
            .open_credentials(tenant, &creds.api_url, "login", &sealed)
            .unwrap();
        match back.auth {
            ComagicAuth::Login { login, password } => {
                assert_eq!(login, "user");
                assert_eq!(password.expose_secret(), "pa\"ss");
            }
            other => panic!("wrong kind {}", other.kind()),
        }
    }
}
