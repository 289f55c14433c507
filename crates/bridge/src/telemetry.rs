//! Traces over OTLP/HTTP (protobuf), on when the standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set for `serve`, `ingress` or `worker`.
//!
//! Spans are exported from the SDK's own batch thread with a blocking HTTP client, built here
//! before the async runtime exists: an export never runs on the runtime's threads, and a full
//! export queue drops spans rather than slowing a request. Which spans exist and what they
//! carry: `bridge_queue::trace_context` and docs/runbook.md ("Tracing").

use clap::Args;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::level_filters::LevelFilter;
use tracing::Metadata;

/// Where spans go. Read only by the long-running roles.
#[derive(Args, Clone, Debug)]
#[command(next_help_heading = "Tracing (OpenTelemetry)")]
pub(crate) struct TraceArgs {
    /// OTLP/HTTP collector base URL, e.g. http://otel-collector:4318 (spans go to
    /// <url>/v1/traces) [default: unset, no traces]
    #[arg(
        long = "otlp-endpoint",
        env = "OTEL_EXPORTER_OTLP_ENDPOINT",
        hide_env_values = true
    )]
    endpoint: Option<String>,
    /// Full URL for spans, used as is; turns traces on by itself [default: <endpoint>/v1/traces]
    #[arg(
        long = "otlp-traces-endpoint",
        env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        hide_env_values = true
    )]
    traces_endpoint: Option<String>,
    /// OTLP transport: only http/protobuf (no gRPC); another value refuses to start when traces
    /// are on.
    #[arg(
        long = "otlp-protocol",
        env = "OTEL_EXPORTER_OTLP_PROTOCOL",
        default_value = "http/protobuf"
    )]
    protocol: String,
    /// `service.name` of the spans.
    #[arg(
        long = "otel-service-name",
        env = "OTEL_SERVICE_NAME",
        default_value = "leadback-bridge"
    )]
    service_name: String,
}

impl TraceArgs {
    /// The URL spans are posted to, when traces are on: the traces endpoint as is, or the base
    /// endpoint with `/v1/traces` (the OTLP exporter specification's rule).
    fn traces_url(&self) -> Option<String> {
        fn given(value: &Option<String>) -> Option<&str> {
            value.as_deref().map(str::trim).filter(|v| !v.is_empty())
        }
        if let Some(url) = given(&self.traces_endpoint) {
            return Some(url.to_owned());
        }
        given(&self.endpoint).map(|base| format!("{}/v1/traces", base.trim_end_matches('/')))
    }
}

/// The installed exporter; [`Traces::shutdown`] sends the spans still queued.
pub(crate) struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// Builds the exporter when traces are configured (`Ok(None)` when not). Runs before the
    /// async runtime: the blocking HTTP client must not be built on it.
    pub(crate) fn build(args: &TraceArgs, role: &'static str) -> Result<Option<Self>, String> {
        let Some(url) = args.traces_url() else {
            return Ok(None);
        };
        if args.protocol.trim() != "http/protobuf" {
            return Err(format!(
                "OTEL_EXPORTER_OTLP_PROTOCOL={} is not supported: the bridge exports traces \
                 with http/protobuf only (the collector's OTLP/HTTP port, usually 4318)",
                args.protocol
            ));
        }
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(url)
            .build()
            .map_err(|e| format!("cannot set up the OTLP trace exporter: {e}"))?;
        let resource = Resource::builder()
            .with_service_name(args.service_name.clone())
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .with_attribute(KeyValue::new("leadback.role", role))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        Ok(Some(Self { provider }))
    }

    /// The `tracing` layer that turns spans into OpenTelemetry spans, filtered to the bridge's
    /// own spans (see [`exported`]).
    pub(crate) fn layer<S>(&self) -> impl tracing_subscriber::Layer<S>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        use tracing_subscriber::Layer as _;
        let tracer = self.provider.tracer("leadback-bridge");
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(
                tracing_subscriber::filter::filter_fn(exported)
                    .with_max_level_hint(LevelFilter::INFO),
            )
    }

    /// Flushes the queued spans and stops the export thread (the SDK waits at most 5 s).
    pub(crate) fn shutdown(self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::warn!(%error, "sending the last spans failed");
        }
    }
}

/// What becomes part of a trace: the trace-only spans, the worker's `delivery` and `batch`
/// spans, and warnings and errors logged inside them (as span events). Nothing of other
/// crates (a database driver's spans would multiply every trace).
fn exported(meta: &Metadata<'_>) -> bool {
    let target = meta.target();
    if target.starts_with(bridge_queue::trace_context::TARGET) {
        return true;
    }
    let ours = ["bridge_worker", "bridge_ingress", "bridge_queue"]
        .iter()
        .any(|krate| target.starts_with(krate));
    let level = *meta.level();
    ours && if meta.is_span() {
        level <= tracing::Level::INFO
    } else {
        level <= tracing::Level::WARN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(endpoint: Option<&str>, traces: Option<&str>) -> TraceArgs {
        TraceArgs {
            endpoint: endpoint.map(str::to_owned),
            traces_endpoint: traces.map(str::to_owned),
            protocol: "http/protobuf".into(),
            service_name: "leadback-bridge".into(),
        }
    }

    #[test]
    fn the_traces_url_follows_the_otlp_rules() {
        assert_eq!(args(None, None).traces_url(), None);
        assert_eq!(args(Some("  "), None).traces_url(), None);
        assert_eq!(
            args(Some("http://collector:4318/"), None).traces_url(),
            Some("http://collector:4318/v1/traces".into())
        );
        assert_eq!(
            args(
                Some("http://collector:4318"),
                Some("http://tempo:4318/custom")
            )
            .traces_url(),
            Some("http://tempo:4318/custom".into())
        );
        assert_eq!(
            args(None, Some("http://tempo:4318/v1/traces")).traces_url(),
            Some("http://tempo:4318/v1/traces".into())
        );
    }

    #[test]
    fn grpc_is_refused_only_when_traces_are_on() {
        let mut off = args(None, None);
        off.protocol = "grpc".into();
        assert!(matches!(Traces::build(&off, "worker"), Ok(None)));
        let mut on = args(Some("http://127.0.0.1:4318"), None);
        on.protocol = "grpc".into();
        let error = Traces::build(&on, "worker").err().unwrap();
        assert!(error.contains("http/protobuf"), "{error}");
    }
}
