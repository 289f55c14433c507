//! The W3C trace context an event carries across the queue, so the webhook, the publish, the
//! worker's delivery and its CoMagic calls form one trace (OpenTelemetry, off unless the binary
//! calls [`enable`]).
//!
//! The context rides in the [`crate::Envelope`] itself (`trace`, absent when tracing is off):
//! one envelope is the unit both backends store and deliver, so the context reaches the worker
//! from an embedded queue row (the row's `envelope` column), from a one-envelope AMQP message
//! and from each envelope of a group-published message alike, and survives retries (a delay
//! tier gets the updated envelope) without a second copy to keep in sync. A one-envelope AMQP
//! message also carries it as the standard `traceparent`/`tracestate` headers, for tools that
//! read AMQP headers; the consumer falls back to those when the envelope has none.
//!
//! Cost when off: every function here first reads one atomic flag and returns; no context is
//! built and the envelope's field stays `None` (not even serialised).

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The `tracing` target of spans that exist only for the traces (the webhook, the publish,
/// each CoMagic call, the settlement): the log output filters it out, and with tracing off no
/// subscriber is interested in it, so those spans are disabled at their call site (no fields
/// evaluated, nothing allocated).
pub const TARGET: &str = "leadback_trace";

/// The W3C `traceparent` header's name (also the AMQP header's).
pub const TRACEPARENT: &str = "traceparent";
/// The W3C `tracestate` header's name (also the AMQP header's).
pub const TRACESTATE: &str = "tracestate";

/// Whether this process exports traces; set once at start by the binary.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turns propagation on for this process (the binary calls it when it installed an OTLP
/// exporter). Never turned off again.
pub fn enable() {
    ENABLED.store(true, Ordering::Release);
}

/// Whether this process exports traces.
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Acquire)
}

/// A span's context in W3C Trace Context form (`00-<trace id>-<span id>-<flags>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceContext {
    pub traceparent: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracestate: Option<String>,
}

impl Injector for TraceContext {
    fn set(&mut self, key: &str, value: String) {
        match key {
            TRACEPARENT => self.traceparent = value,
            TRACESTATE if !value.is_empty() => self.tracestate = Some(value),
            _ => {}
        }
    }
}

impl Extractor for TraceContext {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            TRACEPARENT => Some(&self.traceparent),
            TRACESTATE => self.tracestate.as_deref(),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT, TRACESTATE]
    }
}

impl TraceContext {
    /// The context of `span` to send along, or `None` when tracing is off or the span is not
    /// recorded by OpenTelemetry.
    pub fn of_span(span: &tracing::Span) -> Option<Self> {
        if !enabled() || span.is_disabled() {
            return None;
        }
        let cx = span.context();
        if !cx.span().span_context().is_valid() {
            return None;
        }
        let mut carried = TraceContext {
            traceparent: String::new(),
            tracestate: None,
        };
        TraceContextPropagator::new().inject_context(&cx, &mut carried);
        (!carried.traceparent.is_empty()).then_some(carried)
    }

    /// The remote span this context names; `None` when it does not parse.
    pub fn span_context(&self) -> Option<SpanContext> {
        let cx = TraceContextPropagator::new().extract(self);
        let remote = cx.span().span_context().clone();
        remote.is_valid().then_some(remote)
    }

    /// The context as AMQP message headers (`traceparent`, and `tracestate` when present).
    pub fn to_amqp_headers(&self) -> lapin::types::FieldTable {
        use lapin::types::{AMQPValue, FieldTable};
        let mut headers = FieldTable::default();
        headers.insert(
            TRACEPARENT.into(),
            AMQPValue::LongString(self.traceparent.as_str().into()),
        );
        if let Some(state) = &self.tracestate {
            headers.insert(
                TRACESTATE.into(),
                AMQPValue::LongString(state.as_str().into()),
            );
        }
        headers
    }

    /// The context in AMQP headers written by [`TraceContext::to_amqp_headers`] (or any W3C
    /// producer), if they hold a `traceparent` that parses.
    pub fn from_amqp_headers(headers: &lapin::types::FieldTable) -> Option<Self> {
        let text = |name: &str| match headers.inner().get(name)? {
            lapin::types::AMQPValue::LongString(s) => {
                std::str::from_utf8(s.as_bytes()).ok().map(str::to_owned)
            }
            lapin::types::AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
            _ => None,
        };
        let carried = TraceContext {
            traceparent: text(TRACEPARENT)?,
            tracestate: text(TRACESTATE).filter(|s| !s.is_empty()),
        };
        carried.span_context().is_some().then_some(carried)
    }
}

/// Makes `span` continue the trace `context` names (its parent becomes that remote span).
/// Nothing happens when tracing is off, the context is absent or does not parse, or the span
/// is disabled. Call it right after creating the span, before it is entered.
pub fn continue_trace(span: &tracing::Span, context: Option<&TraceContext>) {
    if !enabled() || span.is_disabled() {
        return;
    }
    let Some(remote) = context.and_then(TraceContext::span_context) else {
        return;
    };
    let parent = opentelemetry::Context::new().with_remote_span_context(remote);
    // Fails only when the span was already started or no OpenTelemetry layer is installed.
    let _ = span.set_parent(parent);
}

/// Links `span` to the span `context` names (a batch to the events it serves). Nothing happens
/// when tracing is off or the context is absent or unreadable.
pub fn link(span: &tracing::Span, context: Option<&TraceContext>) {
    if !enabled() || span.is_disabled() {
        return;
    }
    if let Some(remote) = context.and_then(TraceContext::span_context) {
        span.add_link(remote);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn amqp_headers_round_trip_the_context() {
        let context = TraceContext {
            traceparent: PARENT.into(),
            tracestate: Some("vendor=value".into()),
        };
        let headers = context.to_amqp_headers();
        assert_eq!(TraceContext::from_amqp_headers(&headers), Some(context));
        let remote = TraceContext::from_amqp_headers(&headers)
            .and_then(|c| c.span_context())
            .unwrap();
        assert_eq!(
            remote.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(remote.span_id().to_string(), "00f067aa0ba902b7");
        assert!(remote.is_sampled() && remote.is_remote());
    }

    #[test]
    fn headers_without_a_valid_traceparent_carry_no_context() {
        use lapin::types::{AMQPValue, FieldTable};
        assert_eq!(
            TraceContext::from_amqp_headers(&FieldTable::default()),
            None
        );
        for bad in [
            "garbage",
            // All-zero ids are invalid in W3C Trace Context.
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        ] {
            let mut headers = FieldTable::default();
            headers.insert(TRACEPARENT.into(), AMQPValue::LongString(bad.into()));
            assert_eq!(TraceContext::from_amqp_headers(&headers), None, "{bad}");
        }
    }

    #[test]
    fn the_envelope_holds_the_context_only_when_it_has_one() {
        let mut envelope = crate::Envelope::new(
            "evt-1".parse().unwrap(),
            uuid::Uuid::new_v4(),
            None,
            b"x".to_vec(),
            chrono::Utc::now(),
        );
        // Off: the wire format is what it was before traces (and what older binaries read).
        let json = String::from_utf8(envelope.to_json()).unwrap();
        assert!(!json.contains("\"trace\""), "{json}");
        envelope.trace = Some(TraceContext {
            traceparent: PARENT.into(),
            tracestate: None,
        });
        let read = crate::Envelope::from_json(&envelope.to_json()).unwrap();
        assert_eq!(read, envelope);
    }

    #[test]
    fn off_by_default_nothing_is_captured() {
        // No test in this crate enables tracing: a span's context is never taken.
        let span = tracing::info_span!("x");
        assert!(!enabled());
        assert_eq!(TraceContext::of_span(&span), None);
    }
}
