//! The settings pages under `/admin/`: sign-in, the list of integrations, creating one (step 1:
//! name and CoMagic credentials; step 2: its page, where the lists come from its own CoMagic
//! account), each integration's card, field map, request check, deliveries and dead letters.
//!
//! Server-rendered with maud (escaped by construction), one language at a time ([`i18n`]);
//! every form works without JavaScript. The stylesheet and the one small script are served by
//! the bridge itself. Secrets are write-only: the HTML never contains an access token, a
//! password or the admin token, and shows a webhook URL only to the operator who just issued it.
//!
//! Field `name`s equal the JSON field names of the API, so a browser test can drive both alike.
//!
//! Handlers return `Result<Response, Response>`: the error side is the finished error page.

// The error side is a whole page, built once per request on the error path: its size does
// not matter.
#![allow(clippy::result_large_err)]

mod actions;
mod card;
mod credentials;
mod field_map_form;
mod forms;
mod health_view;
pub(crate) mod i18n;
mod layout;
mod login;
mod new_tenant;
mod payloads_view;
mod preview_form;
mod sections;
mod session;
mod settings;
mod tenant_list;
mod tenant_page;
mod test_request_form;

use axum::response::Redirect;
use axum::routing::{get, post};
use axum::Router;

use crate::Ctx;

pub(crate) fn router() -> Router<Ctx> {
    Router::new()
        .route("/admin", get(|| async { Redirect::to("/admin/") }))
        .route("/admin/", get(tenant_list::tenant_list))
        .route("/admin/login", get(login::login_form).post(login::login))
        .route("/admin/logout", post(login::logout))
        .route("/admin/tenants/new", get(new_tenant::new_tenant_form))
        .route("/admin/tenants", post(new_tenant::create_tenant))
        .route(
            "/admin/tenants/{id}",
            get(tenant_page::tenant_page).post(settings::save_tenant),
        )
        .route("/admin/tenants/{id}/rotate", post(actions::rotate))
        .route("/admin/tenants/{id}/replay", post(actions::replay))
        .route("/admin/tenants/{id}/delete", post(actions::delete_tenant))
        .route(
            "/admin/tenants/{id}/field-map",
            post(field_map_form::save_field_map),
        )
        .route(
            "/admin/tenants/{id}/preview",
            post(preview_form::preview_page),
        )
        .route(
            "/admin/tenants/{id}/test-request",
            post(test_request_form::send),
        )
        .route(layout::STYLESHEET_PATH, get(layout::stylesheet))
        .route(layout::SCRIPT_PATH, get(layout::script))
        .layer(axum::middleware::from_fn(i18n::remember_choice))
}
