//! Ledger lookups of the deliveries in flight, gathered into one store call.
//!
//! Every delivery checks the ledger before its upload (was it already delivered by an earlier
//! copy?). One query per delivery was one round trip per event — for SQLite, a wake-up of a
//! connection's thread each time, the largest cost left in the embedded mode at saturation. Here
//! lookups queue while one [`Store::ledger_get_many`] is running and the next call takes them
//! all, as group commit does for writes: one lookup alone is answered at once, a crowd shares a
//! call.

use bridge_store::{LedgerEntry, Store};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Most keys in one store call; more wait for the next.
const MAX_KEYS_PER_CALL: usize = 500;

type Answer = Result<Option<LedgerEntry>, String>;

struct Lookup {
    tenant_id: Uuid,
    event_id: String,
    answer: oneshot::Sender<Answer>,
}

/// Shared by every delivery task; the gathering task starts with the first lookup and ends
/// when the reader is dropped.
pub(crate) struct LedgerReader {
    store: Arc<dyn Store>,
    lookups: OnceLock<mpsc::UnboundedSender<Lookup>>,
}

impl LedgerReader {
    pub(crate) fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            lookups: OnceLock::new(),
        }
    }

    /// The event's ledger entry; `Err` carries the store's error message.
    pub(crate) async fn get(&self, tenant_id: Uuid, event_id: &str) -> Answer {
        let lookups = self.lookups.get_or_init(|| {
            let (send, receive) = mpsc::unbounded_channel();
            tokio::spawn(gather(self.store.clone(), receive));
            send
        });
        let (answer, answered) = oneshot::channel();
        let lookup = Lookup {
            tenant_id,
            event_id: event_id.to_owned(),
            answer,
        };
        if lookups.send(lookup).is_err() {
            return Err("ledger reader stopped".into());
        }
        answered
            .await
            .unwrap_or_else(|_| Err("ledger reader stopped".into()))
    }
}

/// Takes the lookups waiting, answers them with one store call, again.
async fn gather(store: Arc<dyn Store>, mut lookups: mpsc::UnboundedReceiver<Lookup>) {
    let mut waiting = Vec::new();
    while lookups.recv_many(&mut waiting, MAX_KEYS_PER_CALL).await > 0 {
        let keys: Vec<(Uuid, String)> = waiting
            .iter()
            .map(|l| (l.tenant_id, l.event_id.clone()))
            .collect();
        match store.ledger_get_many(&keys).await {
            Ok(entries) => {
                let found: HashMap<(Uuid, String), LedgerEntry> = entries
                    .into_iter()
                    .map(|e| ((e.tenant_id, e.event_id.clone()), e))
                    .collect();
                for lookup in waiting.drain(..) {
                    // Cloned: the same event may be asked for twice in one call.
                    let entry = found.get(&(lookup.tenant_id, lookup.event_id)).cloned();
                    // The delivery may have been dropped meanwhile (shutdown).
                    let _ = lookup.answer.send(Ok(entry));
                }
            }
            Err(error) => {
                let message = error.to_string();
                for lookup in waiting.drain(..) {
                    let _ = lookup.answer.send(Err(message.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bridge_store::{SecretKey, UploadRecord};

    fn upload(tenant_id: Uuid, event_id: &str) -> UploadRecord {
        UploadRecord {
            tenant_id,
            event_id: event_id.to_owned(),
            kind: "callback".into(),
            ext_id: format!("leadback:{event_id}"),
            comagic_id: Some(7),
            attempts: 1,
            received_at: chrono::Utc::now(),
            delivered_at: chrono::Utc::now(),
            complete: true,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_lookups_each_get_their_own_entry() {
        let store = bridge_store::open("sqlite::memory:", SecretKey::generate())
            .await
            .expect("in-memory store");
        store.migrate().await.expect("migrations");
        let tenant = Uuid::new_v4();
        let other = Uuid::new_v4();
        let recorded: Vec<UploadRecord> = (0..100)
            .filter(|n| n % 2 == 0)
            .map(|n| upload(tenant, &format!("ev-{n}")))
            .collect();
        store
            .ledger_record_uploads(&recorded)
            .await
            .expect("recorded");

        let reader = Arc::new(LedgerReader::new(store));
        let mut lookups = tokio::task::JoinSet::new();
        // Every event twice, and each id also under another tenant (never recorded there).
        for n in 0..100 {
            for tenant_id in [tenant, tenant, other] {
                let reader = reader.clone();
                lookups.spawn(async move {
                    let event_id = format!("ev-{n}");
                    let entry = reader.get(tenant_id, &event_id).await.expect("answer");
                    (n, tenant_id, entry)
                });
            }
        }
        let mut answered = 0;
        while let Some(joined) = lookups.join_next().await {
            let (n, tenant_id, entry) = joined.expect("lookup task");
            let expected = tenant_id == tenant && n % 2 == 0;
            assert_eq!(entry.is_some(), expected, "ev-{n} of {tenant_id}");
            if let Some(entry) = entry {
                assert_eq!(
                    (entry.tenant_id, entry.event_id),
                    (tenant, format!("ev-{n}"))
                );
            }
            answered += 1;
        }
        assert_eq!(answered, 300);
    }
}
