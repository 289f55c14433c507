//! One event's path around the batched upload: ledger check → settings → parse → map →
//! session ([`Deliverer::begin`]), then, after the upload (`batch.rs`), ledger → tags → ledger
//! complete → ack ([`Deliverer::finish`]); or a delay tier, or the dead letters.

use crate::ledger::{LedgerReader, LedgerWriter};
use crate::outcome::{Disposition, FailureClass};
use crate::tenants::{TenantDirectory, TenantHandle};
use crate::WorkerConfig;
use bridge_metrics::Metrics;
use bridge_queue::{Delivery, Envelope, LastError, RetryTiers};
use bridge_store::{NewDeadLetter, Store, UploadRecord};
use chrono::{DateTime, Utc};
use comagic_client::{
    reset_wait, Called, ClientOptions, ComagicError, ErrorClass, DEFAULT_RATE_LIMIT_WAIT, MAX_WAIT,
};
use leadback_model::comagic::Limits;
use leadback_model::{map, ComagicPlan, FieldMap, LeadbackEvent, RawPayload, TenantSettings};
use rand::Rng;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::Instrument;
use uuid::Uuid;

/// Processes deliveries; shared by every in-flight task and the batcher.
pub struct Deliverer {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) metrics: Metrics,
    config: WorkerConfig,
    tiers: RetryTiers,
    pub(crate) tenants: TenantDirectory,
    /// Ledger lookups before the upload, gathered into one store call.
    ledger: LedgerReader,
    /// Ledger writes after the upload (tags, completion), gathered into one store call.
    ledger_progress: LedgerWriter,
    /// Tenants whose CoMagic budget is spent, until when: their events wait without a call,
    /// other tenants flow on. Set from `metadata.limits` of every answer and from
    /// `limit_exceeded`. A plain mutex: never held across an await.
    holds: Mutex<HashMap<Uuid, Instant>>,
    /// Deliveries, errors and limits for tenant health, written once a second (health.rs).
    pub(crate) activity: bridge_store::ActivityRecorder,
}

/// What an attempt learned, for metrics.
pub(crate) struct Attempt {
    pub(crate) kind: &'static str,
    pub(crate) disposition: Disposition,
}

impl Attempt {
    /// A permanent failure that fresh tenant settings might cure (not `exhausted`).
    pub(crate) fn settings_may_cure(&self) -> bool {
        matches!(&self.disposition, Disposition::Dead { class, .. } if *class != FailureClass::Exhausted)
    }
}

/// An event whose upload is next: everything before it is done.
pub(crate) struct Pending {
    pub(crate) delivery: Box<dyn Delivery>,
    /// The attempt's envelope (attempt counted, progress so far).
    pub(crate) envelope: Envelope,
    pub(crate) handle: TenantHandle,
    pub(crate) plan: ComagicPlan,
    pub(crate) kind: &'static str,
    pub(crate) started: Instant,
    /// Tenant settings were already re-read once for this attempt.
    pub(crate) refreshed: bool,
    /// CoMagic refused the visitor session once; the plan now uses the default entity.
    pub(crate) session_fallback_used: bool,
    /// CoMagic refused a time once and the account's zone was read again for it.
    pub(crate) zone_reread: bool,
}

/// Events of one batch share the tenant (and its settings version) and the kind.
pub(crate) type BatchKey = (Uuid, &'static str, DateTime<Utc>);

impl Pending {
    /// Tags of the plan not yet set on the record.
    pub(crate) fn tags_missing(&self) -> Vec<i64> {
        missing_tags(&self.plan, &self.envelope.progress.tagged)
    }

    pub(crate) fn batch_key(&self) -> BatchKey {
        (
            self.envelope.tenant_id,
            self.kind,
            self.handle.tenant.updated_at,
        )
    }
}

/// Where [`Deliverer::prepare`] left an event.
enum Prepared {
    /// Decided without an upload (already delivered, dead, held…).
    Done(Attempt),
    /// Uploaded by an earlier attempt: only tags and completion are left.
    Resume {
        handle: TenantHandle,
        plan: ComagicPlan,
        tagged: Vec<i64>,
    },
    /// Ready for the (batched) upload.
    Upload {
        handle: TenantHandle,
        plan: ComagicPlan,
    },
}

pub(crate) enum StepError {
    Comagic(ComagicError),
    Store(String),
    /// The tenant's budget is spent (seen from `metadata.limits`): wait this long.
    Held(Duration),
}

impl Deliverer {
    pub fn new(
        store: Arc<dyn Store>,
        metrics: Metrics,
        config: WorkerConfig,
        tiers: RetryTiers,
    ) -> Self {
        let http = crate::http::comagic_http(config.address_policy);
        let options = ClientOptions {
            timeout: config.comagic_timeout,
            ..ClientOptions::default()
        };
        let tenants = TenantDirectory::new(store.clone(), http, options, config.tenant_cache_ttl);
        Self {
            ledger: LedgerReader::new(store.clone()),
            ledger_progress: LedgerWriter::new(store.clone()),
            activity: bridge_store::ActivityRecorder::new(store.clone()),
            store,
            metrics,
            config,
            tiers,
            tenants,
            holds: Mutex::new(HashMap::new()),
        }
    }

    pub fn tenants(&self) -> &TenantDirectory {
        &self.tenants
    }

    /// Takes a delivery as far as its upload. `Some` when the upload is next (the caller hands
    /// it to the batcher); `None` when it was settled here (acked, delayed or dead-lettered).
    /// Errors are logged, never lost: an unsettled delivery comes back from the queue.
    pub(crate) async fn begin(
        &self,
        delivery: Box<dyn Delivery>,
        mut refreshed: bool,
    ) -> Option<Pending> {
        let original = delivery.envelope();
        let span = delivery_span(original, original.attempt + 1);
        async move {
            let started = Instant::now();
            loop {
                let mut envelope = delivery.envelope().clone();
                let attempt = match self.prepare(&mut envelope).await {
                    Prepared::Upload { handle, plan } => {
                        let kind = plan.kind().as_str();
                        return Some(Pending {
                            delivery,
                            envelope,
                            handle,
                            plan,
                            kind,
                            started,
                            refreshed,
                            session_fallback_used: false,
                            zone_reread: false,
                        });
                    }
                    Prepared::Done(attempt) => attempt,
                    Prepared::Resume {
                        handle,
                        plan,
                        tagged,
                    } => {
                        tracing::info!(
                            "record already uploaded by an earlier attempt; resuming at the tags"
                        );
                        let kind = plan.kind().as_str();
                        match self
                            .complete(&mut envelope, &handle, &plan, None, tagged)
                            .await
                        {
                            Ok(()) => Attempt {
                                kind,
                                disposition: Disposition::Delivered { duplicate: false },
                            },
                            Err(step) => self.classify(&envelope, kind, step),
                        }
                    }
                };
                // A permanent failure may come from settings cached just before an operator
                // fixed them (the usual "fix settings, replay" flow): check once with fresh
                // settings.
                if attempt.settings_may_cure()
                    && !refreshed
                    && self.tenants.refresh_if_changed(envelope.tenant_id).await
                {
                    tracing::info!("tenant settings changed since cached; trying again with them");
                    refreshed = true;
                    continue;
                }
                self.conclude(delivery, envelope, attempt, started).await;
                return None;
            }
        }
        .instrument(span)
        .await
    }

    /// Everything before the upload: ledger, tenant, plan, hold, session.
    async fn prepare(&self, envelope: &mut Envelope) -> Prepared {
        let now = Utc::now();
        envelope.attempt += 1;
        envelope.first_attempt_at.get_or_insert(now);
        let kind = "unknown";

        let ledger = match self
            .ledger
            .get(envelope.tenant_id, &envelope.event_id)
            .await
        {
            Ok(entry) => entry,
            Err(e) => {
                return Prepared::Done(self.retry(
                    envelope,
                    kind,
                    None,
                    format!("ledger unavailable: {e}"),
                ))
            }
        };
        if let Some(entry) = &ledger {
            if entry.complete {
                tracing::info!("already delivered (ledger); acking without a call");
                return Prepared::Done(Attempt {
                    kind: kind_label(&entry.kind),
                    disposition: Disposition::Delivered { duplicate: true },
                });
            }
        }

        let handle = match self.tenants.get(envelope.tenant_id).await {
            Ok(Some(handle)) => handle,
            Ok(None) => {
                return Prepared::Done(dead(
                    kind,
                    FailureClass::TenantPermanent,
                    None,
                    "the tenant no longer exists",
                ))
            }
            Err(e @ crate::tenants::TenantError::Credentials(_)) => {
                return Prepared::Done(dead(
                    kind,
                    FailureClass::TenantPermanent,
                    None,
                    &e.to_string(),
                ))
            }
            Err(e) => return Prepared::Done(self.retry(envelope, kind, None, e.to_string())),
        };
        if !handle.tenant.active {
            return Prepared::Done(dead(
                kind,
                FailureClass::TenantPermanent,
                None,
                "the tenant is deactivated; replay after activating it",
            ));
        }

        // Record times are written in the account's own zone, as its get.account reports it.
        let settings = TenantSettings {
            timezone: self.tenants.account_zone(&handle).await,
            ..handle.tenant.settings.clone()
        };
        let mut plan = match plan_for(envelope, &settings, &handle.field_map, now) {
            Ok(plan) => plan,
            Err((class, message)) => return Prepared::Done(dead(kind, class, None, &message)),
        };
        let kind = plan.kind().as_str();

        if let Some(wait) = self.held_until(envelope.tenant_id) {
            return Prepared::Done(held(kind, wait));
        }

        if let Some(entry) = ledger {
            return Prepared::Resume {
                handle,
                plan,
                tagged: entry.tagged,
            };
        }

        // The session (only when the plan asks for one and no earlier attempt created it). One
        // call per event: sessions are rare (only `upload_sessions` tenants without a session id).
        if let Some(session) = plan.session.clone() {
            match envelope.progress.session_id {
                Some(id) => plan.with_session_id(id),
                None => match self
                    .call(
                        "upload.sessions",
                        envelope.tenant_id,
                        handle.client.upload_sessions(&[session]),
                    )
                    .await
                {
                    Ok(sessions) => match sessions.first() {
                        Some(s) => {
                            envelope.progress.session_id = Some(s.session_id);
                            plan.with_session_id(s.session_id);
                        }
                        None => plan.with_default_entity(&handle.tenant.settings),
                    },
                    // Sessions are an enrichment: without one the record still goes to the
                    // tenant's default entity rather than failing.
                    Err(e)
                        if !e.class().is_retryable()
                            && !matches!(e.class(), ErrorClass::RateLimited { .. }) =>
                    {
                        tracing::warn!(error = %e, "upload.sessions refused; using the default entity");
                        plan.with_default_entity(&handle.tenant.settings);
                    }
                    Err(e) => {
                        return Prepared::Done(self.classify(envelope, kind, StepError::Comagic(e)))
                    }
                },
            }
        }
        Prepared::Upload { handle, plan }
    }

    /// After the upload: ledger (when `upload` carries the upload's outcome; `None` when the
    /// batch already recorded it), tags, completion, ack. Returns the event when fresh settings
    /// should get one more try at it and that try needs an upload again (rare).
    pub(crate) async fn finish(
        self: Arc<Self>,
        pending: Pending,
        upload: Option<Option<i64>>,
        duplicate: bool,
    ) -> Option<Pending> {
        let Pending {
            delivery,
            mut envelope,
            handle,
            plan,
            kind,
            started,
            refreshed,
            ..
        } = pending;
        let span = delivery_span(&envelope, envelope.attempt);
        async move {
            if duplicate {
                tracing::info!("CoMagic already has this ext_id; counting it as delivered");
            }
            let attempt = match self
                .complete(&mut envelope, &handle, &plan, upload, Vec::new())
                .await
            {
                Ok(()) => Attempt {
                    kind,
                    disposition: Disposition::Delivered { duplicate },
                },
                Err(step) => self.classify(&envelope, kind, step),
            };
            self.dead_or_retry_fresh(delivery, envelope, attempt, started, refreshed)
                .await
        }
        .instrument(span)
        .await
    }

    /// Settles `attempt`, except a permanent failure when the tenant's settings changed since
    /// they were cached: then the event starts over with them (once).
    pub(crate) async fn dead_or_retry_fresh(
        &self,
        delivery: Box<dyn Delivery>,
        envelope: Envelope,
        attempt: Attempt,
        started: Instant,
        refreshed: bool,
    ) -> Option<Pending> {
        if attempt.settings_may_cure()
            && !refreshed
            && self.tenants.refresh_if_changed(envelope.tenant_id).await
        {
            tracing::info!("tenant settings changed since cached; trying again with them");
            return self.begin(delivery, true).await;
        }
        self.conclude(delivery, envelope, attempt, started).await;
        None
    }

    /// Ledger (when `upload` carries the upload's outcome), the tags still missing, completion.
    async fn complete(
        &self,
        envelope: &mut Envelope,
        handle: &TenantHandle,
        plan: &ComagicPlan,
        upload: Option<Option<i64>>,
        mut tagged: Vec<i64>,
    ) -> Result<(), StepError> {
        let tenant_id = envelope.tenant_id;
        if let Some(comagic_id) = upload {
            let record = record_upload(envelope, plan, comagic_id, Utc::now(), false);
            self.store
                .ledger_record_upload(&record)
                .await
                .map_err(|e| StepError::Store(e.to_string()))?;
        }

        // Tags: only the ones not yet set.
        tagged.extend(envelope.progress.tagged.iter().copied());
        let missing = missing_tags(plan, &tagged);
        // One documented `set.tag_communications` call per tag, addressed by our ext_id; each
        // success is recorded at once so a retry sets only the tags still missing. The last
        // tag's record also completes the entry (one ledger write, not two).
        let params = plan.tag_params(&missing);
        let last = params.len().checked_sub(1);
        for (i, params) in params.into_iter().enumerate() {
            // The upload may have spent the tenant's budget: wait for the reset rather than
            // making a call that cannot succeed.
            if let Some(wait) = self.held_until(tenant_id) {
                return Err(StepError::Held(wait));
            }
            let tag_id = params.tag_id;
            self.call(
                "set.tag_communications",
                tenant_id,
                handle.client.set_tag_communications(&params),
            )
            .await
            .map_err(StepError::Comagic)?;
            envelope.progress.tagged.push(tag_id);
            self.ledger_progress
                .progress(tenant_id, &envelope.event_id, &[tag_id], Some(i) == last)
                .await
                .map_err(StepError::Store)?;
        }
        if last.is_none() {
            self.ledger_progress
                .progress(tenant_id, &envelope.event_id, &[], true)
                .await
                .map_err(StepError::Store)?;
        }
        Ok(())
    }

    /// Runs one CoMagic call with its metrics and the tenant's remaining limits.
    pub(crate) async fn call<T>(
        &self,
        method: &'static str,
        tenant_id: Uuid,
        call: impl std::future::Future<Output = Result<Called<T>, ComagicError>>,
    ) -> Result<T, ComagicError> {
        let started = Instant::now();
        let result = call.await;
        self.metrics
            .comagic_request_duration_seconds
            .with_label_values(&[method])
            .observe(started.elapsed().as_secs_f64());
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => outcome_label(e),
        };
        self.metrics
            .comagic_requests_total
            .with_label_values(&[method, outcome])
            .inc();
        match result {
            Ok(called) => {
                if let Some(limits) = &called.limits {
                    self.observe_limits(tenant_id, limits);
                    crate::health::note_limits(&self.activity, tenant_id, limits);
                }
                Ok(called.value)
            }
            Err(e) => {
                if let Some(limits) = e.limits() {
                    self.observe_limits(tenant_id, limits);
                    crate::health::note_limits(&self.activity, tenant_id, limits);
                }
                Err(e)
            }
        }
    }

    /// Gauges, and a hold on the tenant when a window's points are gone: the day's until its
    /// reset (waiting for the minute would not help), else the minute's.
    fn observe_limits(&self, tenant_id: Uuid, limits: &Limits) {
        let tenant = tenant_id.to_string();
        // Each count holds until its window resets; after that the gauge is dropped, not left
        // showing a spent budget that CoMagic has since refilled.
        let valid_for =
            |reset: Option<i64>| reset.map(|s| Duration::from_secs(s.max(0).unsigned_abs()));
        if let Some(v) = limits.minute_remaining {
            self.metrics
                .set_limit_remaining(&tenant, "minute", v, valid_for(limits.minute_reset));
        }
        if let Some(v) = limits.day_remaining {
            self.metrics
                .set_limit_remaining(&tenant, "day", v, valid_for(limits.day_reset));
        }
        let spent = |left: Option<i64>| left.is_some_and(|left| left <= 0);
        let reset = if spent(limits.day_remaining) {
            Some(limits.day_reset.or(limits.minute_reset))
        } else if spent(limits.minute_remaining) {
            Some(limits.minute_reset)
        } else {
            None
        };
        if let Some(reset) = reset {
            let wait = reset.map_or(DEFAULT_RATE_LIMIT_WAIT, reset_wait);
            tracing::info!(%tenant_id, ?wait, "tenant's CoMagic budget spent; holding its events");
            self.hold(tenant_id, wait);
        }
    }

    fn hold(&self, tenant_id: Uuid, wait: Duration) {
        // Waits are capped (MAX_WAIT), and checked all the same: an overflow would panic.
        let now = Instant::now();
        let until = now
            .checked_add(wait.min(MAX_WAIT))
            .unwrap_or(now + MAX_WAIT);
        let mut holds = self.holds.lock().unwrap_or_else(|e| e.into_inner());
        let entry = holds.entry(tenant_id).or_insert(until);
        *entry = (*entry).max(until);
    }

    /// How long the tenant is still held, if it is.
    pub(crate) fn held_until(&self, tenant_id: Uuid) -> Option<Duration> {
        let mut holds = self.holds.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        match holds.get(&tenant_id) {
            Some(until) if *until > now => Some(*until - now),
            Some(_) => {
                holds.remove(&tenant_id);
                None
            }
            None => None,
        }
    }

    /// The decision for one event after a failed step.
    pub(crate) fn classify(
        &self,
        envelope: &Envelope,
        kind: &'static str,
        step: StepError,
    ) -> Attempt {
        match step {
            StepError::Store(message) => self.retry(envelope, kind, None, message),
            StepError::Held(wait) => held(kind, wait),
            StepError::Comagic(e) => self.classify_comagic(envelope, kind, &e),
        }
    }

    pub(crate) fn classify_comagic(
        &self,
        envelope: &Envelope,
        kind: &'static str,
        e: &ComagicError,
    ) -> Attempt {
        let mnemonic = e.mnemonic().map(str::to_owned);
        let message = e.to_string();
        match e.class() {
            ErrorClass::RateLimited { retry_after } => {
                self.hold(envelope.tenant_id, retry_after);
                Attempt {
                    kind,
                    disposition: Disposition::Retry {
                        delay: retry_after,
                        class: FailureClass::RateLimited,
                        mnemonic,
                        message,
                        counts: false,
                    },
                }
            }
            ErrorClass::Retryable { retry_after } => {
                let mut attempt = self.retry(envelope, kind, mnemonic, message);
                if let (Disposition::Retry { delay, .. }, Some(hint)) =
                    (&mut attempt.disposition, retry_after)
                {
                    *delay = (*delay).max(hint);
                }
                attempt
            }
            ErrorClass::TenantPermanent => Attempt {
                kind,
                disposition: Disposition::Dead {
                    class: FailureClass::TenantPermanent,
                    mnemonic,
                    message,
                },
            },
            // A session rejected twice, or anything the event itself carries.
            ErrorClass::EventPermanent | ErrorClass::SessionRejected => Attempt {
                kind,
                disposition: Disposition::Dead {
                    class: FailureClass::EventPermanent,
                    mnemonic,
                    message,
                },
            },
            // Handled by the batch; reaching here would be a bug, and retrying is the safe side.
            ErrorClass::AlreadyDelivered => self.retry(envelope, kind, mnemonic, message),
        }
    }

    /// A retryable failure: the next delay tier (with jitter), or `exhausted` when attempts
    /// are used up.
    fn retry(
        &self,
        envelope: &Envelope,
        kind: &'static str,
        mnemonic: Option<String>,
        message: String,
    ) -> Attempt {
        if envelope.attempt >= self.config.max_attempts {
            return Attempt {
                kind,
                disposition: Disposition::Dead {
                    class: FailureClass::Exhausted,
                    mnemonic,
                    message: format!(
                        "gave up after {} attempts; last error: {message}",
                        envelope.attempt
                    ),
                },
            };
        }
        let tier = self.tiers.for_attempt(envelope.attempt);
        // Jitter within the tier (80–100 %) so a burst of failures does not come back at once;
        // never above the tier, so the RabbitMQ backend keeps the same tier queue.
        let factor = rand::thread_rng().gen_range(0.8..=1.0);
        Attempt {
            kind,
            disposition: Disposition::Retry {
                delay: tier.mul_f64(factor),
                class: FailureClass::Retryable,
                mnemonic,
                message,
                counts: true,
            },
        }
    }

    /// [`Deliverer::conclude`] for a pending event, as a task of its own.
    pub(crate) async fn conclude_owned(
        self: Arc<Self>,
        p: Pending,
        attempt: Attempt,
    ) -> Option<Pending> {
        let span = delivery_span(&p.envelope, p.envelope.attempt);
        self.conclude(p.delivery, p.envelope, attempt, p.started)
            .instrument(span)
            .await;
        None
    }

    /// Metrics of the attempt's duration, then its settlement.
    pub(crate) async fn conclude(
        &self,
        delivery: Box<dyn Delivery>,
        envelope: Envelope,
        attempt: Attempt,
        started: Instant,
    ) {
        self.metrics
            .delivery_duration_seconds
            .with_label_values(&[attempt.kind])
            .observe(started.elapsed().as_secs_f64());
        self.settle(delivery, envelope, attempt).await;
    }

    /// `tenant_deliveries_total{tenant, outcome}`: the per-tenant health table's counts.
    fn count_for_tenant(&self, envelope: &Envelope, outcome: &str) {
        self.metrics
            .tenant_deliveries_total
            .with_label_values(&[&envelope.tenant_id.to_string(), outcome])
            .inc();
    }

    async fn settle(&self, delivery: Box<dyn Delivery>, mut envelope: Envelope, attempt: Attempt) {
        let kind = attempt.kind;
        match attempt.disposition {
            Disposition::Delivered { duplicate } => {
                match delivery.ack().await {
                    Ok(()) => {
                        let outcome = if duplicate { "duplicate" } else { "ok" };
                        tracing::info!(outcome, "delivered");
                        self.metrics
                            .delivery_attempts_total
                            .with_label_values(&[kind, outcome])
                            .inc();
                        self.metrics
                            .events_delivered_total
                            .with_label_values(&[kind])
                            .inc();
                        self.count_for_tenant(&envelope, "delivered");
                        self.activity.delivered(envelope.tenant_id, Utc::now());
                        let latency = (Utc::now() - envelope.received_at)
                            .to_std()
                            .unwrap_or_default();
                        self.metrics
                            .end_to_end_latency_seconds
                            .with_label_values(&[kind])
                            .observe(latency.as_secs_f64());
                    }
                    // The ledger already says delivered: the redelivery is acked without a call.
                    Err(e) => tracing::warn!(error = %e, "ack failed after delivery"),
                }
            }
            Disposition::Retry {
                delay,
                class,
                mnemonic,
                message,
                counts,
            } => {
                if !counts {
                    envelope.attempt = envelope.attempt.saturating_sub(1);
                }
                tracing::warn!(class = class.as_str(), mnemonic = mnemonic.as_deref(), error = %message, ?delay, "delivery failed; retrying later");
                envelope.last_error = Some(LastError {
                    class: class.as_str().to_owned(),
                    mnemonic,
                    message,
                    at: Utc::now(),
                });
                crate::health::note_error(&self.activity, &envelope);
                match delivery.retry_later(&envelope, delay).await {
                    Ok(()) => {
                        self.metrics
                            .delivery_attempts_total
                            .with_label_values(&[kind, "retry"])
                            .inc();
                        self.count_for_tenant(&envelope, "retry");
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "could not move to a delay tier; the queue will redeliver it")
                    }
                }
            }
            Disposition::Dead {
                class,
                mnemonic,
                message,
            } => {
                tracing::warn!(class = class.as_str(), mnemonic = mnemonic.as_deref(), error = %message, "dead-lettering");
                let now = Utc::now();
                envelope.last_error = Some(LastError {
                    class: class.as_str().to_owned(),
                    mnemonic: mnemonic.clone(),
                    message: message.clone(),
                    at: now,
                });
                crate::health::note_error(&self.activity, &envelope);
                let dead = NewDeadLetter {
                    tenant_id: envelope.tenant_id,
                    event_id: envelope.event_id.clone(),
                    class: class.as_str().to_owned(),
                    mnemonic,
                    message,
                    attempts: envelope.attempt,
                    first_attempt_at: envelope.first_attempt_at,
                    last_attempt_at: now,
                    envelope: serde_json::to_value(&envelope).unwrap_or_default(),
                };
                match crate::dead_letter(self.store.as_ref(), delivery, dead).await {
                    Ok(()) => {
                        self.metrics
                            .delivery_attempts_total
                            .with_label_values(&[kind, "dead"])
                            .inc();
                        self.metrics
                            .dead_letters_total
                            .with_label_values(&[class.as_str()])
                            .inc();
                        self.count_for_tenant(&envelope, "dead");
                    }
                    Err(e) => tracing::error!(error = %e, "dead-lettering failed"),
                }
            }
        }
    }
}

/// The span every step of one delivery runs in (its logs carry the event and tenant ids).
pub(crate) fn delivery_span(envelope: &Envelope, attempt: u32) -> tracing::Span {
    tracing::info_span!(
        "delivery",
        event_id = %envelope.event_id,
        tenant_id = %envelope.tenant_id,
        attempt,
    )
}

/// The tags of `plan` not among `done`.
fn missing_tags(plan: &ComagicPlan, done: &[i64]) -> Vec<i64> {
    plan.tag_ids()
        .iter()
        .copied()
        .filter(|t| !done.contains(t))
        .collect()
}

/// Notes the upload in the envelope's progress and returns its ledger row (`complete`: nothing
/// is left to do after it).
pub(crate) fn record_upload(
    envelope: &mut Envelope,
    plan: &ComagicPlan,
    comagic_id: Option<i64>,
    delivered_at: DateTime<Utc>,
    complete: bool,
) -> UploadRecord {
    envelope.progress.uploaded = true;
    envelope.progress.comagic_id = comagic_id;
    UploadRecord {
        tenant_id: envelope.tenant_id,
        event_id: envelope.event_id.clone(),
        kind: plan.kind().as_str().to_owned(),
        ext_id: plan.ext_id().to_owned(),
        comagic_id,
        attempts: envelope.attempt,
        received_at: envelope.received_at,
        delivered_at,
        complete,
    }
}

/// The tenant's budget is spent: wait for the reset without using an attempt.
pub(crate) fn held(kind: &'static str, wait: Duration) -> Attempt {
    Attempt {
        kind,
        disposition: Disposition::Retry {
            delay: wait,
            class: FailureClass::RateLimited,
            mnemonic: Some("limit_exceeded".into()),
            message: "the tenant's CoMagic budget is spent; waiting for its reset".into(),
            counts: false,
        },
    }
}

pub(crate) fn dead(
    kind: &'static str,
    class: FailureClass,
    mnemonic: Option<String>,
    message: &str,
) -> Attempt {
    Attempt {
        kind,
        disposition: Disposition::Dead {
            class,
            mnemonic,
            message: message.to_owned(),
        },
    }
}

fn kind_label(kind: &str) -> &'static str {
    match kind {
        "chat" => "chat",
        "callback" => "callback",
        _ => "unknown",
    }
}

/// Raw body → payload → event → plan; a failure here is about the event or the settings.
fn plan_for(
    envelope: &Envelope,
    settings: &TenantSettings,
    field_map: &FieldMap,
    now: chrono::DateTime<Utc>,
) -> Result<ComagicPlan, (FailureClass, String)> {
    let payload = if envelope.raw_body.is_empty() {
        RawPayload::from_query("")
    } else {
        RawPayload::parse(envelope.content_type.as_deref(), &envelope.raw_body)
    }
    .map_err(|e| (FailureClass::Mapping, format!("unparseable body: {e}")))?;
    let zone = settings.leadback_zone().ok_or_else(|| {
        (
            FailureClass::TenantPermanent,
            format!(
                "tenant leadback_timezone `{}` is not an IANA zone",
                settings.leadback_timezone
            ),
        )
    })?;
    // Undated events are dated when Leadback called us, not when this attempt runs.
    let event = LeadbackEvent::from_payload_mapped(&payload, zone, field_map)
        .map_err(|e| (FailureClass::Mapping, format!("cannot read the event: {e}")))?
        .dated_at_receipt(envelope.received_at);
    map(&event, settings, now).map_err(|e| {
        let class = if e.class() == "tenant_permanent" {
            FailureClass::TenantPermanent
        } else {
            FailureClass::Mapping
        };
        (class, e.to_string())
    })
}

/// The `outcome` label of `comagic_requests_total`: CoMagic's mnemonic, or the transport class.
/// Both are bounded sets; nothing from the request goes in.
fn outcome_label(e: &ComagicError) -> &'static str {
    use leadback_model::comagic::errors as m;
    match e.mnemonic() {
        Some(mn) => [
            m::ACCESS_TOKEN_EXPIRED,
            m::ACCESS_TOKEN_INVALID,
            m::ACCESS_TOKEN_BLOCKED,
            m::AUTH_ERROR,
            m::LIMIT_EXCEEDED,
            m::IP_NOT_WHITELISTED,
            m::METHOD_COMPONENT_DISABLED,
            m::PARAMETER_COMPONENT_DISABLED,
            m::INVALID_PARAMETER_VALUE,
            m::ENTITY_NOT_FOUND,
            m::DUPLICATE_ENTITY,
            m::INTERNAL,
            "required_parameter_missed",
            "invalid_date_time",
            "unexpected_parameters",
            "invalid_parameters_combination",
            "tariff_restrictions",
            "data_limit_exceeded",
            "forbidden",
        ]
        .into_iter()
        .find(|known| *known == mn)
        .unwrap_or("other_error"),
        None => match e {
            ComagicError::Transport { .. } => "transport_error",
            ComagicError::HttpStatus { .. } => "http_error",
            ComagicError::InvalidResponse { .. } => "invalid_response",
            _ => "other_error",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bridge_store::SecretKey;

    async fn deliverer() -> Deliverer {
        let store = bridge_store::open("sqlite::memory:", SecretKey::generate())
            .await
            .expect("in-memory store");
        Deliverer::new(
            store,
            Metrics::new(),
            WorkerConfig::default(),
            RetryTiers::default(),
        )
    }

    fn limits(minute: i64, minute_reset: i64, day: i64, day_reset: i64) -> Limits {
        Limits {
            minute_remaining: Some(minute),
            minute_reset: Some(minute_reset),
            day_remaining: Some(day),
            day_reset: Some(day_reset),
            ..Limits::default()
        }
    }

    fn gauge(d: &Deliverer, tenant: Uuid, window: &str) -> i64 {
        d.metrics
            .comagic_limit_remaining
            .with_label_values(&[&tenant.to_string(), window])
            .get()
    }

    #[tokio::test]
    async fn spent_day_budget_holds_the_tenant_until_the_day_reset() {
        let d = deliverer().await;
        let (spent, other) = (Uuid::new_v4(), Uuid::new_v4());
        // Points left this minute, none today: the minute's reset (20 s) would not help.
        d.observe_limits(spent, &limits(500, 20, 0, 30_000));
        d.observe_limits(other, &limits(500, 20, 9_000, 30_000));
        let held = d.held_until(spent).expect("held");
        assert!(
            held > Duration::from_secs(29_990) && held <= Duration::from_secs(30_000),
            "{held:?}"
        );
        assert_eq!(d.held_until(other), None, "only the spent tenant waits");
        // What the LeadbackBridgeComagicLimitNearlyExhausted alert reads.
        assert_eq!(gauge(&d, spent, "day"), 0);
        assert_eq!(gauge(&d, other, "day"), 9_000);
    }

    #[tokio::test]
    async fn spent_minute_budget_holds_until_the_minute_reset() {
        let d = deliverer().await;
        let tenant = Uuid::new_v4();
        d.observe_limits(tenant, &limits(0, 20, 9_000, 30_000));
        let held = d.held_until(tenant).expect("held");
        assert!(
            held > Duration::from_secs(19) && held <= Duration::from_secs(20),
            "{held:?}"
        );
        assert_eq!(gauge(&d, tenant, "minute"), 0);
        // A later answer with a longer wait extends the hold; a shorter one does not cut it.
        d.observe_limits(tenant, &limits(0, 5, 9_000, 30_000));
        assert!(d.held_until(tenant).expect("held") > Duration::from_secs(19));
    }

    #[tokio::test]
    async fn budget_left_holds_nobody() {
        let d = deliverer().await;
        let tenant = Uuid::new_v4();
        d.observe_limits(tenant, &limits(1, 20, 1, 30_000));
        d.observe_limits(tenant, &Limits::default());
        assert_eq!(d.held_until(tenant), None);
    }
}
