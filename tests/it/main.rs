//! The end-to-end tests of leadback-bridge, one test binary (one link of the workspace instead
//! of one per file): a module per subject, each against the real bridge (in-process, or the
//! real binary as child processes) on both backends where the subject allows.
//!
//! The tests share two threads. Those that are heavy or timing-sensitive (a browser, SIGKILL
//! and SIGTERM suites, trace export, trace-level logs, hostile input) take
//! `support::serial::exclusive()`; the `on_every_backend!` suites take the shared side, so an
//! exclusive test never runs beside them (docs/architecture.md, "Tests").
//!
//! Tests that stop the shared RabbitMQ or PostgreSQL live in `tests/outage`, the three-node
//! cluster in `tests/cluster.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

#[path = "../support/mod.rs"]
mod support;

mod bad_input;
mod batching;
mod browser;
mod cli;
mod cli_operator;
mod cli_preview;
mod console_api;
mod crash;
mod deploy_files;
mod docs_commands;
mod event_logs;
mod field_map;
mod lifecycle;
mod migrations;
mod pipeline;
mod poison;
mod replays_metric;
mod secrets_in_logs;
mod security;
mod shutdown;
mod tracing;
