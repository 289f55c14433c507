//! What differs between the databases the store runs on ([`Dialect`]), and the few statement
//! runners each backend expands for its concrete database ([`built_queries`]).

use crate::route_cache::RouteCache;
use crate::rows;
use crate::StoreError;
use async_trait::async_trait;
use sqlx::{Database, FromRow, Pool, QueryBuilder};
use std::sync::Arc;

/// What differs between the databases the store runs on.
#[async_trait]
pub trait Dialect: Send + Sync + 'static {
    type Db: Database;

    /// The migrations this binary embeds for the database.
    const MIGRATOR: &'static sqlx::migrate::Migrator;
    /// Applies pending migrations, serialized with other processes doing the same.
    async fn migrate(pool: &Pool<Self::Db>) -> Result<(), StoreError>;
    /// One boolean: sqlx's migrations table exists.
    const HAS_MIGRATIONS_TABLE: &'static str;
    /// The ledger's tag merge in this database's JSON functions.
    const PROGRESS: rows::ProgressDialect;
    /// A fresh token → route cache, with this database's way of hearing about changes other
    /// processes make.
    fn route_cache() -> RouteCache;
    /// Called before the route cache is read: starts whatever keeps it current.
    fn watch_routes(_routes: &Arc<RouteCache>, _pool: &Pool<Self::Db>) {}
    /// Rows a statement changed (sqlx has no common accessor). Written by [`built_queries`].
    fn rows_affected(done: &<Self::Db as Database>::QueryResult) -> u64;
    /// Runs a built statement and decodes its rows; `persistent: false` keeps it out of the
    /// connection's statement cache (one statement per row count). Written by [`built_queries`].
    fn fetch_built<'a, O>(
        pool: &'a Pool<Self::Db>,
        query: QueryBuilder<'a, Self::Db>,
        persistent: bool,
    ) -> Built<'a, Vec<O>>
    where
        O: for<'r> FromRow<'r, <Self::Db as Database>::Row> + Send + Unpin + 'a;
    /// Runs a built statement; the rows it changed. Written by [`built_queries`].
    fn execute_built<'a>(
        pool: &'a Pool<Self::Db>,
        query: QueryBuilder<'a, Self::Db>,
        persistent: bool,
    ) -> Built<'a, u64>;
}

/// [`Dialect::rows_affected`], [`Dialect::fetch_built`] and [`Dialect::execute_built`], the same
/// text for every database,
/// expanded where the database is concrete: only there may a built statement's arguments
/// (`Arguments<'a>`) be shortened to the borrow of its builder; over a generic database the
/// lifetime is invariant and the builder would stay borrowed past its own drop.
macro_rules! built_queries {
    () => {
        fn rows_affected(done: &<Self::Db as sqlx::Database>::QueryResult) -> u64 {
            done.rows_affected()
        }

        fn fetch_built<'a, O>(
            pool: &'a sqlx::Pool<Self::Db>,
            query: sqlx::QueryBuilder<'a, Self::Db>,
            persistent: bool,
        ) -> $crate::sql::Built<'a, Vec<O>>
        where
            O: for<'r> sqlx::FromRow<'r, <Self::Db as sqlx::Database>::Row> + Send + Unpin + 'a,
        {
            Box::pin(async move {
                let mut query = query;
                query
                    .build_query_as::<O>()
                    .persistent(persistent)
                    .fetch_all(pool)
                    .await
            })
        }

        fn execute_built<'a>(
            pool: &'a sqlx::Pool<Self::Db>,
            query: sqlx::QueryBuilder<'a, Self::Db>,
            persistent: bool,
        ) -> $crate::sql::Built<'a, u64> {
            Box::pin(async move {
                let mut query = query;
                let done = query.build().persistent(persistent).execute(pool).await?;
                Ok(Self::rows_affected(&done))
            })
        }
    };
}
pub(crate) use built_queries;

/// `static MIGRATOR`: the migrations in `$dir` (relative to the crate), embedded at compile time.
///
/// `ignore_missing`: a database migrated by a newer release (a rollback, or an old pod restarting
/// mid-rollout) holds migrations this binary does not know; they are additive, so this binary
/// still runs on it instead of refusing to start.
macro_rules! embedded_migrator {
    ($dir:literal) => {
        static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate::Migrator {
            ignore_missing: true,
            ..sqlx::migrate!($dir)
        };
    };
}
pub(crate) use embedded_migrator;

/// What [`Dialect::fetch_built`] and [`Dialect::execute_built`] return.
pub type Built<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, sqlx::Error>> + Send + 'a>>;
