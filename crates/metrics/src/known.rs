//! The label values known before the first event: their series are exported at zero from the
//! start, so dashboards show 0 instead of "No data" and `rate()`/`increase()` alerts see the
//! first step. The values mirror their sources (the ingress's `IngressOutcome::label`, the
//! worker's `FailureClass` and CoMagic methods); a value missing here still appears on first use.

use crate::Metrics;

pub(crate) const INGRESS_OUTCOMES: [&str; 9] = [
    "accepted",
    "ping",
    "unknown_token",
    "inactive",
    "bad_request",
    "too_large",
    "body_timeout",
    "throttled",
    "unavailable",
];
pub(crate) const KINDS: [&str; 2] = ["callback", "chat"];
pub(crate) const ATTEMPT_OUTCOMES: [&str; 4] = ["ok", "retry", "dead", "duplicate"];
/// The failure classes that end in the dead letters, and `poison` (the worker's poison queue).
pub(crate) const DEAD_REASONS: [&str; 5] = [
    "tenant_permanent",
    "event_permanent",
    "mapping",
    "exhausted",
    "poison",
];
pub(crate) const COMAGIC_METHODS: [&str; 4] = [
    "upload.offline_messages",
    "upload.chats",
    "upload.sessions",
    "set.tag_communications",
];
pub(crate) const PUBLISH_BACKENDS: [&str; 2] = ["rabbitmq", "embedded"];
pub(crate) const TENANT_OUTCOMES: [&str; 3] = ["delivered", "retry", "dead"];
pub(crate) const LIMIT_WINDOWS: [&str; 2] = ["minute", "day"];
pub(crate) const RECENT_DROP_REASONS: [&str; 2] = ["queue_full", "store_error"];

/// Which label values [`KnownLabels::initialise`] starts at zero; `queues` defaults to the
/// ones every backend has (the delay tiers appear with the first depth reading).
pub struct KnownLabels {
    pub queues: Vec<String>,
}

impl Default for KnownLabels {
    fn default() -> Self {
        Self {
            queues: vec!["main".into(), "dead".into(), "poison".into()],
        }
    }
}

impl KnownLabels {
    /// Touches every series of a known label set (a counter or histogram at 0, a gauge at 0).
    pub fn initialise(&self, m: &Metrics) {
        for outcome in INGRESS_OUTCOMES {
            m.ingress_requests_total.with_label_values(&[outcome]);
            m.ingress_request_duration_seconds
                .with_label_values(&[outcome]);
        }
        for backend in PUBLISH_BACKENDS {
            m.publish_confirm_duration_seconds
                .with_label_values(&[backend]);
        }
        for kind in KINDS {
            m.events_delivered_total.with_label_values(&[kind]);
            m.delivery_duration_seconds.with_label_values(&[kind]);
            m.end_to_end_latency_seconds.with_label_values(&[kind]);
            for outcome in ATTEMPT_OUTCOMES {
                m.delivery_attempts_total
                    .with_label_values(&[kind, outcome]);
            }
        }
        for reason in DEAD_REASONS {
            m.dead_letters_total.with_label_values(&[reason]);
        }
        for method in COMAGIC_METHODS {
            m.comagic_requests_total.with_label_values(&[method, "ok"]);
            m.comagic_request_duration_seconds
                .with_label_values(&[method]);
        }
        for reason in RECENT_DROP_REASONS {
            m.recent_payloads_dropped_total.with_label_values(&[reason]);
        }
        for queue in &self.queues {
            m.queue_depth.with_label_values(&[queue]);
        }
    }
}
