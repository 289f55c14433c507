//! "Проверить" on the tenant page: a pasted body (and the content type Leadback would send)
//! run through the same preview as `POST …/preview` — the parsed event, the CoMagic calls and
//! the warnings, or why it could not be mapped. Nothing is sent or queued.

use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde_json::Value;

use super::forms::TenantPost;
use super::i18n::{t, Lang};
use super::layout::{csrf_field, internal};
use super::tenant_page::{render_tenant, PageData};
use crate::preview::{preview, preview_json};
use crate::reading::ParseProblem;
use crate::reasons::Reason;

/// The content types Leadback is known to send.
const CONTENT_TYPES: [&str; 2] = ["application/json", "application/x-www-form-urlencoded"];

/// A preview to show: what was checked, the answer as the API gives it, and its reasons to
/// say in the page's language.
pub(super) struct PreviewShown {
    pub body: String,
    pub content_type: String,
    pub answer: Value,
    pub warnings: Vec<Reason>,
    pub problem: Option<ParseProblem>,
}

pub(super) async fn preview_page(post: TenantPost) -> Result<Response, Response> {
    let (form, tenant) = (&post.form, &post.tenant);
    let field_map = post
        .ctx
        .app
        .store
        .get_field_map(tenant.id)
        .await
        .map_err(|e| internal(post.lang, e))?;
    let content_type = form
        .text("content_type")
        .unwrap_or(CONTENT_TYPES[0])
        .to_owned();
    let raw = form.get("body").unwrap_or_default().to_owned();
    let reading = preview(
        &tenant.settings,
        &field_map,
        Some(&content_type),
        raw.as_bytes(),
    );
    let mut data = post.page().await?;
    data.preview = Some(PreviewShown {
        body: raw,
        content_type,
        answer: preview_json(&reading),
        warnings: reading.parsed.warnings,
        problem: reading.parsed.problem,
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
    let warnings = &shown.warnings;
    html! {
        div id="preview-result" role="status" aria-live="polite" {
            h3 { (lang.t(t::PREVIEW_RESULT)) }
            @if let Some(problem) = &shown.problem {
                p.error id="preview-refused" data-code=(problem.code) {
                    (lang.t(t::WOULD_NOT_DELIVER)) " (" (problem.stage) ", "
                    (problem.class) "): " (lang.say(&problem.reason))
                }
            } @else if mappable {
                p.notice { (lang.t(t::WOULD_DELIVER)) }
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
                ul id="preview-warnings" { @for warning in warnings { li.warning data-code=(warning.code()) { (lang.say(warning)) } } }
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
