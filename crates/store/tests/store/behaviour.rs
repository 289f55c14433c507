//! What a store must do, whatever the backend. Each function gets a fresh database.

pub use crate::field_maps::field_map_saved_reset_and_deleted_with_tenant;
use crate::harness::Backend;
pub use crate::recent_payloads::{
    dead_letters_counted_per_class_and_found_by_event, recent_payloads_bounded_by_count_and_age,
    tenant_activity_merges_writers,
};
use bridge_store::{
    DeadLetterFilter, LedgerProgress, NewDeadLetter, SecretKey, Store, StoreError, Tenant,
    TenantInput, TenantRoute, TokenHash, UploadRecord, WebhookToken,
};
use chrono::{DateTime, Duration, SubsecRound as _, Utc};
use leadback_model::{
    ComagicAuth, ComagicCredentials, DefaultEntity, EventId, EventKind, TenantSettings,
};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;
use uuid::Uuid;

/// An event id from a test's literal.
fn ev(id: &str) -> EventId {
    id.parse().unwrap()
}

const ACCESS_TOKEN: &str = "at-9f8e7d6c5b4a-the-api-key-of-acme";
const PASSWORD: &str = "pw-Correct-Horse-Battery-Staple";

fn key() -> SecretKey {
    SecretKey::parse("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f").unwrap()
}

fn access_token(token: &str) -> ComagicCredentials {
    ComagicCredentials {
        api_url: "https://dataapi.comagic.ru/v2.0".into(),
        auth: ComagicAuth::AccessToken {
            access_token: SecretString::from(token),
        },
    }
}

fn login(password: &str) -> ComagicCredentials {
    ComagicCredentials {
        api_url: "https://dataapi.uiscom.ru/v2.0".into(),
        auth: ComagicAuth::Login {
            login: "acme-admin".into(),
            password: SecretString::from(password),
        },
    }
}

fn input(name: &str, credentials: Option<ComagicCredentials>) -> TenantInput {
    TenantInput {
        name: name.into(),
        active: true,
        settings: TenantSettings {
            set_tags: true,
            tag_ids: vec![7, 8],
            default_campaign_id: Some(42),
            ..TenantSettings::default()
        },
        credentials,
    }
}

/// (api_url, kind, secret) of a tenant's credentials, for comparisons.
fn creds_of(c: &ComagicCredentials) -> (String, String, String) {
    let secret = match &c.auth {
        ComagicAuth::AccessToken { access_token } => access_token.expose_secret().to_owned(),
        ComagicAuth::Login { login, password } => {
            format!("{login}/{}", password.expose_secret())
        }
    };
    (c.api_url.clone(), c.auth.kind().to_owned(), secret)
}

fn assert_same_tenant(a: &Tenant, b: &Tenant) {
    assert_eq!(a.id, b.id);
    assert_eq!(a.name, b.name);
    assert_eq!(a.active, b.active);
    assert_eq!(a.settings, b.settings);
    assert_eq!(creds_of(&a.credentials), creds_of(&b.credentials));
    assert_eq!(a.created_at, b.created_at);
    assert_eq!(a.updated_at, b.updated_at);
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Tenant `acme` (access-token credentials) and its webhook token.
async fn acme(store: &Arc<dyn Store>) -> (Tenant, WebhookToken) {
    created(store, input("acme", Some(access_token(ACCESS_TOKEN)))).await
}

/// Tenant `globex` (login credentials) and its webhook token.
async fn globex(store: &Arc<dyn Store>) -> (Tenant, WebhookToken) {
    created(store, input("globex", Some(login(PASSWORD)))).await
}

async fn created(store: &Arc<dyn Store>, input: TenantInput) -> (Tenant, WebhookToken) {
    store.create_tenant(input).await.unwrap()
}

/// The ids of every tenant, oldest first.
async fn tenant_ids(store: &Arc<dyn Store>) -> Vec<Uuid> {
    let tenants = store.list_tenants().await.unwrap();
    tenants.iter().map(|t| t.id).collect()
}

/// Records an upload of each (tenant, event) in one call, delivered a second apart.
async fn record_all(store: &Arc<dyn Store>, events: &[(Uuid, &str)]) {
    let uploads: Vec<UploadRecord> = (1..)
        .zip(events)
        .map(|(second, (tenant, event))| upload(*tenant, event, at(second)))
        .collect();
    store.ledger_record_uploads(&uploads).await.unwrap();
}

/// Records `upload` in the ledger (whether it was new or not).
async fn record(store: &Arc<dyn Store>, upload: UploadRecord) {
    store.ledger_record_upload(&upload).await.unwrap();
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000 + seconds, 123_456_789).unwrap()
}

fn upload(tenant_id: Uuid, event_id: &str, delivered_at: DateTime<Utc>) -> UploadRecord {
    UploadRecord {
        tenant_id,
        event_id: event_id.parse().unwrap(),
        kind: EventKind::Callback,
        ext_id: format!("lb-{event_id}"),
        comagic_id: Some(1001),
        attempts: 2,
        received_at: delivered_at - Duration::seconds(5),
        delivered_at,
        complete: false,
    }
}

pub async fn migrate_twice_is_idempotent(b: &dyn Backend) {
    let store = b.migrated(key()).await;
    let (tenant, token) = acme(&store).await;
    store.migrate().await.unwrap();
    store.ready().await.unwrap();
    // A second process migrating the same database changes nothing either.
    let again = b.migrated(key()).await;
    again.ready().await.unwrap();
    let found = again.tenant_by_token(&token.hash()).await.unwrap().unwrap();
    assert_same_tenant(&found, &tenant);
}

/// Every ingress and worker migrates at start: several processes may do it at once.
pub async fn concurrent_migrations_all_succeed(b: &dyn Backend) {
    let stores = [
        b.open(key()).await,
        b.open(key()).await,
        b.open(key()).await,
    ];
    let (first, second, third) = tokio::join!(
        stores[0].migrate(),
        stores[1].migrate(),
        stores[2].migrate()
    );
    for result in [first, second, third] {
        result.unwrap();
    }
    for store in &stores {
        store.ready().await.unwrap();
    }
}

pub async fn ready_requires_every_migration(b: &dyn Backend) {
    let store = b.open(key()).await;
    assert!(matches!(store.ready().await, Err(StoreError::Migration(_))));
    store.migrate().await.unwrap();
    store.ready().await.unwrap();
    b.unapply_last_migration().await;
    let err = store.ready().await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Migration(m) if m.contains("not applied")),
        "{err}"
    );
}

pub async fn token_finds_its_tenant(b: &dyn Backend) {
    let store = b.migrated(key()).await;
    let (tenant, token) = acme(&store).await;
    let (other, other_token) = globex(&store).await;
    assert_ne!(token.as_str(), other_token.as_str());
    assert!(WebhookToken::looks_valid(token.as_str()));

    let found = store
        .tenant_by_token(&TokenHash::of(token.as_str()))
        .await
        .unwrap()
        .unwrap();
    assert_same_tenant(&found, &tenant);
    assert_eq!(found.settings.tag_ids, vec![7, 8]);
    let found = store
        .tenant_by_token(&other_token.hash())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, other.id);

    for wrong in [
        WebhookToken::generate().as_str().to_owned(),
        "not-a-token".to_owned(),
        String::new(),
        token.as_str().to_uppercase(),
    ] {
        assert!(store
            .tenant_by_token(&TokenHash::of(&wrong))
            .await
            .unwrap()
            .is_none());
    }

    // Lookup ignores the active flag: the caller decides what an inactive tenant gets.
    store.set_active(tenant.id, false).await.unwrap();
    let found = store.tenant_by_token(&token.hash()).await.unwrap().unwrap();
    assert!(!found.active);

    let fetched = store.get_tenant(other.id).await.unwrap().unwrap();
    assert_same_tenant(&fetched, &other);
    assert!(store.get_tenant(Uuid::new_v4()).await.unwrap().is_none());
    assert_eq!(tenant_ids(&store).await, vec![tenant.id, other.id]);
}

pub async fn rotation_retires_the_old_token(b: &dyn Backend) {
    let store = b.migrated(key()).await;
    let (tenant, old) = acme(&store).await;
    let new = store.rotate_token(tenant.id).await.unwrap();
    assert_ne!(new.as_str(), old.as_str());
    assert!(store.tenant_by_token(&old.hash()).await.unwrap().is_none());
    assert!(store
        .tenant_route_by_token(&old.hash())
        .await
        .unwrap()
        .is_none());
    let found = store.tenant_by_token(&new.hash()).await.unwrap().unwrap();
    assert_eq!(found.id, tenant.id);
    let route = store
        .tenant_route_by_token(&new.hash())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        route,
        TenantRoute {
            id: tenant.id,
            active: true
        }
    );
    store.set_active(tenant.id, false).await.unwrap();
    let route = store.tenant_route_by_token(&new.hash()).await.unwrap();
    assert_eq!(route.map(|r| r.active), Some(false));
    assert_eq!(creds_of(&found.credentials), creds_of(&tenant.credentials));
    assert!(matches!(
        store.rotate_token(Uuid::new_v4()).await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn update_keeps_or_replaces_credentials(b: &dyn Backend) {
    let store = b.migrated(key()).await;
    let (tenant, token) = acme(&store).await;

    let mut changed = input("acme renamed", None);
    changed.active = false;
    changed.settings.default_entity = DefaultEntity::Source;
    changed.settings.default_source_id = Some(5);
    changed.settings.default_site_id = Some(6);
    let updated = store
        .update_tenant(tenant.id, changed.clone())
        .await
        .unwrap();
    assert_eq!(updated.name, "acme renamed");
    assert!(!updated.active);
    assert_eq!(updated.settings, changed.settings);
    assert_eq!(
        creds_of(&updated.credentials),
        creds_of(&tenant.credentials)
    );
    assert_eq!(updated.created_at, tenant.created_at);
    assert!(updated.updated_at >= tenant.updated_at);
    // The token is untouched by an update.
    assert_eq!(
        store
            .tenant_by_token(&token.hash())
            .await
            .unwrap()
            .unwrap()
            .id,
        tenant.id
    );

    let replaced = store
        .update_tenant(tenant.id, input("acme", Some(login(PASSWORD))))
        .await
        .unwrap();
    assert_eq!(
        creds_of(&replaced.credentials),
        (
            "https://dataapi.uiscom.ru/v2.0".to_owned(),
            "login".to_owned(),
            format!("acme-admin/{PASSWORD}")
        )
    );
    let reread = store.get_tenant(tenant.id).await.unwrap().unwrap();
    assert_same_tenant(&reread, &replaced);

    assert!(matches!(
        store.update_tenant(Uuid::new_v4(), input("x", None)).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.create_tenant(input("no credentials", None)).await,
        Err(StoreError::Invalid(_))
    ));
}

pub async fn credentials_are_encrypted_at_rest(b: &dyn Backend) {
    let store = b.migrated(key()).await;
    let (a, _) = acme(&store).await;
    let (g, _) = globex(&store).await;

    let raw = b.raw_tenant_bytes().await;
    // The test can see the rows at all (it would pass vacuously otherwise) …
    assert!(contains(&raw, b"globex"));
    assert!(contains(&raw, b"https://dataapi.uiscom.ru/v2.0"));
    // … and no secret is among them.
    assert!(!contains(&raw, ACCESS_TOKEN.as_bytes()));
    assert!(!contains(&raw, PASSWORD.as_bytes()));

    let a = store.get_tenant(a.id).await.unwrap().unwrap();
    assert_eq!(creds_of(&a.credentials).2, ACCESS_TOKEN);
    let g = store.get_tenant(g.id).await.unwrap().unwrap();
    assert_eq!(creds_of(&g.credentials).2, format!("acme-admin/{PASSWORD}"));
}

pub async fn wrong_key_is_a_crypto_error(b: &dyn Backend) {
    let store = b.migrated(key()).await;
    let (tenant, token) = acme(&store).await;
    let other = b.open(SecretKey::generate()).await;
    let err = other.get_tenant(tenant.id).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Crypto(m) if m.contains("BRIDGE_SECRET_KEY")),
        "{err}"
    );
    assert!(!err.to_string().contains(ACCESS_TOKEN));
    assert!(matches!(
        other.tenant_by_token(&token.hash()).await,
        Err(StoreError::Crypto(_))
    ));
    assert!(matches!(
        other.list_tenants().await,
        Err(StoreError::Crypto(_))
    ));
    // The right key still reads it: nothing was damaged.
    assert!(store.get_tenant(tenant.id).await.unwrap().is_some());
}

pub async fn set_active_and_delete(b: &dyn Backend) {
    let store = b.migrated(key()).await;
    let (tenant, token) = acme(&store).await;
    let (keep, _) = globex(&store).await;
    record(&store, upload(tenant.id, "ev-1", at(0))).await;

    store.set_active(tenant.id, false).await.unwrap();
    assert!(!store.get_tenant(tenant.id).await.unwrap().unwrap().active);
    store.set_active(tenant.id, true).await.unwrap();
    assert!(store.get_tenant(tenant.id).await.unwrap().unwrap().active);

    store.delete_tenant(tenant.id).await.unwrap();
    assert!(store.get_tenant(tenant.id).await.unwrap().is_none());
    assert!(store
        .tenant_by_token(&token.hash())
        .await
        .unwrap()
        .is_none());
    assert_eq!(tenant_ids(&store).await, vec![keep.id]);
    // Audit data outlives the tenant.
    assert!(store.ledger_get(tenant.id, "ev-1").await.unwrap().is_some());

    for result in [
        store.delete_tenant(tenant.id).await,
        store.set_active(tenant.id, true).await,
    ] {
        assert!(matches!(result, Err(StoreError::NotFound(_))));
    }
}

pub async fn ledger_records_once(b: &dyn Backend) {
    let store = b.migrated(key()).await;
    let tenant = Uuid::new_v4();
    let first = upload(tenant, "ev-1", at(10));
    assert!(store.ledger_record_upload(&first).await.unwrap());

    let mut second = upload(tenant, "ev-1", at(20));
    second.comagic_id = None;
    second.attempts = 9;
    assert!(!store.ledger_record_upload(&second).await.unwrap());

    let entry = store.ledger_get(tenant, "ev-1").await.unwrap().unwrap();
    assert_eq!(entry.tenant_id, tenant);
    assert_eq!(entry.event_id, "ev-1");
    assert_eq!(entry.kind, EventKind::Callback);
    assert_eq!(entry.ext_id, "lb-ev-1");
    assert_eq!(entry.comagic_id, Some(1001));
    assert_eq!(entry.attempts, 2);
    assert!(entry.tagged.is_empty());
    assert!(!entry.complete);
    // Stored to the microsecond, the precision both databases keep.
    assert_eq!(entry.delivered_at, at(10).trunc_subsecs(6));
    assert_eq!(
        entry.received_at,
        (at(10) - Duration::seconds(5)).trunc_subsecs(6)
    );

    // Same event id, other tenant: a separate row. `duplicate_entity` uploads have no id.
    let mut dup = upload(Uuid::new_v4(), "ev-1", at(30));
    dup.comagic_id = None;
    assert!(store.ledger_record_upload(&dup).await.unwrap());
    let entry = store
        .ledger_get(dup.tenant_id, "ev-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.comagic_id, None);

    assert!(store.ledger_get(tenant, "ev-2").await.unwrap().is_none());
    assert_eq!(store.ledger_count().await.unwrap(), 2);
}

pub async fn ledger_prune_removes_old_complete_entries_only(b: &dyn Backend) {
    let store = b.migrated(key()).await;
    let (tenant, other) = (Uuid::new_v4(), Uuid::new_v4());
    let mut uploads = Vec::new();
    // Five old complete entries (two tenants), one old entry still waiting for its tags, and
    // two recent complete ones.
    for (n, owner) in [tenant, other, tenant, other, tenant]
        .into_iter()
        .enumerate()
    {
        let mut old = upload(owner, &format!("old-{n}"), at(i64::try_from(n).unwrap()));
        old.complete = true;
        uploads.push(old);
    }
    uploads.push(upload(tenant, "old-unfinished", at(2)));
    for n in 0..2 {
        let mut recent = upload(tenant, &format!("recent-{n}"), at(1_000 + n));
        recent.complete = true;
        uploads.push(recent);
    }
    store.ledger_record_uploads(&uploads).await.unwrap();
    assert_eq!(store.ledger_count().await.unwrap(), 8);

    // Oldest first, at most `limit` per call.
    assert_eq!(store.ledger_prune(at(500), 2).await.unwrap(), 2);
    for gone in ["old-0", "old-1"] {
        let owner = if gone == "old-0" { tenant } else { other };
        assert!(
            store.ledger_get(owner, gone).await.unwrap().is_none(),
            "{gone}"
        );
    }
    assert!(store.ledger_get(tenant, "old-2").await.unwrap().is_some());
    assert_eq!(store.ledger_prune(at(500), 100).await.unwrap(), 3);
    assert_eq!(store.ledger_prune(at(500), 100).await.unwrap(), 0);

    // Left: the unfinished entry (however old) and everything at or after the cut-off.
    let unfinished = store
        .ledger_get(tenant, "old-unfinished")
        .await
        .unwrap()
        .unwrap();
    assert!(!unfinished.complete);
    for kept in ["recent-0", "recent-1"] {
        assert!(
            store.ledger_get(tenant, kept).await.unwrap().is_some(),
            "{kept}"
        );
    }
    assert_eq!(store.ledger_count().await.unwrap(), 3);
    // The cut-off is exclusive: an entry delivered exactly then stays.
    assert_eq!(store.ledger_prune(at(1_000), 100).await.unwrap(), 0);
    assert_eq!(store.ledger_prune(at(1_001), 100).await.unwrap(), 1);
    assert!(store
        .ledger_get(tenant, "recent-0")
        .await
        .unwrap()
        .is_none());
    // Once finished, an old entry goes with the next prune.
    store
        .ledger_complete(tenant, &ev("old-unfinished"))
        .await
        .unwrap();
    assert_eq!(store.ledger_prune(at(1_001), 100).await.unwrap(), 1);
    assert_eq!(store.ledger_count().await.unwrap(), 1);
}

/// The route of a token as another store on the same database sees it, once it settles
/// (stores in other processes learn of changes asynchronously, within milliseconds).
async fn settled_route(store: &dyn Store, token: &WebhookToken, want: Option<TenantRoute>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let route = store.tenant_route_by_token(&token.hash()).await.unwrap();
        if route == want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "route still {route:?}, expected {want:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Two processes on one database, as with split roles: one routes webhooks (and may cache
/// routes), the other changes tenants. Every change reaches the router; its own changes at once.
pub async fn routes_follow_changes_made_elsewhere(b: &dyn Backend) {
    let admin = b.migrated(key()).await;
    let router = b.open(key()).await;
    let (tenant, old) = acme(&admin).await;
    let active = |active| {
        Some(TenantRoute {
            id: tenant.id,
            active,
        })
    };
    // Looked up often enough for a cache to hold it.
    for _ in 0..25 {
        settled_route(router.as_ref(), &old, active(true)).await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    admin.set_active(tenant.id, false).await.unwrap();
    settled_route(router.as_ref(), &old, active(false)).await;

    let new = admin.rotate_token(tenant.id).await.unwrap();
    settled_route(router.as_ref(), &old, None).await;
    settled_route(router.as_ref(), &new, active(false)).await;

    // The router's own changes show at once, with no waiting.
    router.set_active(tenant.id, true).await.unwrap();
    assert_eq!(
        router.tenant_route_by_token(&new.hash()).await.unwrap(),
        active(true)
    );
    let newer = router.rotate_token(tenant.id).await.unwrap();
    assert_eq!(
        router.tenant_route_by_token(&new.hash()).await.unwrap(),
        None
    );
    assert_eq!(
        router.tenant_route_by_token(&newer.hash()).await.unwrap(),
        active(true)
    );

    admin.delete_tenant(tenant.id).await.unwrap();
    settled_route(router.as_ref(), &newer, None).await;
}

/// A write that finds the tenant gone (deleted by another process) still empties this
/// process's route cache: the route it holds for that tenant is stale. (The two backends once
/// differed here: SQLite emptied it only when the row was found.)
pub async fn a_change_that_finds_no_tenant_still_empties_the_route_cache(b: &dyn Backend) {
    let admin = b.migrated(key()).await;
    let router = b.open(key()).await;
    let (tenant, token) = acme(&admin).await;
    let route = Some(TenantRoute {
        id: tenant.id,
        active: true,
    });
    assert_eq!(
        router.tenant_route_by_token(&token.hash()).await.unwrap(),
        route
    );
    admin.delete_tenant(tenant.id).await.unwrap();
    assert!(matches!(
        router.set_active(tenant.id, false).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        router.tenant_route_by_token(&token.hash()).await.unwrap(),
        None
    );
}

pub async fn ledger_batch_records_in_one_call(b: &dyn Backend) {
    let store = b.migrated(key()).await;
    let tenant = Uuid::new_v4();
    // Recorded earlier (a duplicate copy, say): kept as it was.
    record(&store, upload(tenant, "ev-old", at(0))).await;

    let mut untagged = upload(tenant, "ev-a", at(1));
    untagged.complete = true;
    let tagged = upload(tenant, "ev-b", at(2));
    let mut again = upload(tenant, "ev-old", at(3));
    again.complete = true;
    again.comagic_id = Some(999);
    let inserted = store
        .ledger_record_uploads(&[untagged, tagged, again])
        .await
        .unwrap();
    assert_eq!(inserted, vec![true, true, false]);

    let a = store.ledger_get(tenant, "ev-a").await.unwrap().unwrap();
    assert!(a.complete, "no tags to set: complete with the upload");
    let b_entry = store.ledger_get(tenant, "ev-b").await.unwrap().unwrap();
    assert!(!b_entry.complete, "tags still to set: not complete yet");
    let old = store.ledger_get(tenant, "ev-old").await.unwrap().unwrap();
    assert_eq!(old.comagic_id, Some(1001), "the first row is kept");
    assert!(!old.complete);
    assert_eq!(store.ledger_count().await.unwrap(), 3);
    assert!(store.ledger_record_uploads(&[]).await.unwrap().is_empty());

    // The same event twice in one batch (two copies of one webhook): new the first time only.
    let first = upload(tenant, "ev-twice", at(4));
    let mut second = upload(tenant, "ev-twice", at(5));
    second.comagic_id = Some(7);
    let inserted = store.ledger_record_uploads(&[first, second]).await.unwrap();
    assert_eq!(inserted, vec![true, false]);
    let twice = store.ledger_get(tenant, "ev-twice").await.unwrap().unwrap();
    assert_eq!(twice.comagic_id, Some(1001), "the first copy's row");
    assert_eq!(store.ledger_count().await.unwrap(), 4);
}

pub async fn ledger_looks_up_many_events_at_once(b: &dyn Backend) {
    let store = b.migrated(key()).await;
    let tenant = Uuid::new_v4();
    let other = Uuid::new_v4();
    record_all(
        &store,
        &[(tenant, "ev-1"), (tenant, "ev-2"), (other, "ev-1")],
    )
    .await;

    let keys: Vec<(Uuid, EventId)> = [
        (tenant, "ev-1"),
        (tenant, "ev-missing"),
        (other, "ev-1"),
        (other, "ev-2"), // another tenant's event id: not this one's
    ]
    .into_iter()
    .map(|(t, e)| (t, ev(e)))
    .collect();
    let mut found: Vec<(Uuid, String, DateTime<Utc>)> = store
        .ledger_get_many(&keys)
        .await
        .unwrap()
        .into_iter()
        .map(|entry| {
            (
                entry.tenant_id,
                entry.event_id.to_string(),
                entry.delivered_at,
            )
        })
        .collect();
    found.sort();
    let mut want = vec![
        (tenant, "ev-1".to_owned(), at(1).trunc_subsecs(6)),
        (other, "ev-1".to_owned(), at(3).trunc_subsecs(6)),
    ];
    want.sort();
    assert_eq!(found, want);
    assert!(store.ledger_get_many(&[]).await.unwrap().is_empty());

    // More keys than one statement takes.
    let many: Vec<(Uuid, EventId)> = (0..1_200)
        .map(|n| (tenant, ev(&format!("ev-{n}"))))
        .collect();
    assert_eq!(store.ledger_get_many(&many).await.unwrap().len(), 2);
}

pub async fn ledger_tags_merge_and_complete(b: &dyn Backend) {
    let store = b.migrated(key()).await;
    let tenant = Uuid::new_v4();
    record(&store, upload(tenant, "ev-1", at(0))).await;
    record(&store, upload(tenant, "ev-2", at(1))).await;

    store
        .ledger_add_tags(tenant, &ev("ev-1"), &[30, 10])
        .await
        .unwrap();
    store
        .ledger_add_tags(tenant, &ev("ev-1"), &[10, 20])
        .await
        .unwrap();
    store
        .ledger_add_tags(tenant, &ev("ev-1"), &[])
        .await
        .unwrap();
    let entry = store.ledger_get(tenant, "ev-1").await.unwrap().unwrap();
    assert_eq!(entry.tagged, vec![10, 20, 30]);
    assert!(!entry.complete);
    // Other rows are untouched.
    let other = store.ledger_get(tenant, "ev-2").await.unwrap().unwrap();
    assert!(other.tagged.is_empty());

    store.ledger_complete(tenant, &ev("ev-1")).await.unwrap();
    let entry = store.ledger_get(tenant, "ev-1").await.unwrap().unwrap();
    assert!(entry.complete);
    assert_eq!(entry.tagged, vec![10, 20, 30]);
    assert!(
        !store
            .ledger_get(tenant, "ev-2")
            .await
            .unwrap()
            .unwrap()
            .complete
    );

    for result in [
        store.ledger_add_tags(tenant, &ev("missing"), &[1]).await,
        store.ledger_complete(tenant, &ev("missing")).await,
    ] {
        assert!(matches!(result, Err(StoreError::NotFound(_))));
    }
}

pub async fn ledger_progress_of_many_events_in_one_call(b: &dyn Backend) {
    let store = b.migrated(key()).await;
    let tenant = Uuid::new_v4();
    let other = Uuid::new_v4();
    let events = [
        (tenant, "ev-1"),
        (tenant, "ev-2"),
        (tenant, "ev-3"),
        (other, "ev-1"),
    ];
    record_all(&store, &events).await;
    store
        .ledger_add_tags(tenant, &ev("ev-1"), &[20])
        .await
        .unwrap();
    let step = |tenant, event: &str, tags: &[i64], complete| {
        LedgerProgress::new(tenant, &ev(event), tags, complete)
    };
    let found = store
        .ledger_progress_many(&[
            step(tenant, "ev-1", &[30, 10, 20], true), // merged with the tag already there
            step(tenant, "ev-2", &[5], false),         // a tag, not yet complete
            step(tenant, "ev-3", &[], true),           // complete with no tags
            step(tenant, "ev-missing", &[1], true),    // no entry
        ])
        .await
        .unwrap();
    assert_eq!(found, vec![true, true, true, false]);
    let entry = |event_id: &'static str, tenant_id: Uuid| {
        let store = store.clone();
        async move {
            store
                .ledger_get(tenant_id, event_id)
                .await
                .unwrap()
                .unwrap()
        }
    };
    let one = entry("ev-1", tenant).await;
    assert_eq!((one.tagged, one.complete), (vec![10, 20, 30], true));
    let two = entry("ev-2", tenant).await;
    assert_eq!((two.tagged, two.complete), (vec![5], false));
    let three = entry("ev-3", tenant).await;
    assert_eq!((three.tagged, three.complete), (vec![], true));
    // The same event id of another tenant is untouched.
    let theirs = entry("ev-1", other).await;
    assert_eq!((theirs.tagged, theirs.complete), (vec![], false));
    assert!(store
        .ledger_get(tenant, "ev-missing")
        .await
        .unwrap()
        .is_none());

    // `complete: false` never reopens an entry; more steps than one statement takes.
    let again = store
        .ledger_progress_many(&[step(tenant, "ev-3", &[7], false)])
        .await
        .unwrap();
    assert_eq!(again, vec![true]);
    let three = entry("ev-3", tenant).await;
    assert_eq!((three.tagged, three.complete), (vec![7], true));
    let many: Vec<LedgerProgress> = (0..1_200)
        .map(|n| step(tenant, &format!("ev-{n}"), &[], true))
        .collect();
    let found = store.ledger_progress_many(&many).await.unwrap();
    assert_eq!(found.iter().filter(|f| **f).count(), 3, "ev-1..ev-3 exist");
    assert!(store.ledger_progress_many(&[]).await.unwrap().is_empty());
}

pub async fn recent_deliveries_newest_first(b: &dyn Backend) {
    let store = b.migrated(key()).await;
    let tenant = Uuid::new_v4();
    // Inserted out of order, so the order must come from delivered_at.
    for (event, second) in [
        ("ev-c", 30),
        ("ev-a", 10),
        ("ev-e", 50),
        ("ev-b", 20),
        ("ev-d", 40),
    ] {
        record(&store, upload(tenant, event, at(second))).await;
    }
    record(&store, upload(Uuid::new_v4(), "ev-z", at(99))).await;

    let events = |entries: Vec<bridge_store::LedgerEntry>| -> Vec<String> {
        entries
            .into_iter()
            .map(|e| e.event_id.to_string())
            .collect()
    };
    assert_eq!(
        events(store.recent_deliveries(tenant, 3).await.unwrap()),
        ["ev-e", "ev-d", "ev-c"]
    );
    assert_eq!(store.recent_deliveries(tenant, 100).await.unwrap().len(), 5);
    assert!(store.recent_deliveries(tenant, 0).await.unwrap().is_empty());
    assert!(store
        .recent_deliveries(Uuid::new_v4(), 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.ledger_count().await.unwrap(), 6);
}

fn dead(tenant_id: Uuid, event_id: &str, class: &str) -> NewDeadLetter {
    NewDeadLetter {
        tenant_id,
        event_id: event_id.parse().unwrap(),
        class: class.into(),
        mnemonic: Some("invalid_parameter_value".into()),
        message: format!("{event_id} cannot be delivered"),
        attempts: 3,
        first_attempt_at: Some(at(0)),
        last_attempt_at: at(60),
        envelope: json!({
            "schema_version": 1,
            "event_id": event_id,
            "raw_body": "eyJ6IjoxLCJhIjoyfQ==",
            "progress": {"tagged": [1, 2], "uploaded": null}
        }),
    }
}

async fn add_spaced(store: &Arc<dyn Store>, d: NewDeadLetter) -> bridge_store::DeadLetter {
    // dead_at is the store's clock; a short pause gives every letter its own instant.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    store.add_dead_letter(&d).await.unwrap()
}

pub async fn dead_letters_filter_get_remove(b: &dyn Backend) {
    let store = b.migrated(key()).await;
    let (t1, t2) = (Uuid::new_v4(), Uuid::new_v4());
    let d1 = add_spaced(&store, dead(t1, "ev-1", "event_permanent")).await;
    let d2 = add_spaced(&store, dead(t1, "ev-2", "exhausted")).await;
    let d3 = add_spaced(&store, dead(t2, "ev-3", "event_permanent")).await;
    let mut no_extras = dead(t2, "ev-4", "mapping");
    no_extras.mnemonic = None;
    no_extras.first_attempt_at = None;
    let d4 = add_spaced(&store, no_extras).await;

    let ids = |list: Vec<bridge_store::DeadLetter>| -> Vec<Uuid> {
        list.into_iter().map(|d| d.id).collect()
    };
    let list = |filter: DeadLetterFilter| {
        let store = store.clone();
        async move { ids(store.list_dead_letters(&filter).await.unwrap()) }
    };

    let cases = [
        (
            DeadLetterFilter::default(),
            vec![d4.id, d3.id, d2.id, d1.id],
        ),
        (
            DeadLetterFilter {
                ids: vec![d1.id, d3.id, Uuid::new_v4()],
                ..Default::default()
            },
            vec![d3.id, d1.id],
        ),
        (
            DeadLetterFilter {
                tenant_id: Some(t1),
                ..Default::default()
            },
            vec![d2.id, d1.id],
        ),
        (
            DeadLetterFilter {
                class: Some("event_permanent".into()),
                ..Default::default()
            },
            vec![d3.id, d1.id],
        ),
        (
            DeadLetterFilter {
                since: Some(d2.dead_at),
                ..Default::default()
            },
            vec![d4.id, d3.id, d2.id],
        ),
        (
            DeadLetterFilter {
                until: Some(d2.dead_at),
                ..Default::default()
            },
            vec![d2.id, d1.id],
        ),
        (
            DeadLetterFilter {
                since: Some(d2.dead_at),
                until: Some(d3.dead_at),
                tenant_id: Some(t2),
                class: Some("event_permanent".into()),
                ids: vec![d2.id, d3.id, d4.id],
                ..Default::default()
            },
            vec![d3.id],
        ),
        (
            DeadLetterFilter {
                limit: Some(2),
                ..Default::default()
            },
            vec![d4.id, d3.id],
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(list(filter.clone()).await, expected, "{filter:?}");
    }

    // get returns exactly what add returned, JSON included.
    for d in [&d1, &d4] {
        let got = store.get_dead_letter(d.id).await.unwrap().unwrap();
        assert_eq!(
            serde_json::to_value(&got).unwrap(),
            serde_json::to_value(d).unwrap()
        );
    }
    assert_eq!(d1.first_attempt_at, Some(at(0).trunc_subsecs(6)));
    assert_eq!(d4.mnemonic, None);
    assert_eq!(d1.envelope["progress"]["tagged"], json!([1, 2]));
    assert!(store
        .get_dead_letter(Uuid::new_v4())
        .await
        .unwrap()
        .is_none());

    assert_eq!(store.dead_letter_count().await.unwrap(), 4);
    assert_eq!(
        store
            .remove_dead_letters(&[d1.id, d3.id, Uuid::new_v4()])
            .await
            .unwrap(),
        2
    );
    assert_eq!(store.remove_dead_letters(&[]).await.unwrap(), 0);
    assert_eq!(store.remove_dead_letters(&[d1.id]).await.unwrap(), 0);
    assert_eq!(store.dead_letter_count().await.unwrap(), 2);
    assert_eq!(list(DeadLetterFilter::default()).await, [d4.id, d2.id]);
}

pub async fn dead_letter_listing_defaults_to_100(b: &dyn Backend) {
    let store = b.migrated(key()).await;
    let tenant = Uuid::new_v4();
    let mut all = HashSet::new();
    for i in 0..105 {
        let d = store
            .add_dead_letter(&dead(tenant, &format!("ev-{i}"), "exhausted"))
            .await
            .unwrap();
        all.insert(d.id);
    }
    let listed = store
        .list_dead_letters(&DeadLetterFilter::default())
        .await
        .unwrap();
    assert_eq!(listed.len(), 100);
    // Newest first, ties on the clock broken by the time-ordered id.
    for pair in listed.windows(2) {
        assert!((pair[0].dead_at, pair[0].id) > (pair[1].dead_at, pair[1].id));
    }
    let removed = store
        .remove_dead_letters(&all.iter().copied().collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(removed, 105);
}

/// A second failure of the same event updates its one dead letter; a later delivery of the
/// event resolves it (kept, hidden from the default listing and the count); a new failure
/// reopens it.
pub async fn dead_letter_per_event_then_resolved(b: &dyn Backend) {
    let store = b.migrated(key()).await;
    let (tenant, other) = (Uuid::new_v4(), Uuid::new_v4());
    let first = add_spaced(&store, dead(tenant, "ev-1", "exhausted")).await;
    let elsewhere = add_spaced(&store, dead(other, "ev-1", "exhausted")).await;
    let mut again = dead(tenant, "ev-1", "event_permanent");
    again.message = "second failure".into();
    again.attempts = 2;
    again.first_attempt_at = Some(at(100));
    again.last_attempt_at = at(200);
    let second = add_spaced(&store, again).await;
    assert_eq!(second.id, first.id, "the same row is updated");
    assert_eq!(second.attempts, 5, "attempts of both failures");
    assert_eq!(second.class, "event_permanent");
    assert_eq!(second.message, "second failure");
    assert_eq!(second.first_attempt_at, first.first_attempt_at);
    assert_eq!(second.last_attempt_at, at(200).trunc_subsecs(6));
    assert!(second.dead_at > first.dead_at);
    assert_ne!(elsewhere.id, first.id, "another tenant's event is its own");
    assert_eq!(store.dead_letter_count().await.unwrap(), 2);

    // The event is delivered after all (Leadback sent it again): resolved, not deleted.
    store
        .ledger_record_uploads(&[upload(tenant, "ev-1", at(300))])
        .await
        .unwrap();
    let open = store
        .list_dead_letters(&DeadLetterFilter::default())
        .await
        .unwrap();
    assert_eq!(
        open.iter().map(|d| d.id).collect::<Vec<_>>(),
        [elsewhere.id]
    );
    assert_eq!(store.dead_letter_count().await.unwrap(), 1);
    let kept = store.get_dead_letter(first.id).await.unwrap().unwrap();
    assert!(kept.resolved_at.is_some(), "{kept:?}");
    let audit = store
        .list_dead_letters(&DeadLetterFilter {
            include_resolved: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 2);

    // A new failure of the same event reopens its row.
    let reopened = add_spaced(&store, dead(tenant, "ev-1", "exhausted")).await;
    assert_eq!(reopened.id, first.id);
    assert!(reopened.resolved_at.is_none());
    assert_eq!(store.dead_letter_count().await.unwrap(), 2);
}

/// `after` pages through the newest-first order without gaps or repeats.
pub async fn dead_letter_keyset_paging(b: &dyn Backend) {
    let store = b.migrated(key()).await;
    let tenant = Uuid::new_v4();
    for i in 0..7 {
        store
            .add_dead_letter(&dead(tenant, &format!("ev-{i}"), "exhausted"))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_dead_letters(&DeadLetterFilter {
                limit: Some(3),
                after,
                ..Default::default()
            })
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some((last.dead_at, last.id));
        seen.extend(page.iter().map(|d| d.event_id.clone()));
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 7, "{seen:?}");
}

/// Issue 18: a signed-out admin session is refused by every process on the database (a second
/// store on it stands for a second replica); a repeated sign-out is fine, and records of
/// sessions expired by now are dropped at the next sign-out.
pub async fn admin_signouts_are_seen_by_every_process(b: &dyn Backend) {
    let one = b.migrated(SecretKey::generate()).await;
    let two = b.open(SecretKey::generate()).await;
    let later = chrono::Utc::now() + chrono::TimeDelta::hours(1);
    assert!(!two.admin_session_signed_out("hash-a").await.unwrap());
    one.sign_out_admin_session("hash-a", later).await.unwrap();
    one.sign_out_admin_session("hash-a", later).await.unwrap();
    assert!(two.admin_session_signed_out("hash-a").await.unwrap());
    assert!(!two.admin_session_signed_out("hash-b").await.unwrap());

    let past = chrono::Utc::now() - chrono::TimeDelta::hours(1);
    two.sign_out_admin_session("hash-old", past).await.unwrap();
    one.sign_out_admin_session("hash-c", later).await.unwrap();
    assert!(!one.admin_session_signed_out("hash-old").await.unwrap());
    assert!(one.admin_session_signed_out("hash-a").await.unwrap());
}

/// Issue 17: replays are counted by the store as the replayed dead letters are removed, so a
/// second store on the database (another process: `dlq replay` beside `serve`) sees every one,
/// and the count outlives the handles that wrote it. Ids that match no dead letter (removed
/// meanwhile) are not counted, and a plain removal (`dlq purge`) is no replay.
pub async fn replays_are_counted_by_the_store(b: &dyn Backend) {
    let one = b.migrated(key()).await;
    let two = b.open(key()).await;
    assert_eq!(two.replay_count().await.unwrap(), 0);
    let tenant = Uuid::new_v4();
    let mut ids = Vec::new();
    for i in 0..4 {
        let d = dead(tenant, &format!("ev-{i}"), "exhausted");
        ids.push(one.add_dead_letter(&d).await.unwrap().id);
    }
    assert_eq!(
        one.remove_replayed_dead_letters(&[ids[0]]).await.unwrap(),
        1
    );
    let again = [ids[1], ids[0], Uuid::new_v4()];
    assert_eq!(two.remove_replayed_dead_letters(&again).await.unwrap(), 1);
    assert_eq!(two.remove_replayed_dead_letters(&[]).await.unwrap(), 0);
    assert_eq!(one.remove_dead_letters(&[ids[2]]).await.unwrap(), 1);
    assert_eq!(one.replay_count().await.unwrap(), 2);
    assert_eq!(two.replay_count().await.unwrap(), 2);

    drop((one, two));
    let three = b.open(key()).await;
    assert_eq!(three.replay_count().await.unwrap(), 2);
    assert_eq!(three.dead_letter_count().await.unwrap(), 1);
}
