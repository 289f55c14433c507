//! Throttling of unknown-token requests per client address.
//!
//! Webhook tokens are 256 random bits, so guessing is hopeless anyway; this throttle is about load
//! and noise: a scanner, or a Leadback account still pointing at a rotated URL, must not make
//! every request cost a database lookup and a log line forever. Only *unknown-token* answers use
//! the budget, and a request with a valid token is never throttled — Leadback sends every
//! tenant's webhooks from the same few addresses, so one stale URL must not block the others.

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

/// Past this many remembered addresses, idle ones are forgotten (bounded memory under a scan
/// from many addresses).
const MAX_TRACKED: usize = 10_000;

type KeyedLimiter = RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, DefaultClock>;

/// A per-address budget of unknown-token requests.
pub(crate) struct UnknownTokenThrottle {
    limiter: Option<KeyedLimiter>,
    clock: DefaultClock,
    /// Until when each exhausted address stays refused, so a request can be refused before
    /// anything is looked up (the limiter itself can only be asked by spending).
    blocked: std::sync::Mutex<HashMap<IpAddr, Instant>>,
}

impl UnknownTokenThrottle {
    /// `per_minute` unknown-token requests per address (a burst of that many, refilled evenly
    /// over the minute); 0 turns the throttle off.
    pub(crate) fn new(per_minute: u32) -> Self {
        Self {
            limiter: NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n))),
            clock: DefaultClock::default(),
            blocked: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// How long `addr` stays refused, when its budget is spent; nothing is spent asking.
    pub(crate) fn blocked(&self, addr: IpAddr) -> Option<Duration> {
        let blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        let until = *blocked.get(&client_key(addr))?;
        until.checked_duration_since(Instant::now())
    }

    /// Spends one unit of `addr`'s budget; `Err(wait)` when it is exhausted.
    pub(crate) fn spend(&self, addr: IpAddr) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if limiter.len() > MAX_TRACKED {
            limiter.retain_recent();
        }
        let key = client_key(addr);
        limiter.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
            if blocked.len() > MAX_TRACKED {
                let now = Instant::now();
                blocked.retain(|_, until| *until > now);
            }
            blocked.insert(key, Instant::now() + wait);
            wait
        })
    }
}

/// IPv6 clients usually own a whole /64, so the budget is per /64, not per address.
fn client_key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & (u128::MAX << 64);
                IpAddr::V6(Ipv6Addr::from(bits))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_is_per_address_and_refuses_past_it() {
        let throttle = UnknownTokenThrottle::new(3);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(throttle.spend(a).is_ok());
        }
        let wait = throttle.spend(a).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(
            throttle.spend(b).is_ok(),
            "another address has its own budget"
        );
        // Asking whether an address is refused spends nothing.
        assert!(throttle.blocked(a).is_some_and(|w| w <= wait));
        assert!(throttle.blocked(b).is_none());
    }

    #[test]
    fn zero_turns_it_off() {
        let throttle = UnknownTokenThrottle::new(0);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..1000 {
            assert!(throttle.spend(a).is_ok());
        }
    }

    #[test]
    fn ipv6_is_keyed_by_its_64_prefix() {
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let other: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert_eq!(client_key(one), client_key(other));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(client_key(mapped), "10.0.0.1".parse::<IpAddr>().unwrap());
    }
}
