//! The stores' cache of token → tenant routes, for the ingress.
//!
//! Looking the tenant up costs a database round trip per webhook (in the benchmark, more than
//! half of the ingress's cost). For PostgreSQL ([`RouteCache::new`]) the cache removes it
//! without serving stale routes:
//! * a trigger (migration 0002) announces every change of `tenants` on [`CHANNEL`] at commit,
//!   and a listener connection empties the cache on each announcement;
//! * the cache is used only while that listener is connected: when it is not (starting, or the
//!   connection was lost and notifications may have been missed) every lookup goes to the
//!   database, and the cache starts empty again once listening resumes;
//! * a lookup that raced an announcement is not cached (a generation counter);
//! * this process's own changes empty the cache before they return, so a rotated token stops
//!   routing at once here, and within the notification's delivery (milliseconds) elsewhere;
//! * entries also expire after [`TTL`] as a last line of defence.
//!
//! SQLite has no notifications. Its cache ([`RouteCache::local`]) is emptied by the store's own
//! changes before they return (the settings page and the API run in the same process as the
//! ingress in the embedded mode), and its entries live [`LOCAL_TTL`]: a change another process
//! makes to the file (a `leadback-bridge tenants …` command run beside `serve`) routes within
//! that second.
//!
//! Only found, active-or-not routes are cached; unknown tokens always reach the database (the
//! ingress throttles those per client).

use crate::TenantRoute;
use sqlx::postgres::{PgListener, PgPool};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The channel the `tenants` trigger notifies.
pub(crate) const CHANNEL: &str = "leadback_bridge_tenants";
/// Longest time an entry is served (PostgreSQL: notifications keep it current).
const TTL: Duration = Duration::from_secs(60);
/// Longest time an entry is served without notifications (SQLite): the bound on how long a
/// change made by another process takes to route.
pub(crate) const LOCAL_TTL: Duration = Duration::from_secs(1);
/// Bound on entries (tokens are per tenant, so this is only reached by a huge deployment).
const MAX_ENTRIES: usize = 100_000;

pub struct RouteCache {
    state: Mutex<State>,
    ttl: Duration,
    /// The listener is connected and listening: entries are trustworthy.
    listening: AtomicBool,
    started: AtomicBool,
    /// Dropped with the cache: the listener task ends.
    stop: watch::Sender<()>,
}

#[derive(Default)]
struct State {
    generation: u64,
    entries: HashMap<String, (TenantRoute, Instant)>,
}

impl RouteCache {
    /// For PostgreSQL: trusted only while [`RouteCache::ensure_listening`]'s listener is
    /// connected.
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new(State::default()),
            ttl: TTL,
            listening: AtomicBool::new(false),
            started: AtomicBool::new(false),
            stop: watch::channel(()).0,
        }
    }

    /// Without a listener (SQLite): always trusted, entries kept `ttl`; the store empties it on
    /// each of its own changes.
    pub(crate) fn local(ttl: Duration) -> Self {
        Self {
            ttl,
            listening: AtomicBool::new(true),
            started: AtomicBool::new(true),
            ..Self::new()
        }
    }

    /// Starts the listener on first use (only processes that route webhooks pay for it).
    pub(crate) fn ensure_listening(self: &Arc<Self>, pool: &PgPool) {
        // A read first: this runs on every webhook, and only the first needs the write.
        if !self.started.load(Ordering::Acquire) && !self.started.swap(true, Ordering::AcqRel) {
            tokio::spawn(listen(
                pool.clone(),
                Arc::downgrade(self),
                self.stop.subscribe(),
            ));
        }
    }

    /// A cached route, when the cache may be trusted.
    pub(crate) fn get(&self, hash: &str) -> Option<TenantRoute> {
        if !self.listening.load(Ordering::Acquire) {
            return None;
        }
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match state.entries.get(hash) {
            Some((route, at)) if at.elapsed() < self.ttl => Some(*route),
            _ => None,
        }
    }

    /// The generation to pass to [`RouteCache::insert`] after the database lookup.
    pub(crate) fn generation(&self) -> u64 {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .generation
    }

    /// Caches `route` unless the cache was emptied since `generation` was read (the lookup
    /// may have seen the old row) or the listener is not connected.
    pub(crate) fn insert(&self, generation: u64, hash: &str, route: TenantRoute) {
        if !self.listening.load(Ordering::Acquire) {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.generation != generation {
            return;
        }
        if state.entries.len() >= MAX_ENTRIES {
            state.entries.clear();
        }
        state
            .entries
            .insert(hash.to_owned(), (route, Instant::now()));
    }

    /// Forgets every route.
    pub(crate) fn invalidate(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.generation = state.generation.wrapping_add(1);
        state.entries.clear();
    }

    fn set_listening(&self, listening: bool) {
        // Empty first: entries from before a gap in listening may be stale.
        self.invalidate();
        self.listening.store(listening, Ordering::Release);
    }
}

/// Keeps a LISTEN connection open; every notification empties the cache. Reconnects with a
/// growing pause; the cache is bypassed while disconnected.
async fn listen(pool: PgPool, cache: Weak<RouteCache>, mut stop: watch::Receiver<()>) {
    let mut pause = Duration::from_millis(200);
    loop {
        let connected = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = tokio::select! {
            _ = stop.changed() => return,
            connected = connected => match connected {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::warn!(%error, retry_in = ?pause, "cannot listen for tenant changes; routing without the cache");
                    tokio::select! {
                        _ = stop.changed() => return,
                        _ = tokio::time::sleep(pause) => {}
                    }
                    pause = (pause * 2).min(Duration::from_secs(10));
                    continue;
                }
            },
        };
        pause = Duration::from_millis(200);
        match cache.upgrade() {
            Some(cache) => cache.set_listening(true),
            None => return,
        }
        loop {
            let received = tokio::select! {
                _ = stop.changed() => return,
                received = listener.try_recv() => received,
            };
            let Some(cache) = cache.upgrade() else { return };
            match received {
                Ok(Some(_)) => cache.invalidate(),
                // The connection was lost: notifications may have been missed.
                Ok(None) | Err(_) => {
                    tracing::warn!("lost the tenant-change listener; routing without the cache");
                    cache.set_listening(false);
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn route() -> TenantRoute {
        TenantRoute {
            id: Uuid::new_v4(),
            active: true,
        }
    }

    #[test]
    fn local_cache_is_served_until_its_ttl_or_a_change() {
        let cache = RouteCache::local(Duration::from_millis(50));
        cache.insert(cache.generation(), "h", route());
        assert!(cache.get("h").is_some(), "served without a listener");
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get("h"), None, "expired after its ttl");

        cache.insert(cache.generation(), "h", route());
        cache.invalidate();
        assert_eq!(cache.get("h"), None, "emptied by a change");
    }

    #[test]
    fn nothing_is_served_or_kept_while_not_listening() {
        let cache = RouteCache::new();
        let generation = cache.generation();
        cache.insert(generation, "h", route());
        assert_eq!(cache.get("h"), None);

        cache.set_listening(true);
        cache.insert(cache.generation(), "h", route());
        assert!(cache.get("h").is_some());
        // Losing the listener empties the cache and stops serving it.
        cache.set_listening(false);
        assert_eq!(cache.get("h"), None);
        cache.set_listening(true);
        assert_eq!(cache.get("h"), None, "entries from before the gap are gone");
    }

    #[test]
    fn a_lookup_that_raced_a_change_is_not_cached() {
        let cache = RouteCache::new();
        cache.set_listening(true);
        let before = cache.generation();
        cache.invalidate(); // a change committed while the lookup ran
        cache.insert(before, "h", route());
        assert_eq!(cache.get("h"), None);

        let r = route();
        cache.insert(cache.generation(), "h", r);
        assert_eq!(cache.get("h"), Some(r));
        cache.invalidate();
        assert_eq!(cache.get("h"), None);
    }
}
