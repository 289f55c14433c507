//! Posted forms: the `application/x-www-form-urlencoded` body with repeated names kept, checked
//! against the session's CSRF token before any handler reads it, and the inline field errors.

use std::collections::BTreeMap;

use axum::response::Response;
use maud::{html, Markup};

use super::i18n::{t, Lang};
use super::layout::csrf_refused;
use crate::auth::{Session, CSRF_FIELD};
use crate::tenant_file::add_field_error;

pub(super) struct FormData(Vec<(String, String)>);

impl FormData {
    pub fn parse(body: &[u8]) -> Self {
        FormData(form_urlencoded::parse(body).into_owned().collect())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The trimmed value, `None` when absent or blank.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Every field whose name starts with `prefix`, the prefix cut off.
    pub fn with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.0.iter().filter_map(move |(key, value)| {
            key.strip_prefix(prefix).map(|rest| (rest, value.as_str()))
        })
    }

    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// An optional id field; a value that is no number is an error on that field.
    pub fn id(&self, name: &str, lang: Lang, errors: &mut BTreeMap<String, String>) -> Option<i64> {
        let text = self.text(name)?;
        match text.parse::<i64>() {
            Ok(id) => Some(id),
            Err(_) => {
                add_field_error(errors, name, lang.t(t::NOT_A_NUMBER));
                None
            }
        }
    }
}

/// The form, after its CSRF token matched the session's.
pub(super) fn csrf_form(session: &Session, lang: Lang, body: &[u8]) -> Result<FormData, Response> {
    let form = FormData::parse(body);
    if session.csrf_matches(form.get(CSRF_FIELD)) {
        Ok(form)
    } else {
        Err(csrf_refused(lang))
    }
}

/// The error of one field, next to it; `data-field` names the field as the API does.
pub(super) fn field_error(errors: &BTreeMap<String, String>, field: &str) -> Markup {
    html! {
        @if let Some(message) = errors.get(field) {
            span.error data-field=(field) id={ "error-" (field) } role="alert" { " " (message) }
        }
    }
}
