//! The end-to-end harness of the root tests: a real bridge (in-process) on a real backend, the
//! CoMagic emulator, and helpers to post webhooks and wait for what CoMagic received. What the
//! soak, the bench and the queue tests share with it (services, databases, topology, the real
//! binary as processes, the serial lock) is the `bridge-test-support` crate.
//!
//! Every test gets its own world: a fresh SQLite folder (embedded), or a fresh PostgreSQL
//! database and RabbitMQ queue prefix (scaled-out backends), so tests run in parallel.
// Each of the three test binaries uses a part of the harness.
#![allow(dead_code, unused_imports)]

pub mod process;

pub use bridge_test_support::{serial, services, Backend};

use bridge_app::{BackendPlan, BridgeConfig, Roles, RunningBridge};
use bridge_ingress::IngressConfig;
use bridge_queue::RetryTiers;
use bridge_store::SecretKey;
use bridge_test_support::postgres;
use bridge_worker::WorkerConfig;
use comagic_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use uuid::Uuid;

pub use bridge_test_support::postgres::ADMIN_URL as PG_ADMIN_URL;
pub use bridge_test_support::rabbitmq::AMQP_URL as RABBIT_URL;
/// The admin token of in-process bridges (32 characters or more, as the binary requires).
pub const ADMIN_TOKEN: &str = "test-admin-token-of-32-characters";

/// For each behaviour `async fn name(backend: Backend)` of a test file, an `embedded::name` and
/// a `rabbitmq_postgres::name` test: one body of behaviour, run on both backends. Each takes
/// the shared side of the serial lock, so no exclusive test runs beside it.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let _serial = $crate::support::serial::shared().await;
                    super::$name($crate::support::Backend::Embedded).await
                }
            )*
        }
        mod rabbitmq_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let _serial = $crate::support::serial::shared().await;
                    super::$name($crate::support::Backend::RabbitPostgres).await
                }
            )*
        }
    };
}

/// A deployment of the real binary (child processes) on `backend`; see
/// [`bridge_test_support::Deployment`].
pub fn deployment(backend: Backend) -> bridge_test_support::DeploymentBuilder {
    if backend == Backend::RabbitPostgres {
        services::require_rabbitmq();
        services::require_postgres();
    }
    bridge_test_support::Deployment::builder(env!("CARGO_BIN_EXE_leadback-bridge"), backend)
}

/// An embedded deployment whose webhook URLs point at `port` (where its `serve` will listen),
/// with one tenant named `name` on the emulator at `api_url` (campaign mode: campaign 102, site
/// 201, chat operator 501; no tags); its webhook URL.
pub async fn embedded_with_tenant(
    builder: bridge_test_support::DeploymentBuilder,
    port: u16,
    name: &str,
    api_url: &str,
) -> (bridge_test_support::Deployment, String) {
    let deployment = builder
        .env("BRIDGE_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .start()
        .await
        .expect("deployment starts");
    let tenant = deployment
        .create_tenant(&json!({
            "name": name, "active": true,
            "comagic": {"api_url": api_url, "access_token": "demo-token"},
            "default_entity": "campaign", "default_campaign_id": 102, "default_site_id": 201,
            "chat_employee_id": 501
        }))
        .await
        .expect("tenant created");
    (deployment, tenant.webhook_url)
}

/// Offline messages per `ext_id`, once every id of `accepted` is part of one (or `timeout` has
/// passed: the caller's checks then name what is missing).
pub async fn offline_messages_per_ext_id(
    emulator: &RunningEmulator,
    accepted: &[String],
    timeout: Duration,
) -> HashMap<String, usize> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for r in emulator.records() {
            if r.kind == comagic_emulator::RecordKind::OfflineMessage {
                *counts
                    .entry(r.ext_id.clone().unwrap_or_default())
                    .or_default() += 1;
            }
        }
        let all_there = accepted
            .iter()
            .all(|id| counts.keys().any(|ext| ext.contains(id.as_str())));
        if all_there || Instant::now() > deadline {
            return counts;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/leadback")
}

/// Every shared Leadback fixture (the payloads in `tests/fixtures/leadback`), by name, sorted.
pub fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .expect("tests/fixtures/leadback")
        .map(|entry| {
            entry
                .expect("fixture entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name != "README.md")
        .collect();
    names.sort();
    names
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// The default settings of a test tenant: campaign mode with campaign 102 and its site 201 of
/// the emulator's demo account (Europe/Moscow), chat operator 501, tag 401. No `timezone`: the
/// bridge reads the account's.
pub fn tenant_settings(api_url: &str) -> Value {
    json!({
        "name": "Test shop",
        "active": true,
        "comagic": {"api_url": api_url, "access_token": "demo-token"},
        "ignore_session": false,
        "set_tags": true,
        "tag_ids": [401],
        "default_entity": "campaign",
        "default_campaign_id": 102,
        "default_site_id": 201,
        "chat_employee_id": 501,
        "upload_sessions": false
    })
}

pub struct World {
    pub backend: Backend,
    pub bridge: Option<RunningBridge>,
    pub emulator: RunningEmulator,
    pub http: reqwest::Client,
    pub config: BridgeConfig,
    pub data_dir: tempfile::TempDir,
    pg_database: Option<String>,
    /// CoMagic refusals this test provokes on purpose (mnemonics); any other refusal by a
    /// documented rule fails the test at [`stop`](Self::stop).
    provoked_refusals: Vec<String>,
}

impl World {
    pub async fn start(backend: Backend) -> World {
        Self::start_with(backend, |_| {}).await
    }

    /// A world with the default tenant; its webhook URL.
    pub async fn start_with_tenant(backend: Backend) -> (World, String) {
        let world = Self::start(backend).await;
        let (_, url) = world.default_tenant().await;
        (world, url)
    }

    pub async fn start_with(backend: Backend, adjust: impl FnOnce(&mut BridgeConfig)) -> World {
        Self::start_with_emulator(backend, EmulatorConfig::default(), adjust).await
    }

    /// As [`start_with`](Self::start_with), with the emulator in a mode of its own (e.g.
    /// `report_item_index`).
    pub async fn start_with_emulator(
        backend: Backend,
        emulator: EmulatorConfig,
        adjust: impl FnOnce(&mut BridgeConfig),
    ) -> World {
        let emulator = Emulator::start(emulator).await.expect("emulator starts");
        let data_dir = tempfile::tempdir().expect("temp dir");
        let tag = Uuid::new_v4().simple().to_string()[..12].to_owned();
        let (database_url, amqp_url, pg_database) = match backend {
            Backend::Embedded => (None, None, None),
            Backend::RabbitPostgres => {
                services::require_rabbitmq();
                let db = format!("e2e_{tag}");
                create_database(&db).await;
                (
                    Some(format!("postgres://postgres@127.0.0.1:5432/{db}")),
                    Some(RABBIT_URL.to_owned()),
                    Some(db),
                )
            }
        };
        let backends = BackendPlan::resolve(
            data_dir.path(),
            database_url,
            amqp_url,
            format!("e2e.{tag}"),
            RetryTiers::parse("1s,2s").expect("tiers"),
        );
        let mut config = BridgeConfig {
            roles: Roles::SERVE,
            listen: "127.0.0.1:0".parse().expect("addr"),
            metrics_listen: Some("127.0.0.1:0".parse().expect("addr")),
            public_url: None,
            data_dir: data_dir.path().to_path_buf(),
            backends,
            secret_key: SecretKey::generate(),
            admin_listen: Some("127.0.0.1:0".parse().expect("addr")),
            admin_token: Some(ADMIN_TOKEN.to_owned().into()),
            ingress: IngressConfig::default(),
            worker: WorkerConfig {
                concurrency: 8,
                max_attempts: 4,
                tenant_cache_ttl: Duration::from_millis(200),
                comagic_timeout: Duration::from_secs(3),
                shutdown_grace: Duration::from_secs(5),
                // The emulator runs on loopback.
                address_policy: comagic_client::AddressPolicy::ALLOW_PRIVATE,
                ..WorkerConfig::default()
            },
            depth_refresh: Duration::from_millis(500),
        };
        adjust(&mut config);
        let bridge = bridge_app::start(config.clone())
            .await
            .expect("bridge starts");
        World {
            backend,
            bridge: Some(bridge),
            emulator,
            http: reqwest::Client::new(),
            config,
            data_dir,
            pg_database,
            provoked_refusals: Vec::new(),
        }
    }

    /// Declares the CoMagic refusals (mnemonics) this test provokes on purpose. Every other
    /// refusal by a documented rule of the strict emulator fails the test when it stops: real
    /// CoMagic would refuse it too. Faults the test injects are never counted.
    pub fn provokes_refusals(&mut self, mnemonics: &[&str]) {
        self.provoked_refusals
            .extend(mnemonics.iter().map(|m| (*m).to_owned()));
    }

    /// The emulator's refusals by a documented rule that the test did not declare.
    pub fn unprovoked_refusals(&self) -> Vec<comagic_emulator::CallLogEntry> {
        let provoked: Vec<&str> = self.provoked_refusals.iter().map(String::as_str).collect();
        self.emulator.unprovoked_refusals(&provoked)
    }

    pub fn bridge(&self) -> &RunningBridge {
        self.bridge.as_ref().expect("bridge running")
    }

    /// `http://<admin listener>`: the admin API and pages.
    pub fn admin_base(&self) -> String {
        let addr = self.bridge().admin_addr.expect("admin listener");
        format!("http://{addr}")
    }

    /// Creates a tenant through the store (as `tenants create` does); returns its id and URL.
    pub async fn create_tenant(&self, settings: Value) -> (Uuid, String) {
        let file = bridge_app::TenantFile::parse(&settings.to_string()).expect("settings parse");
        let input = file.into_input(true).expect("settings valid");
        let (tenant, token) = self
            .bridge()
            .store
            .create_tenant(input)
            .await
            .expect("tenant created");
        (tenant.id, self.bridge().webhook_url(token.as_str()))
    }

    /// Sends a JSON request to the admin API; returns the status and the JSON answer.
    pub async fn admin(&self, method: reqwest::Method, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .request(method, format!("{}{path}", self.admin_base()))
            .bearer_auth(ADMIN_TOKEN)
            .json(body)
            .send()
            .await
            .expect("admin request sent");
        let status = response.status().as_u16();
        (
            status,
            response.json::<Value>().await.unwrap_or(Value::Null),
        )
    }

    /// `GET` on the admin API.
    pub async fn admin_get(&self, path: &str) -> (u16, Value) {
        self.admin(reqwest::Method::GET, path, &Value::Null).await
    }

    /// `POST` of `body` to the admin API.
    pub async fn admin_post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.admin(reqwest::Method::POST, path, body).await
    }

    pub async fn default_tenant(&self) -> (Uuid, String) {
        self.create_tenant(tenant_settings(&self.emulator.api_url()))
            .await
    }

    /// POSTs a body; returns the status and the JSON answer (Null when not JSON).
    pub async fn post(&self, url: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
        let response = self
            .http
            .post(url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request sent");
        let status = response.status().as_u16();
        let json = response.json::<Value>().await.unwrap_or(Value::Null);
        (status, json)
    }

    /// POSTs `body` (JSON) to `url`, which must accept it; waits for it to be the one dead
    /// letter, of `class`.
    pub async fn post_until_dead_lettered(
        &self,
        url: &str,
        body: &Value,
        class: &str,
    ) -> Vec<bridge_store::DeadLetter> {
        let (status, answer) = self
            .post(url, "application/json", body.to_string().into_bytes())
            .await;
        assert_eq!(status, 200, "{answer}");
        let dead = self.wait_dead_letters(1, Duration::from_secs(30)).await;
        assert_eq!(dead[0].class, class, "{dead:?}");
        dead
    }

    /// `GET url`; the answer.
    pub async fn get(&self, url: &str) -> reqwest::Response {
        self.http.get(url).send().await.expect("request sent")
    }

    /// POSTs `phone=1` with no content type to `url`, as a scanner probing webhook URLs does;
    /// the answer.
    pub async fn poke(&self, url: &str) -> reqwest::Response {
        self.http
            .post(url)
            .body("phone=1")
            .send()
            .await
            .expect("request sent")
    }

    /// POSTs `body` as JSON; the status and the JSON answer.
    pub async fn post_json(&self, url: &str, body: &Value) -> (u16, Value) {
        self.post(url, "application/json", body.to_string().into_bytes())
            .await
    }

    pub async fn post_fixture(&self, url: &str, name: &str) -> (u16, Value) {
        let content_type = if name.ends_with(".json") {
            "application/json"
        } else {
            "application/x-www-form-urlencoded"
        };
        self.post(url, content_type, fixture(name)).await
    }

    /// Records the emulator stored, of offline messages and chats (sessions left out).
    pub fn records(&self) -> Vec<Value> {
        self.emulator
            .records()
            .into_iter()
            .map(|r| serde_json::to_value(r).expect("record serialises"))
            .filter(|r| r["kind"] != "session")
            .collect()
    }

    /// Waits until `pred` holds for the records, or panics after `timeout` with what it saw.
    pub async fn wait_records(
        &self,
        timeout: Duration,
        pred: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let records = self.records();
            if pred(&records) {
                return records;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out; records: {}\ndead letters: {:?}",
                    serde_json::to_string_pretty(&records).unwrap_or_default(),
                    self.dead_letters().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn dead_letters(&self) -> Vec<bridge_store::DeadLetter> {
        self.bridge()
            .store
            .list_dead_letters(&Default::default())
            .await
            .expect("dead letters listed")
    }

    pub async fn wait_dead_letters(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Vec<bridge_store::DeadLetter> {
        let deadline = Instant::now() + timeout;
        loop {
            let dead = self.dead_letters().await;
            if dead.len() >= n {
                return dead;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {n} dead letters; have {dead:?}; records: {:?}",
                    self.records()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The metrics text of the running bridge.
    pub async fn metrics_text(&self) -> String {
        self.bridge().metrics.render()
    }

    /// Stops the bridge and drops the test's database and topology; then fails the test if
    /// CoMagic refused anything the test did not provoke.
    pub async fn stop(mut self) {
        if let Some(bridge) = self.bridge.take() {
            bridge.shutdown().await;
        }
        if let Some(db) = self.pg_database.take() {
            drop_database(&db).await;
        }
        if self.backend == Backend::RabbitPostgres {
            delete_rabbit_topology(
                &self.config.backends.queue_prefix,
                &self.config.backends.retry_tiers,
            )
            .await;
        }
        let refused = self.unprovoked_refusals();
        assert!(
            refused.is_empty(),
            "CoMagic refused calls this test did not provoke (declare them with \
             World::provokes_refusals if on purpose): {refused:?}"
        );
    }
}

pub async fn create_database(name: &str) {
    services::require_postgres();
    postgres::create_database(PG_ADMIN_URL, name)
        .await
        .expect("create database");
}

/// Runs one statement as PostgreSQL's superuser (roles, grants).
pub async fn pg_admin_execute(statement: &str) {
    services::require_postgres();
    postgres::execute(PG_ADMIN_URL, statement)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// Best effort: the test is over either way.
pub async fn drop_database(name: &str) {
    let _ = postgres::drop_database(PG_ADMIN_URL, name).await;
}

/// Best-effort clean-up of a test's RabbitMQ queues and exchange.
pub async fn delete_rabbit_topology(prefix: &str, tiers: &RetryTiers) {
    let _ = bridge_queue::delete_topology(RABBIT_URL, prefix, tiers).await;
}
