//! Configuration, wiring and the command line of the `leadback-bridge` binary: which backends to
//! open, which roles to run (ingress, worker, both), the operator commands (tenants, dead
//! letters), health and metrics endpoints, and graceful shutdown.

mod args;
mod cli;
mod config;
mod demo;
mod dlq;
mod health;
mod healthcheck;
mod preview;
mod server;
mod telemetry;
mod tenants;

pub use bridge_admin::{replay_dead_letters, ReplayReport, TenantFile};
pub use config::{BackendPlan, BridgeConfig, MigratePolicy, Roles};
pub use server::{start, RunningBridge};

/// Entry point of the binary: 0 on success, 1 after a fatal error (logged through the
/// configured log format).
pub fn main() -> std::process::ExitCode {
    cli::run()
}
