//! Creating an integration, step 1: a name and the CoMagic credentials, checked with CoMagic
//! before anything is stored. Step 2 is the integration's own page, where the lists come from
//! its account.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use bridge_store::TenantInput;
use leadback_model::TenantSettings;
use maud::{html, Markup};

use super::credentials::{credentials_fields, credentials_from_form, API_URL_PRESETS};
use super::forms::{field_error, PagePost};
use super::i18n::{t, Lang};
use super::layout::{csrf_field, internal, layout, page_response, Frame};
use super::session::PageSession;
use crate::account;
use crate::auth::Session;
use crate::reasons::{add_field_error, FieldErrors, Reason};
use crate::tenant_file::{check_api_url, webhook_url};

fn new_tenant_page(
    lang: Lang,
    session: &Session,
    name: &str,
    api_url: &str,
    errors: &FieldErrors,
) -> Markup {
    let frame = Frame {
        lang,
        session: Some(session),
        here: "/admin/tenants/new",
    };
    layout(
        &frame,
        lang.t(t::NEW_INTEGRATION),
        html! {
            p { (lang.t(t::STEP_ONE)) }
            form method="post" action="/admin/tenants" id="create-form" {
                (csrf_field(session))
                label for="name" { (lang.t(t::NAME)) }
                input type="text" name="name" id="name" value=(name) required;
                (field_error(lang, errors, "name"))
                (credentials_fields(lang, api_url, errors, true))
                button type="submit" id="create" { (lang.t(t::NEXT)) }
            }
        },
    )
}

pub(super) async fn new_tenant_form(lang: Lang, PageSession(session): PageSession) -> Response {
    page_response(
        StatusCode::OK,
        new_tenant_page(
            lang,
            &session,
            "",
            API_URL_PRESETS[0].0,
            &FieldErrors::new(),
        ),
    )
}

pub(super) async fn create_tenant(post: PagePost) -> Result<Response, Response> {
    let (ctx, lang, session, form) = (&post.ctx, post.lang, &post.session, &post.form);
    let name = form.text("name").unwrap_or_default().to_owned();
    let api_url = form.text("api_url").unwrap_or_default().to_owned();
    let mut errors = FieldErrors::new();
    if name.is_empty() {
        add_field_error(&mut errors, "name", Reason::Required);
    }
    if let Err(reason) = check_api_url(&api_url) {
        add_field_error(&mut errors, "comagic.api_url", reason);
    }
    let credentials = credentials_from_form(form, &api_url, &mut errors);
    if credentials.is_none() && !errors.contains_key("comagic") {
        add_field_error(&mut errors, "comagic", Reason::CredentialsRequired);
    }
    let mut unverified = false;
    if let (true, Some(credentials)) = (errors.is_empty(), &credentials) {
        // Ask CoMagic before storing anything: refused credentials are the operator's to fix
        // now; an unreachable CoMagic must not block setting up the integration.
        match account::client(&ctx.app, credentials.clone()) {
            Ok(client) => match client.get_account().await {
                Ok(_) => {}
                Err(e) if account::refused(&e) => add_field_error(
                    &mut errors,
                    "comagic",
                    Reason::CredentialsRefused(e.message()),
                ),
                Err(_) => unverified = true,
            },
            Err(e) => add_field_error(&mut errors, "comagic", Reason::ComagicFailed(e.message())),
        }
    }
    let Some(credentials) = credentials.filter(|_| errors.is_empty()) else {
        return Ok(page_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            new_tenant_page(lang, session, &name, &api_url, &errors),
        ));
    };
    // Inactive until step 2 saves complete settings: the webhook answers 403 meanwhile.
    let input = TenantInput {
        name,
        active: false,
        settings: TenantSettings::default(),
        credentials: Some(credentials),
    };
    let (tenant, token) = ctx
        .app
        .store
        .create_tenant(input)
        .await
        .map_err(|e| internal(lang, e))?;
    tracing::info!(tenant_id = %tenant.id, "tenant created on the settings page");
    let url = webhook_url(&ctx.app.public_url, token.as_str());
    let created = if unverified { "unverified" } else { "1" };
    Ok(super::actions::with_issued_url(
        ctx,
        session,
        tenant.id,
        &url,
        Redirect::to(&format!("/admin/tenants/{}?created={created}", tenant.id)).into_response(),
    ))
}
