//! One body of store behaviour ([`behaviour`]), run against PostgreSQL and SQLite alike.

mod behaviour;
mod harness;

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
    ready_requires_every_migration,
    token_finds_its_tenant,
    rotation_retires_the_old_token,
    update_keeps_or_replaces_credentials,
    credentials_are_encrypted_at_rest,
    wrong_key_is_a_crypto_error,
    set_active_and_delete,
    ledger_records_once,
    ledger_tags_merge_and_complete,
    recent_deliveries_newest_first,
    dead_letters_filter_get_remove,
    dead_letter_listing_defaults_to_100,
);
