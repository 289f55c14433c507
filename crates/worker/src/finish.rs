//! After the upload: ledger, the tags still missing, ledger complete, then settlement; or, for
//! a permanent failure that fresh tenant settings may cure, the event starts over once.

use crate::deliver::{delivery_span, Attempt, Deliverer, Pending, StepError};
use crate::outcome::Disposition;
use crate::tenants::TenantHandle;
use bridge_queue::{Delivery, Envelope};
use bridge_store::UploadRecord;
use chrono::{DateTime, Utc};
use leadback_model::ComagicPlan;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

impl Deliverer {
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
                    kind: Some(kind),
                    disposition: Disposition::Delivered { duplicate },
                },
                Err(step) => self.classify(&envelope, Some(kind), step),
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
    pub(crate) async fn complete(
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
                .map_err(|e| StepError::Ledger(e.into()))?;
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
                .map_err(StepError::Ledger)?;
        }
        if last.is_none() {
            self.ledger_progress
                .progress(tenant_id, &envelope.event_id, &[], true)
                .await
                .map_err(StepError::Ledger)?;
        }
        Ok(())
    }
}

/// The tags of `plan` not among `done`.
pub(crate) fn missing_tags(plan: &ComagicPlan, done: &[i64]) -> Vec<i64> {
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
        kind: plan.kind(),
        ext_id: plan.ext_id().to_owned(),
        comagic_id,
        attempts: envelope.attempt,
        received_at: envelope.received_at,
        delivered_at,
        complete,
    }
}
