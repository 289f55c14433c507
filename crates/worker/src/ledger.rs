//! The ledger calls of the deliveries in flight, gathered into few store calls.
//!
//! Every delivery checks the ledger before its upload (was it already delivered by an earlier
//! copy?) and writes it after: each tag set, then completion. One store call per delivery and
//! step was one round trip per event — for SQLite a wake-up of a connection's thread, and for a
//! write its own commit (an fsync under the file's one write lock), which held the embedded mode
//! with tags at about 600 events/s. Here calls queue while one store call is running and the next
//! call takes them all, as group commit does for the queue: one call alone is answered at once,
//! a crowd shares a call.

use crate::error::LedgerError;
use bridge_store::{LedgerEntry, LedgerProgress, Store};
use futures::future::BoxFuture;
use leadback_model::EventId;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Most requests in one store call; more wait for the next.
const MAX_PER_CALL: usize = 500;

type Answer = Result<Option<LedgerEntry>, LedgerError>;

/// Answers one gathered batch of requests, one answer per request in their order.
type Handler<Q, A> = Arc<dyn Fn(Vec<Q>) -> BoxFuture<'static, Vec<A>> + Send + Sync>;

/// Requests that wait while a call runs and go together into the next. The gathering task
/// starts with the first request and ends when this is dropped.
struct Gathering<Q, A> {
    handler: Handler<Q, A>,
    requests: OnceLock<mpsc::UnboundedSender<(Q, oneshot::Sender<A>)>>,
}

impl<Q: Send + 'static, A: Send + 'static> Gathering<Q, A> {
    fn new(handler: Handler<Q, A>) -> Self {
        Self {
            handler,
            requests: OnceLock::new(),
        }
    }

    /// The answer to `request`; `None` when the gathering task is gone.
    async fn ask(&self, request: Q) -> Option<A> {
        let requests = self.requests.get_or_init(|| {
            let (send, receive) = mpsc::unbounded_channel();
            tokio::spawn(gather(self.handler.clone(), receive));
            send
        });
        let (answer, answered) = oneshot::channel();
        requests.send((request, answer)).ok()?;
        answered.await.ok()
    }
}

/// Takes the requests waiting, answers them with one handler call, again.
async fn gather<Q, A>(
    handler: Handler<Q, A>,
    mut requests: mpsc::UnboundedReceiver<(Q, oneshot::Sender<A>)>,
) {
    let mut waiting = Vec::new();
    while requests.recv_many(&mut waiting, MAX_PER_CALL).await > 0 {
        let (asked, answers): (Vec<Q>, Vec<oneshot::Sender<A>>) = waiting.drain(..).unzip();
        for (answer, result) in answers.into_iter().zip(handler(asked).await) {
            // The delivery may have been dropped meanwhile (shutdown).
            let _ = answer.send(result);
        }
    }
}

/// Ledger lookups before the upload: one [`Store::ledger_get_many`] per gathered batch.
pub(crate) struct LedgerReader {
    lookups: Gathering<(Uuid, EventId), Answer>,
}

impl LedgerReader {
    pub(crate) fn new(store: Arc<dyn Store>) -> Self {
        let handler: Handler<(Uuid, EventId), Answer> = Arc::new(move |keys| {
            let store = store.clone();
            Box::pin(async move { look_up(store.as_ref(), keys).await })
        });
        Self {
            lookups: Gathering::new(handler),
        }
    }

    /// The event's ledger entry, or why it could not be read.
    pub(crate) async fn get(&self, tenant_id: Uuid, event_id: &EventId) -> Answer {
        self.lookups
            .ask((tenant_id, event_id.clone()))
            .await
            .unwrap_or_else(|| Err(LedgerError::Stopped("reader")))
    }
}

async fn look_up(store: &dyn Store, keys: Vec<(Uuid, EventId)>) -> Vec<Answer> {
    match store.ledger_get_many(&keys).await {
        Ok(entries) => {
            let found: HashMap<(Uuid, EventId), LedgerEntry> = entries
                .into_iter()
                .map(|e| ((e.tenant_id, e.event_id.clone()), e))
                .collect();
            // Cloned: the same event may be asked for twice in one call.
            keys.iter().map(|key| Ok(found.get(key).cloned())).collect()
        }
        Err(error) => {
            let error = LedgerError::from(error);
            keys.iter().map(|_| Err(error.clone())).collect()
        }
    }
}

/// Ledger writes after the upload (a tag set, completion): one
/// [`Store::ledger_progress_many`] per gathered batch.
pub(crate) struct LedgerWriter {
    steps: Gathering<LedgerProgress, Result<(), LedgerError>>,
}

impl LedgerWriter {
    pub(crate) fn new(store: Arc<dyn Store>) -> Self {
        let handler: Handler<LedgerProgress, Result<(), LedgerError>> = Arc::new(move |steps| {
            let store = store.clone();
            Box::pin(async move { write_progress(store.as_ref(), steps).await })
        });
        Self {
            steps: Gathering::new(handler),
        }
    }

    /// Records `add_tags` as set on the event's record and, when `complete`, every step as
    /// done; returns once that is committed.
    pub(crate) async fn progress(
        &self,
        tenant_id: Uuid,
        event_id: &EventId,
        add_tags: &[i64],
        complete: bool,
    ) -> Result<(), LedgerError> {
        let step = LedgerProgress::new(tenant_id, event_id, add_tags, complete);
        self.steps
            .ask(step)
            .await
            .unwrap_or_else(|| Err(LedgerError::Stopped("writer")))
    }
}

/// Merges the steps of one event (the store wants one per event), writes them, and answers
/// each step from its event's outcome.
async fn write_progress(
    store: &dyn Store,
    steps: Vec<LedgerProgress>,
) -> Vec<Result<(), LedgerError>> {
    let mut merged: Vec<LedgerProgress> = Vec::with_capacity(steps.len());
    let mut slot: HashMap<(Uuid, &EventId), usize> = HashMap::with_capacity(steps.len());
    let mut slots = Vec::with_capacity(steps.len());
    for step in &steps {
        let i = *slot
            .entry((step.tenant_id, &step.event_id))
            .or_insert_with(|| {
                merged.push(LedgerProgress {
                    add_tags: Vec::new(),
                    complete: false,
                    ..step.clone()
                });
                merged.len() - 1
            });
        merged[i].add_tags.extend_from_slice(&step.add_tags);
        merged[i].complete |= step.complete;
        slots.push(i);
    }
    match store.ledger_progress_many(&merged).await {
        Ok(found) => steps
            .iter()
            .zip(slots)
            .map(|(step, i)| match found.get(i) {
                Some(true) => Ok(()),
                _ => Err(LedgerError::Missing {
                    tenant_id: step.tenant_id,
                    event_id: step.event_id.clone(),
                }),
            })
            .collect(),
        Err(error) => {
            let error = LedgerError::from(error);
            steps.iter().map(|_| Err(error.clone())).collect()
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
            event_id: event_id.parse().unwrap(),
            kind: leadback_model::EventKind::Callback,
            ext_id: format!("leadback:{event_id}"),
            comagic_id: Some(7),
            attempts: 1,
            received_at: chrono::Utc::now(),
            delivered_at: chrono::Utc::now(),
            complete: true,
        }
    }

    async fn memory_store() -> Arc<dyn Store> {
        let store = bridge_store::open("sqlite::memory:", SecretKey::generate())
            .await
            .expect("in-memory store");
        store.migrate().await.expect("migrations");
        store
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_lookups_each_get_their_own_entry() {
        let store = memory_store().await;
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
                    let event_id: EventId = format!("ev-{n}").parse().unwrap();
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
                    (tenant, format!("ev-{n}").parse().unwrap())
                );
            }
            answered += 1;
        }
        assert_eq!(answered, 300);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_progress_steps_are_written_together_and_each_answered() {
        let store = memory_store().await;
        let tenant = Uuid::new_v4();
        let recorded: Vec<UploadRecord> = (0..100)
            .map(|n| UploadRecord {
                complete: false,
                ..upload(tenant, &format!("ev-{n}"))
            })
            .collect();
        store
            .ledger_record_uploads(&recorded)
            .await
            .expect("recorded");

        let writer = Arc::new(LedgerWriter::new(store.clone()));
        let mut steps = tokio::task::JoinSet::new();
        // Per event two tags, each its own step (the second completes), plus events with no
        // entry; all at once, so steps of one event meet in one store call.
        for n in 0..120 {
            for (tag, complete) in [(1, false), (2, true)] {
                let writer = writer.clone();
                steps.spawn(async move {
                    let event_id: EventId = format!("ev-{n}").parse().unwrap();
                    let result = writer.progress(tenant, &event_id, &[tag], complete).await;
                    (n, result)
                });
            }
        }
        while let Some(joined) = steps.join_next().await {
            let (n, result) = joined.expect("step task");
            if n < 100 {
                assert!(result.is_ok(), "ev-{n}: {result:?}");
            } else {
                match result.expect_err("no ledger entry") {
                    LedgerError::Missing {
                        tenant_id,
                        event_id,
                    } => {
                        assert_eq!(
                            (tenant_id, event_id),
                            (tenant, format!("ev-{n}").parse().unwrap())
                        );
                    }
                    other => panic!("ev-{n}: {other}"),
                }
            }
        }
        for n in 0..100 {
            let entry = store
                .ledger_get(tenant, &format!("ev-{n}"))
                .await
                .expect("read")
                .expect("entry");
            assert_eq!((entry.tagged, entry.complete), (vec![1, 2], true), "ev-{n}");
        }
    }
}
