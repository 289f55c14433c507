//! The worker's part of an event's trace (see `bridge_queue::trace_context`).
//!
//! * Every `delivery` span (the log span of each step of an event's attempt) continues the
//!   trace the envelope carries: its parent is the ingress's `queue.publish` span.
//! * A `batch` span (one `upload.*` call for several events) continues the trace of its first
//!   event and links to the others': one span has one parent, and a batch serves many traces
//!   (OpenTelemetry's convention for batch consumers).
//! * Each CoMagic call gets a span of its own (`comagic <method>`, kind client) with the
//!   tenant, the method and the outcome label of `comagic_requests_total`.
//! * The settlement puts the event's kind, outcome and failure class on its `delivery` span.
//!
//! The attributes are the ids and labels the logs and metrics already carry (tenant and event
//! ids, kind, method, class, mnemonic): never a token, a credential or the event's body.
//! With tracing off every function returns after one atomic load (the spans of the trace-only
//! target are disabled at their call site) and nothing is allocated.

use crate::deliver::Pending;
use crate::outcome::Disposition;
use bridge_queue::trace_context::{self, TARGET};
use bridge_queue::Envelope;
use opentelemetry::trace::Status;
use tracing::field::Empty;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Makes a `delivery` span continue the event's trace.
pub(crate) fn follow(span: &Span, envelope: &Envelope) {
    trace_context::continue_trace(span, envelope.trace.as_ref());
}

/// Makes a `batch` span continue its first event's trace and link to the others'.
pub(crate) fn join_batch(span: &Span, items: &[Pending]) {
    if !trace_context::enabled() {
        return;
    }
    let mut envelopes = items.iter().map(|p| &p.envelope);
    if let Some(first) = envelopes.next() {
        follow(span, first);
    }
    for envelope in envelopes {
        trace_context::link(span, envelope.trace.as_ref());
    }
}

/// The span of one CoMagic call (disabled when tracing is off).
pub(crate) fn comagic_span(method: &'static str, tenant_id: uuid::Uuid) -> Span {
    tracing::info_span!(
        target: TARGET,
        "comagic",
        otel.name = %format_args!("comagic {method}"),
        otel.kind = "client",
        otel.status_code = Empty,
        comagic.method = method,
        tenant_id = %tenant_id,
        outcome = Empty,
    )
}

/// The call's outcome: `ok` or the `comagic_requests_total` label of its error.
pub(crate) fn comagic_outcome(span: &Span, outcome: &'static str) {
    if span.is_disabled() {
        return;
    }
    span.record("outcome", outcome);
    if outcome != "ok" {
        span.record("otel.status_code", "error");
    }
}

/// Puts the attempt's kind and outcome on the current (`delivery`) span: `delivered`,
/// `duplicate`, `retry` or `dead`, with the failure class and CoMagic's mnemonic; a dead
/// letter also marks the span as an error.
pub(crate) fn settled(kind: &'static str, disposition: &Disposition) {
    if !trace_context::enabled() {
        return;
    }
    let span = Span::current();
    span.set_attribute("kind", kind);
    let (outcome, class, mnemonic) = match disposition {
        Disposition::Delivered { duplicate: false } => ("delivered", None, None),
        Disposition::Delivered { duplicate: true } => ("duplicate", None, None),
        Disposition::Retry {
            class, mnemonic, ..
        } => ("retry", Some(*class), mnemonic.as_deref()),
        Disposition::Dead {
            class, mnemonic, ..
        } => ("dead", Some(*class), mnemonic.as_deref()),
    };
    span.set_attribute("outcome", outcome);
    if let Some(class) = class {
        span.set_attribute("failure_class", class.as_str());
    }
    if let Some(mnemonic) = mnemonic {
        span.set_attribute("comagic.mnemonic", mnemonic.to_owned());
    }
    if outcome == "dead" {
        span.set_status(Status::error("dead-lettered"));
    }
}
