//! Configuration, wiring and the command line of the `leadback-bridge` binary: which backends to
//! open, which roles to run (ingress, worker, both), the operator commands (tenants, dead
//! letters), health and metrics endpoints, and graceful shutdown.

mod args;
mod cli;
mod config;
mod demo;
mod dlq;
mod health;
mod server;
mod tenants;

pub use bridge_admin::{replay_dead_letters, ReplayReport, TenantFile};
pub use config::{BackendPlan, BridgeConfig, Roles};
pub use server::{start, RunningBridge};

/// Entry point of the binary.
pub fn main() -> anyhow::Result<()> {
    cli::run()
}
