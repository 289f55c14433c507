//! One event's path around the batched upload: ledger check → settings → parse → map →
//! session ([`Deliverer::begin`]), then, after the upload (`batch.rs`), ledger → tags → ledger
//! complete → ack ([`Deliverer::finish`], in `finish.rs`); or a delay tier, or the dead letters
//! (`settle.rs`).
//! Tenant holds are in `holds.rs`, the classification of failures in `classify.rs`.

use crate::classify::{self, Verdict};
use crate::holds::TenantHolds;
use crate::ledger::{LedgerReader, LedgerWriter};
use crate::outcome::{Disposition, FailureClass};
use crate::tenants::{TenantDirectory, TenantHandle};
use crate::WorkerConfig;
use bridge_metrics::Metrics;
use bridge_queue::{Delivery, Envelope, RetryTiers};
use bridge_store::Store;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use comagic_client::{Called, ClientOptions, ComagicError, ErrorClass};
use leadback_model::{map_in, ComagicPlan, EventKind, LeadbackEvent, RawPayload};
use rand::Rng;
use std::sync::Arc;
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
    pub(crate) ledger_progress: LedgerWriter,
    /// Tenants whose CoMagic budget is spent: their events wait without a call, other tenants
    /// flow on.
    holds: TenantHolds,
    /// Deliveries, errors and limits for tenant health, written once a second (health.rs).
    pub(crate) activity: bridge_store::ActivityRecorder,
}

/// What an attempt learned, for metrics.
pub(crate) struct Attempt {
    /// `None` when the attempt ended before the body was read (metrics say `unknown`).
    pub(crate) kind: Option<EventKind>,
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
    pub(crate) kind: EventKind,
    pub(crate) started: Instant,
    /// Tenant settings were already re-read once for this attempt.
    pub(crate) refreshed: bool,
    /// CoMagic refused the visitor session once; the plan now uses the default entity.
    pub(crate) session_fallback_used: bool,
    /// CoMagic refused a time once and the account's zone was read again for it.
    pub(crate) zone_reread: bool,
}

/// Events of one batch share the tenant (and its settings version) and the kind.
pub(crate) type BatchKey = (Uuid, EventKind, DateTime<Utc>);

impl Pending {
    /// Tags of the plan not yet set on the record.
    pub(crate) fn tags_missing(&self) -> Vec<i64> {
        crate::finish::missing_tags(&self.plan, &self.envelope.progress.tagged)
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
    Ledger(crate::error::LedgerError),
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
        let tenants = TenantDirectory::new(
            store.clone(),
            http,
            options,
            config.tenant_cache_ttl,
            config.account_zone_ttl,
        );
        Self {
            ledger: LedgerReader::new(store.clone()),
            ledger_progress: LedgerWriter::new(store.clone()),
            activity: bridge_store::ActivityRecorder::new(store.clone()),
            store,
            metrics,
            config,
            tiers,
            tenants,
            holds: TenantHolds::default(),
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
                        let kind = plan.kind();
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
                        let kind = Some(plan.kind());
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
        let kind = None;

        let ledger = match self
            .ledger
            .get(envelope.tenant_id, &envelope.event_id)
            .await
        {
            Ok(entry) => entry,
            Err(e) => return Prepared::Done(self.retry(envelope, kind, None, e.to_string())),
        };
        if let Some(entry) = &ledger {
            if entry.complete {
                tracing::info!("already delivered (ledger); acking without a call");
                return Prepared::Done(Attempt {
                    kind: Some(entry.kind),
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
        let account_zone = self.account_zone(&handle).await;
        let mut plan = match plan_for(envelope, &handle, account_zone, now) {
            Ok(plan) => plan,
            Err((class, message)) => return Prepared::Done(dead(kind, class, None, &message)),
        };
        let kind = Some(plan.kind());

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

    /// Runs one CoMagic call with its metrics and the tenant's remaining limits.
    pub(crate) async fn call<T>(
        &self,
        method: &'static str,
        tenant_id: Uuid,
        call: impl std::future::Future<Output = Result<Called<T>, ComagicError>>,
    ) -> Result<T, ComagicError> {
        let span = crate::trace::comagic_span(method, tenant_id);
        let started = Instant::now();
        let result = call.instrument(span.clone()).await;
        self.metrics
            .comagic_request_duration_seconds
            .with_label_values(&[method])
            .observe(started.elapsed().as_secs_f64());
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => classify::outcome_label(e),
        };
        self.metrics
            .comagic_requests_total
            .with_label_values(&[method, outcome])
            .inc();
        crate::trace::comagic_outcome(&span, outcome);
        match result {
            Ok(called) => {
                if let Some(limits) = &called.limits {
                    self.holds.observe(&self.metrics, tenant_id, limits);
                    crate::health::note_limits(&self.activity, tenant_id, limits);
                }
                Ok(called.value)
            }
            Err(e) => {
                if let Some(limits) = e.limits() {
                    self.holds.observe(&self.metrics, tenant_id, limits);
                    crate::health::note_limits(&self.activity, tenant_id, limits);
                }
                Err(e)
            }
        }
    }

    /// How long the tenant is still held, if it is.
    pub(crate) fn held_until(&self, tenant_id: Uuid) -> Option<Duration> {
        self.holds.held_until(tenant_id)
    }

    /// The decision for one event after a failed step.
    pub(crate) fn classify(
        &self,
        envelope: &Envelope,
        kind: Option<EventKind>,
        step: StepError,
    ) -> Attempt {
        match step {
            StepError::Ledger(error) => self.retry(envelope, kind, None, error.to_string()),
            StepError::Held(wait) => held(kind, wait),
            StepError::Comagic(e) => self.classify_comagic(envelope, kind, &e),
        }
    }

    pub(crate) fn classify_comagic(
        &self,
        envelope: &Envelope,
        kind: Option<EventKind>,
        e: &ComagicError,
    ) -> Attempt {
        let mnemonic = e.mnemonic().map(str::to_owned);
        let message = e.to_string();
        match classify::verdict(e.class()) {
            Verdict::RateLimited(retry_after) => {
                self.holds.hold(envelope.tenant_id, retry_after);
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
            Verdict::Retry { at_least } => {
                let mut attempt = self.retry(envelope, kind, mnemonic, message);
                if let (Disposition::Retry { delay, .. }, Some(hint)) =
                    (&mut attempt.disposition, at_least)
                {
                    *delay = (*delay).max(hint);
                }
                attempt
            }
            Verdict::Dead(class) => Attempt {
                kind,
                disposition: Disposition::Dead {
                    class,
                    mnemonic,
                    message,
                },
            },
        }
    }

    /// A retryable failure: the next delay tier (with jitter), or `exhausted` when attempts
    /// are used up.
    fn retry(
        &self,
        envelope: &Envelope,
        kind: Option<EventKind>,
        mnemonic: Option<String>,
        message: String,
    ) -> Attempt {
        let tier = self.tiers.for_attempt(envelope.attempt);
        // Jitter within the tier (80–100 %) so a burst of failures does not come back at once;
        // never above the tier, so the RabbitMQ backend keeps the same tier queue.
        let factor = rand::thread_rng().gen_range(0.8..=1.0);
        Attempt {
            kind,
            disposition: classify::retry_or_exhausted(
                envelope.attempt,
                self.config.max_attempts,
                tier.mul_f64(factor),
                mnemonic,
                message,
            ),
        }
    }
}

/// The span every step of one delivery runs in (its logs carry the event and tenant ids).
/// With tracing on, it also continues the event's trace (`trace.rs`).
pub(crate) fn delivery_span(envelope: &Envelope, attempt: u32) -> tracing::Span {
    let span = tracing::info_span!(
        "delivery",
        event_id = %envelope.event_id,
        tenant_id = %envelope.tenant_id,
        attempt,
    );
    crate::trace::follow(&span, envelope);
    span
}

/// The tenant's budget is spent: wait for the reset without using an attempt.
pub(crate) fn held(kind: Option<EventKind>, wait: Duration) -> Attempt {
    Attempt {
        kind,
        disposition: classify::held(wait),
    }
}

pub(crate) fn dead(
    kind: Option<EventKind>,
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

/// Raw body → payload → event → plan, with the tenant's zones as parsed when its settings were
/// read; a failure here is about the event or the settings.
fn plan_for(
    envelope: &Envelope,
    handle: &TenantHandle,
    account_zone: Tz,
    now: chrono::DateTime<Utc>,
) -> Result<ComagicPlan, (FailureClass, String)> {
    let settings = &handle.tenant.settings;
    let payload = if envelope.raw_body.is_empty() {
        RawPayload::from_query("")
    } else {
        RawPayload::parse(envelope.content_type.as_deref(), &envelope.raw_body)
    }
    .map_err(|e| (FailureClass::Mapping, format!("unparseable body: {e}")))?;
    let zone = handle.zones.leadback.ok_or_else(|| {
        (
            FailureClass::TenantPermanent,
            format!(
                "tenant leadback_timezone `{}` is not an IANA zone",
                settings.leadback_timezone
            ),
        )
    })?;
    // Undated events are dated when Leadback called us, not when this attempt runs.
    let event = LeadbackEvent::from_payload_mapped(&payload, zone, &handle.field_map)
        .map_err(|e| (FailureClass::Mapping, format!("cannot read the event: {e}")))?
        .dated_at_receipt(envelope.received_at);
    map_in(&event, settings, account_zone, now).map_err(|e| {
        let class = if e.class() == FailureClass::TenantPermanent {
            FailureClass::TenantPermanent
        } else {
            FailureClass::Mapping
        };
        (class, e.to_string())
    })
}
