//! Who may use the admin side: the API wants `Authorization: Bearer <admin token>`; the pages
//! want a session cookie obtained by signing in with the same token, and a per-session CSRF
//! token in every form they post.
//!
//! Sessions are signed cookies ([`Sessions`]): any replica accepts them, nothing is stored in
//! the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::http::{header, HeaderMap};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
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
/// Two things stay per process, best effort: sign-outs (the cookie is also cleared in the
/// browser) and the webhook URLs shown once after create or rotate.
#[derive(Clone)]
pub(crate) struct Sessions {
    key: Arc<[u8; 32]>,
    local: Arc<Mutex<Local>>,
}

#[derive(Default)]
struct Local {
    /// Signed-out session ids, until their expiry (unix seconds).
    revoked: HashMap<String, u64>,
    /// Webhook URLs issued in a session (create, rotate), shown to this operator until the
    /// settings are next saved; the store keeps only the token's hash.
    issued_urls: HashMap<String, (u64, HashMap<Uuid, String>)>,
}

type HmacSha256 = Hmac<Sha256>;

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Sessions {
    /// Sessions signed with a key derived from `admin_token`.
    pub fn new(admin_token: &SecretString) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"leadback-bridge admin sessions v1\0");
        hasher.update(admin_token.expose_secret().as_bytes());
        Self {
            key: Arc::new(hasher.finalize().into()),
            local: Arc::default(),
        }
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

    fn lock(&self) -> MutexGuard<'_, Local> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.local
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn session(&self, random: &str, expires: u64) -> Session {
        let expiry = expires.to_string();
        let signature = self.sign(&["session", random, &expiry]);
        Session {
            id: format!("{random}.{expiry}.{signature}"),
            csrf: self.sign(&["csrf", random, &expiry]),
        }
    }

    pub fn create(&self) -> Session {
        self.session(&random_token(), unix_now() + SESSION_TTL.as_secs())
    }

    /// The live session named by the request's cookie: signed by this key, not expired, not
    /// signed out here.
    pub fn lookup(&self, headers: &HeaderMap) -> Option<Session> {
        let id = cookie_value(headers, SESSION_COOKIE)?;
        let mut parts = id.split('.');
        let (random, expiry, signature) = (parts.next()?, parts.next()?, parts.next()?);
        let expires: u64 = expiry.parse().ok()?;
        let expected = self.sign(&["session", random, expiry]);
        let valid = parts.next().is_none()
            && bool::from(expected.as_bytes().ct_eq(signature.as_bytes()))
            && expires > unix_now();
        if !valid || self.lock().revoked.contains_key(&id) {
            return None;
        }
        Some(self.session(random, expires))
    }

    /// Signs a session out (in this process; the browser's cookie is cleared too).
    pub fn remove(&self, id: &str) {
        let expires = id
            .split('.')
            .nth(1)
            .and_then(|e| e.parse().ok())
            .unwrap_or(0);
        let mut local = self.lock();
        let now = unix_now();
        local.revoked.retain(|_, until| *until > now);
        local.issued_urls.retain(|_, (until, _)| *until > now);
        local.issued_urls.remove(id);
        local.revoked.insert(id.to_owned(), expires);
    }

    pub fn remember_url(&self, session_id: &str, tenant: Uuid, url: String) {
        let expires = unix_now() + SESSION_TTL.as_secs();
        self.lock()
            .issued_urls
            .entry(session_id.to_owned())
            .or_insert_with(|| (expires, HashMap::new()))
            .1
            .insert(tenant, url);
    }

    pub fn issued_url(&self, session_id: &str, tenant: Uuid) -> Option<String> {
        self.lock()
            .issued_urls
            .get(session_id)
            .and_then(|(_, urls)| urls.get(&tenant).cloned())
    }

    pub fn forget_url(&self, session_id: &str, tenant: Uuid) {
        if let Some((_, urls)) = self.lock().issued_urls.get_mut(session_id) {
            urls.remove(&tenant);
        }
    }
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

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
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

    #[test]
    fn cookie_parsing_and_session_lifecycle() {
        let sessions = Sessions::new(&SecretString::from("an admin token of 32 characters!"));
        let session = sessions.create();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            format!("other=1; {SESSION_COOKIE}={}", session.id)
                .parse()
                .unwrap(),
        );
        let found = sessions.lookup(&headers).unwrap();
        assert!(found.csrf_matches(Some(&session.csrf)));
        assert!(!found.csrf_matches(Some("nope")));
        assert!(!found.csrf_matches(None));
        sessions.remove(&session.id);
        assert!(sessions.lookup(&headers).is_none());
    }

    #[test]
    fn a_session_is_accepted_by_every_replica_with_the_token_and_only_those() {
        let token = SecretString::from("an admin token of 32 characters!");
        let one = Sessions::new(&token);
        let two = Sessions::new(&token);
        let session = one.create();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            format!("{SESSION_COOKIE}={}", session.id).parse().unwrap(),
        );
        let seen = two.lookup(&headers).expect("another replica accepts it");
        assert!(
            seen.csrf_matches(Some(&session.csrf)),
            "CSRF tied to the session"
        );
        let other = Sessions::new(&SecretString::from("another admin token, 32 chars..."));
        assert!(other.lookup(&headers).is_none());
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
        assert!(two.lookup(&headers).is_none());
    }
}
