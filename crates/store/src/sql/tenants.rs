//! Tenants: create, update (settings, credentials sealed with the store's key), read, route a
//! webhook token (through the route cache), rotate the token, (de)activate, delete; and each
//! tenant's field map.

use crate::rows::{self, TenantRow};
use crate::{field_maps, StoreError, Tenant, TenantInput, TenantRoute, TokenHash, WebhookToken};
use leadback_model::FieldMap;
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

sql_impl! {
    pub(super) async fn create_tenant(
        &self,
        input: TenantInput,
    ) -> Result<(Tenant, WebhookToken), StoreError> {
        let credentials = input
            .credentials
            .ok_or_else(|| StoreError::Invalid("a new tenant needs CoMagic credentials".into()))?;
        let id = Uuid::new_v4();
        let token = WebhookToken::generate();
        let sealed = self.key.seal_credentials(id, &credentials)?;
        let now = rows::now();
        sqlx::query(rows::INSERT_TENANT)
            .bind(id)
            .bind(input.name.as_str())
            .bind(input.active)
            .bind(Json(&input.settings))
            .bind(credentials.api_url.as_str())
            .bind(credentials.auth.kind())
            .bind(sealed.as_slice())
            .bind(token.hash().as_str())
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(|e| rows::conflict_or(e, "a tenant with this token"))?;
        let tenant = Tenant {
            id,
            name: input.name,
            active: input.active,
            settings: input.settings,
            credentials,
            created_at: now,
            updated_at: now,
        };
        Ok((tenant, token))
    }

    pub(super) async fn update_tenant(
        &self,
        id: Uuid,
        input: TenantInput,
    ) -> Result<Tenant, StoreError> {
        let now = rows::now();
        // New credentials: sealed and written with the rest; none: the stored ones stay.
        let sealed = match &input.credentials {
            Some(credentials) => Some((credentials, self.key.seal_credentials(id, credentials)?)),
            None => None,
        };
        let statement = match sealed {
            Some(_) => rows::UPDATE_TENANT_WITH_CREDENTIALS,
            None => rows::UPDATE_TENANT,
        };
        let mut query = sqlx::query(statement)
            .bind(id)
            .bind(input.name.as_str())
            .bind(input.active)
            .bind(Json(&input.settings))
            .bind(now);
        if let Some((credentials, sealed)) = &sealed {
            query = query
                .bind(credentials.api_url.as_str())
                .bind(credentials.auth.kind())
                .bind(sealed.as_slice());
        }
        let done = query.execute(&self.pool).await?;
        self.tenant_changed(id, D::rows_affected(&done))?;
        self.tenant_where("id", id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("tenant {id}")))
    }

    /// The tenant whose `column` holds `value` (its `id`, its `token_hash`), credentials
    /// decrypted.
    pub(super) async fn tenant_where<V>(
        &self,
        column: &str,
        value: V,
    ) -> Result<Option<Tenant>, StoreError>
    where
        V: for<'q> sqlx::Encode<'q, D::Db> + sqlx::Type<D::Db> + Send + 'static,
    {
        let sql = format!(
            "SELECT {} FROM tenants WHERE {column} = $1",
            rows::TENANT_COLUMNS
        );
        sqlx::query_as::<_, TenantRow>(&sql)
            .bind(value)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.into_tenant(&self.key))
            .transpose()
    }

    pub(super) async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let sql = format!(
            "SELECT {} FROM tenants ORDER BY created_at, id",
            rows::TENANT_COLUMNS
        );
        sqlx::query_as::<_, TenantRow>(&sql)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|r| r.into_tenant(&self.key))
            .collect()
    }

    pub(super) async fn tenant_route_by_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<TenantRoute>, StoreError> {
        D::watch_routes(&self.routes, &self.pool);
        if let Some(route) = self.routes.get(hash.as_str()) {
            return Ok(Some(route));
        }
        let generation = self.routes.generation();
        let row: Option<(Uuid, bool)> = sqlx::query_as(rows::TENANT_ROUTE)
            .bind(hash.as_str())
            .fetch_optional(&self.pool)
            .await?;
        let route = row.map(|(id, active)| TenantRoute { id, active });
        if let Some(route) = route {
            self.routes.insert(generation, hash.as_str(), route);
        }
        Ok(route)
    }

    pub(super) async fn rotate_token(&self, id: Uuid) -> Result<WebhookToken, StoreError> {
        let token = WebhookToken::generate();
        let done = sqlx::query(rows::ROTATE_TOKEN)
            .bind(id)
            .bind(token.hash().as_str())
            .bind(rows::now())
            .execute(&self.pool)
            .await
            .map_err(|e| rows::conflict_or(e, "a tenant with this token"))?;
        // The old token stops routing here before this returns.
        self.tenant_changed(id, D::rows_affected(&done))?;
        Ok(token)
    }

    pub(super) async fn set_active(&self, id: Uuid, active: bool) -> Result<(), StoreError> {
        let done = sqlx::query(rows::SET_ACTIVE)
            .bind(id)
            .bind(active)
            .bind(rows::now())
            .execute(&self.pool)
            .await?;
        self.tenant_changed(id, D::rows_affected(&done))
    }

    pub(super) async fn delete_tenant(&self, id: Uuid) -> Result<(), StoreError> {
        let done = sqlx::query(rows::DELETE_TENANT)
            .bind(id)
            .execute(&self.pool)
            .await?;
        self.tenant_changed(id, D::rows_affected(&done))
    }

    pub(super) async fn get_field_map(&self, tenant_id: Uuid) -> Result<FieldMap, StoreError> {
        let stored: Option<Json<Value>> = sqlx::query_scalar(field_maps::GET)
            .bind(tenant_id)
            .fetch_optional(&self.pool)
            .await?;
        field_maps::decode(tenant_id, stored)
    }

    /// The map is written before the tenant is touched, so a process that sees the new
    /// `updated_at` reads the new map.
    pub(super) async fn set_field_map(
        &self,
        tenant_id: Uuid,
        map: &FieldMap,
    ) -> Result<(), StoreError> {
        let now = rows::now();
        if map.is_empty() {
            sqlx::query(field_maps::DELETE)
                .bind(tenant_id)
                .execute(&self.pool)
                .await?;
        } else {
            sqlx::query(field_maps::UPSERT)
                .bind(tenant_id)
                .bind(Json(map.to_json()))
                .bind(now)
                .execute(&self.pool)
                .await?;
        }
        let touched = sqlx::query(field_maps::TOUCH_TENANT)
            .bind(tenant_id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        if D::rows_affected(&touched) == 0 {
            return Err(StoreError::NotFound(format!("tenant {tenant_id}")));
        }
        Ok(())
    }
}
