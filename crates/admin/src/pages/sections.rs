//! The tenant page's read-outs and their buttons: the tenant's own problems, dead letters,
//! recent deliveries and deletion.

use maud::{html, Markup};

use super::i18n::t;
use super::i18n::t::{
    ATTEMPTS, BUTTONS, CLASS, COMAGIC_ID, COMPLETE, DELIVERED, ERROR, EVENT, KIND, RECEIVED, WHEN,
};
use super::layout::{csrf_field, table};
use super::tenant_page::PageData;
use crate::tenant_problems;

const TIME: &str = "%Y-%m-%d %H:%M:%S";

pub(super) fn problems_section(data: &PageData<'_>) -> Markup {
    let lang = data.lang;
    if data.stored.problems.is_empty() {
        return html! {};
    }
    let open: usize = data.stored.problems.iter().map(|p| p.count).sum();
    html! {
        section id="tenant-problems" aria-labelledby="tenant-problems-title" {
            h2 id="tenant-problems-title" { (lang.t(t::NEEDS_ATTENTION)) }
            p { (lang.t(t::PROBLEMS_INTRO)) }
            ul {
                @for problem in &data.stored.problems {
                    li {
                        @if let Some(m) = &problem.mnemonic { code { (m) } " " }
                        "× " (problem.count) ": " (problem.message)
                        br;
                        strong { (lang.t(problem.fix)) }
                    }
                }
            }
            form method="post" action={ (data.path()) "/replay" } {
                (csrf_field(data.session))
                input type="hidden" name="class" value=(tenant_problems::TENANT_CLASS);
                button type="submit" id="replay-tenant-problems" {
                    (lang.t(t::REPLAY_THESE)) " (" (open) ")"
                }
            }
        }
    }
}

pub(super) fn dead_letters_section(data: &PageData<'_>) -> Markup {
    let lang = data.lang;
    let columns = [WHEN, EVENT, CLASS, ERROR, ATTEMPTS, BUTTONS];
    html! {
        section id="dead-letters-section" aria-labelledby="dead-letters-title" {
            h2 id="dead-letters-title" { (lang.t(t::DEAD_LETTERS)) }
            (table(lang, "dead-letters", &columns, html! {
                @for dead in &data.stored.dead {
                    tr data-dead-letter-id=(dead.id) {
                        td { (dead.dead_at.format(TIME)) }
                        td { (dead.event_id) }
                        td { (dead.class) }
                        td { @if let Some(m) = &dead.mnemonic { code { (m) } " " } (dead.message) }
                        td { (dead.attempts) }
                        td {
                            form method="post" action={ (data.path()) "/replay" } {
                                (csrf_field(data.session))
                                input type="hidden" name="dead_letter_id" value=(dead.id);
                                button type="submit" class="replay secondary"
                                    aria-label={ (lang.t(t::REPLAY)) " " (dead.event_id) } { (lang.t(t::REPLAY)) }
                            }
                        }
                    }
                }
            }))
            @if !data.stored.dead.is_empty() {
                form method="post" action={ (data.path()) "/replay" } {
                    (csrf_field(data.session))
                    p { button type="submit" id="replay-all" { (lang.t(t::REPLAY_ALL)) } }
                }
            }
        }
    }
}

pub(super) fn deliveries_section(data: &PageData<'_>) -> Markup {
    let lang = data.lang;
    let columns = [
        RECEIVED, KIND, EVENT, COMAGIC_ID, ATTEMPTS, DELIVERED, COMPLETE,
    ];
    html! {
        section aria-labelledby="deliveries-title" {
            h2 id="deliveries-title" { (lang.t(t::DELIVERIES)) }
            (table(lang, "deliveries", &columns, html! {
                @for entry in &data.stored.deliveries {
                    tr {
                        td { (entry.received_at.format(TIME)) }
                        td { (entry.kind.as_str()) }
                        td { (entry.event_id) }
                        td { @if let Some(id) = entry.comagic_id { (id) } @else { "—" } }
                        td { (entry.attempts) }
                        td { (entry.delivered_at.format(TIME)) }
                        td { (lang.t(if entry.complete { t::YES } else { t::NO })) }
                    }
                }
            }))
        }
    }
}

pub(super) fn delete_section(data: &PageData<'_>) -> Markup {
    let lang = data.lang;
    html! {
        section aria-labelledby="delete-title" {
            h2 id="delete-title" { (lang.t(t::DELETION)) }
            form method="post" action={ (data.path()) "/delete" } {
                (csrf_field(data.session))
                button type="submit" id="delete" class="danger" { (lang.t(t::DELETE)) }
            }
        }
    }
}
