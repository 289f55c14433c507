//! Field maps on both backends: defaults when none is stored, a saved map read back, an empty
//! one restoring the defaults, saving touching the tenant, and the map going with its tenant.

use crate::harness::{tenant_named, Backend};
use bridge_store::SecretKey;
use leadback_model::FieldMap;
use serde_json::json;

pub async fn field_map_saved_reset_and_deleted_with_tenant(b: &dyn Backend) {
    let store = b.migrated(SecretKey::generate()).await;
    let tenant = tenant_named(&store, "acme").await;
    assert_eq!(
        store.get_field_map(tenant.id).await.unwrap(),
        FieldMap::default()
    );

    let map =
        FieldMap::from_json(&json!({"phone": ["lead.contact_phone", "visitor.phones.0"]})).unwrap();
    store.set_field_map(tenant.id, &map).await.unwrap();
    assert_eq!(store.get_field_map(tenant.id).await.unwrap(), map);
    let touched = store.get_tenant(tenant.id).await.unwrap().unwrap();
    assert!(
        touched.updated_at > tenant.updated_at,
        "saving a map touches the tenant so caches refresh"
    );

    store
        .set_field_map(tenant.id, &FieldMap::default())
        .await
        .unwrap();
    assert!(store.get_field_map(tenant.id).await.unwrap().is_empty());

    store.set_field_map(tenant.id, &map).await.unwrap();
    store.delete_tenant(tenant.id).await.unwrap();
    assert!(store.get_field_map(tenant.id).await.unwrap().is_empty());
    assert!(store
        .set_field_map(tenant.id, &FieldMap::default())
        .await
        .is_err());
}
