//! RabbitMQ backend (to be written).
