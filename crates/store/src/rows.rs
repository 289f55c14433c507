//! What both backends share: the SQL that reads the same in both dialects (SQLite accepts
//! PostgreSQL's `$n` placeholders), row structs that decode from either, their conversion into
//! the public types, and the dead-letter filter.
//!
//! Column types were chosen so that the same Rust types decode from both databases: `Uuid`
//! (UUID / 16-byte BLOB), `DateTime<Utc>` (TIMESTAMPTZ / RFC 3339 text), `Json<_>` (JSONB /
//! TEXT), `i64` for every integer (u32 counters are widened on the way in).

use crate::{
    DeadLetter, DeadLetterFilter, LedgerProgress, NewDeadLetter, SecretKey, StoreError, Tenant,
    UploadRecord,
};
use chrono::{DateTime, SubsecRound as _, Utc};
use leadback_model::{EventId, TenantSettings};
use sqlx::types::Json;
use sqlx::{Database, Encode, QueryBuilder, Type};
use uuid::Uuid;

/// How many dead letters a listing returns when the filter sets no limit.
pub(crate) const DEFAULT_DEAD_LETTER_LIMIT: u32 = 100;
/// Ids per `DELETE … IN (…)`, well under every bind-parameter limit.
pub(crate) const DELETE_CHUNK: usize = 500;

pub(crate) const TENANT_COLUMNS: &str = "id, name, active, settings, api_url, auth_kind, \
     credentials_ciphertext, created_at, updated_at";

/// What the ingress needs of a tenant: no settings to parse, no credentials to decrypt.
pub(crate) const TENANT_ROUTE: &str = "SELECT id, active FROM tenants WHERE token_hash = $1";

pub(crate) const INSERT_TENANT: &str = "INSERT INTO tenants (id, name, active, settings, api_url, \
     auth_kind, credentials_ciphertext, token_hash, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)";
pub(crate) const UPDATE_TENANT: &str =
    "UPDATE tenants SET name = $2, active = $3, settings = $4, updated_at = $5 WHERE id = $1";
pub(crate) const UPDATE_TENANT_WITH_CREDENTIALS: &str = "UPDATE tenants SET name = $2, \
     active = $3, settings = $4, updated_at = $5, api_url = $6, auth_kind = $7, \
     credentials_ciphertext = $8 WHERE id = $1";
pub(crate) const ROTATE_TOKEN: &str =
    "UPDATE tenants SET token_hash = $2, updated_at = $3 WHERE id = $1";
pub(crate) const SET_ACTIVE: &str = "UPDATE tenants SET active = $2, updated_at = $3 WHERE id = $1";
pub(crate) const DELETE_TENANT: &str = "DELETE FROM tenants WHERE id = $1";

/// Rows per `INSERT` of `ledger_record_uploads` (nine parameters each; SQLite allows 32,766
/// per statement, PostgreSQL 65,535).
pub(crate) const LEDGER_INSERT_CHUNK: usize = 500;
/// Keys per statement of `ledger_get_many` (two parameters each).
pub(crate) const LEDGER_LOOKUP_CHUNK: usize = 500;
pub(crate) const LEDGER_COLUMNS: &str = "tenant_id, event_id, kind, ext_id, comagic_id, attempts, \
     tagged, complete, received_at, delivered_at";
/// `ledger_record_uploads`: this, then one `VALUES` row per upload in [`LEDGER_COLUMNS`]'
/// order (`tagged` as `'[]'`), then [`LEDGER_INSERT_END`].
pub(crate) const LEDGER_INSERT_START: &str = "INSERT INTO ledger (tenant_id, event_id, kind, \
     ext_id, comagic_id, attempts, tagged, complete, received_at, delivered_at) ";
/// Rows already there are kept; RETURNING names the new ones.
pub(crate) const LEDGER_INSERT_END: &str =
    " ON CONFLICT (tenant_id, event_id) DO NOTHING RETURNING tenant_id, event_id";
pub(crate) const LEDGER_COUNT: &str = "SELECT COUNT(*) FROM ledger";
/// `ledger_prune`: the oldest complete entries delivered before `$1`, at most `$2` of them, in
/// one statement (one short write; the `ledger_delivered` index finds them). Entries still
/// waiting for tags are kept whatever their age: a redelivery needs them to finish the job.
pub(crate) const LEDGER_PRUNE: &str = "DELETE FROM ledger WHERE (tenant_id, event_id) IN (\
     SELECT tenant_id, event_id FROM ledger WHERE delivered_at < $1 AND complete = TRUE \
     ORDER BY delivered_at LIMIT $2)";

pub(crate) const DEAD_LETTER_COLUMNS: &str = "id, tenant_id, event_id, class, mnemonic, message, \
     attempts, first_attempt_at, last_attempt_at, dead_at, envelope, resolved_at";
/// One row per (tenant, event id): a second failure of the same event keeps the row's id and
/// first attempt, adds its attempts, takes the new error, time and envelope, and reopens a
/// resolved row.
pub(crate) const UPSERT_DEAD_LETTER: &str = "INSERT INTO dead_letters (id, tenant_id, event_id, \
     class, mnemonic, message, attempts, first_attempt_at, last_attempt_at, dead_at, envelope) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
     ON CONFLICT (tenant_id, event_id) DO UPDATE SET class = excluded.class, \
     mnemonic = excluded.mnemonic, message = excluded.message, \
     attempts = dead_letters.attempts + excluded.attempts, \
     first_attempt_at = COALESCE(dead_letters.first_attempt_at, excluded.first_attempt_at), \
     last_attempt_at = excluded.last_attempt_at, dead_at = excluded.dead_at, \
     envelope = excluded.envelope, resolved_at = NULL \
     RETURNING id, tenant_id, event_id, class, mnemonic, message, attempts, first_attempt_at, \
     last_attempt_at, dead_at, envelope, resolved_at";
/// Open dead letters only: what needs an operator.
pub(crate) const DEAD_LETTER_COUNT: &str =
    "SELECT COUNT(*) FROM dead_letters WHERE resolved_at IS NULL";
pub(crate) const DELETE_DEAD_LETTER: &str = "DELETE FROM dead_letters WHERE id = $1";

/// Replays counted by the store (`store_counters`, issue 17). The `replays` row is made by the
/// migration; the upsert keeps counting should it be gone.
pub(crate) const ADD_REPLAYS: &str = "INSERT INTO store_counters (name, value) \
     VALUES ('replays', $1) \
     ON CONFLICT (name) DO UPDATE SET value = store_counters.value + excluded.value";
pub(crate) const REPLAY_COUNT: &str =
    "SELECT COALESCE((SELECT value FROM store_counters WHERE name = 'replays'), 0)";

/// Applied migrations as sqlx records them.
pub(crate) const APPLIED_MIGRATIONS: &str =
    "SELECT version, checksum FROM _sqlx_migrations WHERE success = TRUE";

/// Both databases keep microseconds; cutting here makes what a caller gets back equal to what
/// it would read later, on either backend.
pub(crate) fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

pub(crate) fn now() -> DateTime<Utc> {
    micros(Utc::now())
}

pub(crate) fn count_to_u64(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| {
        StoreError::from(sqlx::Error::Decode(
            format!("negative count {value}").into(),
        ))
    })
}

#[derive(sqlx::FromRow)]
pub(crate) struct TenantRow {
    id: Uuid,
    name: String,
    active: bool,
    settings: Json<TenantSettings>,
    api_url: String,
    auth_kind: String,
    credentials_ciphertext: Vec<u8>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TenantRow {
    pub(crate) fn into_tenant(self, key: &SecretKey) -> Result<Tenant, StoreError> {
        let credentials = key.open_credentials(
            self.id,
            &self.api_url,
            &self.auth_kind,
            &self.credentials_ciphertext,
        )?;
        Ok(Tenant {
            id: self.id,
            name: self.name,
            active: self.active,
            settings: self.settings.0,
            credentials,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// `SELECT … FROM dead_letters WHERE <filter> ORDER BY dead_at DESC, id DESC LIMIT n`.
pub(crate) fn dead_letter_query<'a, DB>(filter: &DeadLetterFilter) -> QueryBuilder<'a, DB>
where
    DB: Database,
    Uuid: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
    DateTime<Utc>: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
{
    let mut qb = QueryBuilder::new("SELECT ");
    qb.push(DEAD_LETTER_COLUMNS);
    qb.push(" FROM dead_letters WHERE 1 = 1");
    if !filter.ids.is_empty() {
        qb.push(" AND id IN (");
        let mut ids = qb.separated(", ");
        for id in &filter.ids {
            ids.push_bind(*id);
        }
        qb.push(")");
    }
    if let Some(tenant_id) = filter.tenant_id {
        qb.push(" AND tenant_id = ").push_bind(tenant_id);
    }
    if let Some(class) = &filter.class {
        qb.push(" AND class = ").push_bind(class.clone());
    }
    if let Some(since) = filter.since {
        qb.push(" AND dead_at >= ").push_bind(micros(since));
    }
    if let Some(until) = filter.until {
        qb.push(" AND dead_at <= ").push_bind(micros(until));
    }
    if !filter.include_resolved {
        qb.push(" AND resolved_at IS NULL");
    }
    if let Some((dead_at, id)) = filter.after {
        qb.push(" AND (dead_at < ")
            .push_bind(dead_at)
            .push(" OR (dead_at = ")
            .push_bind(dead_at)
            .push(" AND id < ")
            .push_bind(id)
            .push("))");
    }
    qb.push(" ORDER BY dead_at DESC, id DESC LIMIT ")
        .push_bind(i64::from(filter.limit.unwrap_or(DEFAULT_DEAD_LETTER_LIMIT)));
    qb
}

/// `DELETE FROM dead_letters WHERE id IN (…)` for one chunk of ids.
pub(crate) fn delete_dead_letters_query<'a, DB>(ids: &[Uuid]) -> QueryBuilder<'a, DB>
where
    DB: Database,
    Uuid: Encode<'a, DB> + Type<DB>,
{
    let mut qb = QueryBuilder::new("DELETE FROM dead_letters WHERE id IN (");
    let mut list = qb.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    qb.push(")");
    qb
}

/// Compares the migrations this binary embeds with those the database has applied.
pub(crate) fn check_applied(
    migrator: &sqlx::migrate::Migrator,
    applied: &[(i64, Vec<u8>)],
) -> Result<(), StoreError> {
    for migration in migrator.iter() {
        if migration.migration_type.is_down_migration() {
            continue;
        }
        match applied.iter().find(|(v, _)| *v == migration.version) {
            None => {
                return Err(StoreError::Migration(format!(
                    "migration {} ({}) is not applied; run the migrate command",
                    migration.version, migration.description
                )))
            }
            Some((_, checksum)) if checksum.as_slice() != &*migration.checksum => {
                return Err(StoreError::Migration(format!(
                    "migration {} ({}) was applied from a different file than this binary holds",
                    migration.version, migration.description
                )))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`].
pub(crate) fn conflict_or(e: sqlx::Error, what: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(format!("{what} already exists"))
        }
        _ => e.into(),
    }
}

/// The dead letter as it will be stored: a time-ordered id, `dead_at` = now, times cut to
/// microseconds.
pub(crate) fn dead_letter_from_new(dead: &NewDeadLetter) -> DeadLetter {
    DeadLetter {
        id: Uuid::now_v7(),
        tenant_id: dead.tenant_id,
        event_id: dead.event_id.clone(),
        class: dead.class.clone(),
        mnemonic: dead.mnemonic.clone(),
        message: dead.message.clone(),
        attempts: dead.attempts,
        first_attempt_at: dead.first_attempt_at.map(micros),
        last_attempt_at: micros(dead.last_attempt_at),
        dead_at: now(),
        envelope: dead.envelope.clone(),
        resolved_at: None,
    }
}

/// The (tenant id, event id) of each upload whose ledger row was new.
pub(crate) fn newly_delivered<'a>(chunk: &'a [UploadRecord], new: &[bool]) -> Vec<(Uuid, &'a str)> {
    chunk
        .iter()
        .zip(new)
        .filter(|(_, new)| **new)
        .map(|(upload, _)| (upload.tenant_id, upload.event_id.as_str()))
        .collect()
}

/// Marks the open dead letters of the given events resolved (their event was delivered
/// since); `UPDATE … WHERE (tenant_id, event_id) IN (VALUES …)` for either backend.
pub(crate) fn resolve_dead_letters<'a, DB>(
    keys: Vec<(Uuid, &'a str)>,
    at: DateTime<Utc>,
) -> QueryBuilder<'a, DB>
where
    DB: Database,
    Uuid: Encode<'a, DB> + Type<DB>,
    &'a str: Encode<'a, DB> + Type<DB>,
    DateTime<Utc>: Encode<'a, DB> + Type<DB>,
{
    let mut update = QueryBuilder::<DB>::new("UPDATE dead_letters SET resolved_at = ");
    update.push_bind(at);
    update.push(" WHERE resolved_at IS NULL AND (tenant_id, event_id) IN (");
    update.push_values(keys, |mut key, (tenant_id, event_id)| {
        key.push_bind(tenant_id).push_bind(event_id);
    });
    update.push(")");
    update
}

/// The `INSERT` of one chunk of [`crate::Store::ledger_record_uploads`] for either backend.
pub(crate) fn ledger_insert<'a, DB>(chunk: &'a [UploadRecord]) -> QueryBuilder<'a, DB>
where
    DB: Database,
    Uuid: Encode<'a, DB> + Type<DB>,
    &'a String: Encode<'a, DB> + Type<DB>,
    &'a str: Encode<'a, DB> + Type<DB>,
    Option<i64>: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
    bool: Encode<'a, DB> + Type<DB>,
    DateTime<Utc>: Encode<'a, DB> + Type<DB>,
{
    let mut insert = QueryBuilder::<DB>::new(LEDGER_INSERT_START);
    insert.push_values(chunk, |mut row, upload| {
        row.push_bind(upload.tenant_id)
            .push_bind(upload.event_id.as_str())
            .push_bind(upload.kind.as_str())
            .push_bind(&upload.ext_id)
            .push_bind(upload.comagic_id)
            .push_bind(i64::from(upload.attempts))
            .push("'[]'")
            .push_bind(upload.complete)
            .push_bind(micros(upload.received_at))
            .push_bind(micros(upload.delivered_at));
    });
    insert.push(LEDGER_INSERT_END);
    insert
}

/// For each upload of `chunk`, whether its row is new, from the keys the `INSERT` returned; a
/// key twice in one chunk is new only the first time, as row by row.
pub(crate) fn ledger_new_rows(
    chunk: &[UploadRecord],
    returned: Vec<(Uuid, String)>,
) -> impl Iterator<Item = bool> + '_ {
    let mut new_rows: std::collections::HashSet<(Uuid, String)> = returned.into_iter().collect();
    chunk
        .iter()
        .map(move |upload| new_rows.remove(&(upload.tenant_id, upload.event_id.to_string())))
}

/// The `SELECT` of one chunk of [`crate::Store::ledger_get_many`] for either backend.
pub(crate) fn ledger_select_many<'a, DB>(keys: &'a [(Uuid, EventId)]) -> QueryBuilder<'a, DB>
where
    DB: Database,
    Uuid: Encode<'a, DB> + Type<DB>,
    &'a str: Encode<'a, DB> + Type<DB>,
{
    let mut select = QueryBuilder::<DB>::new(format!(
        "SELECT {LEDGER_COLUMNS} FROM ledger WHERE (tenant_id, event_id) IN ("
    ));
    select.push_values(keys, |mut key, (tenant_id, event_id)| {
        key.push_bind(*tenant_id).push_bind(event_id.as_str());
    });
    select.push(")");
    select
}

/// Most steps in one [`ledger_progress`] statement (4 bound parameters each).
pub(crate) const LEDGER_PROGRESS_CHUNK: usize = 500;

/// What [`ledger_progress`] writes differently per backend.
pub struct ProgressDialect {
    /// Appended to each bound parameter of the `VALUES` rows (PostgreSQL infers no types
    /// there): tenant id, event id, tags, complete.
    pub casts: [&'static str; 4],
    /// The union of `ledger.tagged` and `s.tags`, sorted, as the backend's JSON array.
    pub merged_tags: &'static str,
}

/// One `UPDATE … FROM` of a chunk of [`crate::Store::ledger_progress_many`] for either
/// backend; `RETURNING` names the entries that exist.
pub(crate) fn ledger_progress<'a, DB>(
    steps: &'a [LedgerProgress],
    dialect: &ProgressDialect,
) -> QueryBuilder<'a, DB>
where
    DB: Database,
    Uuid: Encode<'a, DB> + Type<DB>,
    &'a str: Encode<'a, DB> + Type<DB>,
    Json<&'a [i64]>: Encode<'a, DB> + Type<DB>,
    bool: Encode<'a, DB> + Type<DB>,
{
    let [tenant_cast, event_cast, tags_cast, complete_cast] = dialect.casts;
    let mut update = QueryBuilder::<DB>::new("WITH s (tenant_id, event_id, tags, complete) AS (");
    update.push_values(steps, |mut row, step| {
        row.push_bind(step.tenant_id)
            .push_unseparated(tenant_cast)
            .push_bind(step.event_id.as_str())
            .push_unseparated(event_cast)
            .push_bind(Json(step.add_tags.as_slice()))
            .push_unseparated(tags_cast)
            .push_bind(step.complete)
            .push_unseparated(complete_cast);
    });
    update.push(format!(
        ") UPDATE ledger SET tagged = {}, complete = (ledger.complete OR s.complete) \
         FROM s WHERE ledger.tenant_id = s.tenant_id AND ledger.event_id = s.event_id \
         RETURNING ledger.tenant_id, ledger.event_id",
        dialect.merged_tags
    ));
    update
}

/// For each step of `chunk`, whether its entry was among the `returned` keys.
pub(crate) fn ledger_found(
    chunk: &[LedgerProgress],
    returned: Vec<(Uuid, String)>,
) -> impl Iterator<Item = bool> + '_ {
    let returned: std::collections::HashSet<(Uuid, String)> = returned.into_iter().collect();
    chunk
        .iter()
        .map(move |step| returned.contains(&(step.tenant_id, step.event_id.to_string())))
}
