//! SQLite connection setup shared by the embedded queue and the SQLite store.
//!
//! Several pools write to one SQLite file (the queue's group-commit writer, its leases, the
//! store's ledger), and SQLite lets one writer in at a time. A connection that finds the write
//! lock taken calls its busy handler; the one `busy_timeout` installs sleeps 1, 2, 5, 10, 15,
//! 20, 25 … ms between tries, while the lock is typically held for well under a millisecond
//! (fsync ≈ 0.3 ms on the benchmark machine). Under load that turned into hundreds of
//! millisecond sleeps per second and a group-commit cycle many times longer than its work
//! (docs/benchmarks.md). [`wait_in_short_steps`] installs a handler that retries after 50 µs,
//! then 200 µs, then 2 ms, and gives up after about the same 5 s.

use sqlx::sqlite::SqliteConnection;
use std::os::raw::{c_int, c_void};
use std::time::Duration;

/// How long a connection keeps retrying a taken lock before the statement fails with
/// `SQLITE_BUSY` ("database is locked").
pub const BUSY_WAIT_LIMIT: Duration = Duration::from_secs(5);

/// The pause before retry number `attempt` (0-based) of one lock wait, or `None` when the
/// wait has lasted [`BUSY_WAIT_LIMIT`] and the statement should fail.
pub fn pause_before_retry(attempt: u32) -> Option<Duration> {
    const SHORT: (u32, Duration) = (20, Duration::from_micros(50)); // first 1 ms
    const MEDIUM: (u32, Duration) = (95, Duration::from_micros(200)); // next 19 ms
    const LONG: Duration = Duration::from_millis(2);
    let before_long = SHORT.1 * SHORT.0 + MEDIUM.1 * (MEDIUM.0 - SHORT.0);
    if attempt < SHORT.0 {
        return Some(SHORT.1);
    }
    if attempt < MEDIUM.0 {
        return Some(MEDIUM.1);
    }
    let long_tries = (BUSY_WAIT_LIMIT - before_long).as_micros() / LONG.as_micros();
    (u128::from(attempt - MEDIUM.0) < long_tries).then_some(LONG)
}

/// SQLite's busy callback: non-zero means "try again". Runs on the connection's own thread
/// (sqlx gives each SQLite connection one), so sleeping blocks nothing else.
unsafe extern "C" fn busy_handler(_: *mut c_void, attempt: c_int) -> c_int {
    match pause_before_retry(u32::try_from(attempt).unwrap_or(u32::MAX)) {
        Some(pause) => {
            std::thread::sleep(pause);
            1
        }
        None => 0,
    }
}

/// Replaces the connection's busy handler (and any `busy_timeout`) with the short-step one.
/// For `SqlitePoolOptions::after_connect`.
pub async fn wait_in_short_steps(connection: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    let mut handle = connection.lock_handle().await?;
    let db = handle.as_raw_handle();
    // SAFETY: `db` is the live handle of this connection, held locked (no statement runs on it
    // meanwhile); the callback is a plain function with no state (null user data).
    let rc = unsafe {
        libsqlite3_sys::sqlite3_busy_handler(db.as_ptr(), Some(busy_handler), std::ptr::null_mut())
    };
    if rc == libsqlite3_sys::SQLITE_OK {
        Ok(())
    } else {
        Err(sqlx::Error::Protocol(format!(
            "sqlite3_busy_handler failed with code {rc}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_start_short_and_end_after_the_limit() {
        assert_eq!(pause_before_retry(0), Some(Duration::from_micros(50)));
        assert_eq!(pause_before_retry(19), Some(Duration::from_micros(50)));
        assert_eq!(pause_before_retry(20), Some(Duration::from_micros(200)));
        assert_eq!(pause_before_retry(95), Some(Duration::from_millis(2)));
        let total: Duration = (0..).map_while(pause_before_retry).sum();
        assert!(
            total <= BUSY_WAIT_LIMIT && total > BUSY_WAIT_LIMIT - Duration::from_millis(3),
            "{total:?}"
        );
        assert_eq!(pause_before_retry(u32::MAX), None);
    }
}
