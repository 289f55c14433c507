//! One body of store behaviour ([`behaviour`]), run against PostgreSQL and SQLite alike.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod behaviour;
mod field_maps;
mod harness;
mod recent_payloads;

/// For each behaviour, a `postgres::<name>` test on a fresh database and a `sqlite::<name>`
/// test on a fresh file.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let backend = crate::harness::Postgres::new().await;
                    crate::behaviour::$name(&backend).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let backend = crate::harness::Sqlite::new();
                    crate::behaviour::$name(&backend).await;
                }
            )*
        }
    };
}

on_both_backends!(
    migrate_twice_is_idempotent,
    concurrent_migrations_all_succeed,
    ready_requires_every_migration,
    token_finds_its_tenant,
    rotation_retires_the_old_token,
    routes_follow_changes_made_elsewhere,
    a_change_that_finds_no_tenant_still_empties_the_route_cache,
    update_keeps_or_replaces_credentials,
    credentials_are_encrypted_at_rest,
    wrong_key_is_a_crypto_error,
    set_active_and_delete,
    ledger_records_once,
    ledger_batch_records_in_one_call,
    ledger_looks_up_many_events_at_once,
    ledger_tags_merge_and_complete,
    ledger_progress_of_many_events_in_one_call,
    ledger_prune_removes_old_complete_entries_only,
    recent_deliveries_newest_first,
    dead_letters_filter_get_remove,
    dead_letter_listing_defaults_to_100,
    dead_letter_per_event_then_resolved,
    dead_letter_keyset_paging,
    field_map_saved_reset_and_deleted_with_tenant,
    recent_payloads_bounded_by_count_and_age,
    tenant_activity_merges_writers,
    dead_letters_counted_per_class_and_found_by_event,
    admin_signouts_are_seen_by_every_process,
    replays_are_counted_by_the_store,
);

mod opening {
    use bridge_store::{sqlite::SqliteStore, SecretKey, StoreError};

    /// A fresh temporary folder and the URL of a SQLite file `path` in it.
    fn temp_sqlite(path: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/{path}", dir.path().display());
        (dir, url)
    }

    #[tokio::test]
    async fn open_picks_the_backend_from_the_url() {
        let (dir, url) = temp_sqlite("nested/bridge.db");
        let store = bridge_store::open(&url, SecretKey::generate())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        store.ready().await.unwrap();
        assert!(dir.path().join("nested/bridge.db").exists());

        for bad in ["mysql://localhost/db", "bridge.db", ""] {
            assert!(matches!(
                bridge_store::open(bad, SecretKey::generate()).await,
                Err(StoreError::Config(_))
            ));
        }
    }

    #[tokio::test]
    async fn sqlite_is_durable_wal() {
        let (_dir, url) = temp_sqlite("bridge.db");
        let store = SqliteStore::open(&url, SecretKey::generate())
            .await
            .unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(synchronous, 2, "FULL");
        // A write that finds the lock taken (by the queue's writer, say) waits for it instead
        // of failing with "database is locked" (bridge-sqlite's busy handler, up to 5 s).
        sqlx::query("CREATE TABLE busy_probe (x INTEGER)")
            .execute(store.pool())
            .await
            .unwrap();
        let mut other = {
            use sqlx::Connection;
            sqlx::SqliteConnection::connect(&url).await.unwrap()
        };
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut other)
            .await
            .unwrap();
        let release = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            sqlx::query("COMMIT").execute(&mut other).await.unwrap();
        });
        let started = std::time::Instant::now();
        sqlx::query("INSERT INTO busy_probe (x) VALUES (1)")
            .execute(store.pool())
            .await
            .expect("the write waits for the lock");
        assert!(
            started.elapsed() >= std::time::Duration::from_millis(250),
            "the write did not wait for the lock: {:?}",
            started.elapsed()
        );
        release.await.unwrap();
    }

    #[tokio::test]
    async fn connection_errors_do_not_show_the_password() {
        let url =
            "postgres://postgres:hunter2-secret@127.0.0.1:5432/no_such_database_for_store_tests";
        let err = match bridge_store::open(url, SecretKey::generate()).await {
            Err(err) => err,
            Ok(_) => panic!("connected to a database that does not exist"),
        };
        assert!(matches!(err, StoreError::Database(_)));
        let shown = format!("{err} / {err:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("no_such_database_for_store_tests"),
            "{shown}"
        );
    }
}
