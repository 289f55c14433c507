//! The tests that stop a shared service (RabbitMQ's app, the PostgreSQL cluster) under a running
//! bridge, with the fault-injection suite they belong to, in a test binary of their own: cargo
//! runs test binaries one after another, so no other binary's test meets the outage. Inside this
//! binary a test that stops a service takes `support::serial::exclusive()` and every other test
//! the shared side.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

#[path = "../support/mod.rs"]
mod support;

mod broker_restart;
mod faults;
