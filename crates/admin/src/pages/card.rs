//! The integration card: the settings form in the original card's order and wording (Активен,
//! Маркеры, the lists from the client's CoMagic account, Сохранить), then the webhook URL and
//! the Leadback steps.

use comagic_client::comagic::{Campaign, Employee, Site, Source, Tag};
use leadback_model::DefaultEntity;
use maud::{html, Markup};

use super::credentials::credentials_fields;
use super::forms::field_error;
use super::i18n::{t, Lang};
use super::layout::csrf_field;
use super::tenant_page::PageData;
use crate::account::ListError;
use crate::reasons::FieldErrors;

pub(super) fn settings_form(data: &PageData<'_>) -> Markup {
    let lang = data.lang;
    let v = &data.values;
    let s = &v.settings;
    let errors = &data.errors;
    let source_mode = s.default_entity == DefaultEntity::Source;
    html! {
        form method="post" action=(data.path()) id="settings-form" {
            (csrf_field(data.session))
            label.check for="active" {
                input type="checkbox" name="active" id="active" value="true" checked[v.active];
                strong { (lang.t(t::ACTIVE)) }
            }
            fieldset id="markers" {
                legend { (lang.t(t::MARKERS)) }
                label.check for="ignore_session" {
                    input type="checkbox" name="ignore_session" id="ignore_session" value="true"
                        checked[s.ignore_session] aria-describedby="ignore_session-hint";
                    span { (lang.t(t::IGNORE_SESSION)) br;
                        small id="ignore_session-hint" { (lang.t(t::IGNORE_SESSION_HINT)) } }
                }
                label.check for="set_tags" {
                    input type="checkbox" name="set_tags" id="set_tags" value="true" checked[s.set_tags]
                        aria-controls="tags-block";
                    span { (lang.t(t::SET_TAGS)) }
                }
                div id="tags-block" hidden[!s.set_tags] {
                    label for="tag_ids" { (lang.t(t::TAGS)) " " small { "(" (lang.t(t::TAGS_HINT)) ")" } }
                    (tags_input(lang, &data.lists.tags, &s.tag_ids))
                    (field_error(lang, errors, "tag_ids"))
                }
                label.check for="default_entity" {
                    input type="checkbox" name="default_entity" id="default_entity" value="source"
                        checked[source_mode] aria-describedby="default_entity-hint"
                        aria-controls="campaign-block source-block";
                    span { (lang.t(t::ENTITY)) br;
                        small id="default_entity-hint" { (lang.t(t::ENTITY_HINT)) } }
                }
            }
            fieldset id="lists" {
                legend { (lang.t(t::LISTS)) }
                div id="campaign-block" hidden[source_mode] {
                    label for="default_campaign_id" { (lang.t(t::CAMPAIGN)) }
                    (select_or_input(lang, "default_campaign_id", &data.lists.campaigns, s.default_campaign_id, campaign_label,
                        Some((-1, lang.t(t::NO_CAMPAIGN_VISITORS)))))
                    (field_error(lang, errors, "default_campaign_id"))
                }
                div id="source-block" hidden[!source_mode] {
                    label for="default_source_id" { (lang.t(t::SOURCE)) }
                    (select_or_input(lang, "default_source_id", &data.lists.sources, s.default_source_id, source_label, None))
                    (field_error(lang, errors, "default_source_id"))
                }
                label for="default_site_id" { (lang.t(t::SITE)) " " small { "(" (lang.t(t::SITE_HINT)) ")" } }
                (select_or_input(lang, "default_site_id", &data.lists.sites, s.default_site_id, site_label, None))
                (field_error(lang, errors, "default_site_id"))
                label for="chat_employee_id" { (lang.t(t::CHAT_OPERATOR)) }
                (select_or_input(lang, "chat_employee_id", &data.lists.employees, s.chat_employee_id, employee_label, None))
                (field_error(lang, errors, "chat_employee_id"))
            }
            details id="more" open[more_open(errors)] {
                summary { (lang.t(t::MORE)) }
                label for="name" { (lang.t(t::NAME)) }
                input type="text" name="name" id="name" value=(v.name) required;
                (field_error(lang, errors, "name"))
                label for="timezone" { (lang.t(t::TIMEZONE))
                    @if let Ok(account) = &data.lists.account {
                        @if let Some(zone) = &account.timezone { " " small { "(" (lang.t(t::IN_ACCOUNT)) ": " (zone) ")" } }
                    }
                }
                input type="text" name="timezone" id="timezone" placeholder=(lang.t(t::TIMEZONE_PLACEHOLDER))
                    value=(s.timezone.as_deref().unwrap_or_default());
                (field_error(lang, errors, "timezone"))
                label for="leadback_timezone" { (lang.t(t::LEADBACK_TIMEZONE)) " " small { "(" (lang.t(t::LEADBACK_TIMEZONE_HINT)) ")" } }
                input type="text" name="leadback_timezone" id="leadback_timezone" value=(s.leadback_timezone);
                (field_error(lang, errors, "leadback_timezone"))
                label.check for="upload_sessions" {
                    input type="checkbox" name="upload_sessions" id="upload_sessions" value="true" checked[s.upload_sessions];
                    span { (lang.t(t::UPLOAD_SESSIONS)) }
                }
                (field_error(lang, errors, "upload_sessions"))
                (credentials_fields(lang, &v.api_url, errors, false))
            }
            p { button type="submit" id="save" { (lang.t(t::SAVE)) } }
        }
    }
}

/// The extra settings stay folded unless one of them is wrong.
fn more_open(errors: &FieldErrors) -> bool {
    ["name", "timezone", "leadback_timezone", "upload_sessions"]
        .iter()
        .any(|field| errors.contains_key(*field))
        || errors.keys().any(|field| field.starts_with("comagic"))
}

pub(super) fn webhook_section(data: &PageData<'_>) -> Markup {
    let lang = data.lang;
    html! {
        section id="webhook" aria-labelledby="webhook-title" {
            h2 id="webhook-title" { (lang.t(t::WEBHOOK)) }
            ol.steps {
                li {
                    (lang.t(t::STEP_COPY))
                    @if let Some(url) = &data.webhook_url {
                        div.url {
                            code id="webhook-url" { (url) }
                            button type="button" id="copy-webhook-url" class="secondary" hidden
                                data-copied=(lang.t(t::COPIED)) { (lang.t(t::COPY)) }
                        }
                        small { (lang.t(t::URL_ONCE)) }
                    } @else {
                        br; small { (lang.t(t::URL_HIDDEN)) }
                    }
                }
                li { (lang.t(t::STEP_PASTE)) }
                li { (lang.t(t::STEP_TEST)) }
            }
            p.hint { (lang.t(t::AFTER_CONNECT)) }
            form method="post" action={ (data.path()) "/rotate" } {
                (csrf_field(data.session))
                button type="submit" id="rotate" class="secondary" { (lang.t(t::ROTATE)) }
            }
        }
    }
}

fn select_or_input<T>(
    lang: Lang,
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
                    options.push((current, lang.t(t::NOT_IN_ACCOUNT).to_owned()));
                }
            }
            html! {
                select name=(name) id=(name) {
                    option value="" { (lang.t(t::NONE_CHOSEN)) }
                    @for (id, label) in options {
                        option value=(id) selected[current == Some(id)] { (id) " — " (label) }
                    }
                }
            }
        }
        Err(error) => html! {
            input type="number" name=(name) id=(name) value=[current];
            span.warning { (lang.t(t::LIST_NOT_LOADED)) ": " (error.message) }
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

fn tags_input(lang: Lang, list: &Result<Vec<Tag>, ListError>, chosen: &[i64]) -> Markup {
    match list {
        Ok(tags) => {
            let mut options: Vec<(i64, String)> =
                tags.iter().map(|t| (t.id, t.name.clone())).collect();
            for id in chosen {
                if !options.iter().any(|(have, _)| have == id) {
                    options.push((*id, lang.t(t::NOT_IN_ACCOUNT).to_owned()));
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
            @for id in chosen { input type="number" name="tag_ids" value=(id) aria-label=(lang.t(t::TAGS)); }
            input type="number" name="tag_ids" id="tag_ids" value="";
            span.warning { (lang.t(t::LIST_NOT_LOADED)) ": " (error.message) }
        },
    }
}
