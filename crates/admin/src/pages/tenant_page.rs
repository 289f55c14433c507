//! One integration's page: what it shows ([`PageData`], loaded once per request), its order of
//! sections, and the GET handler with the notices that redirects ask for.

use std::collections::BTreeMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use bridge_store::{DeadLetter, DeadLetterFilter, LedgerEntry, Tenant};
use leadback_model::{FieldMap, TenantSettings};
use maud::{html, Markup};
use uuid::Uuid;

use super::card::{settings_form, webhook_section};
use super::field_map_form::{field_map_section, FieldMapForm};
use super::health_view::health_section;
use super::i18n::{t, Lang};
use super::layout::{internal, layout, not_found, page_response, Frame};
use super::payloads_view::payloads_section;
use super::preview_form::{preview_section, PreviewShown};
use super::sections::{dead_letters_section, delete_section, deliveries_section, problems_section};
use super::session::PageSession;
use super::test_request_form::test_request_section;
use crate::account::AccountLists;
use crate::auth::Session;
use crate::error::ApiError;
use crate::health::{tenant_health, TenantHealth};
use crate::reasons::FieldErrors;
use crate::recent_payloads::{recent_payloads, RecentPayloadView};
use crate::tenant_problems::{self, TenantProblem};
use crate::test_request::{test_request_result, TestRequestResult};
use crate::Ctx;

/// What the settings form shows: the stored settings, or what was just submitted.
pub(super) struct FormValues {
    pub name: String,
    pub active: bool,
    pub api_url: String,
    pub settings: TenantSettings,
}

impl FormValues {
    pub fn of(tenant: &Tenant) -> Self {
        FormValues {
            name: tenant.name.clone(),
            active: tenant.active,
            api_url: tenant.credentials.api_url.clone(),
            settings: tenant.settings.clone(),
        }
    }
}

pub(super) struct PageData<'a> {
    pub lang: Lang,
    pub session: &'a Session,
    pub tenant: &'a Tenant,
    pub values: FormValues,
    pub lists: AccountLists,
    pub errors: FieldErrors,
    pub warnings: Vec<String>,
    pub notices: Vec<String>,
    pub webhook_url: Option<String>,
    pub stored: Stored,
    pub field_map: FieldMapForm,
    pub preview: Option<PreviewShown>,
    /// `None` when it could not be read (a warning says why).
    pub health: Option<TenantHealth>,
    pub test_request: Option<TestRequestResult>,
}

/// What the store holds about the tenant, read once per page: its recent deliveries, dead
/// letters, own problems, recent payloads and field map.
pub(super) struct Stored {
    pub deliveries: Vec<LedgerEntry>,
    pub dead: Vec<DeadLetter>,
    pub problems: Vec<TenantProblem>,
    pub payloads: Vec<RecentPayloadView>,
    pub field_map: FieldMap,
}

impl Stored {
    async fn read(ctx: &Ctx, tenant_id: Uuid) -> Result<Stored, ApiError> {
        let store = ctx.app.store.as_ref();
        let dead = DeadLetterFilter {
            tenant_id: Some(tenant_id),
            limit: Some(100),
            ..DeadLetterFilter::default()
        };
        Ok(Stored {
            deliveries: store.recent_deliveries(tenant_id, 20).await?,
            dead: store.list_dead_letters(&dead).await?,
            problems: tenant_problems::open_problems(store, tenant_id).await?,
            payloads: recent_payloads(&ctx.app, tenant_id, RECENT_SHOWN).await?,
            field_map: store.get_field_map(tenant_id).await?,
        })
    }
}

impl PageData<'_> {
    pub fn path(&self) -> String {
        format!("/admin/tenants/{}", self.tenant.id)
    }
}

/// Recent payloads shown on the page (the API lists up to `BRIDGE_RECENT_PAYLOADS`).
const RECENT_SHOWN: u32 = 20;

pub(super) async fn load_tenant(ctx: &Ctx, lang: Lang, id: &str) -> Result<Tenant, Response> {
    let Ok(id) = Uuid::parse_str(id) else {
        return Err(not_found(lang));
    };
    match ctx.app.store.get_tenant(id).await {
        Ok(Some(tenant)) => Ok(tenant),
        Ok(None) => Err(not_found(lang)),
        Err(e) => Err(internal(lang, e)),
    }
}

pub(super) async fn page_data<'a>(
    ctx: &Ctx,
    lang: Lang,
    session: &'a Session,
    tenant: &'a Tenant,
    values: FormValues,
) -> Result<PageData<'a>, Response> {
    let lists = match crate::account::client(&ctx.app, tenant.credentials.clone()) {
        Ok(client) => AccountLists::load(&client).await,
        Err(e) => AccountLists::failed(&e),
    };
    let stored = Stored::read(ctx, tenant.id)
        .await
        .map_err(|e| internal(lang, e))?;
    let mut warnings = Vec::new();
    let health = match tenant_health(&ctx.app, tenant.id).await {
        Ok(health) => Some(health),
        Err(e) => {
            warnings.push(format!("{}: {e}", lang.t(t::HEALTH_UNAVAILABLE)));
            None
        }
    };
    if let Some(refused) = lists.refused() {
        warnings.push(format!(
            "{}: {}",
            lang.t(t::STORED_REFUSED),
            refused.message
        ));
    } else if let Some(down) = lists.unreachable() {
        warnings.push(format!("{}: {}", lang.t(t::UNREACHABLE), down.message));
    }
    Ok(PageData {
        lang,
        session,
        tenant,
        values,
        lists,
        errors: FieldErrors::new(),
        warnings,
        notices: Vec::new(),
        webhook_url: ctx.sessions.issued_url(session, tenant.id),
        field_map: FieldMapForm::of(&stored.field_map),
        stored,
        preview: None,
        health,
        test_request: None,
    })
}

fn tenant_markup(data: &PageData<'_>) -> Markup {
    let lang = data.lang;
    html! {
        @for notice in &data.notices { p.notice role="status" { (notice) } }
        @for warning in &data.warnings { p.warning role="status" { (warning) } }
        @if !data.errors.is_empty() {
            p.error id="form-errors" role="alert" { (lang.t(t::FORM_ERRORS)) }
        }
        (settings_form(data))
        (webhook_section(data))
        (test_request_section(data))
        (health_section(data))
        (problems_section(data))
        (payloads_section(data))
        (dead_letters_section(data))
        (field_map_section(data))
        (preview_section(data))
        (deliveries_section(data))
        (delete_section(data))
    }
}

pub(super) fn render_tenant(status: StatusCode, data: &PageData<'_>) -> Response {
    let here = data.path();
    let frame = Frame {
        lang: data.lang,
        session: Some(data.session),
        here: &here,
    };
    page_response(
        status,
        layout(&frame, &data.tenant.name, tenant_markup(data)),
    )
}

pub(super) async fn tenant_page(
    State(ctx): State<Ctx>,
    lang: Lang,
    PageSession(session): PageSession,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, Response> {
    let tenant = load_tenant(&ctx, lang, &id).await?;
    let mut data = page_data(&ctx, lang, &session, &tenant, FormValues::of(&tenant)).await?;
    let query: BTreeMap<String, String> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    match query.get("created").map(String::as_str) {
        Some("1") => data.notices.push(lang.t(t::CREATED).into()),
        Some(_) => data.notices.push(lang.t(t::CREATED_UNVERIFIED).into()),
        None => {}
    }
    if query.contains_key("rotated") {
        data.notices.push(lang.t(t::ROTATED).into());
    }
    if query.contains_key("field_map_saved") {
        data.notices.push(lang.t(t::FIELD_MAP_SAVED).into());
    }
    if let Some(event_id) = query.get("test_request") {
        // Only test requests are looked up; any other id is "not found" and shows nothing.
        data.test_request = test_request_result(&ctx.app, tenant.id, event_id)
            .await
            .ok();
    }
    if let Some(replayed) = query.get("replayed") {
        data.notices
            .push(format!("{}: {replayed}", lang.t(t::REPLAYED)));
    }
    if let Some(failed) = query.get("failed").filter(|f| f.as_str() != "0") {
        data.warnings
            .push(format!("{}: {failed}", lang.t(t::REPLAY_FAILED)));
    }
    Ok(render_tenant(StatusCode::OK, &data))
}
