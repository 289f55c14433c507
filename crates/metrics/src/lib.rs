//! Every Prometheus metric the bridge exports, registered once in one registry.
//!
//! Names are a public contract (dashboards and alerts in deploy/ use them), all prefixed
//! `leadback_bridge_`. Labels never carry a token, an event id, a raw path or any other
//! unbounded or secret value: `tenant` labels carry the tenant's UUID, which is neither.

use prometheus::{
    exponential_buckets, Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

const PREFIX: &str = "leadback_bridge";

/// Latency buckets from 1 ms to ~33 s.
fn latency_buckets() -> Vec<f64> {
    exponential_buckets(0.001, 2.0, 16).unwrap_or_default()
}

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// `outcome`: accepted, ping, unknown_token, inactive, bad_request, too_large, unavailable.
    pub ingress_requests_total: IntCounterVec,
    pub ingress_request_duration_seconds: HistogramVec,
    pub publish_confirm_duration_seconds: HistogramVec,
    /// `kind`: callback, chat.
    pub events_delivered_total: IntCounterVec,
    /// `kind`, `outcome`: ok, retry, dead, duplicate.
    pub delivery_attempts_total: IntCounterVec,
    pub delivery_duration_seconds: HistogramVec,
    pub end_to_end_latency_seconds: HistogramVec,
    /// `method`, `outcome` (ok or the error mnemonic / transport class).
    pub comagic_requests_total: IntCounterVec,
    pub comagic_request_duration_seconds: HistogramVec,
    /// `tenant` (UUID), `window`: minute, day.
    pub comagic_limit_remaining: IntGaugeVec,
    /// `queue`: main, retry_<tier>, dead.
    pub queue_depth: IntGaugeVec,
    /// `reason`: the error class.
    pub dead_letters_total: IntCounterVec,
    pub replays_total: IntCounter,
    /// Ledger entries deleted by the retention (`BRIDGE_LEDGER_RETENTION_DAYS`).
    pub ledger_pruned_total: IntCounter,
}

impl Metrics {
    /// A fresh registry with every metric (and, on Linux, the process collector).
    pub fn new() -> Self {
        let registry = Registry::new();
        let m = Self {
            ingress_requests_total: counter_vec(
                "ingress_requests_total",
                "Webhook requests by outcome",
                &["outcome"],
            ),
            ingress_request_duration_seconds: histogram_vec(
                "ingress_request_duration_seconds",
                "Webhook request handling time",
                &["outcome"],
            ),
            publish_confirm_duration_seconds: histogram_vec(
                "publish_confirm_duration_seconds",
                "Time from publish to the queue's durable confirm",
                &["backend"],
            ),
            events_delivered_total: counter_vec(
                "events_delivered_total",
                "Events that reached CoMagic (records created or found already there)",
                &["kind"],
            ),
            delivery_attempts_total: counter_vec(
                "delivery_attempts_total",
                "Delivery attempts by outcome",
                &["kind", "outcome"],
            ),
            delivery_duration_seconds: histogram_vec(
                "delivery_duration_seconds",
                "Time to process one delivery attempt",
                &["kind"],
            ),
            end_to_end_latency_seconds: histogram_vec(
                "end_to_end_latency_seconds",
                "From acceptance at the ingress to delivery into CoMagic",
                &["kind"],
            ),
            comagic_requests_total: counter_vec(
                "comagic_requests_total",
                "CoMagic Data API calls by method and outcome",
                &["method", "outcome"],
            ),
            comagic_request_duration_seconds: histogram_vec(
                "comagic_request_duration_seconds",
                "CoMagic Data API call duration",
                &["method"],
            ),
            comagic_limit_remaining: IntGaugeVec::new(
                Opts::new(
                    "comagic_limit_remaining",
                    "CoMagic API points left in the window",
                )
                .namespace(PREFIX),
                &["tenant", "window"],
            )
            .unwrap_or_else(|e| panic!("static metric definition: {e}")),
            queue_depth: IntGaugeVec::new(
                Opts::new("queue_depth", "Messages waiting, by queue").namespace(PREFIX),
                &["queue"],
            )
            .unwrap_or_else(|e| panic!("static metric definition: {e}")),
            dead_letters_total: counter_vec(
                "dead_letters_total",
                "Events moved to the dead letters, by reason",
                &["reason"],
            ),
            replays_total: IntCounter::with_opts(
                Opts::new("replays_total", "Dead letters replayed").namespace(PREFIX),
            )
            .unwrap_or_else(|e| panic!("static metric definition: {e}")),
            ledger_pruned_total: IntCounter::with_opts(
                Opts::new(
                    "ledger_pruned_total",
                    "Delivery-ledger entries deleted by the retention",
                )
                .namespace(PREFIX),
            )
            .unwrap_or_else(|e| panic!("static metric definition: {e}")),
            registry,
        };
        m.register_all();
        m
    }

    fn register_all(&self) {
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(self.ingress_requests_total.clone()),
            Box::new(self.ingress_request_duration_seconds.clone()),
            Box::new(self.publish_confirm_duration_seconds.clone()),
            Box::new(self.events_delivered_total.clone()),
            Box::new(self.delivery_attempts_total.clone()),
            Box::new(self.delivery_duration_seconds.clone()),
            Box::new(self.end_to_end_latency_seconds.clone()),
            Box::new(self.comagic_requests_total.clone()),
            Box::new(self.comagic_request_duration_seconds.clone()),
            Box::new(self.comagic_limit_remaining.clone()),
            Box::new(self.queue_depth.clone()),
            Box::new(self.dead_letters_total.clone()),
            Box::new(self.replays_total.clone()),
            Box::new(self.ledger_pruned_total.clone()),
        ];
        for c in collectors {
            // Each name is registered once on a fresh registry: a clash is a programming error.
            if let Err(e) = self.registry.register(c) {
                panic!("metric registration: {e}");
            }
        }
        #[cfg(target_os = "linux")]
        {
            let pc = prometheus::process_collector::ProcessCollector::new(
                std::process::id() as i32,
                PREFIX,
            );
            let _ = self.registry.register(Box::new(pc));
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The text exposition format for `/metrics`.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let encoder = TextEncoder::new();
        if encoder.encode(&self.registry.gather(), &mut buf).is_err() {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help).namespace(PREFIX), labels)
        .unwrap_or_else(|e| panic!("static metric definition {name}: {e}"))
}

fn histogram_vec(name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    HistogramVec::new(
        HistogramOpts::new(name, help)
            .namespace(PREFIX)
            .buckets(latency_buckets()),
        labels,
    )
    .unwrap_or_else(|e| panic!("static metric definition {name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_contract_name_with_prefix() {
        let m = Metrics::new();
        m.ingress_requests_total
            .with_label_values(&["accepted"])
            .inc();
        m.queue_depth.with_label_values(&["main"]).set(3);
        let text = m.render();
        assert!(text.contains("leadback_bridge_ingress_requests_total{outcome=\"accepted\"} 1"));
        assert!(text.contains("leadback_bridge_queue_depth{queue=\"main\"} 3"));
        assert!(text.contains("leadback_bridge_replays_total 0"));
    }
}
