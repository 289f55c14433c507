//! Configuration, wiring and the command line of the `leadback-bridge` binary: which backends to
//! open, which roles to run (ingress, worker, both), the operator commands (tenants, dead
//! letters), health and metrics endpoints, and graceful shutdown.

mod cli;
mod config;
mod dead_letters;
mod demo;
mod health;
mod server;
mod tenant_file;
mod tenants;

pub use config::{BackendPlan, BridgeConfig, Roles};
pub use dead_letters::{replay_dead_letters, ReplayReport};
pub use server::{start, RunningBridge};
pub use tenant_file::TenantFile;

/// Entry point of the binary.
pub fn main() -> anyhow::Result<()> {
    cli::run()
}
