//! The trace context round trip with a real OpenTelemetry layer: the context taken from the
//! publishing span, carried in AMQP headers or the envelope's JSON, makes the consuming span
//! part of the same trace. Its own test binary: it turns propagation on for the process.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use bridge_queue::trace_context::{continue_trace, enable};
use bridge_queue::{Envelope, TraceContext};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

fn trace_id(span: &tracing::Span) -> opentelemetry::trace::TraceId {
    span.context().span().span_context().trace_id()
}

#[test]
fn a_context_carried_in_headers_or_the_envelope_continues_the_trace() {
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    enable();
    tracing::subscriber::with_default(subscriber, || {
        let publish = tracing::info_span!("publish");
        let carried = TraceContext::of_span(&publish).expect("a context while enabled");
        assert!(carried.traceparent.starts_with("00-"), "{carried:?}");

        // Through the AMQP headers of a one-envelope message.
        let from_headers = TraceContext::from_amqp_headers(&carried.to_amqp_headers()).unwrap();
        let delivery = tracing::info_span!("delivery");
        continue_trace(&delivery, Some(&from_headers));
        assert_eq!(trace_id(&delivery), trace_id(&publish));

        // Through the envelope's JSON (an embedded queue row, an envelope of a batch message).
        let mut envelope = Envelope::new(
            "evt-1".parse().unwrap(),
            uuid::Uuid::new_v4(),
            None,
            b"{}".to_vec(),
            chrono::Utc::now(),
        );
        envelope.trace = Some(carried.clone());
        let read = Envelope::from_json(&envelope.to_json()).unwrap();
        assert_eq!(read.trace.as_ref(), Some(&carried));
        let later = tracing::info_span!("delivery");
        continue_trace(&later, read.trace.as_ref());
        assert_eq!(trace_id(&later), trace_id(&publish));

        // Without a context a span starts a trace of its own.
        let unrelated = tracing::info_span!("delivery");
        continue_trace(&unrelated, None);
        assert_ne!(trace_id(&unrelated), trace_id(&publish));
    });
}
