//! The store's error type. Database errors are wrapped so that their text can never carry a
//! connection URL's password into a log line or an HTTP answer.

use std::fmt;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The tenant, ledger row or dead letter named does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A uniqueness rule would be broken.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The caller asked for something the store cannot hold (e.g. a tenant without credentials).
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The store is configured wrongly (database URL, secret key).
    #[error("configuration: {0}")]
    Config(String),
    /// Encryption or decryption of tenant credentials failed.
    #[error("credentials encryption: {0}")]
    Crypto(String),
    /// Not a `#[source]`: the text is already in the message, and chain printers would repeat it.
    #[error("database: {0}")]
    Database(DatabaseError),
    /// Migrations could not be applied, or are not all applied yet.
    #[error("migrations: {0}")]
    Migration(String),
}

/// A `sqlx::Error` whose text has any `user:password@` part of a URL masked.
///
/// The original error stays reachable through [`DatabaseError::inner`] for code that needs to
/// match on it, but it is deliberately not exposed as `source()`: error-chain printers
/// (`anyhow`'s `{:#}`) would otherwise print the unmasked text.
pub struct DatabaseError {
    message: String,
    inner: sqlx::Error,
}

impl DatabaseError {
    pub fn inner(&self) -> &sqlx::Error {
        &self.inner
    }

    /// The connection failed or timed out (as opposed to a query the database rejected).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self.inner,
            sqlx::Error::Io(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed
                | sqlx::Error::Tls(_)
        )
    }
}

impl From<sqlx::Error> for DatabaseError {
    fn from(inner: sqlx::Error) -> Self {
        Self {
            message: mask_url_passwords(&inner.to_string()),
            inner,
        }
    }
}

impl fmt::Display for DatabaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for DatabaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The derived Debug of sqlx::Error could hold connect options; print the masked text.
        f.debug_tuple("DatabaseError").field(&self.message).finish()
    }
}

impl std::error::Error for DatabaseError {}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(e.into())
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migration(mask_url_passwords(&e.to_string()))
    }
}

/// Replaces the password of every `scheme://user:password@host` in `text` with `***`.
pub(crate) fn mask_url_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (before, after) = rest.split_at(pos + 3);
        out.push_str(before);
        // The authority ends at the first '/', whitespace or quote; userinfo ends at its last '@'.
        let authority_end = after
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace() || c == '"')
            .unwrap_or(after.len());
        let authority = &after[..authority_end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..colon]);
                        out.push_str(":***");
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &after[authority_end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_the_password_of_urls() {
        assert_eq!(
            mask_url_passwords("cannot reach postgres://bridge:s3cr:et@db:5432/x now"),
            "cannot reach postgres://bridge:***@db:5432/x now"
        );
        assert_eq!(
            mask_url_passwords("a postgres://u@h/x and postgresql://u:p@h and http://h/p"),
            "a postgres://u@h/x and postgresql://u:***@h and http://h/p"
        );
        assert_eq!(mask_url_passwords("no url here"), "no url here");
    }

    #[test]
    fn database_error_display_is_masked() {
        let err: StoreError = sqlx::Error::Configuration(
            "bad url postgres://me:hunter2@localhost/db"
                .to_owned()
                .into(),
        )
        .into();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(std::error::Error::source(&err).is_none());
    }
}
