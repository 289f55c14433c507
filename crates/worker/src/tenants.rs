//! Tenant settings and CoMagic clients, cached briefly so a busy tenant costs one store read per
//! few seconds, and a settings change (or a fixed credential) is picked up soon after saving.

use bridge_store::{Store, StoreError, Tenant};
use comagic_client::ComagicError;
use comagic_client::{ClientOptions, ComagicClient};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use uuid::Uuid;

/// A tenant with the client that talks to its CoMagic account.
#[derive(Clone)]
pub struct TenantHandle {
    pub tenant: Arc<Tenant>,
    pub client: ComagicClient,
}

struct Cached {
    handle: TenantHandle,
    fetched: Instant,
}

pub struct TenantDirectory {
    store: Arc<dyn Store>,
    http: comagic_client::Transport,
    options: ClientOptions,
    ttl: Duration,
    cache: Mutex<HashMap<Uuid, Cached>>,
}

impl TenantDirectory {
    pub fn new(
        store: Arc<dyn Store>,
        http: comagic_client::Transport,
        options: ClientOptions,
        ttl: Duration,
    ) -> Self {
        Self {
            store,
            http,
            options,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The tenant and its client; `None` when the tenant no longer exists.
    pub async fn get(&self, id: Uuid) -> Result<Option<TenantHandle>, TenantError> {
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.get(&id) {
            if cached.fetched.elapsed() < self.ttl {
                return Ok(Some(cached.handle.clone()));
            }
        }
        let Some(tenant) = self.store.get_tenant(id).await? else {
            cache.remove(&id);
            return Ok(None);
        };
        // Keep the client (and its login token) while the tenant is unchanged.
        let client = match cache.get(&id) {
            Some(cached) if cached.handle.tenant.updated_at == tenant.updated_at => {
                cached.handle.client.clone()
            }
            _ => ComagicClient::new(
                tenant.credentials.clone(),
                self.http.clone(),
                self.options.clone(),
            )
            .map_err(TenantError::Credentials)?,
        };
        let handle = TenantHandle {
            tenant: Arc::new(tenant),
            client,
        };
        cache.insert(
            id,
            Cached {
                handle: handle.clone(),
                fetched: Instant::now(),
            },
        );
        Ok(Some(handle))
    }

    /// Whether the stored tenant differs from the cached one; if so the cache entry is dropped
    /// so the next lookup reads it fresh.
    pub async fn refresh_if_changed(&self, id: Uuid) -> bool {
        let cached_at = match self.cache.lock().await.get(&id) {
            Some(cached) => cached.handle.tenant.updated_at,
            None => return false,
        };
        match self.store.get_tenant(id).await {
            Ok(Some(tenant)) if tenant.updated_at != cached_at => {
                self.cache.lock().await.remove(&id);
                true
            }
            _ => false,
        }
    }
}

/// Why a tenant could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("tenant store unavailable: {0}")]
    Store(#[from] StoreError),
    /// The stored CoMagic settings cannot make a client (e.g. a malformed API URL).
    #[error("tenant CoMagic settings unusable: {0}")]
    Credentials(ComagicError),
}
