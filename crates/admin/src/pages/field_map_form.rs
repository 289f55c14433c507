//! The field map on the tenant page: one row per meaning (paths separated by commas, the
//! built-in names shown beside), saved through the same check as `PUT …/field-map`, with each
//! refused entry named next to its row.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::Response;
use leadback_model::{FieldMap, Meaning};
use maud::{html, Markup};
use serde_json::{Map, Value};

use super::forms::{FormData, TenantPost};
use super::i18n::t;
use super::layout::{csrf_field, internal};
use super::tenant_page::{render_tenant, PageData};
use crate::field_map::field_map_of;
use crate::reasons::{joined, FieldErrors, Reason};

/// The form's field names: `map.phone`, `map.email`, …
const PREFIX: &str = "map.";

/// What the rows show: the stored paths, or what was just submitted, and the refusals.
pub(super) struct FieldMapForm {
    /// Meaning → its paths as typed.
    pub text: BTreeMap<String, String>,
    /// Entry (`phone`, `phone[1]`) → why it was refused.
    pub errors: FieldErrors,
}

impl FieldMapForm {
    pub fn of(map: &FieldMap) -> Self {
        let text = Meaning::ALL
            .iter()
            .map(|meaning| {
                let paths: Vec<&str> = map.paths(*meaning).iter().map(|p| p.as_str()).collect();
                (meaning.as_str().to_owned(), paths.join(", "))
            })
            .collect();
        FieldMapForm {
            text,
            errors: FieldErrors::new(),
        }
    }
}

/// The rows as the API's JSON document; blank rows are left out (the built-in names only).
fn document(form: &FormData) -> (Value, BTreeMap<String, String>) {
    let mut object = Map::new();
    let mut text = BTreeMap::new();
    for (meaning, typed) in form.with_prefix(PREFIX) {
        text.insert(meaning.to_owned(), typed.to_owned());
        let paths: Vec<Value> = typed
            .split([',', '\n'])
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| Value::String(p.to_owned()))
            .collect();
        if !paths.is_empty() {
            object.insert(meaning.to_owned(), Value::Array(paths));
        }
    }
    (Value::Object(object), text)
}

pub(super) async fn save_field_map(post: TenantPost) -> Result<Response, Response> {
    let (value, text) = document(&post.form);
    match field_map_of(&value) {
        Ok(map) => {
            let tenant_id = post.tenant.id;
            post.ctx
                .app
                .store
                .set_field_map(tenant_id, &map)
                .await
                .map_err(|e| internal(post.lang, e))?;
            tracing::info!(%tenant_id, "field map saved on the settings page");
            Ok(post.back("?field_map_saved=1#field-map"))
        }
        Err(errors) => {
            let mut data = post.page().await?;
            data.field_map = FieldMapForm { text, errors };
            Ok(render_tenant(StatusCode::UNPROCESSABLE_ENTITY, &data))
        }
    }
}

/// The refusals that belong to a meaning's row: `phone` and `phone[i]`.
fn row_errors<'a>(
    errors: &'a FieldErrors,
    meaning: &'a str,
) -> impl Iterator<Item = (&'a String, &'a Vec<Reason>)> + 'a {
    errors.iter().filter(move |(entry, _)| {
        entry.as_str() == meaning
            || entry
                .strip_prefix(meaning)
                .is_some_and(|rest| rest.starts_with('['))
    })
}

pub(super) fn field_map_section(data: &PageData<'_>) -> Markup {
    let lang = data.lang;
    let form = &data.field_map;
    // Entries that match no row (a forged form's unknown meaning) are listed above the rows.
    let stray: Vec<(&String, &Vec<Reason>)> = form
        .errors
        .iter()
        .filter(|(entry, _)| {
            let name = entry.split('[').next().unwrap_or_default();
            Meaning::parse(name).is_none()
        })
        .collect();
    let open = !form.errors.is_empty() || form.text.values().any(|typed| !typed.trim().is_empty());
    html! {
        section id="field-map" aria-labelledby="field-map-title" {
            h2 id="field-map-title" { (lang.t(t::FIELD_MAP)) }
            p.hint { (lang.t(t::FIELD_MAP_INTRO)) }
            @if !form.errors.is_empty() {
                p.error id="field-map-errors" role="alert" { (lang.t(t::FIELD_MAP_ERRORS)) }
            }
            @for (entry, message) in &stray {
                p.error data-field=(entry) { code { (entry) } ": " (joined(lang, message)) }
            }
            // Folded while the map is empty: 25 rows are a lot on a phone.
            details id="field-map-rows" open[open] {
            summary { (lang.t(t::SHOW_FIELD_MAP)) " (" (Meaning::ALL.len()) ")" }
            form method="post" action={ (data.path()) "/field-map" } id="field-map-form" {
                (csrf_field(data.session))
                @for meaning in Meaning::ALL {
                    @let name = meaning.as_str();
                    @let id = format!("map-{name}");
                    div.field-map-row {
                        label for=(id) { code { (name) } }
                        div {
                            input type="text" name={ (PREFIX) (name) } id=(id)
                                value=(form.text.get(name).map(String::as_str).unwrap_or_default())
                                aria-describedby={ (id) "-builtin" } autocomplete="off" spellcheck="false";
                            small id={ (id) "-builtin" } { (lang.t(t::BUILT_IN)) ": " (meaning.aliases().join(", ")) }
                            @for (entry, message) in row_errors(&form.errors, name) {
                                br;
                                span.error data-field=(entry) role="alert" { code { (entry) } ": " (joined(lang, message)) }
                            }
                        }
                    }
                }
                p { button type="submit" id="save-field-map" { (lang.t(t::SAVE_FIELD_MAP)) } }
            }
            }
        }
    }
}
