use thiserror::Error;

/// Why the queue could not do what was asked. Messages never contain credentials: AMQP URLs
/// are reported without their user info.
#[derive(Debug, Clone, Error)]
pub enum QueueError {
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    #[error("broker refused the message (nack or return): {0}")]
    Rejected(String),
    #[error("publish not confirmed within {0:?}")]
    ConfirmTimeout(std::time::Duration),
    #[error("queue storage error: {0}")]
    Storage(String),
    #[error("malformed message in queue: {0}")]
    Malformed(String),
    #[error("invalid queue configuration: {0}")]
    Config(String),
}
