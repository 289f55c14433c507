//! "Проверить" on the tenant page: a pasted body (and the content type Leadback would send)
//! run through the same preview as `POST …/preview` — the parsed event, the CoMagic calls and
//! the warnings, or why it could not be mapped. Nothing is sent or queued.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde_json::Value;

use super::forms::csrf_form;
use super::i18n::{t, Lang};
use super::layout::{csrf_field, internal};
use super::session::PageSession;
use super::tenant_page::{load_tenant, page_data, render_tenant, FormValues, PageData};
use crate::preview::preview_body;
use crate::Ctx;

/// The content types Leadback is known to send.
const CONTENT_TYPES: [&str; 2] = ["application/json", "application/x-www-form-urlencoded"];

/// A preview to show: what was checked and the answer.
pub(super) struct PreviewShown {
    pub body: String,
    pub content_type: String,
    pub answer: Value,
}

pub(super) async fn preview_page(
    State(ctx): State<Ctx>,
    lang: Lang,
    PageSession(session): PageSession,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, Response> {
    let form = csrf_form(&session, lang, &body)?;
    let tenant = load_tenant(&ctx, lang, &id).await?;
    let field_map = ctx
        .app
        .store
        .get_field_map(tenant.id)
        .await
        .map_err(|e| internal(lang, e))?;
    let content_type = form
        .text("content_type")
        .unwrap_or(CONTENT_TYPES[0])
        .to_owned();
    let raw = form.get("body").unwrap_or_default().to_owned();
    let answer = preview_body(
        &tenant.settings,
        &field_map,
        Some(&content_type),
        raw.as_bytes(),
    );
    let mut data = page_data(&ctx, lang, &session, &tenant, FormValues::of(&tenant)).await?;
    data.preview = Some(PreviewShown {
        body: raw,
        content_type,
        answer,
    });
    Ok(render_tenant(StatusCode::OK, &data))
}

/// A JSON value as page text: strings without their quotes.
fn plain(value: &Value) -> String {
    match value {
        Value::Null => "—".to_owned(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

fn preview_result(lang: Lang, shown: &PreviewShown) -> Markup {
    let answer = &shown.answer;
    let mappable = answer["mappable"].as_bool().unwrap_or(false);
    let event = &answer["event"];
    let contact = &event["contact"];
    let warnings: Vec<String> = answer["warnings"]
        .as_array()
        .map(|list| list.iter().map(plain).collect())
        .unwrap_or_default();
    html! {
        div id="preview-result" role="status" aria-live="polite" {
            h3 { (lang.t(t::PREVIEW_RESULT)) }
            @if mappable {
                p.notice { (lang.t(t::WOULD_DELIVER)) }
            } @else {
                p.error id="preview-refused" {
                    (lang.t(t::WOULD_NOT_DELIVER)) " (" (plain(&answer["stage"])) ", "
                    (plain(&answer["class"])) "): " (plain(&answer["reason"]))
                }
            }
            @if !event.is_null() {
                dl.facts id="preview-event" {
                    dt { (lang.t(t::KIND)) } dd { (plain(&event["kind"])) }
                    dt { (lang.t(t::EVENT)) } dd { (plain(&event["event_id"])) }
                    dt { (lang.t(t::CONTACT_NAME)) } dd { (plain(&contact["name"])) }
                    dt { (lang.t(t::PHONE)) } dd id="preview-phone" { (plain(&contact["phone"])) }
                    dt { (lang.t(t::EMAIL)) } dd { (plain(&contact["email"])) }
                }
            }
            @if !warnings.is_empty() {
                h4 { (lang.t(t::WARNINGS)) }
                ul id="preview-warnings" { @for warning in &warnings { li.warning { (warning) } } }
            }
            @if let Some(found) = answer["found"].as_array().filter(|f| !f.is_empty()) {
                h4 { (lang.t(t::FOUND)) }
                ul { @for item in found { li { code { (plain(&item["meaning"])) } " ← " code { (plain(&item["path"])) } } } }
            }
            @if let Some(keys) = answer["unmatched_keys"].as_array().filter(|k| !k.is_empty()) {
                h4 { (lang.t(t::UNMATCHED)) }
                p { @for key in keys { code { (plain(key)) } " " } }
            }
            @if let Some(calls) = answer["calls"].as_array() {
                h4 { (lang.t(t::CALLS)) }
                @for call in calls {
                    p { code { (plain(&call["method"])) } }
                    pre { (pretty(&call["params"])) }
                }
            }
            @if !event.is_null() {
                details {
                    summary { (lang.t(t::PARSED_EVENT)) }
                    pre id="preview-event-json" { (pretty(event)) }
                }
            }
        }
    }
}

pub(super) fn preview_section(data: &PageData<'_>) -> Markup {
    let lang = data.lang;
    let shown = data.preview.as_ref();
    let body = shown.map(|p| p.body.as_str()).unwrap_or_default();
    let chosen = shown.map_or(CONTENT_TYPES[0], |p| p.content_type.as_str());
    html! {
        section id="preview" aria-labelledby="preview-title" {
            h2 id="preview-title" { (lang.t(t::PREVIEW)) }
            p.hint { (lang.t(t::PREVIEW_INTRO)) }
            form method="post" action={ (data.path()) "/preview#preview" } id="preview-form" {
                (csrf_field(data.session))
                label for="preview-body" { (lang.t(t::BODY)) }
                textarea name="body" id="preview-body" rows="8" spellcheck="false" { (body) }
                label for="preview-content-type" { (lang.t(t::CONTENT_TYPE)) }
                select name="content_type" id="preview-content-type" {
                    @for content_type in CONTENT_TYPES {
                        option value=(content_type) selected[content_type == chosen] { (content_type) }
                    }
                }
                p { button type="submit" id="preview-check" { (lang.t(t::CHECK)) } }
            }
            @if let Some(shown) = shown { (preview_result(lang, shown)) }
        }
    }
}
