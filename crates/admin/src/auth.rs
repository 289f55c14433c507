//! Who may use the admin side: the API wants `Authorization: Bearer <admin token>`; the pages
//! want a session cookie obtained by signing in with the same token, and a per-session CSRF
//! token in every form they post.
//!
//! Sessions are signed cookies ([`Sessions`]): any replica accepts them; only sign-outs are
//! stored in the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::http::{header, HeaderMap};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bridge_store::Store;
use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use uuid::Uuid;

use crate::error::ApiError;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "bridge_admin_session";
/// How long a session lasts after sign-in.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Name of the hidden CSRF field of every form.
pub const CSRF_FIELD: &str = "csrf";

/// Compares in constant time. Both sides are hashed first so that neither the content nor the
/// length of the admin token leaks through timing.
pub(crate) fn token_matches(admin_token: &SecretString, candidate: &str) -> bool {
    let expected = Sha256::digest(admin_token.expose_secret().as_bytes());
    let given = Sha256::digest(candidate.as_bytes());
    // An empty admin token would let an empty bearer in: never accept it.
    !admin_token.expose_secret().is_empty() && bool::from(expected.ct_eq(&given))
}

/// Checks the API's bearer token.
pub(crate) fn check_bearer(
    admin_token: &SecretString,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .map(str::trim);
    match given {
        Some(token) if token_matches(admin_token, token) => Ok(()),
        _ => Err(ApiError::Unauthorized),
    }
}

/// 32 random bytes, base64url.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// One signed-in browser. `id` is the whole cookie value: `<random>.<expiry>.<signature>`.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub id: String,
    pub csrf: String,
    /// The request's issued-URL cookie, still sealed (see [`Sessions::issued_url`]).
    pub issued: Option<String>,
}

impl Session {
    /// Whether `given` is this session's CSRF token (constant time).
    pub fn csrf_matches(&self, given: Option<&str>) -> bool {
        given.is_some_and(|given| bool::from(self.csrf.as_bytes().ct_eq(given.as_bytes())))
    }
}

/// Sessions that work behind any number of replicas: the cookie is signed (HMAC-SHA256) with a
/// key derived from the admin token, and carries its own expiry, so every process that knows
/// the token accepts it and none has to remember it. The CSRF token is derived from the
/// session the same way. Changing the admin token ends every session.
///
/// Signing out is recorded in the store (the SHA-256 of the session id, until its expiry), so
/// every replica refuses the session from then on. A webhook URL issued by create or rotate
/// travels to the page that shows it in a cookie of its own, encrypted and bound to the session
/// and the tenant: the store keeps only the token's hash, and any replica can show it.
#[derive(Clone)]
pub(crate) struct Sessions {
    key: Arc<[u8; 32]>,
    issued_key: Arc<[u8; 32]>,
    /// Sign-outs seen by this process (a fast path; the store is the shared record).
    revoked: Arc<Mutex<HashMap<String, u64>>>,
    store: Option<Arc<dyn Store>>,
}

type HmacSha256 = Hmac<Sha256>;

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn derive_key(label: &[u8], admin_token: &SecretString) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(label);
    hasher.update(admin_token.expose_secret().as_bytes());
    hasher.finalize().into()
}

/// What the store keeps of a signed-out session: its id is a bearer credential until expiry.
fn session_hash(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

impl Sessions {
    /// Sessions signed with a key derived from `admin_token`, sign-outs kept in this process
    /// only (tests); [`with_store`](Self::with_store) shares them.
    pub fn new(admin_token: &SecretString) -> Self {
        Self {
            key: Arc::new(derive_key(
                b"leadback-bridge admin sessions v1\0",
                admin_token,
            )),
            issued_key: Arc::new(derive_key(
                b"leadback-bridge issued webhook urls v1\0",
                admin_token,
            )),
            revoked: Arc::default(),
            store: None,
        }
    }

    /// Sign-outs recorded in (and read from) `store`, which every replica shares.
    pub fn with_store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    fn sign(&self, parts: &[&str]) -> String {
        // Any key length is accepted by HMAC; this cannot fail.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(self.key.as_slice())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        for part in parts {
            mac.update(part.as_bytes());
            mac.update(b"\0");
        }
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    fn revoked(&self) -> MutexGuard<'_, HashMap<String, u64>> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.revoked
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn session(&self, random: &str, expires: u64) -> Session {
        let expiry = expires.to_string();
        let signature = self.sign(&["session", random, &expiry]);
        Session {
            id: format!("{random}.{expiry}.{signature}"),
            csrf: self.sign(&["csrf", random, &expiry]),
            issued: None,
        }
    }

    pub fn create(&self) -> Session {
        self.session(&random_token(), unix_now() + SESSION_TTL.as_secs())
    }

    /// The live session named by the request's cookie: signed by this key, not expired, not
    /// signed out (here or, with a store, anywhere).
    pub async fn lookup(&self, headers: &HeaderMap) -> Option<Session> {
        let id = cookie_value(headers, SESSION_COOKIE)?;
        let mut parts = id.split('.');
        let (random, expiry, signature) = (parts.next()?, parts.next()?, parts.next()?);
        let expires: u64 = expiry.parse().ok()?;
        let expected = self.sign(&["session", random, expiry]);
        let valid = parts.next().is_none()
            && bool::from(expected.as_bytes().ct_eq(signature.as_bytes()))
            && expires > unix_now();
        if !valid || self.revoked().contains_key(&id) {
            return None;
        }
        if let Some(store) = &self.store {
            match store.admin_session_signed_out(&session_hash(&id)).await {
                Ok(false) => {}
                Ok(true) => return None,
                Err(e) => {
                    // Fail closed: the operator signs in again once the store is back.
                    tracing::warn!(error = %e, "cannot check admin sign-outs; refusing the session");
                    return None;
                }
            }
        }
        Some(Session {
            issued: cookie_value(headers, ISSUED_URL_COOKIE),
            ..self.session(random, expires)
        })
    }

    /// Signs a session out everywhere (the browser's cookie is cleared too).
    pub async fn remove(&self, id: &str) {
        let expires = id
            .split('.')
            .nth(1)
            .and_then(|e| e.parse().ok())
            .unwrap_or(0);
        {
            let mut revoked = self.revoked();
            let now = unix_now();
            revoked.retain(|_, until| *until > now);
            revoked.insert(id.to_owned(), expires);
        }
        if let Some(store) = &self.store {
            let until = i64::try_from(expires)
                .ok()
                .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
                .unwrap_or_else(chrono::Utc::now);
            if let Err(e) = store.sign_out_admin_session(&session_hash(id), until).await {
                tracing::warn!(error = %e, "cannot record the sign-out for the other replicas");
            }
        }
    }

    fn issued_cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(Key::from_slice(self.issued_key.as_slice()))
    }

    /// The `Set-Cookie` value that carries `url`, just issued for `tenant`, to the next page of
    /// this session (whichever replica serves it). `None` only if encryption failed.
    pub fn issued_url_cookie(
        &self,
        session_id: &str,
        tenant: Uuid,
        url: &str,
        secure: bool,
    ) -> Option<String> {
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let aad = format!("{session_id}\0{tenant}");
        let sealed = self
            .issued_cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: url.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .ok()?;
        let value = URL_SAFE_NO_PAD.encode([nonce.as_slice(), sealed.as_slice()].concat());
        Some(format!(
            "{ISSUED_URL_COOKIE}={tenant}.{value}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={}{}",
            SESSION_TTL.as_secs(),
            if secure { "; Secure" } else { "" }
        ))
    }

    /// The webhook URL issued for `tenant` in this session, if its request carried it.
    pub fn issued_url(&self, session: &Session, tenant: Uuid) -> Option<String> {
        self.open_issued(session.issued.as_deref()?, &session.id, tenant)
    }

    fn open_issued(&self, cookie: &str, session_id: &str, tenant: Uuid) -> Option<String> {
        let (for_tenant, value) = cookie.split_once('.')?;
        if for_tenant != tenant.to_string() {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(value).ok()?;
        if bytes.len() < 12 {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(12);
        let aad = format!("{session_id}\0{tenant}");
        let url = self
            .issued_cipher()
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: aad.as_bytes(),
                },
            )
            .ok()?;
        String::from_utf8(url).ok()
    }
}

/// Name of the cookie that carries a webhook URL just issued (create, rotate) to the page that
/// shows it, until the settings are next saved.
pub const ISSUED_URL_COOKIE: &str = "bridge_admin_issued";

/// The `Set-Cookie` value that drops the issued URL (after a save: shown no more).
pub(crate) fn clear_issued_url_cookie(secure: bool) -> String {
    format!(
        "{ISSUED_URL_COOKIE}=; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that starts a session.
pub(crate) fn session_cookie(id: &str, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={id}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={}{}",
        SESSION_TTL.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that ends one.
pub(crate) fn clear_cookie(secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}=; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The value of the request's cookie `name`, if it sent one.
pub(crate) fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        let admin = SecretString::from("s3cret");
        assert!(token_matches(&admin, "s3cret"));
        assert!(!token_matches(&admin, "s3cre"));
        assert!(!token_matches(&admin, ""));
        assert!(!token_matches(&SecretString::from(""), ""));
    }

    #[tokio::test]
    async fn cookie_parsing_and_session_lifecycle() {
        let sessions = Sessions::new(&SecretString::from("an admin token of 32 characters!"));
        let session = sessions.create();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            format!("other=1; {SESSION_COOKIE}={}", session.id)
                .parse()
                .unwrap(),
        );
        let found = sessions.lookup(&headers).await.unwrap();
        assert!(found.csrf_matches(Some(&session.csrf)));
        assert!(!found.csrf_matches(Some("nope")));
        assert!(!found.csrf_matches(None));
        sessions.remove(&session.id).await;
        assert!(sessions.lookup(&headers).await.is_none());
    }

    #[tokio::test]
    async fn a_session_is_accepted_by_every_replica_with_the_token_and_only_those() {
        let token = SecretString::from("an admin token of 32 characters!");
        let one = Sessions::new(&token);
        let two = Sessions::new(&token);
        let session = one.create();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            format!("{SESSION_COOKIE}={}", session.id).parse().unwrap(),
        );
        let seen = two
            .lookup(&headers)
            .await
            .expect("another replica accepts it");
        assert!(
            seen.csrf_matches(Some(&session.csrf)),
            "CSRF tied to the session"
        );
        let other = Sessions::new(&SecretString::from("another admin token, 32 chars..."));
        assert!(other.lookup(&headers).await.is_none());
        // A forged expiry breaks the signature.
        let mut parts: Vec<&str> = session.id.split('.').collect();
        let later = (unix_now() + 10 * SESSION_TTL.as_secs()).to_string();
        parts[1] = &later;
        headers.insert(
            header::COOKIE,
            format!("{SESSION_COOKIE}={}", parts.join("."))
                .parse()
                .unwrap(),
        );
        assert!(two.lookup(&headers).await.is_none());
    }

    #[test]
    fn an_issued_url_opens_only_for_its_session_and_tenant_on_any_replica() {
        let token = SecretString::from("an admin token of 32 characters!");
        let (one, two) = (Sessions::new(&token), Sessions::new(&token));
        let session = one.create();
        let tenant = Uuid::new_v4();
        let url = "https://bridge.example/hooks/leadback/secret-token";
        let set = one
            .issued_url_cookie(&session.id, tenant, url, true)
            .unwrap();
        assert!(
            !set.contains("secret-token"),
            "the URL is not readable: {set}"
        );
        assert!(set.contains("HttpOnly") && set.contains("Secure"), "{set}");
        let value = set
            .split(';')
            .next()
            .unwrap()
            .strip_prefix(&format!("{ISSUED_URL_COOKIE}="))
            .unwrap()
            .to_owned();
        assert_eq!(
            two.open_issued(&value, &session.id, tenant).as_deref(),
            Some(url)
        );
        // Another session, another tenant, another admin token, or a changed byte: nothing.
        assert!(two.open_issued(&value, &two.create().id, tenant).is_none());
        assert!(two
            .open_issued(&value, &session.id, Uuid::new_v4())
            .is_none());
        let other = Sessions::new(&SecretString::from("another admin token, 32 chars..."));
        assert!(other.open_issued(&value, &session.id, tenant).is_none());
        let mut tampered = value.into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(two.open_issued(&tampered, &session.id, tenant).is_none());
    }
}
