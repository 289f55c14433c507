//! The JSON admin API under `/admin/v1/`. Every route but the OpenAPI document wants the admin
//! bearer token. The route table below is the one the router is built from, so the test that
//! compares it with `docs/openapi.json` compares the real router.

use std::collections::{BTreeMap, HashMap};

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, RawPathParams, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{Json, Router};
use bridge_store::{DeadLetterFilter, Tenant, TenantInput};
use chrono::{DateTime, Utc};
use leadback_model::ComagicCredentials;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::account::{self, ListKind};
use crate::auth::check_bearer;
use crate::dead_letters::{dead_letter_detail, dead_letter_summary, replay_dead_letters};
use crate::error::ApiError;
use crate::field_map::{get_field_map, put_field_map};
use crate::health::show as show_health;
use crate::preview::preview_api;
use crate::reasons::{add_field_error, Reason};
use crate::recent_payloads::list as list_payloads;
use crate::tenant_file::{tenant_json, webhook_url, TenantFile, TenantFileError};
use crate::test_request::{create as send_test_request, show as show_test_request};
use crate::{AdminState, Ctx};

/// One route of the JSON API: method, path (axum syntax) and its handler.
type Route = (&'static str, &'static str, fn() -> MethodRouter<Ctx>);

/// `METHOD "path" => handler,` lines as the [`Route`] table `ROUTES`.
macro_rules! routes {
    ($($method:ident $path:literal => $handler:expr,)*) => {
        const ROUTES: &[Route] = &[
            $((stringify!($method), $path, || on(MethodFilter::$method, $handler)),)*
        ];
    };
}

// Every route the JSON API serves; the router is built from this table, so the test that
// compares `api_routes` with `docs/openapi.json` compares the real router.
routes! {
    GET "/admin/v1/openapi.json" => openapi,
    GET "/admin/v1/tenants" => list_tenants,
    POST "/admin/v1/tenants" => create_tenant,
    GET "/admin/v1/tenants/{id}" => show_tenant,
    PUT "/admin/v1/tenants/{id}" => update_tenant,
    DELETE "/admin/v1/tenants/{id}" => delete_tenant,
    POST "/admin/v1/tenants/{id}/rotate-token" => rotate_token,
    GET "/admin/v1/tenants/{id}/comagic/{kind}" => comagic_list,
    GET "/admin/v1/tenants/{id}/deliveries" => deliveries,
    GET "/admin/v1/dead-letters" => list_dead_letters,
    POST "/admin/v1/dead-letters/replay" => replay,
    GET "/admin/v1/dead-letters/{id}" => show_dead_letter,
    DELETE "/admin/v1/dead-letters/{id}" => delete_dead_letter,
    GET "/admin/v1/tenants/{id}/field-map" => get_field_map,
    PUT "/admin/v1/tenants/{id}/field-map" => put_field_map,
    POST "/admin/v1/tenants/{id}/preview" => preview_api,
    GET "/admin/v1/tenants/{id}/payloads" => list_payloads,
    GET "/admin/v1/tenants/{id}/health" => show_health,
    POST "/admin/v1/tenants/{id}/test-request" => send_test_request,
    GET "/admin/v1/tenants/{id}/test-request/{event_id}" => show_test_request,
}

/// Every `(method, path)` the JSON API serves (axum path syntax).
pub fn api_routes() -> impl Iterator<Item = (&'static str, &'static str)> {
    ROUTES.iter().map(|(method, path, _)| (*method, *path))
}

pub(crate) fn router() -> Router<Ctx> {
    let mut by_path: BTreeMap<&str, MethodRouter<Ctx>> = BTreeMap::new();
    for (_, path, handler) in ROUTES {
        let merged = match by_path.remove(path) {
            Some(existing) => existing.merge(handler()),
            None => handler(),
        };
        by_path.insert(path, merged);
    }
    by_path
        .into_iter()
        .fold(Router::new(), |router, (path, methods)| {
            router.route(path, methods)
        })
}

/// The admin bearer token was presented (extractor: a handler taking it is protected).
pub(crate) struct Admin;

impl FromRequestParts<Ctx> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, ctx: &Ctx) -> Result<Self, Self::Rejection> {
        let client = crate::auth_throttle::client_ip(&parts.extensions);
        if let Some(wait) = ctx.auth_throttle.blocked(client) {
            return Err(ApiError::Throttled {
                retry_after_secs: wait.as_secs().max(1),
            });
        }
        check_bearer(&ctx.app.admin_token, &parts.headers)
            .map(|()| Admin)
            .inspect_err(|_| ctx.auth_throttle.failed(client, "bearer"))
    }
}

/// An authenticated request about the tenant `{id}` of its path, loaded: the admin token is
/// checked first, then an unknown tenant is a 404.
pub(crate) struct ApiTenant {
    pub ctx: Ctx,
    pub tenant: Tenant,
}

impl FromRequestParts<Ctx> for ApiTenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, ctx: &Ctx) -> Result<Self, Self::Rejection> {
        Admin::from_request_parts(parts, ctx).await?;
        let params = RawPathParams::from_request_parts(parts, ctx)
            .await
            .map_err(|_| ApiError::NotFound("tenant"))?;
        let id = params
            .iter()
            .find_map(|(name, value)| (name == "id").then_some(value))
            .unwrap_or_default();
        let tenant = load_tenant(&ctx.app, id).await?;
        Ok(ApiTenant {
            ctx: ctx.clone(),
            tenant,
        })
    }
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::OPENAPI_JSON,
    )
        .into_response()
}

fn parse_uuid(text: &str, what: &'static str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::NotFound(what))
}

pub(crate) async fn load_tenant(app: &AdminState, id: &str) -> Result<Tenant, ApiError> {
    tenant_of(app, parse_uuid(id, "tenant")?).await
}

/// The tenant `id`; [`ApiError::NotFound`] when there is none.
pub(crate) async fn tenant_of(app: &AdminState, id: Uuid) -> Result<Tenant, ApiError> {
    app.store
        .get_tenant(id)
        .await?
        .ok_or(ApiError::NotFound("tenant"))
}

fn parse_file(body: &[u8]) -> Result<TenantFile, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::BadRequest("the body is not UTF-8".into()))?;
    TenantFile::parse(text).map_err(file_error)
}

/// An unknown or mistyped field is a 422 naming it; a body that is not JSON is a 400.
fn file_error(e: TenantFileError) -> ApiError {
    match e {
        TenantFileError::Fields(fields) => ApiError::InvalidSettings {
            fields,
            warnings: Vec::new(),
        },
        TenantFileError::Syntax(reason) => ApiError::BadRequest(reason),
    }
}

/// A validated save: the store's input and what could not be checked.
pub(crate) struct Checked {
    pub input: TenantInput,
    pub warnings: Vec<Reason>,
}

/// Validates settings on their own and against the tenant's CoMagic account (with the given
/// credentials, or the stored ones when none are given). Saving goes ahead when CoMagic cannot
/// be reached, with warnings.
pub(crate) async fn check_file(
    app: &AdminState,
    file: TenantFile,
    stored: Option<&ComagicCredentials>,
) -> Result<Checked, ApiError> {
    let mut fields = file.field_errors(stored.is_none());
    if let (Some(kept), Some(stored)) = (&file.kept_api_url, stored) {
        // The stored secret belongs to the stored URL; a new one needs the secret again.
        if *kept != stored.api_url {
            add_field_error(&mut fields, "comagic.access_token", Reason::SecretRequired);
        }
    }
    let mut warnings = Vec::new();
    let mut account_zone = None;
    let credentials = file.comagic.clone().or_else(|| stored.cloned());
    let mut usable = credentials
        .as_ref()
        .is_some_and(|c| crate::tenant_file::check_api_url(&c.api_url).is_ok());
    if let (true, Some(new)) = (usable, &file.comagic) {
        // A URL the outbound policy refuses is a setting to correct, not a call to attempt.
        if let Ok(url) = url::Url::parse(new.api_url.trim()) {
            if let Err(refused) = app.http.check_url_now(&url).await {
                let reason = Reason::ApiUrlRefused {
                    ip: refused.ip.to_string(),
                    range: refused.range.to_owned(),
                };
                add_field_error(&mut fields, "comagic.api_url", reason);
                usable = false;
            }
        }
    }
    if let (true, Some(credentials)) = (usable, credentials) {
        match account::client(app, credentials) {
            Ok(client) => {
                let check = account::check_settings(&client, &file.settings).await;
                if let Some(refused) = check.refused {
                    let reason = Reason::CredentialsRefused(refused.message);
                    add_field_error(&mut fields, "comagic", reason);
                }
                for (field, reasons) in check.fields {
                    for reason in reasons {
                        add_field_error(&mut fields, &field, reason);
                    }
                }
                warnings = check.warnings;
                account_zone = check.account_zone;
            }
            Err(e) => add_field_error(&mut fields, "comagic", Reason::ComagicFailed(e.message())),
        }
    }
    if !fields.is_empty() {
        return Err(ApiError::InvalidSettings { fields, warnings });
    }
    let mut file = file;
    // The account's own zone is what record times are written in: keep it with the settings.
    if let Some(zone) = account_zone {
        file.settings.timezone = Some(zone);
    }
    let input = file.into_input(stored.is_none()).map_err(file_error)?;
    Ok(Checked { input, warnings })
}

fn with_extra(mut value: Value, extra: Value) -> Value {
    if let (Some(obj), Value::Object(extra)) = (value.as_object_mut(), extra) {
        obj.extend(extra);
    }
    value
}

async fn list_tenants(_: Admin, State(ctx): State<Ctx>) -> Result<Json<Value>, ApiError> {
    let tenants = ctx.app.store.list_tenants().await?;
    // Each with its `status` and `status_reason` (stored data only, no CoMagic call).
    let statuses = crate::health::tenant_statuses(&ctx.app, &tenants).await?;
    Ok(Json(Value::Array(
        tenants
            .iter()
            .map(|t| with_extra(tenant_json(t), json!(statuses.get(&t.id))))
            .collect(),
    )))
}

async fn create_tenant(
    _: Admin,
    State(ctx): State<Ctx>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let file = parse_file(&body)?;
    let checked = check_file(&ctx.app, file, None).await?;
    let (tenant, token) = ctx.app.store.create_tenant(checked.input).await?;
    tracing::info!(tenant_id = %tenant.id, "tenant created via the admin API");
    let value = with_extra(
        tenant_json(&tenant),
        json!({
            "webhook_url": webhook_url(&ctx.app.public_url, token.as_str()),
            "warnings": checked.warnings,
        }),
    );
    Ok((StatusCode::CREATED, Json(value)).into_response())
}

async fn show_tenant(ApiTenant { tenant, .. }: ApiTenant) -> Result<Json<Value>, ApiError> {
    Ok(Json(tenant_json(&tenant)))
}

async fn update_tenant(
    ApiTenant { ctx, tenant }: ApiTenant,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let file = parse_file(&body)?;
    let checked = check_file(&ctx.app, file, Some(&tenant.credentials)).await?;
    let updated = ctx
        .app
        .store
        .update_tenant(tenant.id, checked.input)
        .await?;
    tracing::info!(tenant_id = %tenant.id, "tenant updated via the admin API");
    // Saved settings are the moment to replay what the tenant's own problems held back.
    let problems = crate::tenant_problems::open_problems(ctx.app.store.as_ref(), tenant.id).await?;
    Ok(Json(with_extra(
        tenant_json(&updated),
        json!({
            "warnings": checked.warnings,
            "tenant_problems": crate::tenant_problems::offer_json(tenant.id, &problems),
        }),
    )))
}

async fn delete_tenant(ApiTenant { ctx, tenant }: ApiTenant) -> Result<StatusCode, ApiError> {
    ctx.app.store.delete_tenant(tenant.id).await?;
    tracing::info!(tenant_id = %tenant.id, "tenant deleted via the admin API");
    Ok(StatusCode::NO_CONTENT)
}

async fn rotate_token(ApiTenant { ctx, tenant }: ApiTenant) -> Result<Json<Value>, ApiError> {
    let token = ctx.app.store.rotate_token(tenant.id).await?;
    tracing::info!(tenant_id = %tenant.id, "webhook token rotated via the admin API");
    Ok(Json(json!({
        "id": tenant.id,
        "webhook_url": webhook_url(&ctx.app.public_url, token.as_str()),
    })))
}

async fn comagic_list(
    ApiTenant { ctx, tenant }: ApiTenant,
    Path((_, kind)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let kind = ListKind::parse(&kind).ok_or(ApiError::NotFound("CoMagic list"))?;
    let client =
        account::client(&ctx.app, tenant.credentials).map_err(|e| account::api_error(&e))?;
    let value = account::fetch(&client, kind)
        .await
        .map_err(|e| account::api_error(&e))?;
    Ok(Json(value))
}

/// `a=1&b=2` → map (last value wins).
fn query_map(query: Option<String>) -> HashMap<String, String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// One query parameter's value (the last one given).
pub(crate) fn query_value(query: Option<String>, name: &str) -> Option<String> {
    query_map(query).remove(name)
}

fn parse_limit(text: Option<&String>, default: u32) -> Result<u32, ApiError> {
    match text {
        None => Ok(default),
        Some(text) => match text.parse::<u32>() {
            Ok(n) if (1..=1000).contains(&n) => Ok(n),
            _ => Err(ApiError::BadRequest("limit must be 1..=1000".into())),
        },
    }
}

fn parse_time(text: &str, name: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ApiError::BadRequest(format!("{name} must be an RFC 3339 time")))
}

async fn deliveries(
    ApiTenant { ctx, tenant }: ApiTenant,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let query = query_map(query);
    let limit = parse_limit(query.get("limit"), 50)?;
    let entries = ctx.app.store.recent_deliveries(tenant.id, limit).await?;
    Ok(Json(json!(entries)))
}

async fn list_dead_letters(
    _: Admin,
    State(ctx): State<Ctx>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let query = query_map(query);
    let filter = DeadLetterFilter {
        ids: Vec::new(),
        tenant_id: query
            .get("tenant")
            .map(|t| {
                Uuid::parse_str(t).map_err(|_| ApiError::BadRequest("tenant must be a UUID".into()))
            })
            .transpose()?,
        class: query.get("class").cloned(),
        since: query
            .get("since")
            .map(|t| parse_time(t, "since"))
            .transpose()?,
        until: query
            .get("until")
            .map(|t| parse_time(t, "until"))
            .transpose()?,
        limit: Some(parse_limit(query.get("limit"), 100)?),
        // `?resolved=true` also lists those whose event was delivered since (kept for audit).
        include_resolved: query.get("resolved").is_some_and(|v| v == "true"),
        ..DeadLetterFilter::default()
    };
    let dead = ctx.app.store.list_dead_letters(&filter).await?;
    Ok(Json(Value::Array(
        dead.iter().map(dead_letter_summary).collect(),
    )))
}

async fn show_dead_letter(
    _: Admin,
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_uuid(&id, "dead letter")?;
    let dead = ctx
        .app
        .store
        .get_dead_letter(id)
        .await?
        .ok_or(ApiError::NotFound("dead letter"))?;
    Ok(Json(dead_letter_detail(&dead)))
}

async fn delete_dead_letter(
    _: Admin,
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_uuid(&id, "dead letter")?;
    match ctx.app.store.remove_dead_letters(&[id]).await? {
        0 => Err(ApiError::NotFound("dead letter")),
        _ => Ok(StatusCode::NO_CONTENT),
    }
}

/// Which dead letters to replay: ids, a filter, or everything.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplaySelector {
    #[serde(default)]
    ids: Vec<Uuid>,
    tenant: Option<Uuid>,
    class: Option<String>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    #[serde(default)]
    all: bool,
}

impl ReplaySelector {
    /// The store's filter; `None` when nothing was selected (an empty filter would mean "all",
    /// which must be asked for explicitly).
    fn into_filter(self) -> Option<DeadLetterFilter> {
        let selects = !self.ids.is_empty()
            || self.tenant.is_some()
            || self.class.is_some()
            || self.since.is_some()
            || self.until.is_some();
        if !selects && !self.all {
            return None;
        }
        Some(DeadLetterFilter {
            ids: self.ids,
            tenant_id: self.tenant,
            class: self.class,
            since: self.since,
            until: self.until,
            ..DeadLetterFilter::default()
        })
    }
}

async fn replay(_: Admin, State(ctx): State<Ctx>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let selector: ReplaySelector = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("invalid replay selector: {e}")))?;
    let filter = selector.into_filter().ok_or_else(|| {
        ApiError::BadRequest(
            "select dead letters: {\"ids\":[…]}, a filter (tenant, class, since, until) or {\"all\":true}"
                .into(),
        )
    })?;
    let report = replay_dead_letters(
        ctx.app.store.as_ref(),
        ctx.app.queue.as_ref(),
        Some(&ctx.app.metrics),
        &filter,
    )
    .await?;
    Ok(Json(json!(report)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_replay_selector_selects_nothing() {
        assert!(ReplaySelector::default().into_filter().is_none());
        let all = ReplaySelector {
            all: true,
            ..ReplaySelector::default()
        };
        assert!(all.into_filter().is_some());
        let class = ReplaySelector {
            class: Some("exhausted".into()),
            ..ReplaySelector::default()
        };
        assert_eq!(
            class.into_filter().unwrap().class.as_deref(),
            Some("exhausted")
        );
    }
}
