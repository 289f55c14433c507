//! One lock per test binary for tests that must not run beside certain others.
//!
//! Cargo runs the tests of one binary on parallel threads (two on the 2-core CI machine). A test
//! that is heavy (a browser, a load loop) or timing-sensitive (SIGKILL and SIGTERM suites, a
//! drain within its grace period, trace export) takes [`exclusive`]; the suites that start a
//! bridge per test (`on_every_backend!`) take [`shared`]: an exclusive test then runs with none
//! of them beside it, while those run beside each other as they always did. A test that stops a
//! shared service (RabbitMQ, PostgreSQL) takes [`exclusive`] too, and every test of its binary
//! that needs the service takes [`shared`].

use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

static LOCK: RwLock<()> = RwLock::const_new(());

/// Alone among the tests that take the lock; held until the guard drops.
pub async fn exclusive() -> RwLockWriteGuard<'static, ()> {
    LOCK.write().await
}

/// As [`exclusive`], for a test outside an async runtime (`#[test]`).
pub fn exclusive_blocking() -> RwLockWriteGuard<'static, ()> {
    LOCK.blocking_write()
}

/// Beside other shared holders, never beside an exclusive one.
pub async fn shared() -> RwLockReadGuard<'static, ()> {
    LOCK.read().await
}
