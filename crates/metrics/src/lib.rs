//! Every Prometheus metric the bridge exports, registered once in one registry.
//!
//! Names are a public contract (dashboards and alerts in deploy/ use them), all prefixed
//! `leadback_bridge_`. Labels never carry a token, an event id, a raw path or any other
//! unbounded or secret value: `tenant` labels carry the tenant's UUID, which is neither.

mod known;

pub use known::KnownLabels;

use prometheus::core::Collector;
use prometheus::{
    exponential_buckets, Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    /// Dead letters replayed by any process: the store's count (see
    /// [`Metrics::observe_replays`]), so every replica reports the same total.
    pub replays_total: IntCounter,
    /// Ledger entries deleted by the retention (`BRIDGE_LEDGER_RETENTION_DAYS`).
    pub ledger_pruned_total: IntCounter,
    /// `tenant` (UUID), `outcome`: delivered, retry, dead — the per-tenant health table.
    pub tenant_deliveries_total: IntCounterVec,
    /// `reason`: queue_full, store_error — webhook bodies the recent-payloads recorder could
    /// not keep (the webhooks themselves were answered as usual).
    pub recent_payloads_dropped_total: IntCounterVec,
    /// Always 1; `version` and `commit` of this binary.
    pub build_info: IntGaugeVec,
    /// When each `comagic_limit_remaining` series stops being true (CoMagic's window reset).
    limit_expiry: Arc<Mutex<HashMap<(String, &'static str), Instant>>>,
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
            tenant_deliveries_total: counter_vec(
                "tenant_deliveries_total",
                "Delivery attempts by tenant and outcome (delivered, retry, dead)",
                &["tenant", "outcome"],
            ),
            recent_payloads_dropped_total: counter_vec(
                "recent_payloads_dropped_total",
                "Webhook bodies not kept as recent payloads (recorder behind or store error)",
                &["reason"],
            ),
            build_info: IntGaugeVec::new(
                Opts::new(
                    "build_info",
                    "Always 1: the version and commit of this binary",
                )
                .namespace(PREFIX),
                &["version", "commit"],
            )
            .unwrap_or_else(|e| panic!("static metric definition: {e}")),
            limit_expiry: Arc::default(),
            registry,
        };
        m.register_all();
        m.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), build_commit()])
            .set(1);
        KnownLabels::default().initialise(&m);
        m
    }

    /// Sets `comagic_limit_remaining{tenant, window}` until `valid_for` has passed (the window's
    /// reset); [`Metrics::expire_limits`] then drops it rather than show a stale count.
    pub fn set_limit_remaining(
        &self,
        tenant: &str,
        window: &'static str,
        remaining: i64,
        valid_for: Option<Duration>,
    ) {
        self.comagic_limit_remaining
            .with_label_values(&[tenant, window])
            .set(remaining);
        let mut expiry = self.limit_expiry.lock().unwrap_or_else(|e| e.into_inner());
        match valid_for {
            Some(valid_for) => {
                expiry.insert((tenant.to_owned(), window), Instant::now() + valid_for);
            }
            None => {
                expiry.remove(&(tenant.to_owned(), window));
            }
        }
    }

    /// Brings `replays_total` up to `stored`, the store's replay count (replays by every process,
    /// the CLI's too). A counter only rises: it is increased by the difference, and a count below
    /// the one shown (another database, a restored backup) leaves it as it is.
    pub fn observe_replays(&self, stored: u64) {
        let shown = self.replays_total.get();
        if stored > shown {
            self.replays_total.inc_by(stored - shown);
        }
    }

    /// Drops the limit series whose window has reset since they were set.
    pub fn expire_limits(&self) {
        let now = Instant::now();
        let mut expiry = self.limit_expiry.lock().unwrap_or_else(|e| e.into_inner());
        expiry.retain(|(tenant, window), until| {
            let live = *until > now;
            if !live {
                let _ = self
                    .comagic_limit_remaining
                    .remove_label_values(&[tenant.as_str(), window]);
            }
            live
        });
    }

    /// Starts the per-tenant series of `tenants` at zero, and removes every per-tenant series
    /// of a tenant not among them (deleted since).
    pub fn retain_tenants(&self, tenants: &BTreeSet<String>) {
        for outcome in known::TENANT_OUTCOMES {
            for tenant in tenants {
                self.tenant_deliveries_total
                    .with_label_values(&[tenant, outcome]);
            }
        }
        let gone = |labels: &BTreeSet<String>| -> Vec<String> {
            labels.difference(tenants).cloned().collect()
        };
        for tenant in gone(&label_values(&self.tenant_deliveries_total, "tenant")) {
            for outcome in known::TENANT_OUTCOMES {
                let _ = self
                    .tenant_deliveries_total
                    .remove_label_values(&[&tenant, outcome]);
            }
        }
        let mut expiry = self.limit_expiry.lock().unwrap_or_else(|e| e.into_inner());
        for tenant in gone(&label_values(&self.comagic_limit_remaining, "tenant")) {
            for window in known::LIMIT_WINDOWS {
                let _ = self
                    .comagic_limit_remaining
                    .remove_label_values(&[&tenant, window]);
                expiry.remove(&(tenant.clone(), window));
            }
        }
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
            Box::new(self.tenant_deliveries_total.clone()),
            Box::new(self.recent_payloads_dropped_total.clone()),
            Box::new(self.build_info.clone()),
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

/// The commit this binary was built from (`LEADBACK_BRIDGE_COMMIT` at build time, e.g. the
/// Dockerfile's `GIT_COMMIT` build argument), or `unknown`.
fn build_commit() -> &'static str {
    match option_env!("LEADBACK_BRIDGE_COMMIT") {
        Some(commit) if !commit.trim().is_empty() => commit,
        _ => "unknown",
    }
}

/// The values `label` has among the series `vec` holds now.
fn label_values(vec: &impl Collector, label: &str) -> BTreeSet<String> {
    vec.collect()
        .iter()
        .flat_map(|family| family.get_metric())
        .flat_map(|metric| metric.get_label())
        .filter(|pair| pair.name() == label)
        .map(|pair| pair.value().to_owned())
        .collect()
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

    #[test]
    fn series_of_known_labels_exist_at_zero_from_start() {
        let text = Metrics::new().render();
        for series in [
            "leadback_bridge_ingress_requests_total{outcome=\"accepted\"} 0",
            "leadback_bridge_ingress_requests_total{outcome=\"unavailable\"} 0",
            "leadback_bridge_events_delivered_total{kind=\"callback\"} 0",
            "leadback_bridge_events_delivered_total{kind=\"chat\"} 0",
            "leadback_bridge_delivery_attempts_total{kind=\"chat\",outcome=\"dead\"} 0",
            "leadback_bridge_dead_letters_total{reason=\"tenant_permanent\"} 0",
            "leadback_bridge_dead_letters_total{reason=\"poison\"} 0",
            "leadback_bridge_queue_depth{queue=\"poison\"} 0",
            "leadback_bridge_comagic_requests_total{method=\"upload.chats\",outcome=\"ok\"} 0",
            "leadback_bridge_queue_depth{queue=\"main\"} 0",
            "leadback_bridge_queue_depth{queue=\"dead\"} 0",
            "leadback_bridge_end_to_end_latency_seconds_count{kind=\"callback\"} 0",
            "leadback_bridge_replays_total 0",
            "leadback_bridge_ledger_pruned_total 0",
            "leadback_bridge_recent_payloads_dropped_total{reason=\"queue_full\"} 0",
        ] {
            assert!(text.contains(series), "missing {series} in:\n{text}");
        }
        let version = format!(
            "leadback_bridge_build_info{{commit=\"{}\",version=\"{}\"}} 1",
            build_commit(),
            env!("CARGO_PKG_VERSION")
        );
        assert!(text.contains(&version), "missing {version}");
    }

    #[test]
    fn replays_total_follows_the_store_s_count_and_never_falls() {
        let m = Metrics::new();
        m.observe_replays(3);
        assert_eq!(m.replays_total.get(), 3);
        m.observe_replays(3);
        m.observe_replays(1);
        assert_eq!(m.replays_total.get(), 3, "a counter does not go down");
        m.observe_replays(10);
        assert!(m.render().contains("leadback_bridge_replays_total 10"));
    }

    #[test]
    fn limit_gauge_is_dropped_after_its_reset() {
        let m = Metrics::new();
        m.set_limit_remaining("t1", "minute", 5, Some(Duration::ZERO));
        m.set_limit_remaining("t1", "day", 700, Some(Duration::from_secs(3600)));
        assert!(m.render().contains("tenant=\"t1\",window=\"minute\"} 5"));
        m.expire_limits();
        let text = m.render();
        assert!(
            !text.contains("window=\"minute\""),
            "stale minute gauge kept"
        );
        assert!(text.contains("tenant=\"t1\",window=\"day\"} 700"));
    }

    #[test]
    fn a_deleted_tenant_s_series_are_removed() {
        let m = Metrics::new();
        let tenants = |names: &[&str]| names.iter().map(|n| n.to_string()).collect();
        m.retain_tenants(&tenants(&["a", "b"]));
        m.set_limit_remaining("b", "day", 10, None);
        let text = m.render();
        assert!(text.contains("tenant_deliveries_total{outcome=\"delivered\",tenant=\"a\"} 0"));
        assert!(text.contains("tenant=\"b\",window=\"day\"} 10"));
        m.retain_tenants(&tenants(&["a"]));
        let text = m.render();
        assert!(
            !text.contains("tenant=\"b\""),
            "deleted tenant kept:\n{text}"
        );
        assert!(text.contains("tenant_deliveries_total{outcome=\"dead\",tenant=\"a\"} 0"));
    }
}
