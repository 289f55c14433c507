//! One reading of a webhook body for a tenant, as the worker would do it with the tenant's
//! current settings and field map: the kind, each meaning found and its path, the keys nothing
//! matched, the warnings, and the CoMagic plan — or the stage at which it stops and why. Pure;
//! the preview (`preview.rs`) and the recent payloads (`recent_payloads.rs`) both show it.

use chrono::Utc;
use leadback_model::analysis::{analyse, Analysis};
use leadback_model::{
    map, ComagicPlan, FailureClass, FieldMap, LeadbackEvent, RawPayload, TenantSettings,
};
use serde::Serialize;

use crate::reasons::Reason;

/// Where and why a body would not map.
#[derive(Debug, Clone, Serialize)]
pub struct ParseProblem {
    /// `body`, `event` or `mapping`.
    pub stage: &'static str,
    /// The dead-letter class it would get (`mapping`, `tenant_permanent`, …; `ping`).
    pub class: &'static str,
    /// Why, in English in the API (the pages say it in their language).
    pub reason: Reason,
    /// The kind of `reason`, stable for programs.
    pub code: &'static str,
}

impl ParseProblem {
    fn new(stage: &'static str, class: &'static str, reason: Reason) -> ParseProblem {
        ParseProblem {
            stage,
            class,
            code: reason.code(),
            reason,
        }
    }
}

/// The parser's reading of one body, as the API and the page show it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ParsedView {
    /// `callback`, `chat`, `ping` (Leadback's save-time test), or `None` when unreadable.
    pub kind: Option<String>,
    /// Each meaning found with its path (and whether the field map or an alias found it), and
    /// the paths of values no meaning used: where an unknown shape keeps its phone or name.
    #[serde(flatten)]
    pub analysis: Analysis,
    /// In English in the API (the pages say them in their language).
    pub warnings: Vec<Reason>,
    /// The worker would map it to CoMagic calls as things stand.
    pub mappable: bool,
    /// Why not, when it would not.
    pub problem: Option<ParseProblem>,
}

/// The reading, with the event and the CoMagic plan it leads to.
#[derive(Default)]
pub(crate) struct Reading {
    pub parsed: ParsedView,
    /// The event, dated at receipt when it carries no time (`None` before the event stage).
    pub event: Option<LeadbackEvent>,
    /// The CoMagic calls it maps to.
    pub plan: Option<ComagicPlan>,
}

/// Reads `body` for a tenant with `settings` and `field_map`.
pub(crate) fn read(
    settings: &TenantSettings,
    field_map: &FieldMap,
    content_type: Option<&str>,
    body: &[u8],
) -> Reading {
    let payload = match RawPayload::parse(content_type, body) {
        Ok(payload) => payload,
        Err(e) => {
            let problem = ParseProblem::new("body", "mapping", Reason::UnparseableBody(e));
            return stopped(ParsedView {
                problem: Some(problem),
                ..ParsedView::default()
            });
        }
    };
    let analysis = payload
        .value()
        .as_object()
        .map(|object| analyse(object, field_map))
        .unwrap_or_default();
    let mut parsed = ParsedView {
        analysis,
        ..ParsedView::default()
    };
    if payload.is_ping() {
        parsed.kind = Some("ping".into());
        parsed.problem = Some(ParseProblem::new("body", "ping", Reason::Ping));
        return stopped(parsed);
    }
    let Some(zone) = settings.leadback_zone() else {
        let reason = Reason::LeadbackZoneInvalid(settings.leadback_timezone.clone());
        parsed.problem = Some(ParseProblem::new("event", "tenant_permanent", reason));
        return stopped(parsed);
    };
    let event = match LeadbackEvent::from_payload_mapped(&payload, zone, field_map) {
        Ok(event) => event,
        Err(e) => {
            let reason = Reason::NotAnEvent(e);
            parsed.problem = Some(ParseProblem::new("event", "mapping", reason));
            return stopped(parsed);
        }
    };
    parsed.kind = Some(event.kind.as_str().to_owned());
    parsed.warnings = event_warnings(&event);
    let now = Utc::now();
    let event = event.dated_at_receipt(now);
    let plan = match map(&event, settings, now) {
        Ok(plan) => Some(plan),
        Err(e) => {
            // The class the worker dead-letters it with (its own reading of `e.class()`).
            let class = match e.class() {
                FailureClass::TenantPermanent => "tenant_permanent",
                _ => "mapping",
            };
            parsed.problem = Some(ParseProblem::new("mapping", class, Reason::Unmappable(e)));
            None
        }
    };
    parsed.mappable = plan.is_some();
    Reading {
        parsed,
        event: Some(event),
        plan,
    }
}

/// A reading that stopped before there was an event.
fn stopped(parsed: ParsedView) -> Reading {
    Reading {
        parsed,
        ..Reading::default()
    }
}

/// What an operator should know about a readable event.
fn event_warnings(event: &LeadbackEvent) -> Vec<Reason> {
    let mut warnings = Vec::new();
    if let Some(raw) = &event.contact.phone_unparsed {
        warnings.push(Reason::PhoneInvalid(raw.clone()));
    }
    if let Some(raw) = &event.contact.email_unparsed {
        warnings.push(Reason::EmailInvalid(raw.clone()));
    }
    if event.created_at.is_none() {
        warnings.push(Reason::NoCreatedAt);
    }
    if event.contact.phone.is_none() && event.contact.email.is_none() {
        warnings.push(Reason::NoContactFound);
    }
    warnings
}
