//! The embedded SQLite backend: one file, no server, for single-node deployments. The embedded
//! queue may share the file (its tables are `queue_`-prefixed); WAL lets readers run while one
//! writer commits, and `synchronous=FULL` makes a commit survive power loss.
//!
//! What differs from PostgreSQL ([`Sqlite`], the [`Dialect`]) and how to open a file; the
//! queries and flows are in [`crate::sql`].

use crate::route_cache::{RouteCache, LOCAL_TTL};
use crate::rows;
use crate::sql::{built_queries, embedded_migrator, Dialect, SqlStore};
use crate::{SecretKey, StoreError};
use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr as _;
use std::time::Duration;

embedded_migrator!("./migrations/sqlite");

/// What SQLite does its own way: migrations are serialized by a lock file, and there are no
/// notifications, so cached routes expire after a second.
pub struct Sqlite;

#[async_trait]
impl Dialect for Sqlite {
    type Db = sqlx::Sqlite;
    built_queries!();

    async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
        // sqlx's SQLite migrator takes no lock: two processes opening one file at once (a CLI
        // command beside a starting `serve`) would both apply the first pending migration and
        // one would fail. A lock on a file beside the database serializes them; it is released
        // when the guard is dropped.
        let _guard = migration_lock(pool).await?;
        MIGRATOR.run(pool).await?;
        Ok(())
    }

    const MIGRATOR: &'static sqlx::migrate::Migrator = &MIGRATOR;

    const HAS_MIGRATIONS_TABLE: &'static str = "SELECT EXISTS (SELECT 1 FROM sqlite_master \
         WHERE type = 'table' AND name = '_sqlx_migrations')";

    /// The union of the tag ids, sorted, without duplicates.
    const PROGRESS: rows::ProgressDialect = rows::ProgressDialect {
        casts: ["", "", "", ""],
        merged_tags: "(SELECT json_group_array(v) FROM (\
             SELECT value AS v FROM json_each(ledger.tagged) \
             UNION SELECT value FROM json_each(s.tags) ORDER BY 1))",
    };

    /// Emptied by this store's own changes, and expiring after [`LOCAL_TTL`] for changes other
    /// processes make to the file (see [`crate::route_cache`]).
    fn route_cache() -> RouteCache {
        RouteCache::local(LOCAL_TTL)
    }
}

/// [`crate::Store`] on a SQLite file.
pub type SqliteStore = SqlStore<Sqlite>;

impl SqlStore<Sqlite> {
    /// Opens (creating the file and its folder when missing) `sqlite://path`, `sqlite:path` or
    /// `sqlite::memory:`.
    pub async fn open(url: &str, key: SecretKey) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if !in_memory {
            if let Some(dir) = options.get_filename().parent() {
                if !dir.as_os_str().is_empty() {
                    tokio::fs::create_dir_all(dir).await.map_err(|e| {
                        StoreError::Config(format!(
                            "cannot create the folder {} for the SQLite database: {e}",
                            dir.display()
                        ))
                    })?;
                }
            }
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            // The queue's writer shares the file: wait for its lock in short steps.
            .after_connect(|connection, _| Box::pin(bridge_sqlite::wait_in_short_steps(connection)))
            .connect_with(options)
            .await?;
        Ok(SqliteStore::from_pool(pool, key))
    }
}

/// An exclusive lock on `<database file>.migrate-lock`, held while the guard lives; `None` for
/// an in-memory database (no other process can open it).
async fn migration_lock(pool: &SqlitePool) -> Result<Option<std::fs::File>, StoreError> {
    let file: String =
        sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
            .fetch_one(pool)
            .await?;
    if file.is_empty() {
        return Ok(None);
    }
    let path = format!("{file}.migrate-lock");
    let locked = tokio::task::spawn_blocking(move || {
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        lock.lock()?;
        Ok::<_, std::io::Error>(lock)
    })
    .await
    .map_err(|e| StoreError::Migration(format!("migration lock task: {e}")))?;
    locked
        .map(Some)
        .map_err(|e| StoreError::Migration(format!("cannot lock the database for migrating: {e}")))
}
