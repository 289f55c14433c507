//! The PostgreSQL backend, for deployments with a shared database: what differs from SQLite
//! ([`Postgres`], the [`Dialect`]) and how to connect. The queries and flows are in
//! [`crate::sql`].

use crate::route_cache::RouteCache;
use crate::rows;
use crate::sql::{built_queries, embedded_migrator, Dialect, SqlStore};
use crate::{SecretKey, StoreError};
use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgPoolOptions};
use std::sync::Arc;
use std::time::Duration;

embedded_migrator!("./migrations/postgres");

/// What PostgreSQL does its own way: sqlx's migrator locks with an advisory lock, and a trigger
/// announces tenant changes to every process's route cache.
pub struct Postgres;

#[async_trait]
impl Dialect for Postgres {
    type Db = sqlx::Postgres;
    const MIGRATOR: &'static sqlx::migrate::Migrator = &MIGRATOR;

    const HAS_MIGRATIONS_TABLE: &'static str = "SELECT to_regclass('_sqlx_migrations') IS NOT NULL";

    /// sqlx's PostgreSQL migrator holds an advisory lock while it runs.
    async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
        MIGRATOR.run(pool).await?;
        Ok(())
    }

    /// The union of the tag ids, sorted, without duplicates; PostgreSQL infers no types in
    /// `VALUES`, hence the casts.
    const PROGRESS: rows::ProgressDialect = rows::ProgressDialect {
        casts: ["::uuid", "::text", "::jsonb", "::boolean"],
        merged_tags: "(SELECT COALESCE(jsonb_agg(v ORDER BY v), '[]'::jsonb) FROM (\
             SELECT jsonb_array_elements(ledger.tagged) AS v \
             UNION SELECT jsonb_array_elements(s.tags)) AS merged)",
    };

    /// Trusted only while the listener of the `tenants` trigger's notifications is connected.
    fn route_cache() -> RouteCache {
        RouteCache::new()
    }

    fn watch_routes(routes: &Arc<RouteCache>, pool: &PgPool) {
        routes.ensure_listening(pool);
    }

    built_queries!();
}

/// [`crate::Store`] on PostgreSQL.
pub type PgStore = SqlStore<Postgres>;

impl SqlStore<Postgres> {
    /// Connects (failing fast when the server cannot be reached within 10 s).
    pub async fn connect(url: &str, key: SecretKey) -> Result<PgStore, StoreError> {
        Self::connect_with_pool(url, key, crate::DEFAULT_MAX_CONNECTIONS).await
    }

    /// [`PgStore::connect`] with at most `max_connections` connections (at least 1).
    pub async fn connect_with_pool(
        url: &str,
        key: SecretKey,
        max_connections: u32,
    ) -> Result<PgStore, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        Ok(Self::from_pool(pool, key))
    }
}
