//! Ledger retention: complete ledger entries older than the configured age are deleted, oldest
//! first, in small chunks, so the ledger (one row per delivered event, on either backend) does
//! not grow without bound.
//!
//! The ledger is what recognises an event delivered before; an event whose entry is gone would
//! be uploaded again if Leadback sent it once more. The retention is therefore long (30 days by
//! default, `BRIDGE_LEDGER_RETENTION_DAYS`, 0 keeps every entry), and entries whose tags are
//! still pending are never deleted: a redelivery needs them to finish the job.
//!
//! Recent payloads (raw webhook bodies, personal data) past their 7 days are deleted here too,
//! hourly and whatever the ledger's retention: the ingress's recorder deletes them as it writes,
//! but a worker running without an ingress (recording turned off there, or the ingress scaled
//! to zero) must not leave them in the database merely hidden from the page.

use bridge_metrics::Metrics;
use bridge_store::{prune_expired_recent_payloads, Store, StoreError};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

/// Entries deleted per statement: one short write each, so other writers of the database (on
/// SQLite, the queue's group commit) wait at most a few milliseconds behind it.
const CHUNK: u32 = 1_000;
/// Pause between chunks when many entries are due (the first run after an upgrade, say).
const PAUSE: Duration = Duration::from_millis(50);

/// How long entries are kept and how often the worker looks for expired ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerRetention {
    /// Complete entries delivered longer ago than this are deleted.
    pub keep: Duration,
    /// Time between two passes (the first runs when the worker starts).
    pub every: Duration,
}

impl LedgerRetention {
    /// The default retention (`BRIDGE_LEDGER_RETENTION_DAYS`).
    pub const DEFAULT_DAYS: u32 = 30;
    /// Time between two passes in a running worker.
    pub const EVERY: Duration = Duration::from_secs(3_600);

    /// Keeps complete entries `days` days, pruning hourly; `None` (keep every entry) for 0.
    pub fn days(days: u32) -> Option<Self> {
        (days > 0).then(|| Self {
            keep: Duration::from_secs(u64::from(days) * 86_400),
            every: Self::EVERY,
        })
    }

    /// One pass: deletes every complete entry delivered before `now - keep`, chunk by chunk,
    /// and returns how many went. Each chunk is counted in `ledger_pruned_total` as it goes.
    pub async fn prune(
        &self,
        store: &dyn Store,
        metrics: &Metrics,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let keep = chrono::Duration::from_std(self.keep).unwrap_or(chrono::Duration::MAX);
        // A retention longer than the calendar goes back to its start: nothing is due.
        let Some(before) = now.checked_sub_signed(keep) else {
            return Ok(0);
        };
        let mut total = 0;
        loop {
            let deleted = store.ledger_prune(before, CHUNK).await?;
            metrics.ledger_pruned_total.inc_by(deleted);
            total += deleted;
            if deleted < u64::from(CHUNK) {
                return Ok(total);
            }
            tokio::time::sleep(PAUSE).await;
        }
    }

    /// Passes every `every` until the task is dropped or aborted (a chunk is one statement:
    /// stopping between two leaves nothing half done). A failed pass is logged and retried at
    /// the next one.
    pub async fn run(self, store: Arc<dyn Store>, metrics: Metrics) {
        loop {
            match self.prune(store.as_ref(), &metrics, Utc::now()).await {
                Ok(0) => tracing::debug!("ledger retention: nothing to delete"),
                Ok(deleted) => tracing::info!(
                    deleted,
                    keep_days = self.keep.as_secs() / 86_400,
                    "ledger retention: deleted complete entries past the retention"
                ),
                Err(error) => {
                    tracing::warn!(%error, "ledger retention pass failed; next pass retries")
                }
            }
            tokio::time::sleep(self.every).await;
        }
    }
}

/// [`prune_expired_recent_payloads`] every `every` until the task is aborted.
pub(crate) async fn run_recent_payloads_retention(store: Arc<dyn Store>, every: Duration) {
    loop {
        prune_expired_recent_payloads(store.as_ref(), Utc::now()).await;
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bridge_store::{sqlite::SqliteStore, SecretKey, UploadRecord};
    use uuid::Uuid;

    fn upload(
        tenant_id: Uuid,
        n: u32,
        delivered_at: DateTime<Utc>,
        complete: bool,
    ) -> UploadRecord {
        UploadRecord {
            tenant_id,
            event_id: format!("callback:{n}").parse().unwrap(),
            kind: leadback_model::EventKind::Callback,
            ext_id: format!("leadback:callback:{n}"),
            comagic_id: Some(i64::from(n)),
            attempts: 1,
            received_at: delivered_at,
            delivered_at,
            complete,
        }
    }

    async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("bridge.db").display());
        let store = SqliteStore::open(&url, SecretKey::generate())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        (dir, store)
    }

    /// A worker alone deletes recent payloads past 7 days (not only hides them), whatever the
    /// ledger's retention, and keeps the newer ones.
    #[tokio::test]
    async fn old_recent_payloads_are_deleted_by_the_worker() {
        use bridge_store::{NewRecentPayload, TenantInput, OUTCOME_ACCEPTED};
        let (_dir, store) = store().await;
        let (tenant, _) = store
            .create_tenant(TenantInput {
                name: "payloads".into(),
                active: true,
                settings: leadback_model::TenantSettings::default(),
                credentials: Some(leadback_model::ComagicCredentials {
                    api_url: "https://dataapi.uiscom.ru/v2.0".into(),
                    auth: leadback_model::ComagicAuth::AccessToken {
                        access_token: secrecy::SecretString::from("token"),
                    },
                }),
            })
            .await
            .unwrap();
        let now = Utc::now();
        let payload = |event: &str, days_ago: i64| NewRecentPayload {
            tenant_id: tenant.id,
            received_at: now - chrono::Duration::days(days_ago),
            content_type: Some("application/json".into()),
            event_id: Some(event.into()),
            body: b"{}".to_vec(),
            outcome: OUTCOME_ACCEPTED.into(),
            error: None,
        };
        store
            .record_recent_payloads(&[payload("old", 8), payload("new", 1)], 10)
            .await
            .unwrap();
        assert_eq!(prune_expired_recent_payloads(&store, now).await, 1);
        let left = store
            .recent_payloads(tenant.id, DateTime::<Utc>::UNIX_EPOCH, 10)
            .await
            .unwrap();
        let events: Vec<_> = left
            .iter()
            .filter_map(|p| p.recorded.event_id.clone())
            .collect();
        assert_eq!(events, ["new"]);
    }

    #[tokio::test]
    async fn a_pass_deletes_every_expired_complete_entry_in_chunks_and_counts_them() {
        let (_dir, store) = store().await;
        let now = Utc::now();
        let tenant = Uuid::new_v4();
        let old = now - chrono::Duration::days(31);
        // More than two chunks' worth of expired entries, one expired but unfinished, and
        // recent ones.
        let expired = CHUNK * 2 + 7;
        let mut uploads: Vec<UploadRecord> =
            (0..expired).map(|n| upload(tenant, n, old, true)).collect();
        uploads.push(upload(tenant, 900_000, old, false));
        uploads.extend((0..5).map(|n| upload(tenant, 800_000 + n, now, true)));
        store.ledger_record_uploads(&uploads).await.unwrap();

        let retention = LedgerRetention::days(30).unwrap();
        assert_eq!(retention.keep, Duration::from_secs(30 * 86_400));
        assert_eq!(LedgerRetention::days(0), None);
        let metrics = Metrics::new();
        let deleted = retention.prune(&store, &metrics, now).await.unwrap();
        assert_eq!(deleted, u64::from(expired));
        assert_eq!(metrics.ledger_pruned_total.get(), u64::from(expired));
        assert_eq!(store.ledger_count().await.unwrap(), 6);
        assert!(store
            .ledger_get(tenant, "callback:900000")
            .await
            .unwrap()
            .is_some());
        // A second pass finds nothing; a longer retention keeps what a shorter one deletes.
        assert_eq!(retention.prune(&store, &metrics, now).await.unwrap(), 0);
        let forever = LedgerRetention {
            keep: Duration::MAX,
            ..retention
        };
        let later = now + chrono::Duration::days(365);
        assert_eq!(forever.prune(&store, &metrics, later).await.unwrap(), 0);
        assert_eq!(retention.prune(&store, &metrics, later).await.unwrap(), 5);
        assert_eq!(metrics.ledger_pruned_total.get(), u64::from(expired) + 5);
    }
}
