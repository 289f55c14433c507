//! The integration's health on its page (last accepted and delivered, last error, dead letters
//! by class, CoMagic reachable and credentials accepted, time zones, budget) and the status
//! shown in the list (ok / waiting for CoMagic / needs attention, with the reason).

use chrono::{DateTime, Utc};
use maud::{html, Markup};

use super::i18n::{t, Lang};
use super::tenant_page::PageData;
use crate::health::{BudgetWindow, StatusView, TenantStatus};

const TIME: &str = "%Y-%m-%d %H:%M:%S UTC";

/// The status word, coloured by its class, with the reason beside it.
pub(super) fn status_badge(lang: Lang, status: &StatusView) -> Markup {
    let (class, text) = match status.status {
        TenantStatus::Ok => ("status-ok", t::STATUS_OK),
        TenantStatus::WaitingForComagic => ("status-waiting", t::STATUS_WAITING),
        TenantStatus::NeedsAttention => ("status-attention", t::STATUS_ATTENTION),
    };
    html! {
        strong class=(class) data-status=(status.status.as_str()) { (lang.t(text)) }
        " " small.status-reason { (status.reason.text(lang == Lang::Ru)) }
    }
}

fn when(lang: Lang, at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(
        || lang.t(t::UNKNOWN).to_owned(),
        |at| at.format(TIME).to_string(),
    )
}

fn yes_no(lang: Lang, value: Option<bool>) -> &'static str {
    match value {
        Some(true) => lang.t(t::YES),
        Some(false) => lang.t(t::NO),
        None => lang.t(t::UNKNOWN),
    }
}

fn window(lang: Lang, window: Option<&BudgetWindow>) -> String {
    match window.and_then(|w| w.remaining.map(|left| (left, w.limit))) {
        Some((left, Some(limit))) => format!("{left}/{limit}"),
        Some((left, None)) => left.to_string(),
        None => lang.t(t::UNKNOWN).to_owned(),
    }
}

pub(super) fn health_section(data: &PageData<'_>) -> Markup {
    let lang = data.lang;
    let Some(health) = &data.health else {
        return html! {};
    };
    html! {
        section id="health" aria-labelledby="health-title" {
            h2 id="health-title" { (lang.t(t::HEALTH)) }
            p id="health-status" { (status_badge(lang, &health.status)) }
            dl.facts {
                dt { (lang.t(t::LAST_ACCEPTED)) } dd { (when(lang, health.last_accepted_at)) }
                dt { (lang.t(t::LAST_DELIVERED)) } dd { (when(lang, health.last_delivered_at)) }
                @if let Some(error) = &health.last_error {
                    dt { (lang.t(t::LAST_ERROR)) }
                    dd { code { (error.class) } " "
                        @if let Some(m) = &error.mnemonic { code { (m) } " " }
                        (error.message) " (" (error.at.format(TIME)) ")" }
                }
                dt { (lang.t(t::DEAD_LETTERS)) }
                dd {
                    (health.dead_letters.total)
                    @for (class, count) in &health.dead_letters.by_class { " · " code { (class) } " " (count) }
                }
                dt { (lang.t(t::COMAGIC_REACHABLE)) } dd { (yes_no(lang, Some(health.comagic.reachable)))
                    @if let Some(error) = &health.comagic.error { " — " (error) } }
                dt { (lang.t(t::CREDENTIALS_ACCEPTED)) } dd { (yes_no(lang, health.comagic.credentials_accepted)) }
                dt { (lang.t(t::TIMEZONES)) }
                dd {
                    (health.timezone.stored.as_deref().unwrap_or(lang.t(t::UNKNOWN))) " / "
                    (health.timezone.account.as_deref().unwrap_or(lang.t(t::UNKNOWN)))
                    @if health.timezone.matches == Some(false) { " " span.warning { (lang.t(t::TIMEZONE_DIFFERS)) } }
                }
                dt { (lang.t(t::BUDGET)) }
                dd { (window(lang, health.budget.minute.as_ref())) " / " (window(lang, health.budget.day.as_ref())) }
            }
            @for warning in &health.warnings { p.warning { (lang.say(warning)) } }
        }
    }
}
