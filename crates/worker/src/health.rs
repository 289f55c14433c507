//! What the worker tells tenant health (`tenant_activity`, see bridge-store's
//! `ActivityRecorder`): deliveries, failures and CoMagic's limits, gathered in memory and
//! written once a second per tenant — nothing here touches the store per event.

use bridge_queue::Envelope;
use bridge_store::{ActivityRecorder, LimitsSeen};
use chrono::Utc;
use leadback_model::comagic::Limits;
use uuid::Uuid;

/// The envelope's last error (just set by the settlement) as the tenant's last error.
pub(crate) fn note_error(activity: &ActivityRecorder, envelope: &Envelope) {
    if let Some(error) = &envelope.last_error {
        activity.error(envelope.tenant_id, error.clone());
    }
}

/// CoMagic's limits as just seen in an answer.
pub(crate) fn note_limits(activity: &ActivityRecorder, tenant_id: Uuid, limits: &Limits) {
    if !limits.is_empty() {
        activity.limits(tenant_id, LimitsSeen::from_limits(limits, Utc::now()));
    }
}
