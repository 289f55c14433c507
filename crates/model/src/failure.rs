//! [`FailureClass`]: why an event was not delivered, as the worker, the dead letters, the
//! metrics and the settings preview name it; [`LastError`]: one such failure, when it happened.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The error classes of comagic-api.md plus the bridge's own (mapping, tenant gone).
/// `as_str()` is the `reason` label of `dead_letters_total` and the dead letter's `class`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureClass {
    Retryable,
    RateLimited,
    TenantPermanent,
    EventPermanent,
    /// The body could not be parsed or mapped (no contact, unknown shape).
    Mapping,
    /// Retryable failures that used up every attempt.
    Exhausted,
}

impl FailureClass {
    /// Every class, for listings and closed-set arguments.
    pub const ALL: [FailureClass; 6] = [
        FailureClass::Retryable,
        FailureClass::RateLimited,
        FailureClass::TenantPermanent,
        FailureClass::EventPermanent,
        FailureClass::Mapping,
        FailureClass::Exhausted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Retryable => "retryable",
            FailureClass::RateLimited => "rate_limited",
            FailureClass::TenantPermanent => "tenant_permanent",
            FailureClass::EventPermanent => "event_permanent",
            FailureClass::Mapping => "mapping",
            FailureClass::Exhausted => "exhausted",
        }
    }
}

/// The last failure the worker met with an event (a retry or a dead letter). One type for the
/// envelope (carried to the delay tier or the dead letters) and the tenant's activity (its
/// health's last error): the worker copies the one into the other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastError {
    /// `retryable`, `rate_limited`, `tenant_permanent`, `event_permanent`, `mapping`, …
    pub class: String,
    pub mnemonic: Option<String>,
    pub message: String,
    pub at: DateTime<Utc>,
}
