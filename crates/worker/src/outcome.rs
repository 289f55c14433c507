//! What happens to a delivery after one attempt.

use std::time::Duration;

pub use leadback_model::FailureClass;

/// The decision for one attempt.
#[derive(Debug)]
pub enum Disposition {
    /// Delivered now, or found already delivered (`duplicate`).
    Delivered { duplicate: bool },
    /// Try again after `delay`; `counts` is false for rate limits (they do not use attempts).
    Retry {
        delay: Duration,
        class: FailureClass,
        mnemonic: Option<String>,
        message: String,
        counts: bool,
    },
    Dead {
        class: FailureClass,
        mnemonic: Option<String>,
        message: String,
    },
}
