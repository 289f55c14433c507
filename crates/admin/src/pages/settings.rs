//! Saving the settings form: read as the API's settings document and checked the same way
//! (including with CoMagic), so the page and the API accept and refuse alike.

use axum::http::StatusCode;
use axum::response::Response;
use bridge_store::Tenant;
use leadback_model::{DefaultEntity, TenantSettings};

use super::credentials::credentials_from_form;
use super::forms::{FormData, TenantPost};
use super::i18n::t;
use super::layout::internal;
use super::tenant_page::{page_data, render_tenant, FormValues};
use crate::api::check_file;
use crate::error::ApiError;
use crate::reasons::{add_field_error, FieldErrors, Reason};
use crate::tenant_file::TenantFile;

/// The settings form as the API's settings document.
fn file_from_form(form: &FormData, tenant: &Tenant, errors: &mut FieldErrors) -> TenantFile {
    let api_url = form
        .text("api_url")
        .unwrap_or(&tenant.credentials.api_url)
        .to_owned();
    let comagic = credentials_from_form(form, &api_url, errors);
    if comagic.is_none() && api_url != tenant.credentials.api_url {
        // The stored secret belongs to the stored URL: sending it to a new one would hand it
        // to whoever runs that address.
        add_field_error(errors, "comagic.access_token", Reason::SecretRequired);
    }
    let mut tag_ids = Vec::new();
    for text in form.all("tag_ids").map(str::trim).filter(|t| !t.is_empty()) {
        match text.parse::<i64>() {
            Ok(id) if !tag_ids.contains(&id) => tag_ids.push(id),
            Ok(_) => {}
            Err(_) => add_field_error(errors, "tag_ids", Reason::NotANumber),
        }
    }
    let settings = TenantSettings {
        ignore_session: form.checked("ignore_session"),
        set_tags: form.checked("set_tags"),
        tag_ids,
        default_entity: if form.checked("default_entity") {
            DefaultEntity::Source
        } else {
            DefaultEntity::Campaign
        },
        default_campaign_id: form.id("default_campaign_id", errors),
        default_source_id: form.id("default_source_id", errors),
        default_site_id: form.id("default_site_id", errors),
        chat_employee_id: form.id("chat_employee_id", errors),
        // Empty: the account's zone, read from CoMagic when saving.
        timezone: form.text("timezone").map(str::to_owned),
        leadback_timezone: form
            .text("leadback_timezone")
            .unwrap_or(leadback_model::DEFAULT_TIMEZONE)
            .to_owned(),
        upload_sessions: form.checked("upload_sessions"),
    };
    TenantFile {
        name: form.text("name").unwrap_or_default().to_owned(),
        active: form.checked("active"),
        comagic,
        settings,
        kept_api_url: None,
    }
}

pub(super) async fn save_tenant(post: TenantPost) -> Result<Response, Response> {
    let (ctx, lang, session) = (&post.ctx, post.lang, &post.session);
    let (tenant, form) = (&post.tenant, &post.form);
    let mut errors = FieldErrors::new();
    let file = file_from_form(form, tenant, &mut errors);
    let submitted = FormValues {
        name: file.name.clone(),
        active: file.active,
        api_url: form
            .text("api_url")
            .unwrap_or(&tenant.credentials.api_url)
            .to_owned(),
        settings: file.settings.clone(),
    };
    let outcome = if errors.is_empty() {
        check_file(&ctx.app, file, Some(&tenant.credentials)).await
    } else {
        Err(ApiError::InvalidSettings {
            fields: errors,
            warnings: Vec::new(),
        })
    };
    let checked = match outcome {
        Ok(checked) => checked,
        Err(ApiError::InvalidSettings { fields, warnings }) => {
            let mut data = page_data(ctx, lang, session, tenant, submitted).await?;
            data.errors = fields;
            data.warnings.extend(warnings.iter().map(|w| lang.say(w)));
            return Ok(render_tenant(StatusCode::UNPROCESSABLE_ENTITY, &data));
        }
        Err(other) => return Err(internal(lang, other)),
    };
    let updated = ctx
        .app
        .store
        .update_tenant(tenant.id, checked.input)
        .await
        .map_err(|e| internal(lang, e))?;
    tracing::info!(tenant_id = %tenant.id, "tenant saved on the settings page");
    let mut data = page_data(ctx, lang, session, &updated, FormValues::of(&updated)).await?;
    data.notices.push(
        lang.t(if updated.active {
            t::SAVED_ACTIVE
        } else {
            t::SAVED_INACTIVE
        })
        .into(),
    );
    data.warnings.extend(
        checked
            .warnings
            .into_iter()
            .map(|w| format!("{}: {}", lang.t(t::NOT_CHECKED), lang.say(&w))),
    );
    // The just-issued URL is shown with this confirmation, then forgotten.
    let page = render_tenant(StatusCode::OK, &data);
    Ok(super::actions::without_issued_url(ctx, session, page))
}
