//! What this process remembers of token lookups, so unknown tokens cost no database round trip
//! once they have cost one: a brief negative cache of tokens that matched no tenant, and a
//! longer memory of tokens that did. The throttle uses the second: once a client address has
//! spent its unknown-token budget, only tokens this process has routed recently are looked up;
//! everything else from that address is refused before any store lookup.
//!
//! Neither set ever routes a request: a token remembered as known is still looked up (and
//! forgotten when the store no longer knows it), so a rotated or deleted token stops routing
//! exactly as before.

use bridge_store::TokenHash;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long "no tenant has this token" is believed (a token is 256 random bits, so a new
/// tenant's token cannot have been looked up before it existed).
pub(crate) const NEGATIVE_TTL: Duration = Duration::from_secs(10);
/// How long a token that routed counts as known for a throttled address.
pub(crate) const KNOWN_TTL: Duration = Duration::from_secs(24 * 3600);
/// Bound on each set; past it the set is emptied (memory stays bounded under a scan).
const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
pub(crate) struct TokenMemory {
    unknown: Mutex<HashMap<TokenHash, Instant>>,
    known: Mutex<HashMap<TokenHash, Instant>>,
}

impl TokenMemory {
    /// No tenant had this token a moment ago.
    pub(crate) fn recently_unknown(&self, hash: &TokenHash) -> bool {
        fresh(&self.unknown, hash, NEGATIVE_TTL)
    }

    /// This process routed this token recently.
    pub(crate) fn recently_known(&self, hash: &TokenHash) -> bool {
        fresh(&self.known, hash, KNOWN_TTL)
    }

    pub(crate) fn remember_unknown(&self, hash: &TokenHash) {
        forget(&self.known, hash);
        remember(&self.unknown, hash);
    }

    pub(crate) fn remember_known(&self, hash: &TokenHash) {
        forget(&self.unknown, hash);
        remember(&self.known, hash);
    }
}

fn lock(
    set: &Mutex<HashMap<TokenHash, Instant>>,
) -> std::sync::MutexGuard<'_, HashMap<TokenHash, Instant>> {
    set.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn fresh(set: &Mutex<HashMap<TokenHash, Instant>>, hash: &TokenHash, ttl: Duration) -> bool {
    lock(set).get(hash).is_some_and(|at| at.elapsed() < ttl)
}

fn remember(set: &Mutex<HashMap<TokenHash, Instant>>, hash: &TokenHash) {
    let mut set = lock(set);
    if set.len() >= MAX_ENTRIES && !set.contains_key(hash) {
        set.clear();
    }
    set.insert(hash.clone(), Instant::now());
}

fn forget(set: &Mutex<HashMap<TokenHash, Instant>>, hash: &TokenHash) {
    lock(set).remove(hash);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_unknown_or_known_never_both() {
        let memory = TokenMemory::default();
        let hash = TokenHash::of("some-token");
        assert!(!memory.recently_unknown(&hash) && !memory.recently_known(&hash));
        memory.remember_unknown(&hash);
        assert!(memory.recently_unknown(&hash) && !memory.recently_known(&hash));
        memory.remember_known(&hash);
        assert!(!memory.recently_unknown(&hash) && memory.recently_known(&hash));
        memory.remember_unknown(&hash);
        assert!(!memory.recently_known(&hash));
    }
}
