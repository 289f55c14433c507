//! A writer that finds SQLite's write lock taken gets in soon after it is released.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode};
use sqlx::{Connection, Executor};
use std::time::{Duration, Instant};

async fn open(path: &std::path::Path) -> SqliteConnection {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(5));
    SqliteConnection::connect_with(&options).await.unwrap()
}

/// How long after the holder's commit the waiting writer's insert completed, when the holder
/// keeps the write lock for `hold`.
async fn lateness(
    waiter: &mut SqliteConnection,
    holder: &mut SqliteConnection,
    hold: Duration,
) -> Duration {
    holder.execute("BEGIN IMMEDIATE").await.unwrap();
    holder
        .execute("INSERT INTO t (v) VALUES (0)")
        .await
        .unwrap();
    let release = async {
        tokio::time::sleep(hold).await;
        holder.execute("COMMIT").await.unwrap();
        Instant::now()
    };
    let write = async {
        waiter
            .execute("INSERT INTO t (v) VALUES (1)")
            .await
            .unwrap();
        Instant::now()
    };
    let (released, written) = tokio::join!(release, write);
    written.saturating_duration_since(released)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_writer_gets_in_soon_after_the_lock_is_released() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy.db");
    let mut holder = open(&path).await;
    holder
        .execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)")
        .await
        .unwrap();
    let mut plain = open(&path).await;
    let mut stepped = open(&path).await;
    bridge_sqlite::wait_in_short_steps(&mut stepped)
        .await
        .unwrap();

    // Held 20 ms: SQLite's own handler has slept 1+2+5+10 = 18 ms, then sleeps 15 more, so it
    // gets in ~13 ms late; the short steps get in within a fraction of a millisecond.
    let hold = Duration::from_millis(20);
    let mut best_plain = Duration::MAX;
    let mut best_stepped = Duration::MAX;
    for _ in 0..5 {
        best_plain = best_plain.min(lateness(&mut plain, &mut holder, hold).await);
        best_stepped = best_stepped.min(lateness(&mut stepped, &mut holder, hold).await);
    }
    assert!(
        best_stepped < Duration::from_millis(5),
        "short steps got in {best_stepped:?} after the release"
    );
    assert!(
        best_plain > best_stepped,
        "the default handler ({best_plain:?}) was not slower than short steps ({best_stepped:?})"
    );
    let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM t")
        .fetch_one(&mut holder)
        .await
        .unwrap();
    assert_eq!(rows, 20);
}
