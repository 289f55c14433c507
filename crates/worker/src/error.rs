//! The worker's own failures, typed: what the store or the queue refused while an event was
//! being settled. Each becomes a retry (or a log line) with its message; the types keep the
//! cause, so a test or a caller can tell a missing ledger entry from a store that is down.

use bridge_queue::QueueError;
use bridge_store::StoreError;
use leadback_model::EventId;
use std::sync::Arc;
use uuid::Uuid;

/// A ledger read or write that did not happen. Cloneable: one store call answers a whole
/// gathered batch, and its error is every request's answer.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum LedgerError {
    #[error("ledger unavailable: {0}")]
    Store(Arc<StoreError>),
    #[error("ledger entry {event_id} of tenant {tenant_id} not found")]
    Missing { tenant_id: Uuid, event_id: EventId },
    /// The task gathering ledger calls is gone (the worker is shutting down).
    #[error("ledger {0} stopped")]
    Stopped(&'static str),
}

impl From<StoreError> for LedgerError {
    fn from(error: StoreError) -> Self {
        LedgerError::Store(Arc::new(error))
    }
}

/// Why an event could not be moved to the dead letters; the delivery is then given back.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DeadLetterError {
    #[error("cannot store dead letter: {0}")]
    Store(#[from] StoreError),
    #[error("dead letter stored but ack failed (it will be redelivered and found in the ledger or dead-lettered again): {0}")]
    Ack(#[from] QueueError),
}
