//! Who may use the admin side: the API wants `Authorization: Bearer <admin token>`; the pages
//! want a session cookie obtained by signing in with the same token, and a per-session CSRF
//! token in every form they post.
//!
//! Sessions live in memory: a restart signs everyone out, which for a handful of operators is
//! cheaper than a sessions table and leaves nothing to steal from the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
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

/// One signed-in browser.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub id: String,
    pub csrf: String,
    expires: Instant,
    /// Webhook URLs issued in this session (create, rotate), shown to this operator until the
    /// settings are next saved; the store keeps only the token's hash.
    issued_urls: HashMap<Uuid, String>,
}

impl Session {
    /// Whether `given` is this session's CSRF token (constant time).
    pub fn csrf_matches(&self, given: Option<&str>) -> bool {
        given.is_some_and(|given| bool::from(self.csrf.as_bytes().ct_eq(given.as_bytes())))
    }
}

#[derive(Clone, Default)]
pub(crate) struct Sessions(Arc<Mutex<HashMap<String, Session>>>);

impl Sessions {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn create(&self) -> Session {
        let session = Session {
            id: random_token(),
            csrf: random_token(),
            expires: Instant::now() + SESSION_TTL,
            issued_urls: HashMap::new(),
        };
        let mut map = self.lock();
        let now = Instant::now();
        map.retain(|_, s| s.expires > now);
        map.insert(session.id.clone(), session.clone());
        session
    }

    /// The live session named by the request's cookie.
    pub fn lookup(&self, headers: &HeaderMap) -> Option<Session> {
        let id = cookie_value(headers, SESSION_COOKIE)?;
        let mut map = self.lock();
        match map.get(&id) {
            Some(session) if session.expires > Instant::now() => Some(session.clone()),
            Some(_) => {
                map.remove(&id);
                None
            }
            None => None,
        }
    }

    pub fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    pub fn remember_url(&self, session_id: &str, tenant: Uuid, url: String) {
        if let Some(session) = self.lock().get_mut(session_id) {
            session.issued_urls.insert(tenant, url);
        }
    }

    pub fn issued_url(&self, session_id: &str, tenant: Uuid) -> Option<String> {
        self.lock()
            .get(session_id)
            .and_then(|s| s.issued_urls.get(&tenant).cloned())
    }

    pub fn forget_url(&self, session_id: &str, tenant: Uuid) {
        if let Some(session) = self.lock().get_mut(session_id) {
            session.issued_urls.remove(&tenant);
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
        let sessions = Sessions::default();
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
}
