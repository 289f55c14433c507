//! Deleting a queue prefix's RabbitMQ topology: its exchange, main queue, poison queue and delay
//! tiers (the legacy classic tiers too). Tests, the soak and the bench give every run a prefix
//! of its own and remove it afterwards; the names come from [`Names`], so only this crate spells
//! them.

use crate::rabbitmq::{node_urls, Names};
use crate::{QueueError, RetryTiers};
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::{Connection, ConnectionProperties};

/// Deletes every queue and the exchange of `prefix` (built with `tiers`) on the first node of
/// `amqp_url` (one URL or a comma-separated list). Goes on past a failed deletion and reports
/// the first failure; what does not exist is no failure.
pub async fn delete_topology(
    amqp_url: &str,
    prefix: &str,
    tiers: &RetryTiers,
) -> Result<(), QueueError> {
    let url = node_urls(amqp_url).first().copied().unwrap_or_default();
    let properties = ConnectionProperties::default()
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio)
        .with_connection_name("leadback-bridge topology cleanup".into());
    let connection = Connection::connect(url, properties)
        .await
        .map_err(|e| QueueError::Unavailable(format!("cannot connect to RabbitMQ: {e}")))?;
    let result = delete_names(&connection, &Names::new(prefix, tiers)).await;
    // The deletions are done (or failed) either way; a failed close changes nothing.
    let _ = connection.close(200, "topology deleted").await;
    result
}

async fn delete_names(connection: &Connection, names: &Names) -> Result<(), QueueError> {
    let unavailable = |e: lapin::Error| QueueError::Unavailable(format!("deleting topology: {e}"));
    let channel = connection.create_channel().await.map_err(unavailable)?;
    let mut first_error = None;
    for queue in names.queues() {
        if let Err(e) = channel
            .queue_delete(&queue, QueueDeleteOptions::default())
            .await
        {
            first_error.get_or_insert(unavailable(e));
        }
    }
    if let Err(e) = channel
        .exchange_delete(&names.exchange, ExchangeDeleteOptions::default())
        .await
    {
        first_error.get_or_insert(unavailable(e));
    }
    first_error.map_or(Ok(()), Err)
}
