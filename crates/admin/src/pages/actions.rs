//! The tenant page's buttons that change something and redirect back: rotate the webhook URL,
//! replay dead letters (always scoped to this tenant), delete the integration.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use bridge_store::DeadLetterFilter;
use uuid::Uuid;

use super::forms::TenantPost;
use super::layout::{internal, not_found};
use crate::auth::{self, Session};
use crate::dead_letters::replay_dead_letters;
use crate::tenant_file::webhook_url;
use crate::tenant_problems;
use crate::Ctx;

pub(super) async fn rotate(post: TenantPost) -> Result<Response, Response> {
    let (ctx, lang, tenant) = (&post.ctx, post.lang, &post.tenant);
    let token = ctx
        .app
        .store
        .rotate_token(tenant.id)
        .await
        .map_err(|e| internal(lang, e))?;
    tracing::info!(tenant_id = %tenant.id, "webhook token rotated on the settings page");
    let url = webhook_url(&ctx.app.public_url, token.as_str());
    let back = post.back("?rotated=1");
    Ok(with_issued_url(ctx, &post.session, tenant.id, &url, back))
}

pub(super) async fn replay(post: TenantPost) -> Result<Response, Response> {
    let (ctx, lang, tenant, form) = (&post.ctx, post.lang, &post.tenant, &post.form);
    let ids = match form.text("dead_letter_id").map(Uuid::parse_str) {
        None => Vec::new(),
        Some(Ok(id)) => vec![id],
        Some(Err(_)) => return Err(not_found(lang)),
    };
    // Always scoped to this tenant: a dead letter id of another tenant replays nothing. The
    // only class the page replays by is the tenant's own problems.
    let class = form
        .text("class")
        .filter(|class| *class == tenant_problems::TENANT_CLASS)
        .map(str::to_owned);
    let filter = DeadLetterFilter {
        ids,
        tenant_id: Some(tenant.id),
        class,
        ..DeadLetterFilter::default()
    };
    let report = replay_dead_letters(
        ctx.app.store.as_ref(),
        ctx.app.queue.as_ref(),
        Some(&ctx.app.metrics),
        &filter,
    )
    .await
    .map_err(|e| internal(lang, e))?;
    Ok(post.back(&format!(
        "?replayed={}&failed={}",
        report.replayed,
        report.failed.len()
    )))
}

pub(super) async fn delete_tenant(post: TenantPost) -> Result<Response, Response> {
    let (ctx, lang, tenant) = (&post.ctx, post.lang, &post.tenant);
    ctx.app
        .store
        .delete_tenant(tenant.id)
        .await
        .map_err(|e| internal(lang, e))?;
    tracing::info!(tenant_id = %tenant.id, "tenant deleted on the settings page");
    let listing = Redirect::to("/admin/").into_response();
    Ok(without_issued_url(ctx, &post.session, listing))
}

/// `response` with the cookie that shows `url`, just issued for `tenant`, on the next page of
/// this session — on whichever replica serves it.
pub(super) fn with_issued_url(
    ctx: &Ctx,
    session: &Session,
    tenant: Uuid,
    url: &str,
    mut response: Response,
) -> Response {
    if let Some(cookie) = ctx
        .sessions
        .issued_url_cookie(&session.id, tenant, url, ctx.app.cookie_secure)
        .and_then(|cookie| HeaderValue::from_str(&cookie).ok())
    {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// `response` dropping the issued URL's cookie, if the request carried one.
pub(super) fn without_issued_url(ctx: &Ctx, session: &Session, mut response: Response) -> Response {
    if session.issued.is_some() {
        if let Ok(cookie) =
            HeaderValue::from_str(&auth::clear_issued_url_cookie(ctx.app.cookie_secure))
        {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
    }
    response
}
