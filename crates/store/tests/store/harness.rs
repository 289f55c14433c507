//! The two backends behind one interface, so every behaviour test runs on both: a fresh
//! PostgreSQL database per test (dropped afterwards, even when the test panics), or a SQLite
//! file in a fresh temporary folder.

use async_trait::async_trait;
use bridge_store::{postgres::PgStore, sqlite::SqliteStore, SecretKey, Store, Tenant, TenantInput};
use leadback_model::{ComagicAuth, ComagicCredentials, TenantSettings};
use secrecy::SecretString;
use sqlx::{Connection as _, PgConnection};
use std::path::PathBuf;
use std::sync::Arc;

const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[async_trait]
pub trait Backend: Send + Sync {
    /// A store on this test's database with `key`, migrations not run.
    async fn open(&self, key: SecretKey) -> Arc<dyn Store>;
    /// Every byte the database holds for the tenants table, as stored.
    async fn raw_tenant_bytes(&self) -> Vec<u8>;
    /// Makes the database forget the newest migration was applied.
    async fn unapply_last_migration(&self);

    /// A migrated store with `key`.
    async fn migrated(&self, key: SecretKey) -> Arc<dyn Store> {
        let store = self.open(key).await;
        store.migrate().await.unwrap();
        store
    }
}

const FORGET_LAST_MIGRATION: &str =
    "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)";

pub struct Postgres {
    name: String,
    url: String,
}

impl Postgres {
    pub async fn new() -> Postgres {
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(PG_ADMIN_URL).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
        let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
        Postgres { name, url }
    }

    async fn connection(&self) -> PgConnection {
        PgConnection::connect(&self.url).await.unwrap()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Best effort, on its own runtime: Drop cannot await, and the test's runtime may be
        // unwinding. FORCE ends the pools the test left open.
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(PG_ADMIN_URL).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                    .ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

#[async_trait]
impl Backend for Postgres {
    async fn open(&self, key: SecretKey) -> Arc<dyn Store> {
        Arc::new(PgStore::connect(&self.url, key).await.unwrap())
    }

    async fn raw_tenant_bytes(&self) -> Vec<u8> {
        let mut conn = self.connection().await;
        // The whole row as the server renders it, plus the ciphertext column's raw bytes.
        let rows: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT t::text, t.credentials_ciphertext FROM tenants t")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        rows.into_iter()
            .flat_map(|(text, bytes)| text.into_bytes().into_iter().chain(bytes))
            .collect()
    }

    async fn unapply_last_migration(&self) {
        let mut conn = self.connection().await;
        sqlx::query(FORGET_LAST_MIGRATION)
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

pub struct Sqlite {
    // Held so the folder lives as long as the test.
    _dir: tempfile::TempDir,
    file: PathBuf,
}

impl Sqlite {
    pub fn new() -> Sqlite {
        let dir = tempfile::tempdir().unwrap();
        // A folder that does not exist yet: opening must create it.
        let file = dir.path().join("data").join("bridge.db");
        Sqlite { _dir: dir, file }
    }

    fn url(&self) -> String {
        format!("sqlite://{}", self.file.display())
    }
}

#[async_trait]
impl Backend for Sqlite {
    async fn open(&self, key: SecretKey) -> Arc<dyn Store> {
        Arc::new(SqliteStore::open(&self.url(), key).await.unwrap())
    }

    async fn raw_tenant_bytes(&self) -> Vec<u8> {
        // Stronger than reading the columns: every byte of the database file and its WAL.
        let mut bytes = std::fs::read(&self.file).unwrap();
        let wal = self.file.with_extension("db-wal");
        if let Ok(more) = std::fs::read(wal) {
            bytes.extend(more);
        }
        bytes
    }

    async fn unapply_last_migration(&self) {
        let mut conn = sqlx::SqliteConnection::connect(&self.url()).await.unwrap();
        sqlx::query(FORGET_LAST_MIGRATION)
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

/// A tenant named `name` with default settings and access-token credentials: for tests about
/// what belongs to a tenant rather than about tenants.
pub async fn tenant_named(store: &Arc<dyn Store>, name: &str) -> Tenant {
    let credentials = ComagicCredentials {
        api_url: "https://dataapi.uiscom.ru/v2.0".into(),
        auth: ComagicAuth::AccessToken {
            access_token: SecretString::from(format!("token-of-{name}")),
        },
    };
    let input = TenantInput {
        name: name.into(),
        active: true,
        settings: TenantSettings::default(),
        credentials: Some(credentials),
    };
    store.create_tenant(input).await.unwrap().0
}
