//! The ingress's spans of an event's trace: `webhook` (the request, kind server) and
//! `queue.publish` (the wait for the queue's confirm, kind producer), whose context the
//! envelope carries to the worker.
//!
//! Both use the trace-only target ([`TARGET`]): they never appear in the logs, and with tracing
//! off they are disabled at their call site. Attributes name the tenant and the event, never
//! the URL's token (the route is the template `/hooks/leadback/{token}`).

use bridge_queue::trace_context::{self, TARGET};
use bridge_queue::{Envelope, TraceContext};
use tracing::field::Empty;
use tracing::Span;

/// The request's span (disabled when tracing is off).
pub(crate) fn webhook_span(method: &axum::http::Method) -> Span {
    tracing::info_span!(
        target: TARGET,
        "webhook",
        otel.name = "POST /hooks/leadback/{token}",
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = %method,
        http.route = "/hooks/leadback/{token}",
        http.response.status_code = Empty,
        tenant_id = Empty,
        event_id = Empty,
        outcome = Empty,
    )
}

/// Notes the request's tenant on the current (webhook) span.
pub(crate) fn tenant_known(tenant_id: uuid::Uuid) {
    if trace_context::enabled() {
        Span::current().record("tenant_id", tracing::field::display(tenant_id));
    }
}

/// The request's outcome on its span: the `ingress_requests_total` label and the status.
pub(crate) fn answered(span: &Span, outcome: &'static str, status: u16) {
    if span.is_disabled() {
        return;
    }
    span.record("outcome", outcome);
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "error");
    }
}

/// The publish's span, a child of the webhook's; when tracing is on, `envelope` takes its
/// context so the worker's spans join this trace.
pub(crate) fn publish_span(envelope: &mut Envelope, backend: &'static str) -> Span {
    let span = tracing::info_span!(
        target: TARGET,
        "queue.publish",
        otel.name = "publish leadback.events",
        otel.kind = "producer",
        otel.status_code = Empty,
        messaging.system = backend,
        messaging.operation.type = "publish",
        event_id = %envelope.event_id,
        tenant_id = %envelope.tenant_id,
    );
    if !span.is_disabled() {
        Span::current().record("event_id", envelope.event_id.as_str());
        envelope.trace = TraceContext::of_span(&span);
    }
    span
}

/// Marks a publish that was not confirmed (refused, timed out) as failed.
pub(crate) fn publish_failed(span: &Span) {
    span.record("otel.status_code", "error");
}
