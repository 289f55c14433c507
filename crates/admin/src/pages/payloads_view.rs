//! The integration's recent requests from Leadback, newest first: when, content type, event,
//! what the parser reads from it now (with the current field map), what became of it, and a
//! "Проверить" button that runs the preview on exactly that body.

use maud::{html, Markup};

use super::i18n::{t, Lang};
use super::layout::{csrf_field, table};
use super::tenant_page::PageData;
use crate::recent_payloads::RecentPayloadView;

const TIME: &str = "%Y-%m-%d %H:%M:%S";

fn delivery(lang: Lang, payload: &RecentPayloadView) -> Markup {
    let Some(delivery) = &payload.delivery else {
        return html! {
            span.error data-code=[payload.ingress_code] { (lang.t(t::REFUSED_AT_INGRESS)) }
            @if let Some(reason) = &payload.refusal {
                br; small.refusal { (lang.say(reason)) }
            } @else if let Some(error) = &payload.ingress_error {
                br; small { (error) }
            }
        };
    };
    let state = match delivery.state {
        "delivered" => t::STATE_DELIVERED,
        "dead_letter" => t::STATE_DEAD_LETTER,
        _ => t::STATE_PENDING,
    };
    html! {
        span data-state=(delivery.state) { (lang.t(state)) }
        @if let Some(id) = delivery.comagic_id { " · CoMagic " (id) }
        @if let Some(class) = &delivery.class { br; code { (class) } }
        @if let Some(m) = &delivery.mnemonic { " " code { (m) } }
        @if let Some(message) = &delivery.message { br; small { (message) } }
    }
}

fn parsed(lang: Lang, payload: &RecentPayloadView) -> Markup {
    let parsed = &payload.parsed;
    html! {
        @if let Some(kind) = &parsed.kind { (kind) }
        @if let Some(problem) = &parsed.problem {
            br; span.error data-code=(problem.code) { (lang.say(&problem.reason)) }
        }
        @if !parsed.analysis.found.is_empty() {
            br; small { (lang.t(t::READ_AS)) ": "
                @for (i, found) in parsed.analysis.found.iter().enumerate() {
                    @if i > 0 { ", " }
                    code { (found.meaning) } "←" code { (found.path) }
                }
            }
        }
        @if !parsed.analysis.unmatched_keys.is_empty() {
            br; small { (lang.t(t::UNMATCHED)) ": "
                @for key in &parsed.analysis.unmatched_keys { code { (key) } " " } }
        }
        @for warning in &parsed.warnings { br; small.warning data-code=(warning.code()) { (lang.say(warning)) } }
    }
}

/// "Проверить": the body goes back with the button, so the preview checks exactly what was
/// received. A body refused unread was not kept: nothing to check.
fn check_button(data: &PageData<'_>, payload: &RecentPayloadView) -> Markup {
    let lang = data.lang;
    if payload.bytes_seen.is_some() {
        return html! {};
    }
    html! {
        form method="post" action={ (data.path()) "/preview#preview" } {
            (csrf_field(data.session))
            input type="hidden" name="body" value=(payload.body);
            input type="hidden" name="content_type"
                value=(payload.content_type.as_deref().unwrap_or("application/json"));
            button type="submit" class="check secondary"
                aria-label={ (lang.t(t::CHECK_THIS)) " " (payload.event_id.as_deref().unwrap_or_default()) } {
                (lang.t(t::CHECK_THIS))
            }
        }
    }
}

/// One payload's row: when, the event (and the body, if kept), the reading, what became of it.
fn payload_row(data: &PageData<'_>, payload: &RecentPayloadView) -> Markup {
    let lang = data.lang;
    html! {
        tr data-payload-id=(payload.id) {
            td { (payload.received_at.format(TIME)) br;
                small { (payload.content_type.as_deref().unwrap_or("—")) } }
            td { (payload.event_id.as_deref().unwrap_or("—"))
                @if payload.bytes_seen.is_none() {
                    details { summary { (lang.t(t::BODY)) } pre { (payload.body) } }
                } }
            td { (parsed(lang, payload)) }
            td { (delivery(lang, payload)) }
            td { (check_button(data, payload)) }
        }
    }
}

pub(super) fn payloads_section(data: &PageData<'_>) -> Markup {
    let lang = data.lang;
    let columns = [t::RECEIVED, t::EVENT, t::KIND, t::DELIVERY, t::BUTTONS];
    html! {
        section id="recent-payloads-section" aria-labelledby="recent-payloads-title" {
            h2 id="recent-payloads-title" { (lang.t(t::RECENT_PAYLOADS)) }
            @if data.stored.payloads.is_empty() {
                p.hint { (lang.t(t::NO_PAYLOADS)) }
            } @else {
                (table(lang, "recent-payloads", &columns, html! {
                    @for payload in &data.stored.payloads { (payload_row(data, payload)) }
                }))
            }
        }
    }
}
