//! The list of integrations.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

use super::health_view::status_badge;
use super::i18n::{t, Lang};
use super::layout::{internal, layout, page_response, table, Frame};
use super::session::PageSession;
use crate::Ctx;

pub(super) async fn tenant_list(
    State(ctx): State<Ctx>,
    lang: Lang,
    PageSession(session): PageSession,
) -> Result<Response, Response> {
    let tenants = ctx
        .app
        .store
        .list_tenants()
        .await
        .map_err(|e| internal(lang, e))?;
    let statuses = crate::health::tenant_statuses(&ctx.app, &tenants)
        .await
        .map_err(|e| internal(lang, e))?;
    let columns = [t::NAME, t::ACTIVE, t::STATUS, t::COMAGIC_API, t::UPDATED];
    let frame = Frame {
        lang,
        session: Some(&session),
        here: "/admin/",
    };
    Ok(page_response(
        StatusCode::OK,
        layout(
            &frame,
            lang.t(t::LIST_TITLE),
            html! {
                p { a href="/admin/tenants/new" id="new-tenant" { (lang.t(t::ADD_INTEGRATION)) } }
                (table(lang, "tenants", &columns, html! {
                    @for tenant in &tenants {
                        tr data-tenant-id=(tenant.id) {
                            td { a href={ "/admin/tenants/" (tenant.id) } { (tenant.name) } }
                            td { (lang.t(if tenant.active { t::YES } else { t::NO })) }
                            td.status {
                                @if let Some(status) = statuses.get(&tenant.id) { (status_badge(lang, status)) }
                            }
                            td { (tenant.credentials.api_url) }
                            td { (tenant.updated_at.format("%Y-%m-%d %H:%M:%S UTC")) }
                        }
                    }
                }))
                @if tenants.is_empty() { p { (lang.t(t::NO_TENANTS)) } }
            },
        ),
    ))
}
