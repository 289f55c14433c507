//! The test harness of leadback-bridge, shared by the end-to-end tests at the root, the queue
//! crate's tests, the soak and the bench, so "make a database, start the real binary, clean
//! RabbitMQ" is written once:
//!
//! * [`Deployment`]: one bridge deployment (embedded, or RabbitMQ + PostgreSQL) with a data
//!   folder, database and queue prefix of its own, tenants created through the CLI, its roles
//!   started as child processes of the real binary ([`BridgeProcess`]: readiness, logs,
//!   SIGTERM/SIGKILL, RSS and descriptors); [`Deployment::stop`] drops what it made.
//! * [`services`], [`postgres`], [`rabbitmq`]: the shared services the tests expect on the
//!   loopback, throwaway databases, roles, vhosts and users, `rabbitmqctl`.
//! * [`http`]: a request and its answer's body in one call.
//! * [`serial`]: the lock that keeps heavy or timing-sensitive tests of one test binary apart.
//!
//! Library code: errors are returned ([`Error`]), the tests decide to panic.

mod deployment;
mod error;
pub mod http;
pub mod postgres;
mod process;
pub mod rabbitmq;
pub mod serial;
pub mod services;

pub use deployment::{Backend, Deployment, DeploymentBuilder, RoleBuilder, Tenant};
pub use error::Error;
pub use process::{free_port, peak_rss_mib, BridgeProcess, Ready};
