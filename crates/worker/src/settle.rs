//! The end of an attempt: its duration metric, then its settlement with the queue (ack, a
//! delay tier, or the dead letters) and the per-outcome counters.

use crate::deliver::{delivery_span, Attempt, Deliverer, Pending};
use crate::outcome::Disposition;
use bridge_queue::{Delivery, Envelope, LastError};
use bridge_store::NewDeadLetter;
use chrono::Utc;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

impl Deliverer {
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
            .with_label_values(&[crate::classify::kind_label(attempt.kind)])
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
        let kind = crate::classify::kind_label(attempt.kind);
        crate::trace::settled(kind, &attempt.disposition);
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
