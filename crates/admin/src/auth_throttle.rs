//! Failed admin authentications (a wrong bearer token, a wrong token on the sign-in form) are
//! counted per client address: after [`MAX_FAILURES`] in a minute, every request from that
//! address is answered 429 with `Retry-After` until the minute is over — the right token too,
//! so guessing cannot continue at any speed. The token itself is never logged.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::http::Extensions;

/// Failed authentications an address may make per [`WINDOW`].
pub const MAX_FAILURES: u32 = 10;
/// The counting window.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Past this many addresses, windows that are over are forgotten (bounded memory).
const MAX_TRACKED: usize = 10_000;

#[derive(Default)]
pub(crate) struct AuthThrottle {
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

/// The client address the server recorded (none in-process without `ConnectInfo`).
pub(crate) fn client_ip(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

impl AuthThrottle {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, (Instant, u32)>> {
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Some(wait)` while `ip` has used up its failures.
    pub(crate) fn blocked(&self, ip: Option<IpAddr>) -> Option<Duration> {
        let ip = ip?;
        let failures = self.lock();
        let (started, count) = failures.get(&ip)?;
        let left = WINDOW.checked_sub(started.elapsed())?;
        (*count >= MAX_FAILURES).then(|| left.max(Duration::from_secs(1)))
    }

    /// Counts one failure of `ip` and logs it (address only).
    pub(crate) fn failed(&self, ip: Option<IpAddr>, what: &'static str) {
        tracing::warn!(client = ?ip, what, "admin authentication failed");
        let Some(ip) = ip else { return };
        let mut failures = self.lock();
        if failures.len() > MAX_TRACKED {
            failures.retain(|_, (started, _)| started.elapsed() < WINDOW);
        }
        let entry = failures.entry(ip).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_blocked_after_its_failures() {
        let throttle = AuthThrottle::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..MAX_FAILURES {
            assert!(throttle.blocked(Some(a)).is_none());
            throttle.failed(Some(a), "bearer");
        }
        let wait = throttle.blocked(Some(a)).expect("blocked");
        assert!(wait <= WINDOW && wait >= Duration::from_secs(1));
        assert!(throttle.blocked(Some(b)).is_none());
        assert!(throttle.blocked(None).is_none());
    }
}
