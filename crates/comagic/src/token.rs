//! Where the `access_token` of a call comes from: a permanent key, or a `login.user` session
//! token cached until shortly before it expires (or until CoMagic says it has).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use secrecy::SecretString;
use tokio::sync::Mutex;

/// A session token's documented lifetime, used when `login.user` does not say.
pub(crate) const SESSION_LIFETIME: Duration = Duration::from_secs(3600);

pub(crate) enum TokenSource {
    Static(SecretString),
    Login {
        login: String,
        password: SecretString,
        /// Held across `login.user` so concurrent calls wait for one login instead of racing.
        cache: Mutex<Option<CachedToken>>,
    },
}

#[derive(Clone)]
pub(crate) struct CachedToken {
    pub token: SecretString,
    pub valid_until: SystemTime,
    /// Bumped per login, so a stale rejection cannot discard a newer token.
    pub generation: u64,
}

impl CachedToken {
    pub(crate) fn is_fresh(&self, margin: Duration, now: SystemTime) -> bool {
        now + margin < self.valid_until
    }
}

/// The end of a token's life from `expire_at`: seconds (or milliseconds) since the epoch. A
/// missing or already-past value (clock skew) falls back to the documented hour.
pub(crate) fn valid_until(expire_at: Option<i64>, now: SystemTime) -> SystemTime {
    let from_server = expire_at
        .and_then(|t| u64::try_from(t).ok())
        .map(|t| if t > 100_000_000_000 { t / 1000 } else { t })
        .map(|secs| UNIX_EPOCH + Duration::from_secs(secs))
        .filter(|at| *at > now);
    from_server.unwrap_or(now + SESSION_LIFETIME)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_from_seconds_millis_or_default() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            valid_until(Some(1_700_003_600), now),
            UNIX_EPOCH + Duration::from_secs(1_700_003_600)
        );
        assert_eq!(
            valid_until(Some(1_700_003_600_000), now),
            UNIX_EPOCH + Duration::from_secs(1_700_003_600)
        );
        assert_eq!(valid_until(None, now), now + SESSION_LIFETIME);
        assert_eq!(valid_until(Some(5), now), now + SESSION_LIFETIME);
    }
}
