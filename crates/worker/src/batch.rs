//! Per-tenant batching of uploads.
//!
//! Events ready for their upload are grouped by tenant (and its settings version) and kind; a
//! group goes to CoMagic as one `upload.offline_messages` / `upload.chats` call when it holds
//! `batch_size` events or `batch_linger` after its first event joined.
//!
//! CoMagic answers a batch as a whole, so a refused batch is taken apart:
//! * `duplicate_entity` naming one of our `ext_id`s: that event is already in CoMagic (delivered);
//!   the rest is sent again.
//! * an error about one item (`EventPermanent`, `SessionRejected`, or a tenant-class refusal
//!   naming a field, such as an inactive campaign): the item named by `data.params.index` is
//!   taken out (dead-lettered, or sent again with the tenant's default entity for a refused
//!   session or a time before its session) and the rest is sent again. CoMagic's error pages
//!   document only `data.field`, so without an index the batch is halved until the bad item is
//!   alone; the good halves go through.
//! * a refused time (`date_time`, `start_date_time`, a message's) re-reads the account's time
//!   zone first: when it changed, the event is mapped again with it.
//! * anything else (transport, 5xx, limits, credentials) is about the call, not an item: every
//!   event of the batch gets its own decision (delay tier with its own attempt count, hold, or
//!   dead letter).
//!
//! After a successful upload each event continues on its own: ledger, tags, completion, ack.

use crate::deliver::{held, Attempt, BatchKey, Deliverer, Pending, StepError};
use crate::finish::record_upload;
use crate::outcome::Disposition;
use bridge_store::UploadRecord;
use comagic_client::{ComagicError, ErrorClass};
use leadback_model::PlannedRecord;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument;

/// Events of one key waiting for their batch to fill.
struct Group {
    due: Instant,
    items: Vec<Pending>,
}

/// Gathers ready events into batches until every sender is gone, then flushes what is left
/// and waits for the batches in flight.
pub(crate) async fn run(
    deliverer: Arc<Deliverer>,
    mut ready: UnboundedReceiver<Pending>,
    batch_size: usize,
    linger: Duration,
) {
    let mut groups: HashMap<BatchKey, Group> = HashMap::new();
    let mut running: JoinSet<()> = JoinSet::new();
    loop {
        let due = groups.values().map(|g| g.due).min();
        tokio::select! {
            received = ready.recv() => match received {
                Some(pending) => {
                    let key = pending.batch_key();
                    let group = groups.entry(key).or_insert_with(|| Group {
                        due: Instant::now() + linger,
                        items: Vec::with_capacity(batch_size),
                    });
                    group.items.push(pending);
                    if group.items.len() >= batch_size || linger.is_zero() {
                        if let Some(group) = groups.remove(&key) {
                            running.spawn(deliverer.clone().deliver_batch(group.items));
                        }
                    }
                }
                None => break,
            },
            _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                let now = Instant::now();
                let expired: Vec<BatchKey> = groups
                    .iter()
                    .filter(|(_, g)| g.due <= now)
                    .map(|(key, _)| *key)
                    .collect();
                for key in expired {
                    if let Some(group) = groups.remove(&key) {
                        running.spawn(deliverer.clone().deliver_batch(group.items));
                    }
                }
            }
            Some(_) = running.join_next(), if !running.is_empty() => {}
        }
    }
    for (_, group) in groups.drain() {
        running.spawn(deliverer.clone().deliver_batch(group.items));
    }
    while running.join_next().await.is_some() {}
}

impl Deliverer {
    /// Uploads one batch (all of one tenant and kind) and sees every event of it settled.
    pub(crate) async fn deliver_batch(self: Arc<Self>, items: Vec<Pending>) {
        let Some(first) = items.first() else {
            return;
        };
        let span = tracing::info_span!(
            "batch",
            tenant_id = %first.envelope.tenant_id,
            kind = first.kind.as_str(),
            size = items.len(),
        );
        crate::trace::join_batch(&span, &items);
        self.deliver_batch_inner(items).instrument(span).await
    }

    async fn deliver_batch_inner(self: Arc<Self>, items: Vec<Pending>) {
        // Two deliveries of one event (a redelivery racing its first copy, or the same body
        // posted twice) must not both upload and tag: the later copy waits for this batch and
        // then finds the ledger complete.
        let mut seen = HashSet::new();
        let mut later = Vec::new();
        let mut unique = Vec::with_capacity(items.len());
        for pending in items {
            if seen.insert(pending.plan.ext_id().to_owned()) {
                unique.push(pending);
            } else {
                later.push(pending);
            }
        }
        let mut work = vec![unique];
        let mut finishing: JoinSet<Option<Pending>> = JoinSet::new();
        loop {
            while let Some(batch) = work.pop() {
                self.upload_step(batch, &mut work, &mut finishing).await;
            }
            while let Some(done) = finishing.join_next().await {
                if let Ok(Some(again)) = done {
                    work.push(vec![again]);
                }
            }
            if work.is_empty() {
                if later.is_empty() {
                    break;
                }
                for pending in later.drain(..) {
                    if let Some(again) = self.begin(pending.delivery, pending.refreshed).await {
                        work.push(vec![again]);
                    }
                }
            }
        }
    }

    /// One `upload.*` call for `batch`; what follows is queued on `work` (sub-batches to send
    /// again) or `finishing` (events continuing on their own).
    async fn upload_step(
        self: &Arc<Self>,
        mut batch: Vec<Pending>,
        work: &mut Vec<Vec<Pending>>,
        finishing: &mut JoinSet<Option<Pending>>,
    ) {
        let Some(first) = batch.first() else {
            return;
        };
        let tenant_id = first.envelope.tenant_id;
        // The tenant's budget may have run out since these events were read: wait for the
        // reset (no attempt used) rather than making a call that cannot succeed.
        if let Some(wait) = self.held_until(tenant_id) {
            for p in batch {
                let attempt = held(Some(p.kind), wait);
                let span = crate::deliver::delivery_span(&p.envelope, p.envelope.attempt);
                self.conclude(p.delivery, p.envelope, attempt, p.started)
                    .instrument(span)
                    .await;
            }
            return;
        }
        match self.upload(&batch).await {
            Ok(ids) => {
                if ids.len() != batch.len() {
                    tracing::warn!(
                        sent = batch.len(),
                        ids = ids.len(),
                        "CoMagic returned a different number of ids than records sent"
                    );
                }
                self.record_uploaded(batch, &ids, finishing).await;
            }
            Err(e) => match e.class() {
                ErrorClass::AlreadyDelivered => {
                    let named = e
                        .duplicate_ext_id()
                        .and_then(|ext| batch.iter().position(|p| p.plan.ext_id() == ext));
                    match named.or((batch.len() == 1).then_some(0)) {
                        Some(i) => {
                            let delivered = batch.remove(i);
                            finishing.spawn(self.clone().finish(delivered, Some(None), true));
                            if !batch.is_empty() {
                                work.push(batch);
                            }
                        }
                        None => bisect(batch, work),
                    }
                }
                _ if about_one_item(&e) => {
                    let index = if batch.len() == 1 {
                        Some(0)
                    } else {
                        item_index(&e).filter(|i| *i < batch.len())
                    };
                    match index {
                        Some(i) => {
                            let refused = batch.remove(i);
                            if let Some(fixed) = self.item_refused(refused, &e, work).await {
                                batch.push(fixed);
                            }
                            if !batch.is_empty() {
                                work.push(batch);
                            }
                        }
                        None => bisect(batch, work),
                    }
                }
                // About the call, not an item: each event gets its own decision.
                ErrorClass::Retryable { .. }
                | ErrorClass::RateLimited { .. }
                | ErrorClass::TenantPermanent
                | ErrorClass::EventPermanent
                | ErrorClass::SessionRejected => {
                    let decided: Vec<(Pending, Attempt)> = batch
                        .into_iter()
                        .map(|p| {
                            let attempt = self.classify_comagic(&p.envelope, Some(p.kind), &e);
                            (p, attempt)
                        })
                        .collect();
                    self.settle_all(decided, work).await;
                }
            },
        }
    }

    /// After a successful upload: one ledger transaction for the whole batch, then each event
    /// goes on alone: acked at once when nothing is left (no tags), else tags and completion.
    async fn record_uploaded(
        self: &Arc<Self>,
        mut batch: Vec<Pending>,
        ids: &[i64],
        finishing: &mut JoinSet<Option<Pending>>,
    ) {
        let delivered_at = chrono::Utc::now();
        let records: Vec<UploadRecord> = batch
            .iter_mut()
            .enumerate()
            .map(|(i, p)| {
                let complete = p.tags_missing().is_empty();
                record_upload(
                    &mut p.envelope,
                    &p.plan,
                    ids.get(i).copied(),
                    delivered_at,
                    complete,
                )
            })
            .collect();
        if let Err(e) = self.store.ledger_record_uploads(&records).await {
            // Nothing recorded: each event is retried later; its upload then meets CoMagic's
            // `duplicate_entity` for its ext_id and continues from there.
            let error = crate::error::LedgerError::from(e);
            for p in batch {
                let attempt =
                    self.classify(&p.envelope, Some(p.kind), StepError::Ledger(error.clone()));
                finishing.spawn(self.clone().conclude_owned(p, attempt));
            }
            return;
        }
        for (p, record) in batch.into_iter().zip(records) {
            if record.complete {
                // Concurrently, so the queue can settle them together (one commit for the
                // embedded queue's acks).
                let attempt = Attempt {
                    kind: Some(p.kind),
                    disposition: Disposition::Delivered { duplicate: false },
                };
                finishing.spawn(self.clone().conclude_owned(p, attempt));
            } else {
                finishing.spawn(self.clone().finish(p, None, false));
            }
        }
    }

    /// One item CoMagic refused. A refused time first re-reads the account's zone (a changed
    /// zone maps the event again). A refused visitor session, or a refusal of an item that
    /// carries a session about its time (before the session) or its attribution, gets one
    /// more try with the tenant's default entity (returned, to go with the rest); anything
    /// else is dead.
    async fn item_refused(
        &self,
        mut pending: Pending,
        e: &ComagicError,
        work: &mut Vec<Vec<Pending>>,
    ) -> Option<Pending> {
        let time_refused = about_time(e);
        if time_refused && !pending.zone_reread {
            pending.zone_reread = true;
            if self.reread_account_zone(&pending.handle).await {
                tracing::info!(event_id = %pending.envelope.event_id,
                    "CoMagic refused a time and the account's zone changed; mapping again");
                if let Some(again) = self.begin(pending.delivery, pending.refreshed).await {
                    work.push(vec![again]);
                }
                return None;
            }
        }
        let carries_session = pending.plan.record().visitor_session_id().is_some();
        let about_session = matches!(e.class(), ErrorClass::SessionRejected)
            || (carries_session
                && (time_refused || e.mnemonic() == Some("invalid_parameters_combination")));
        if about_session && !pending.session_fallback_used {
            tracing::warn!(error = %e, event_id = %pending.envelope.event_id,
                "CoMagic refused the record with its visitor session; using the default entity");
            pending
                .plan
                .with_default_entity(&pending.handle.tenant.settings);
            pending.session_fallback_used = true;
            return Some(pending);
        }
        let attempt = self.classify_comagic(&pending.envelope, Some(pending.kind), e);
        self.settle_all(vec![(pending, attempt)], work).await;
        None
    }

    /// Settles events of one tenant. A permanent failure first checks whether the tenant's
    /// settings changed since cached (once for all of them): if so they start over with them.
    async fn settle_all(&self, decided: Vec<(Pending, Attempt)>, work: &mut Vec<Vec<Pending>>) {
        let Some((first, _)) = decided.first() else {
            return;
        };
        let tenant_id = first.envelope.tenant_id;
        let may_cure = decided
            .iter()
            .any(|(p, a)| a.settings_may_cure() && !p.refreshed);
        let changed = may_cure && self.tenants.refresh_if_changed(tenant_id).await;
        for (pending, attempt) in decided {
            if changed && attempt.settings_may_cure() && !pending.refreshed {
                tracing::info!(event_id = %pending.envelope.event_id, "tenant settings changed since cached; trying again with them");
                if let Some(again) = self.begin(pending.delivery, true).await {
                    work.push(vec![again]);
                }
                continue;
            }
            // Each event's settlement logs under its own event id, not just the batch's tenant.
            let span = crate::deliver::delivery_span(&pending.envelope, pending.envelope.attempt);
            self.conclude(pending.delivery, pending.envelope, attempt, pending.started)
                .instrument(span)
                .await;
        }
    }

    /// The `upload.*` call of a batch; CoMagic's ids in the order sent.
    async fn upload(&self, batch: &[Pending]) -> Result<Vec<i64>, ComagicError> {
        let Some(first) = batch.first() else {
            return Ok(Vec::new());
        };
        let tenant_id = first.envelope.tenant_id;
        let client = &first.handle.client;
        match first.plan.record() {
            PlannedRecord::OfflineMessage(_) => {
                let items = records_of(batch, |record| match record {
                    PlannedRecord::OfflineMessage(item) => Some(item),
                    PlannedRecord::Chat(_) => None,
                });
                self.call(
                    "upload.offline_messages",
                    tenant_id,
                    client.upload_offline_messages(&items),
                )
                .await
            }
            PlannedRecord::Chat(_) => {
                let items = records_of(batch, |record| match record {
                    PlannedRecord::Chat(item) => Some(item),
                    PlannedRecord::OfflineMessage(_) => None,
                });
                self.call("upload.chats", tenant_id, client.upload_chats(&items))
                    .await
            }
        }
    }
}

/// Whether the refusal is about one item of the batch: its data or session, or a choice of the
/// tenant that names a field of it (others may not share the choice, e.g. records with a
/// session); credentials, components and the like are about the call.
fn about_one_item(e: &ComagicError) -> bool {
    match e.class() {
        ErrorClass::EventPermanent | ErrorClass::SessionRejected => true,
        ErrorClass::TenantPermanent => e.field().is_some(),
        _ => false,
    }
}

/// Whether CoMagic refused a time of the item: its `date_time`, a chat's `start_date_time` or
/// a message's `date_time` (before the session, in the future, not after the start…).
fn about_time(e: &ComagicError) -> bool {
    e.mnemonic() == Some("invalid_date_time")
        || e.field().is_some_and(|field| {
            let last = field.rsplit(['.', '[', ']']).find(|s| !s.is_empty());
            matches!(last, Some("date_time" | "start_date_time"))
        })
}

/// Splits a batch whose bad item is unknown into halves, each sent again.
fn bisect(mut batch: Vec<Pending>, work: &mut Vec<Vec<Pending>>) {
    let second = batch.split_off(batch.len() / 2);
    work.push(second);
    work.push(batch);
}

/// The position of the refused item, when CoMagic (or the emulator) names it in
/// `data.params.index`.
fn item_index(e: &ComagicError) -> Option<usize> {
    match e {
        ComagicError::Rpc(rpc) => rpc
            .params
            .as_ref()?
            .get("index")?
            .as_u64()
            .and_then(|i| usize::try_from(i).ok()),
        _ => None,
    }
}

/// The batch's records of one kind. One batch holds one kind (it is part of the batch's key),
/// so nothing is skipped in practice.
fn records_of<T: Clone>(batch: &[Pending], pick: impl Fn(&PlannedRecord) -> Option<&T>) -> Vec<T> {
    batch
        .iter()
        .filter_map(|p| pick(p.plan.record()).cloned())
        .collect()
}
