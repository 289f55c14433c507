//! Signing in with the admin token (throttled per address like the API) and signing out.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};

use super::forms::{FormData, PagePost};
use super::i18n::{t, Lang};
use super::layout::{layout, page_response, Frame};
use crate::auth;
use crate::error::ApiError;
use crate::Ctx;

fn login_page(lang: Lang, error: Option<&str>) -> Markup {
    let frame = Frame {
        lang,
        session: None,
        here: "/admin/login",
    };
    layout(
        &frame,
        lang.t(t::SIGN_IN_TITLE),
        html! {
            @if let Some(error) = error { p.error role="alert" { (error) } }
            // Sign-in has no session yet, so no CSRF token: the admin token itself is the proof.
            form method="post" action="/admin/login" {
                label for="token" { (lang.t(t::ADMIN_TOKEN)) }
                input type="password" name="token" id="token" autocomplete="current-password" required;
                p { button type="submit" id="sign-in" { (lang.t(t::SIGN_IN)) } }
            }
        },
    )
}

pub(super) async fn login_form(State(ctx): State<Ctx>, lang: Lang, headers: HeaderMap) -> Response {
    if ctx.sessions.lookup(&headers).await.is_some() {
        return Redirect::to("/admin/").into_response();
    }
    page_response(StatusCode::OK, login_page(lang, None))
}

pub(super) async fn login(
    State(ctx): State<Ctx>,
    lang: Lang,
    extensions: axum::http::Extensions,
    body: Bytes,
) -> Response {
    let client = crate::auth_throttle::client_ip(&extensions);
    if let Some(wait) = ctx.auth_throttle.blocked(client) {
        return ApiError::Throttled {
            retry_after_secs: wait.as_secs().max(1),
        }
        .into_response();
    }
    let form = FormData::parse(&body);
    let token = form.get("token").unwrap_or_default();
    if !auth::token_matches(&ctx.app.admin_token, token) {
        ctx.auth_throttle.failed(client, "sign-in form");
        return page_response(
            StatusCode::UNAUTHORIZED,
            login_page(lang, Some(lang.t(t::WRONG_TOKEN))),
        );
    }
    let session = ctx.sessions.create();
    (
        StatusCode::SEE_OTHER,
        [
            (
                header::SET_COOKIE,
                auth::session_cookie(&session.id, ctx.app.cookie_secure),
            ),
            (header::LOCATION, "/admin/".to_owned()),
        ],
    )
        .into_response()
}

pub(super) async fn logout(post: PagePost) -> Result<Response, Response> {
    let ctx = post.ctx;
    ctx.sessions.remove(&post.session.id).await;
    Ok((
        StatusCode::SEE_OTHER,
        [
            (
                header::SET_COOKIE,
                auth::clear_cookie(ctx.app.cookie_secure),
            ),
            (header::LOCATION, "/admin/login".to_owned()),
        ],
    )
        .into_response())
}
