//! Tenant settings and CoMagic clients, cached briefly so a busy tenant costs one store read per
//! few seconds, and a settings change (or a fixed credential) is picked up soon after saving.
//! Also each account's time zone (`get.account`), re-read daily and when CoMagic refuses a time.

use bridge_store::{Store, StoreError, Tenant};
use chrono_tz::Tz;
use comagic_client::ComagicError;
use comagic_client::{ClientOptions, ComagicClient};
use leadback_model::FieldMap;
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
    /// The tenant's field map, read with the tenant (saving one touches the tenant, so the
    /// same refresh rules apply).
    pub field_map: Arc<FieldMap>,
    /// The settings' zones, parsed once when the settings are read.
    pub zones: StoredZones,
}

/// A tenant's stored zone texts, parsed. A zone that names nothing is `None` (the settings API
/// refuses those; only rows written otherwise can hold one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredZones {
    /// `timezone`: the account's zone as given when the settings were saved.
    pub account: Option<Tz>,
    /// `leadback_timezone`: how Leadback times without an offset are read.
    pub leadback: Option<Tz>,
}

impl StoredZones {
    fn of(tenant: &Tenant) -> Self {
        let settings = &tenant.settings;
        Self {
            account: settings.timezone.as_deref().and_then(|z| z.parse().ok()),
            leadback: settings.leadback_zone(),
        }
    }
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
    /// How long a zone read from `get.account` is trusted.
    zone_ttl: Duration,
    cache: Mutex<HashMap<Uuid, Cached>>,
    /// The zone each account's `get.account` reported, and when it was read.
    zones: Mutex<HashMap<Uuid, AccountZone>>,
}

/// How often an account's zone is read again by default: daily.
pub const ACCOUNT_ZONE_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// After a failed `get.account`, how long to go on with the zone known before asking again.
const ACCOUNT_ZONE_RETRY: Duration = Duration::from_secs(10 * 60);

struct AccountZone {
    /// `None`: never read successfully.
    zone: Option<Tz>,
    read: Instant,
    ttl: Duration,
}

impl TenantDirectory {
    pub fn new(
        store: Arc<dyn Store>,
        http: comagic_client::Transport,
        options: ClientOptions,
        ttl: Duration,
        zone_ttl: Duration,
    ) -> Self {
        Self {
            store,
            http,
            options,
            ttl,
            zone_ttl,
            cache: Mutex::new(HashMap::new()),
            zones: Mutex::new(HashMap::new()),
        }
    }

    /// The zone to write this tenant's times in without asking CoMagic, or `None` when
    /// `get.account` is due (never read, or read longer ago than the zone TTL): the zone
    /// `get.account` reported, else the stored `timezone` (from when the settings were saved).
    pub(crate) async fn trusted_zone(&self, handle: &TenantHandle) -> Option<Option<Tz>> {
        let zones = self.zones.lock().await;
        let known = zones.get(&handle.tenant.id)?;
        (known.read.elapsed() < known.ttl).then(|| known.zone.or(handle.zones.account))
    }

    /// The zone known now: read before, else stored.
    pub(crate) async fn known_zone(&self, handle: &TenantHandle) -> Option<Tz> {
        self.zones
            .lock()
            .await
            .get(&handle.tenant.id)
            .and_then(|known| known.zone)
            .or(handle.zones.account)
    }

    /// Takes in what `get.account` answered (the zone it names, or why it could not be read);
    /// a changed zone is applied to the events mapped from now on and logged. Whether the zone
    /// changed.
    pub(crate) async fn apply_account_read(
        &self,
        handle: &TenantHandle,
        read: Result<Option<String>, ComagicError>,
    ) -> bool {
        let id = handle.tenant.id;
        let known = self.known_zone(handle).await;
        let (zone, ttl) = match read.map(|named| (named.as_deref().map(str::parse::<Tz>), named)) {
            Ok((Some(Ok(zone)), _)) => (Some(zone), self.zone_ttl),
            Ok((_, named)) => {
                tracing::warn!(tenant_id = %id, zone = ?named, "get.account names no usable time zone; keeping the known one");
                (known, self.zone_ttl)
            }
            Err(e) => {
                tracing::warn!(tenant_id = %id, error = %e, "could not read the account's time zone; keeping the known one");
                (known, ACCOUNT_ZONE_RETRY.min(self.zone_ttl))
            }
        };
        // Until read, the mapping assumed CoMagic's usual zone.
        let assumed = known.unwrap_or(leadback_model::DEFAULT_ZONE);
        let changed = zone.is_some_and(|zone| zone != assumed);
        match (known, changed) {
            (Some(from), true) => {
                tracing::info!(tenant_id = %id, from = from.name(), to = ?zone.map(|z| z.name()), "the CoMagic account's time zone changed; applying it")
            }
            (None, _) => {
                tracing::info!(tenant_id = %id, zone = ?zone.map(|z| z.name()), "read the CoMagic account's time zone")
            }
            _ => {}
        }
        self.zones.lock().await.insert(
            id,
            AccountZone {
                zone,
                read: Instant::now(),
                ttl,
            },
        );
        changed
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
        let field_map = Arc::new(self.store.get_field_map(id).await?);
        let handle = TenantHandle {
            zones: StoredZones::of(&tenant),
            tenant: Arc::new(tenant),
            client,
            field_map,
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
