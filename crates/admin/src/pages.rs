//! The settings pages under `/admin/`: sign-in, the tenant list, creating a tenant (step 1:
//! name and CoMagic credentials; step 2: the tenant's page, where the lists come from its own
//! CoMagic account), each tenant's settings form, recent deliveries and dead letters.
//!
//! Server-rendered with maud (escaped by construction); every form works without JavaScript.
//! A few lines of script only hide the blocks that do not apply and copy the webhook URL.
//! Secrets are write-only: the HTML never contains an access token, a password or the admin
//! token, and shows a webhook URL only to the operator who just issued it.
//!
//! Field `name`s equal the JSON field names of the API, so a browser test can drive both alike.

// Handlers' helpers return the finished error page as `Err(Response)`: it is built once per
// request on the error path, so its size does not matter.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use bridge_store::{DeadLetter, DeadLetterFilter, LedgerEntry, Tenant, TenantInput};
use comagic_client::comagic::{Campaign, Employee, Site, Source, Tag};
use leadback_model::{ComagicAuth, ComagicCredentials, DefaultEntity, TenantSettings};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use secrecy::SecretString;
use uuid::Uuid;

use crate::account::{self, AccountLists, ListError};
use crate::api::check_file;
use crate::auth::{self, Session, CSRF_FIELD};
use crate::dead_letters::replay_dead_letters;
use crate::error::ApiError;
use crate::tenant_file::{add_field_error, check_api_url, webhook_url, TenantFile};
use crate::Ctx;

/// CoMagic's and UIS's Data API endpoints, offered in the URL field.
const API_URL_PRESETS: [(&str, &str); 2] = [
    ("https://dataapi.comagic.ru/v2.0", "CoMagic"),
    ("https://dataapi.uiscom.ru/v2.0", "UIS"),
];

pub(crate) fn router() -> Router<Ctx> {
    Router::new()
        .route("/admin", get(|| async { Redirect::to("/admin/") }))
        .route("/admin/", get(tenant_list))
        .route("/admin/login", get(login_form).post(login))
        .route("/admin/logout", post(logout))
        .route("/admin/tenants/new", get(new_tenant_form))
        .route("/admin/tenants", post(create_tenant))
        .route("/admin/tenants/{id}", get(tenant_page).post(save_tenant))
        .route("/admin/tenants/{id}/rotate", post(rotate))
        .route("/admin/tenants/{id}/replay", post(replay))
        .route("/admin/tenants/{id}/delete", post(delete_tenant))
}

// --- sessions and forms -----------------------------------------------------------------------

/// A signed-in operator; anyone else is sent to the sign-in page.
struct PageSession(Session);

impl FromRequestParts<Ctx> for PageSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, ctx: &Ctx) -> Result<Self, Self::Rejection> {
        ctx.sessions
            .lookup(&parts.headers)
            .map(PageSession)
            .ok_or_else(|| Redirect::to("/admin/login").into_response())
    }
}

/// A posted `application/x-www-form-urlencoded` body, repeated names kept (tag multi-select).
struct FormData(Vec<(String, String)>);

impl FormData {
    fn parse(body: &[u8]) -> Self {
        FormData(form_urlencoded::parse(body).into_owned().collect())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The trimmed value, `None` when absent or blank.
    fn text(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// The form, after its CSRF token matched the session's.
fn csrf_form(session: &Session, body: &[u8]) -> Result<FormData, Response> {
    let form = FormData::parse(body);
    if session.csrf_matches(form.get(CSRF_FIELD)) {
        Ok(form)
    } else {
        Err(page_response(
            StatusCode::FORBIDDEN,
            layout(
                "Запрос отклонён / Request refused",
                None,
                html! { p.error { "Форма устарела или подделана (CSRF). Обновите страницу. / The form is stale or forged (CSRF). Reload the page." } },
            ),
        ))
    }
}

fn page_response(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Html(markup.into_string()),
    )
        .into_response()
}

fn internal(error: impl std::fmt::Display) -> Response {
    tracing::error!(error = %error, "admin page failed");
    page_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        layout(
            "Ошибка / Error",
            None,
            html! { p.error { "Внутренняя ошибка, см. журнал / Internal error, see the log." } },
        ),
    )
}

fn not_found() -> Response {
    page_response(
        StatusCode::NOT_FOUND,
        layout(
            "Не найдено / Not found",
            None,
            html! { p { "Такой интеграции нет / No such tenant." } a href="/admin/" { "← Интеграции / Tenants" } },
        ),
    )
}

async fn load_tenant(ctx: &Ctx, id: &str) -> Result<Tenant, Response> {
    let Ok(id) = Uuid::parse_str(id) else {
        return Err(not_found());
    };
    match ctx.app.store.get_tenant(id).await {
        Ok(Some(tenant)) => Ok(tenant),
        Ok(None) => Err(not_found()),
        Err(e) => Err(internal(e)),
    }
}

// --- layout -------------------------------------------------------------------------------------

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:980px;margin:1em auto;padding:0 1em}\
label{display:block;margin:.5em 0}fieldset{margin:1em 0}.error{color:#b00020}.warning{color:#8a5a00}\
.notice{color:#05640a}table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.25em .5em;font-size:.9em;text-align:left}\
code#webhook-url{background:#f3f3f3;padding:.3em;word-break:break-all}nav form{display:inline}";

/// Hides the blocks that do not apply and wires the copy button; the page works without it.
const SCRIPT: &str = r#"(function(){
function sync(){var t=document.getElementById('set_tags'),e=document.getElementById('default_entity');
var tb=document.getElementById('tags-block'),cb=document.getElementById('campaign-block'),sb=document.getElementById('source-block');
if(t&&tb){tb.hidden=!t.checked}if(e&&cb&&sb){cb.hidden=e.checked;sb.hidden=!e.checked}}
document.addEventListener('change',sync);sync();
var b=document.getElementById('copy-webhook-url');if(b){b.hidden=false;b.addEventListener('click',function(){
var u=document.getElementById('webhook-url');if(u&&navigator.clipboard){navigator.clipboard.writeText(u.textContent)}})}
})();"#;

fn layout(title: &str, session: Option<&Session>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="ru" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — Leadback → CoMagic" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                @if let Some(session) = session {
                    nav {
                        a href="/admin/" { "Интеграции / Tenants" } " · "
                        a href="/admin/tenants/new" { "Новая интеграция / New tenant" } " · "
                        form method="post" action="/admin/logout" {
                            input type="hidden" name=(CSRF_FIELD) value=(session.csrf);
                            button type="submit" id="logout" { "Выйти / Sign out" }
                        }
                    }
                }
                h1 { (title) }
                (body)
                script { (PreEscaped(SCRIPT)) }
            }
        }
    }
}

fn csrf_input(session: &Session) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(session.csrf); }
}

fn field_error(errors: &BTreeMap<String, String>, field: &str) -> Markup {
    html! {
        @if let Some(message) = errors.get(field) {
            span.error data-field=(field) { " " (message) }
        }
    }
}

// --- sign-in ------------------------------------------------------------------------------------

fn login_page(error: Option<&str>) -> Markup {
    layout(
        "Вход / Sign in",
        None,
        html! {
            @if let Some(error) = error { p.error { (error) } }
            // Sign-in has no session yet, so no CSRF token: the admin token itself is the proof.
            form method="post" action="/admin/login" {
                label { "Токен администратора / Admin token "
                    input type="password" name="token" id="token" autocomplete="current-password" required;
                }
                button type="submit" id="sign-in" { "Войти / Sign in" }
            }
        },
    )
}

async fn login_form(State(ctx): State<Ctx>, headers: HeaderMap) -> Response {
    if ctx.sessions.lookup(&headers).is_some() {
        return Redirect::to("/admin/").into_response();
    }
    page_response(StatusCode::OK, login_page(None))
}

async fn login(
    State(ctx): State<Ctx>,
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
            login_page(Some("Неверный токен / Wrong token")),
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

async fn logout(
    State(ctx): State<Ctx>,
    PageSession(session): PageSession,
    body: Bytes,
) -> Response {
    if let Err(refused) = csrf_form(&session, &body) {
        return refused;
    }
    ctx.sessions.remove(&session.id);
    (
        StatusCode::SEE_OTHER,
        [
            (
                header::SET_COOKIE,
                auth::clear_cookie(ctx.app.cookie_secure),
            ),
            (header::LOCATION, "/admin/login".to_owned()),
        ],
    )
        .into_response()
}

// --- tenant list and creation ---------------------------------------------------------------------

async fn tenant_list(State(ctx): State<Ctx>, PageSession(session): PageSession) -> Response {
    let tenants = match ctx.app.store.list_tenants().await {
        Ok(tenants) => tenants,
        Err(e) => return internal(e),
    };
    page_response(
        StatusCode::OK,
        layout(
            "Интеграции Leadback / Leadback integrations",
            Some(&session),
            html! {
                p { a href="/admin/tenants/new" id="new-tenant" { "+ Новая интеграция / New tenant" } }
                table id="tenants" {
                    thead { tr { th { "Название / Name" } th { "Активен / Active" } th { "CoMagic API" } th { "Изменена / Updated" } } }
                    tbody {
                        @for tenant in &tenants {
                            tr data-tenant-id=(tenant.id) {
                                td { a href={ "/admin/tenants/" (tenant.id) } { (tenant.name) } }
                                td { @if tenant.active { "да / yes" } @else { "нет / no" } }
                                td { (tenant.credentials.api_url) }
                                td { (tenant.updated_at.format("%Y-%m-%d %H:%M:%S UTC")) }
                            }
                        }
                    }
                }
                @if tenants.is_empty() { p { "Пока нет интеграций / No tenants yet." } }
            },
        ),
    )
}

/// The CoMagic credential inputs: never pre-filled with a secret.
fn credentials_fields(api_url: &str, errors: &BTreeMap<String, String>, creating: bool) -> Markup {
    html! {
        fieldset id="comagic" {
            legend { "Доступ к CoMagic / CoMagic credentials" }
            @if !creating {
                p { "Сохранённые ключи не показываются. Оставьте поля пустыми, чтобы их не менять. / Stored secrets are not shown; leave blank to keep them." }
            }
            (field_error(errors, "comagic"))
            label { "API URL (CoMagic, UIS или свой / or custom) "
                input type="url" name="api_url" id="api_url" list="api-url-presets" value=(api_url) size="40" required;
                (field_error(errors, "comagic.api_url"))
            }
            datalist id="api-url-presets" {
                @for (url, label) in API_URL_PRESETS { option value=(url) { (label) } }
            }
            label { "API-ключ / Access token "
                input type="password" name="access_token" id="access_token" autocomplete="off" value="";
                (field_error(errors, "comagic.access_token"))
            }
            p { "или / or" }
            label { "Логин / Login " input type="text" name="login" id="login" autocomplete="off" value=""; }
            label { "Пароль / Password " input type="password" name="password" id="password" autocomplete="new-password" value=""; }
        }
    }
}

fn new_tenant_page(
    session: &Session,
    name: &str,
    api_url: &str,
    errors: &BTreeMap<String, String>,
) -> Markup {
    layout(
        "Новая интеграция / New tenant",
        Some(session),
        html! {
            p { "Шаг 1 из 2: название и доступ к CoMagic. Списки рекламных кампаний, источников, сайтов, тегов и сотрудников загружаются из кабинета клиента на следующем шаге. / Step 1 of 2: name and CoMagic credentials; the lists are loaded from the client's account in step 2." }
            form method="post" action="/admin/tenants" id="create-form" {
                (csrf_input(session))
                label { "Название / Name "
                    input type="text" name="name" id="name" value=(name) required;
                    (field_error(errors, "name"))
                }
                (credentials_fields(api_url, errors, true))
                button type="submit" id="create" { "Далее / Next" }
            }
        },
    )
}

async fn new_tenant_form(PageSession(session): PageSession) -> Response {
    page_response(
        StatusCode::OK,
        new_tenant_page(&session, "", API_URL_PRESETS[0].0, &BTreeMap::new()),
    )
}

/// The credentials the form carries: a new access token, or a new login + password, or none.
fn credentials_from_form(
    form: &FormData,
    api_url: &str,
    errors: &mut BTreeMap<String, String>,
) -> Option<ComagicCredentials> {
    if let Some(token) = form.text("access_token") {
        return Some(ComagicCredentials {
            api_url: api_url.to_owned(),
            auth: ComagicAuth::AccessToken {
                access_token: SecretString::from(token.to_owned()),
            },
        });
    }
    match (
        form.text("login"),
        form.get("password").filter(|p| !p.is_empty()),
    ) {
        (Some(login), Some(password)) => Some(ComagicCredentials {
            api_url: api_url.to_owned(),
            auth: ComagicAuth::Login {
                login: login.to_owned(),
                password: SecretString::from(password.to_owned()),
            },
        }),
        (None, None) => None,
        _ => {
            add_field_error(errors, "comagic", "login and password go together");
            None
        }
    }
}

async fn create_tenant(
    State(ctx): State<Ctx>,
    PageSession(session): PageSession,
    body: Bytes,
) -> Response {
    let form = match csrf_form(&session, &body) {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let name = form.text("name").unwrap_or_default().to_owned();
    let api_url = form.text("api_url").unwrap_or_default().to_owned();
    let mut errors = BTreeMap::new();
    if name.is_empty() {
        add_field_error(&mut errors, "name", "обязательно / required");
    }
    if let Err(message) = check_api_url(&api_url) {
        add_field_error(&mut errors, "comagic.api_url", &message);
    }
    let credentials = credentials_from_form(&form, &api_url, &mut errors);
    if credentials.is_none() && !errors.contains_key("comagic") {
        add_field_error(
            &mut errors,
            "comagic",
            "нужен API-ключ или логин и пароль / an access token or a login and password is required",
        );
    }
    let mut warning = None;
    if let (true, Some(credentials)) = (errors.is_empty(), &credentials) {
        // Ask CoMagic before storing anything: refused credentials are the operator's to fix
        // now; an unreachable CoMagic must not block setting up the integration.
        match account::client(&ctx.app, credentials.clone()) {
            Ok(client) => match client.get_account().await {
                Ok(_) => {}
                Err(e) if account::refused(&e) => add_field_error(
                    &mut errors,
                    "comagic",
                    &format!(
                        "CoMagic отклонил доступ / CoMagic refused the credentials: {}",
                        e.message()
                    ),
                ),
                Err(e) => warning = Some(e.message()),
            },
            Err(e) => add_field_error(&mut errors, "comagic", &e.message()),
        }
    }
    let Some(credentials) = credentials.filter(|_| errors.is_empty()) else {
        return page_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            new_tenant_page(&session, &name, &api_url, &errors),
        );
    };
    // Inactive until step 2 saves complete settings: the webhook answers 403 meanwhile.
    let input = TenantInput {
        name,
        active: false,
        settings: TenantSettings::default(),
        credentials: Some(credentials),
    };
    match ctx.app.store.create_tenant(input).await {
        Ok((tenant, token)) => {
            tracing::info!(tenant_id = %tenant.id, "tenant created on the settings page");
            ctx.sessions.remember_url(
                &session.id,
                tenant.id,
                webhook_url(&ctx.app.public_url, token.as_str()),
            );
            let location = match warning {
                Some(_) => format!("/admin/tenants/{}?created=unverified", tenant.id),
                None => format!("/admin/tenants/{}?created=1", tenant.id),
            };
            Redirect::to(&location).into_response()
        }
        Err(e) => internal(e),
    }
}

// --- one tenant -------------------------------------------------------------------------------------

/// What the settings form shows: the stored settings, or what was just submitted.
struct FormValues {
    name: String,
    active: bool,
    api_url: String,
    settings: TenantSettings,
}

impl FormValues {
    fn of(tenant: &Tenant) -> Self {
        FormValues {
            name: tenant.name.clone(),
            active: tenant.active,
            api_url: tenant.credentials.api_url.clone(),
            settings: tenant.settings.clone(),
        }
    }
}

struct PageData<'a> {
    session: &'a Session,
    tenant: &'a Tenant,
    values: FormValues,
    lists: AccountLists,
    errors: BTreeMap<String, String>,
    warnings: Vec<String>,
    notices: Vec<String>,
    webhook_url: Option<String>,
    deliveries: Vec<LedgerEntry>,
    dead: Vec<DeadLetter>,
}

async fn page_data<'a>(
    ctx: &Ctx,
    session: &'a Session,
    tenant: &'a Tenant,
    values: FormValues,
) -> Result<PageData<'a>, Response> {
    let lists = match account::client(&ctx.app, tenant.credentials.clone()) {
        Ok(client) => AccountLists::load(&client).await,
        Err(e) => AccountLists::failed(&e),
    };
    let deliveries = ctx
        .app
        .store
        .recent_deliveries(tenant.id, 20)
        .await
        .map_err(internal)?;
    let dead = ctx
        .app
        .store
        .list_dead_letters(&DeadLetterFilter {
            tenant_id: Some(tenant.id),
            limit: Some(100),
            ..DeadLetterFilter::default()
        })
        .await
        .map_err(internal)?;
    let mut warnings = Vec::new();
    if let Some(refused) = lists.refused() {
        warnings.push(format!(
            "CoMagic отклонил сохранённый доступ / CoMagic refused the stored credentials: {}",
            refused.message
        ));
    } else if let Some(down) = lists.unreachable() {
        warnings.push(format!(
            "CoMagic недоступен, списки не загружены; можно ввести id вручную / CoMagic is unreachable, lists not loaded; ids can be typed in: {}",
            down.message
        ));
    }
    Ok(PageData {
        session,
        tenant,
        values,
        lists,
        errors: BTreeMap::new(),
        warnings,
        notices: Vec::new(),
        webhook_url: ctx.sessions.issued_url(&session.id, tenant.id),
        deliveries,
        dead,
    })
}

fn select_or_input<T>(
    name: &str,
    list: &Result<Vec<T>, ListError>,
    current: Option<i64>,
    item: impl Fn(&T) -> (i64, String),
    extra: Option<(i64, &str)>,
) -> Markup {
    match list {
        Ok(items) => {
            let mut options: Vec<(i64, String)> = items.iter().map(&item).collect();
            if let Some((id, label)) = extra {
                if !options.iter().any(|(have, _)| *have == id) {
                    options.insert(0, (id, label.to_owned()));
                }
            }
            if let Some(current) = current {
                if !options.iter().any(|(have, _)| *have == current) {
                    options.push((current, "нет в кабинете / not in the account".to_owned()));
                }
            }
            html! {
                select name=(name) id=(name) {
                    option value="" { "— не выбрано / none —" }
                    @for (id, label) in options {
                        option value=(id) selected[current == Some(id)] { (id) " — " (label) }
                    }
                }
            }
        }
        Err(error) => html! {
            input type="number" name=(name) id=(name) value=[current];
            span.warning { " список не загружен / list not loaded: " (error.message) }
        },
    }
}

fn campaign_label(c: &Campaign) -> (i64, String) {
    (c.id, c.name.clone())
}
fn site_label(s: &Site) -> (i64, String) {
    (s.id, s.domain_name.clone())
}
fn source_label(s: &Source) -> (i64, String) {
    (s.id, s.name.clone())
}
fn employee_label(e: &Employee) -> (i64, String) {
    let name = if e.full_name.trim().is_empty() {
        [e.first_name.as_deref(), e.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        e.full_name.clone()
    };
    (e.id, name)
}

fn tags_input(list: &Result<Vec<Tag>, ListError>, chosen: &[i64]) -> Markup {
    match list {
        Ok(tags) => {
            let mut options: Vec<(i64, String)> =
                tags.iter().map(|t| (t.id, t.name.clone())).collect();
            for id in chosen {
                if !options.iter().any(|(have, _)| have == id) {
                    options.push((*id, "нет в кабинете / not in the account".to_owned()));
                }
            }
            html! {
                select name="tag_ids" id="tag_ids" multiple size="5" {
                    @for (id, label) in options {
                        option value=(id) selected[chosen.contains(&id)] { (id) " — " (label) }
                    }
                }
            }
        }
        Err(error) => html! {
            // Without the list, ids are typed in, one field per id (the form may repeat it).
            @for id in chosen { input type="number" name="tag_ids" value=(id); }
            input type="number" name="tag_ids" id="tag_ids" value="";
            span.warning { " список не загружен / list not loaded: " (error.message) }
        },
    }
}

fn tenant_markup(data: &PageData<'_>) -> Markup {
    let tenant = data.tenant;
    let v = &data.values;
    let s = &v.settings;
    let errors = &data.errors;
    let session = data.session;
    let source_mode = s.default_entity == DefaultEntity::Source;
    html! {
        @for notice in &data.notices { p.notice { (notice) } }
        @for warning in &data.warnings { p.warning { (warning) } }
        @if !errors.is_empty() {
            p.error id="form-errors" { "Настройки не сохранены, исправьте поля ниже / Settings not saved, fix the fields below." }
        }
        section id="webhook" {
            h2 { "URL вебхука / Webhook URL" }
            @if let Some(url) = &data.webhook_url {
                p { code id="webhook-url" { (url) } " "
                    button type="button" id="copy-webhook-url" hidden { "Скопировать / Copy" } }
                p { "Вставьте этот URL в Leadback: Профиль → API → URL-адрес обработчика / Paste it into Leadback: Profile → API → handler URL." }
                p { "URL показывается только сейчас; потерянный URL можно заменить новым. / The URL is shown only now; a lost URL can be replaced by rotating it." }
            } @else {
                p { "URL показывается только при выдаче. Чтобы получить новый (старый перестанет работать), нажмите «Сменить URL». / The URL is shown only when issued; rotate to get a new one (the old one stops working)." }
            }
            form method="post" action={ "/admin/tenants/" (tenant.id) "/rotate" } {
                (csrf_input(session))
                button type="submit" id="rotate" { "Сменить URL / Rotate URL" }
            }
        }
        form method="post" action={ "/admin/tenants/" (tenant.id) } id="settings-form" {
            (csrf_input(session))
            label { "Название / Name " input type="text" name="name" id="name" value=(v.name) required; (field_error(errors, "name")) }
            label { input type="checkbox" name="active" id="active" value="true" checked[v.active]; " Активен / Active" }
            label { input type="checkbox" name="ignore_session" id="ignore_session" value="true" checked[s.ignore_session];
                " Игнорировать сессию / Ignore session" }
            label { input type="checkbox" name="set_tags" id="set_tags" value="true" checked[s.set_tags];
                " Устанавливать теги / Set tags" }
            div id="tags-block" hidden[!s.set_tags] {
                label { "Теги / Tags " (tags_input(&data.lists.tags, &s.tag_ids)) (field_error(errors, "tag_ids")) }
            }
            label { input type="checkbox" name="default_entity" id="default_entity" value="source" checked[source_mode];
                " Рекламная кампания/источник / Campaign or source"
                small { " (выкл — рекламная кампания, вкл — источник / off: ad campaign, on: source)" } }
            div id="campaign-block" hidden[source_mode] {
                label { "Рекламная кампания / Ad campaign "
                    (select_or_input("default_campaign_id", &data.lists.campaigns, s.default_campaign_id, campaign_label,
                        Some((-1, "Посетители без рекламной кампании / Visitors without campaign"))))
                    (field_error(errors, "default_campaign_id")) }
            }
            div id="source-block" hidden[!source_mode] {
                label { "Источник / Source "
                    (select_or_input("default_source_id", &data.lists.sources, s.default_source_id, source_label, None))
                    (field_error(errors, "default_source_id")) }
            }
            label { "Сайт / Site (для источника и для РК −1 / for a source and for campaign −1) "
                (select_or_input("default_site_id", &data.lists.sites, s.default_site_id, site_label, None))
                (field_error(errors, "default_site_id")) }
            label { "Оператор чата / Chat operator "
                (select_or_input("chat_employee_id", &data.lists.employees, s.chat_employee_id, employee_label, None))
                (field_error(errors, "chat_employee_id")) }
            label { "Часовой пояс / Time zone "
                input type="text" name="timezone" id="timezone" placeholder="из кабинета / the account's" value=(s.timezone.as_deref().unwrap_or_default());
                @if let Ok(account) = &data.lists.account {
                    @if let Some(zone) = &account.timezone { small { " (в кабинете / in the account: " (zone) ")" } }
                }
                (field_error(errors, "timezone")) }
            label { "Часовой пояс Leadback / Leadback's time zone "
                input type="text" name="leadback_timezone" id="leadback_timezone" value=(s.leadback_timezone);
                small { " (для времени без смещения / for times without an offset)" }
                (field_error(errors, "leadback_timezone")) }
            label { input type="checkbox" name="upload_sessions" id="upload_sessions" value="true" checked[s.upload_sessions];
                " Создавать сессию из UTM / Upload sessions from visit data" (field_error(errors, "upload_sessions")) }
            (credentials_fields(&v.api_url, errors, false))
            button type="submit" id="save" { "Сохранить / Save" }
        }
        section {
            h2 { "Последние доставки / Recent deliveries" }
            table id="deliveries" {
                thead { tr { th { "Получено / Received" } th { "Тип / Kind" } th { "Event" } th { "CoMagic id" } th { "Попыток / Attempts" } th { "Доставлено / Delivered" } th { "Завершено / Complete" } } }
                tbody {
                    @for entry in &data.deliveries {
                        tr {
                            td { (entry.received_at.format("%Y-%m-%d %H:%M:%S")) }
                            td { (entry.kind) }
                            td { (entry.event_id) }
                            td { @if let Some(id) = entry.comagic_id { (id) } @else { "—" } }
                            td { (entry.attempts) }
                            td { (entry.delivered_at.format("%Y-%m-%d %H:%M:%S")) }
                            td { @if entry.complete { "да / yes" } @else { "нет / no" } }
                        }
                    }
                }
            }
        }
        section {
            h2 { "Недоставленные / Dead letters" }
            table id="dead-letters" {
                thead { tr { th { "Когда / When" } th { "Event" } th { "Класс / Class" } th { "Ошибка / Error" } th { "Попыток / Attempts" } th {} } }
                tbody {
                    @for dead in &data.dead {
                        tr data-dead-letter-id=(dead.id) {
                            td { (dead.dead_at.format("%Y-%m-%d %H:%M:%S")) }
                            td { (dead.event_id) }
                            td { (dead.class) }
                            td { @if let Some(m) = &dead.mnemonic { code { (m) } " " } (dead.message) }
                            td { (dead.attempts) }
                            td {
                                form method="post" action={ "/admin/tenants/" (tenant.id) "/replay" } {
                                    (csrf_input(session))
                                    input type="hidden" name="dead_letter_id" value=(dead.id);
                                    button type="submit" class="replay" { "Повторить / Replay" }
                                }
                            }
                        }
                    }
                }
            }
            @if !data.dead.is_empty() {
                form method="post" action={ "/admin/tenants/" (tenant.id) "/replay" } {
                    (csrf_input(session))
                    button type="submit" id="replay-all" { "Повторить все / Replay all for this tenant" }
                }
            }
        }
        section {
            h2 { "Удаление / Delete" }
            form method="post" action={ "/admin/tenants/" (tenant.id) "/delete" } {
                (csrf_input(session))
                button type="submit" id="delete" { "Удалить интеграцию / Delete tenant" }
            }
        }
    }
}

fn render_tenant(status: StatusCode, data: &PageData<'_>) -> Response {
    page_response(
        status,
        layout(&data.tenant.name, Some(data.session), tenant_markup(data)),
    )
}

async fn tenant_page(
    State(ctx): State<Ctx>,
    PageSession(session): PageSession,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let tenant = match load_tenant(&ctx, &id).await {
        Ok(tenant) => tenant,
        Err(response) => return response,
    };
    let mut data = match page_data(&ctx, &session, &tenant, FormValues::of(&tenant)).await {
        Ok(data) => data,
        Err(response) => return response,
    };
    let query: BTreeMap<String, String> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    match query.get("created").map(String::as_str) {
        Some("1") => data.notices.push("Интеграция создана (неактивна). Выберите настройки и сохраните с «Активен». / Tenant created (inactive): choose the settings and save with Active on.".into()),
        Some(_) => data.notices.push("Интеграция создана, но CoMagic не ответил: доступ не проверен. / Tenant created, but CoMagic did not answer: credentials not verified.".into()),
        None => {}
    }
    if query.contains_key("rotated") {
        data.notices.push("Выдан новый URL, старый больше не работает. / New URL issued; the old one no longer works.".into());
    }
    if let Some(replayed) = query.get("replayed") {
        data.notices
            .push(format!("Повторено / Replayed: {replayed}"));
    }
    if let Some(failed) = query.get("failed").filter(|f| f.as_str() != "0") {
        data.warnings
            .push(format!("Не удалось повторить / Could not replay: {failed}"));
    }
    render_tenant(StatusCode::OK, &data)
}

fn parse_id(form: &FormData, name: &str, errors: &mut BTreeMap<String, String>) -> Option<i64> {
    let text = form.text(name)?;
    match text.parse::<i64>() {
        Ok(id) => Some(id),
        Err(_) => {
            add_field_error(errors, name, "не число / not a number");
            None
        }
    }
}

/// The settings form as the API's settings document.
fn file_from_form(
    form: &FormData,
    tenant: &Tenant,
    errors: &mut BTreeMap<String, String>,
) -> TenantFile {
    let api_url = form
        .text("api_url")
        .unwrap_or(&tenant.credentials.api_url)
        .to_owned();
    let comagic = credentials_from_form(form, &api_url, errors);
    if comagic.is_none() && api_url != tenant.credentials.api_url {
        // The stored secret belongs to the stored URL: sending it to a new one would hand it
        // to whoever runs that address.
        add_field_error(
            errors,
            "comagic.access_token",
            crate::tenant_file::SECRET_REQUIRED,
        );
    }
    let mut tag_ids = Vec::new();
    for text in form.all("tag_ids").map(str::trim).filter(|t| !t.is_empty()) {
        match text.parse::<i64>() {
            Ok(id) if !tag_ids.contains(&id) => tag_ids.push(id),
            Ok(_) => {}
            Err(_) => add_field_error(errors, "tag_ids", "не число / not a number"),
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
        default_campaign_id: parse_id(form, "default_campaign_id", errors),
        default_source_id: parse_id(form, "default_source_id", errors),
        default_site_id: parse_id(form, "default_site_id", errors),
        chat_employee_id: parse_id(form, "chat_employee_id", errors),
        // Empty: the account's zone, read from CoMagic when saving.
        timezone: form
            .text("timezone")
            .map(str::trim)
            .filter(|zone| !zone.is_empty())
            .map(str::to_owned),
        leadback_timezone: form
            .text("leadback_timezone")
            .map(str::trim)
            .filter(|zone| !zone.is_empty())
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

async fn save_tenant(
    State(ctx): State<Ctx>,
    PageSession(session): PageSession,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let form = match csrf_form(&session, &body) {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let tenant = match load_tenant(&ctx, &id).await {
        Ok(tenant) => tenant,
        Err(response) => return response,
    };
    let mut errors = BTreeMap::new();
    let file = file_from_form(&form, &tenant, &mut errors);
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
            let mut data = match page_data(&ctx, &session, &tenant, submitted).await {
                Ok(data) => data,
                Err(response) => return response,
            };
            data.errors = fields;
            data.warnings.extend(warnings);
            return render_tenant(StatusCode::UNPROCESSABLE_ENTITY, &data);
        }
        Err(other) => return internal(other),
    };
    let updated = match ctx.app.store.update_tenant(tenant.id, checked.input).await {
        Ok(updated) => updated,
        Err(e) => return internal(e),
    };
    tracing::info!(tenant_id = %tenant.id, "tenant saved on the settings page");
    let mut data = match page_data(&ctx, &session, &updated, FormValues::of(&updated)).await {
        Ok(data) => data,
        Err(response) => return response,
    };
    // The just-issued URL is shown with this confirmation, then forgotten.
    ctx.sessions.forget_url(&session.id, tenant.id);
    data.notices.push(if updated.active {
        "Сохранено, интеграция активна / Saved; the integration is active.".into()
    } else {
        "Сохранено, интеграция неактивна / Saved; the integration is inactive.".into()
    });
    data.warnings.extend(
        checked
            .warnings
            .into_iter()
            .map(|w| format!("Не проверено в CoMagic / Not checked in CoMagic: {w}")),
    );
    render_tenant(StatusCode::OK, &data)
}

async fn rotate(
    State(ctx): State<Ctx>,
    PageSession(session): PageSession,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(refused) = csrf_form(&session, &body) {
        return refused;
    }
    let tenant = match load_tenant(&ctx, &id).await {
        Ok(tenant) => tenant,
        Err(response) => return response,
    };
    match ctx.app.store.rotate_token(tenant.id).await {
        Ok(token) => {
            tracing::info!(tenant_id = %tenant.id, "webhook token rotated on the settings page");
            ctx.sessions.remember_url(
                &session.id,
                tenant.id,
                webhook_url(&ctx.app.public_url, token.as_str()),
            );
            Redirect::to(&format!("/admin/tenants/{}?rotated=1", tenant.id)).into_response()
        }
        Err(e) => internal(e),
    }
}

async fn replay(
    State(ctx): State<Ctx>,
    PageSession(session): PageSession,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let form = match csrf_form(&session, &body) {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let tenant = match load_tenant(&ctx, &id).await {
        Ok(tenant) => tenant,
        Err(response) => return response,
    };
    let ids = match form.text("dead_letter_id").map(Uuid::parse_str) {
        None => Vec::new(),
        Some(Ok(id)) => vec![id],
        Some(Err(_)) => return not_found(),
    };
    // Always scoped to this tenant: a dead letter id of another tenant replays nothing.
    let filter = DeadLetterFilter {
        ids,
        tenant_id: Some(tenant.id),
        ..DeadLetterFilter::default()
    };
    match replay_dead_letters(
        ctx.app.store.as_ref(),
        ctx.app.queue.as_ref(),
        Some(&ctx.app.metrics),
        &filter,
    )
    .await
    {
        Ok(report) => Redirect::to(&format!(
            "/admin/tenants/{}?replayed={}&failed={}",
            tenant.id,
            report.replayed,
            report.failed.len()
        ))
        .into_response(),
        Err(e) => internal(e),
    }
}

async fn delete_tenant(
    State(ctx): State<Ctx>,
    PageSession(session): PageSession,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(refused) = csrf_form(&session, &body) {
        return refused;
    }
    let tenant = match load_tenant(&ctx, &id).await {
        Ok(tenant) => tenant,
        Err(response) => return response,
    };
    match ctx.app.store.delete_tenant(tenant.id).await {
        Ok(()) => {
            tracing::info!(tenant_id = %tenant.id, "tenant deleted on the settings page");
            ctx.sessions.forget_url(&session.id, tenant.id);
            Redirect::to("/admin/").into_response()
        }
        Err(e) => internal(e),
    }
}
