//! Traces (issue 19): the real binary exports OTLP/HTTP to a receiver on loopback, and one
//! webhook's spans — the ingress's `webhook` and `queue.publish`, the worker's `delivery` and
//! the CoMagic call — share one trace id, with the CoMagic call a descendant of the webhook.
//!
//! * RabbitMQ + PostgreSQL: `ingress` and `worker` run as two processes, so the context can
//!   only have crossed in the AMQP message.
//! * Embedded: `serve` (the embedded queue has a single process by design); the worker reads
//!   the context back from the queue row, not from memory.
//!
//! No span attribute may carry the webhook token, the secret key or CoMagic's access token.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use crate::support;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use comagic_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use prost::Message;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::process::{bridge_command, free_port, wait_http_ok};

const SECRET_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// One span as the receiver got it.
#[derive(Debug, Clone)]
struct Span {
    /// The exporting process's `leadback.role` resource attribute.
    role: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent: String,
    attributes: BTreeMap<String, String>,
}

type Spans = Arc<Mutex<Vec<Span>>>;

fn text(attributes: &[KeyValue]) -> BTreeMap<String, String> {
    attributes
        .iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                Some(any_value::Value::IntValue(i)) => i.to_string(),
                Some(any_value::Value::BoolValue(b)) => b.to_string(),
                Some(any_value::Value::DoubleValue(d)) => d.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

/// An OTLP/HTTP (protobuf) trace receiver on loopback: `POST /v1/traces`.
async fn receiver() -> (String, Spans) {
    let spans = Spans::default();
    let app = axum::Router::new()
        .route(
            "/v1/traces",
            post(|State(spans): State<Spans>, body: Bytes| async move {
                let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                let mut spans = spans.lock().unwrap();
                for resource_spans in request.resource_spans {
                    let resource = resource_spans
                        .resource
                        .map(|r| text(&r.attributes))
                        .unwrap_or_default();
                    let role = resource.get("leadback.role").cloned().unwrap_or_default();
                    for scope in resource_spans.scope_spans {
                        for span in scope.spans {
                            spans.push(Span {
                                role: role.clone(),
                                name: span.name,
                                trace_id: hex(&span.trace_id),
                                span_id: hex(&span.span_id),
                                parent: hex(&span.parent_span_id),
                                attributes: text(&span.attributes),
                            });
                        }
                    }
                }
                (
                    [("content-type", "application/x-protobuf")],
                    Vec::<u8>::new(),
                )
            }),
        )
        .with_state(spans.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, spans)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A child process killed if the test panics before stopping it.
struct Running(Child);

impl Running {
    /// SIGTERM, as an orchestrator stops it; the exit must be clean.
    fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        assert!(self.0.wait().unwrap().success(), "unclean exit");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Exports to `collector` with a short batch delay (spans arrive while the test waits).
fn traced(mut cmd: Command, collector: &str) -> Command {
    cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", collector)
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        .env("OTEL_BSP_SCHEDULE_DELAY", "100");
    cmd
}

/// Migrates, creates the test tenant on the emulator and returns its webhook token.
fn create_tenant(env: &dyn Fn(&mut Command), dir: &Path, emulator: &RunningEmulator) -> String {
    let settings = support::tenant_settings(&format!("{}/v2.0", emulator.base_url()));
    let file = dir.join("tenant.json");
    std::fs::write(&file, settings.to_string()).unwrap();
    let mut migrate = bridge_command(dir, "warn");
    env(&mut migrate);
    let migrated = migrate.arg("migrate").output().unwrap();
    assert!(migrated.status.success(), "{migrated:?}");
    let mut create = bridge_command(dir, "warn");
    env(&mut create);
    let created = create
        .args(["tenants", "create", "--settings", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(created.status.success(), "{created:?}");
    let created: Value = serde_json::from_slice(&created.stdout).unwrap();
    created["webhook_url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned()
}

/// Starts a role with its log in `dir/<role>.log`, waits for /readyz, returns it and its port.
async fn start_role(
    env: &dyn Fn(&mut Command),
    dir: &Path,
    role: &str,
    collector: &str,
) -> (Running, u16) {
    let port = free_port();
    let mut cmd = traced(bridge_command(dir, "info"), collector);
    env(&mut cmd);
    let child = cmd
        .args([
            role,
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--metrics-listen",
            "off",
        ])
        .stderr(std::fs::File::create(dir.join(format!("{role}.log"))).unwrap())
        .spawn()
        .unwrap();
    let running = Running(child);
    wait_http_ok(
        &reqwest::Client::new(),
        &format!("http://127.0.0.1:{port}/readyz"),
    )
    .await;
    (running, port)
}

/// Waits until the worker's upload span and the event's settled `delivery` span arrived.
async fn wait_for_trace(spans: &Spans, logs: &[&Path]) -> Vec<Span> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = spans.lock().unwrap().clone();
        let upload = got.iter().any(|s| {
            s.attributes
                .get("comagic.method")
                .is_some_and(|m| m.starts_with("upload."))
        });
        let settled = got
            .iter()
            .any(|s| s.name == "delivery" && s.attributes.contains_key("outcome"));
        let webhook = got.iter().any(|s| s.name.starts_with("POST /hooks"));
        if upload && settled && webhook {
            return got;
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = logs
                .iter()
                .map(|p| std::fs::read_to_string(p).unwrap_or_default())
                .collect();
            panic!("the event's spans did not all arrive: {got:#?}\nlogs: {logs:#?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The checks of both backends. `roles`: the role of the ingress's and of the worker's spans.
fn check_trace(spans: &[Span], event_id: &str, token: &str, roles: (&str, &str)) {
    let webhook = spans
        .iter()
        .find(|s| {
            s.name.starts_with("POST /hooks")
                && s.attributes.get("event_id").map(String::as_str) == Some(event_id)
        })
        .unwrap_or_else(|| panic!("no webhook span for {event_id}: {spans:#?}"));
    assert_eq!(webhook.role, roles.0, "{webhook:?}");
    assert_eq!(webhook.attributes["outcome"], "accepted", "{webhook:?}");
    assert_eq!(webhook.attributes["http.response.status_code"], "200");
    assert!(webhook.attributes.contains_key("tenant_id"), "{webhook:?}");
    assert!(webhook.parent.is_empty(), "the webhook starts the trace");
    let trace: Vec<&Span> = spans
        .iter()
        .filter(|s| s.trace_id == webhook.trace_id)
        .collect();
    let by_id: BTreeMap<&str, &Span> = trace.iter().map(|s| (s.span_id.as_str(), *s)).collect();
    let descends_from_webhook = |span: &Span| {
        let mut at = span;
        for _ in 0..32 {
            if at.span_id == webhook.span_id {
                return true;
            }
            match by_id.get(at.parent.as_str()) {
                Some(parent) => at = parent,
                None => return false,
            }
        }
        false
    };

    let publish = trace
        .iter()
        .find(|s| s.name.starts_with("publish"))
        .unwrap_or_else(|| panic!("no publish span in the trace: {trace:#?}"));
    assert_eq!(publish.parent, webhook.span_id);
    assert_eq!(publish.role, roles.0);

    let deliveries: Vec<&&Span> = trace.iter().filter(|s| s.name == "delivery").collect();
    assert!(
        !deliveries.is_empty(),
        "no worker span in the trace: {trace:#?}"
    );
    for delivery in &deliveries {
        assert_eq!(delivery.role, roles.1, "{delivery:?}");
        assert_eq!(delivery.attributes["event_id"], event_id);
        // The worker's spans hang off the publish the envelope's context names.
        assert_eq!(delivery.parent, publish.span_id, "{delivery:?}");
    }
    assert!(
        deliveries
            .iter()
            .any(|d| d.attributes.get("outcome").map(String::as_str) == Some("delivered")),
        "no delivery span settled as delivered: {deliveries:#?}"
    );

    let upload = trace
        .iter()
        .find(|s| {
            s.attributes
                .get("comagic.method")
                .is_some_and(|m| m.starts_with("upload."))
        })
        .unwrap_or_else(|| panic!("no CoMagic upload span in the event's trace: {trace:#?}"));
    assert_eq!(upload.role, roles.1);
    assert_eq!(upload.attributes["outcome"], "ok", "{upload:?}");
    assert!(
        descends_from_webhook(upload),
        "the CoMagic call does not descend from the webhook: {trace:#?}"
    );
    let tags = trace
        .iter()
        .find(|s| {
            s.attributes.get("comagic.method").map(String::as_str) == Some("set.tag_communications")
        })
        .unwrap_or_else(|| panic!("no tag call span in the event's trace: {trace:#?}"));
    assert!(descends_from_webhook(tags));

    for span in spans {
        for (key, value) in &span.attributes {
            for secret in [token, SECRET_KEY, "demo-token"] {
                assert!(
                    !value.contains(secret),
                    "span {} attribute {key} carries a secret: {value}",
                    span.name
                );
            }
        }
    }
}

#[tokio::test]
async fn one_trace_from_the_webhook_to_comagic_across_ingress_and_worker_processes() {
    let _serial = support::serial::exclusive().await;
    support::services::require_rabbitmq();
    support::services::require_postgres();
    let emulator = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let (collector, spans) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let database = format!("trace_{}", uuid::Uuid::new_v4().simple());
    let prefix = format!("trace{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    support::create_database(&database).await;
    let env = |cmd: &mut Command| {
        cmd.env(
            "BRIDGE_DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:5432/{database}"),
        )
        .env("BRIDGE_SECRET_KEY", SECRET_KEY)
        .env("BRIDGE_AMQP_URL", support::RABBIT_URL)
        .env("BRIDGE_QUEUE_PREFIX", &prefix);
    };
    let token = create_tenant(&env, dir.path(), &emulator);
    let (worker, _) = start_role(&env, dir.path(), "worker", &collector).await;
    let (ingress, port) = start_role(&env, dir.path(), "ingress", &collector).await;

    let event_id = support::process::post_basic_callback(port, &token).await;
    let logs = [
        dir.path().join("ingress.log"),
        dir.path().join("worker.log"),
    ];
    let got = wait_for_trace(&spans, &[&logs[0], &logs[1]]).await;
    ingress.stop();
    worker.stop();
    support::delete_rabbit_topology(&prefix, &bridge_queue::RetryTiers::default()).await;
    support::drop_database(&database).await;
    check_trace(&got, &event_id, &token, ("ingress", "worker"));
}

#[tokio::test]
async fn one_trace_through_the_embedded_queue_row() {
    let _serial = support::serial::exclusive().await;
    let emulator = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let (collector, spans) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let env = |_: &mut Command| {};
    let token = create_tenant(&env, dir.path(), &emulator);
    let (serve, port) = start_role(&env, dir.path(), "serve", &collector).await;

    let event_id = support::process::post_basic_callback(port, &token).await;
    let log = dir.path().join("serve.log");
    let got = wait_for_trace(&spans, &[&log]).await;
    serve.stop();
    check_trace(&got, &event_id, &token, ("serve", "serve"));
}
