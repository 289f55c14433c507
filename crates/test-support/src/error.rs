//! What can go wrong while setting a deployment up or driving it.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("leadback-bridge {args} failed ({status}): {stderr}")]
    Command {
        args: String,
        status: String,
        stderr: String,
    },
    #[error("leadback-bridge {args} printed no JSON ({reason}): {stdout}")]
    NotJson {
        args: String,
        reason: String,
        stdout: String,
    },
    #[error("leadback-bridge {args} printed JSON without {field}: {output}")]
    MissingField {
        args: String,
        field: &'static str,
        output: String,
    },
    #[error("{role} exited ({status}):\n{log}")]
    Exited {
        role: String,
        status: String,
        log: String,
    },
    #[error("{role} not ready within {secs} s:\n{log}")]
    NotReady {
        role: String,
        secs: u64,
        log: String,
    },
    #[error("PostgreSQL ({url}): {source}")]
    Postgres { url: String, source: sqlx::Error },
    #[error("not a PostgreSQL URL: {0}")]
    PostgresUrl(String),
    #[error("RabbitMQ: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("rabbitmqctl {args}: {stderr}")]
    Rabbitmqctl { args: String, stderr: String },
    #[error("invalid retry tiers {0:?}")]
    RetryTiers(String),
    #[error(transparent)]
    Queue(#[from] bridge_queue::QueueError),
}

impl Error {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }
}
