//! [`ActivityRecorder`]: gathers what a process sees of its tenants (a webhook accepted, an
//! event delivered, an error, CoMagic's limits) in memory and writes it to `tenant_activity`
//! once a second, one row per tenant touched. The per-event cost is a short mutex-guarded map
//! update: no store call, nothing awaited, so neither the webhook answer nor a delivery waits
//! for it. A write that fails is logged and its updates dropped (health is advisory).

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

use crate::tenant_activity::{LimitsSeen, TenantActivity};
use crate::{Store, StoreError};
use leadback_model::LastError;

/// How often gathered activity is written.
pub const ACTIVITY_FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Cheap to clone; every clone feeds the same pending map.
#[derive(Clone)]
pub struct ActivityRecorder {
    store: Arc<dyn Store>,
    pending: Arc<Mutex<HashMap<Uuid, TenantActivity>>>,
}

impl ActivityRecorder {
    pub fn new(store: Arc<dyn Store>) -> ActivityRecorder {
        ActivityRecorder {
            store,
            pending: Arc::default(),
        }
    }

    fn merge(&self, tenant_id: Uuid, apply: impl FnOnce(&mut TenantActivity)) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        apply(
            pending
                .entry(tenant_id)
                .or_insert_with(|| TenantActivity::new(tenant_id)),
        );
    }

    /// The ingress queued a webhook of the tenant.
    pub fn accepted(&self, tenant_id: Uuid, at: DateTime<Utc>) {
        self.merge(tenant_id, |u| {
            u.last_accepted_at = u.last_accepted_at.max(Some(at));
        });
    }

    /// The worker delivered an event of the tenant.
    pub fn delivered(&self, tenant_id: Uuid, at: DateTime<Utc>) {
        self.merge(tenant_id, |u| {
            u.last_delivered_at = u.last_delivered_at.max(Some(at));
        });
    }

    /// An attempt failed (retried or dead-lettered).
    pub fn error(&self, tenant_id: Uuid, error: LastError) {
        self.merge(tenant_id, |u| {
            if u.last_error.as_ref().is_none_or(|e| e.at <= error.at) {
                u.last_error = Some(error);
            }
        });
    }

    /// CoMagic answered with `metadata.limits`.
    pub fn limits(&self, tenant_id: Uuid, limits: LimitsSeen) {
        self.merge(tenant_id, |u| {
            if u.limits.is_none_or(|l| l.at <= limits.at) {
                u.limits = Some(limits);
            }
        });
    }

    /// Writes what was gathered since the last flush (one transaction); how many tenants.
    pub async fn flush(&self) -> Result<usize, StoreError> {
        let updates: Vec<TenantActivity> = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            pending.drain().map(|(_, u)| u).collect()
        };
        if updates.is_empty() {
            return Ok(0);
        }
        self.store.record_activity(&updates).await?;
        Ok(updates.len())
    }

    /// Flushes every [`ACTIVITY_FLUSH_EVERY`] until `stop` completes, then once more.
    pub async fn run(self, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            let stopping = tokio::select! {
                _ = &mut stop => true,
                _ = tokio::time::sleep(ACTIVITY_FLUSH_EVERY) => false,
            };
            if let Err(e) = self.flush().await {
                tracing::warn!(error = %e, "cannot record tenant activity (health); dropped");
            }
            if stopping {
                return;
            }
        }
    }
}
