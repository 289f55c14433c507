//! Shared test rig: a real store (a SQLite file, or a fresh PostgreSQL database) and the
//! embedded queue in a temp dir, the CoMagic emulator, and the admin router driven in-process;
//! a signed-in browser for the pages ([`browser`]).
#![allow(dead_code)]

pub mod browser;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use bridge_admin::{admin_router, AdminState};
use bridge_metrics::Metrics;
use bridge_queue::embedded::{EmbeddedOptions, EmbeddedQueue};
use bridge_queue::{Envelope, EventQueue, LastError};
use bridge_store::{NewDeadLetter, SecretKey, Store};
use chrono::Utc;
use comagic_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use http_body_util::BodyExt as _;
use secrecy::SecretString;
use serde_json::{json, Value};
use tower::ServiceExt as _;
use uuid::Uuid;

pub const ADMIN_TOKEN: &str = "admin-secret-token-for-tests";
pub const PUBLIC_URL: &str = "https://bridge.example.test";

/// Where a rig keeps its store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    /// A file in the rig's temporary folder.
    Sqlite,
    /// A fresh database on the shared server (127.0.0.1:5432), dropped with the rig.
    Postgres,
}

pub struct Rig {
    pub router: Router,
    pub store: Arc<dyn Store>,
    pub queue: Arc<EmbeddedQueue>,
    pub metrics: Metrics,
    pub emulator: RunningEmulator,
    _pg: Option<PgDatabase>,
    _dir: tempfile::TempDir,
}

const PG_SERVER: &str = "postgres://postgres@127.0.0.1:5432";

/// A PostgreSQL database of one rig, dropped (best effort) when the rig is.
struct PgDatabase {
    name: String,
}

impl PgDatabase {
    fn create() -> (PgDatabase, String) {
        let name = format!("admin_t_{}", Uuid::new_v4().simple());
        on_server(format!("CREATE DATABASE {name}")).expect("the test PostgreSQL server");
        let url = format!("{PG_SERVER}/{name}");
        (PgDatabase { name }, url)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // FORCE ends the pools the rig left open.
        let _ = on_server(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

/// Runs one statement on the server's `postgres` database, on a thread and runtime of its own:
/// Drop cannot await, and the test's runtime may be unwinding.
fn on_server(statement: String) -> Option<()> {
    std::thread::spawn(move || {
        use sqlx::Connection as _;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        runtime.block_on(async {
            let url = format!("{PG_SERVER}/postgres");
            let mut server = sqlx::PgConnection::connect(&url).await.ok()?;
            sqlx::query(&statement).execute(&mut server).await.ok()?;
            Some(())
        })
    })
    .join()
    .ok()?
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The JSON body, once the status is `status`.
    #[track_caller]
    pub fn expect(&self, status: StatusCode) -> Value {
        self.assert_status(status);
        self.json()
    }

    /// The status is `status` (the body is shown when not).
    #[track_caller]
    pub fn assert_status(&self, status: StatusCode) {
        assert_eq!(self.status, status, "{}", self.body);
    }
}

impl Rig {
    /// A rig on SQLite.
    pub async fn start() -> Rig {
        Rig::on(Db::Sqlite).await
    }

    pub async fn on(db: Db) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let (pg, url) = match db {
            Db::Sqlite => (
                None,
                format!("sqlite://{}", dir.path().join("store.db").display()),
            ),
            Db::Postgres => {
                let (pg, url) = PgDatabase::create();
                (Some(pg), url)
            }
        };
        let store = bridge_store::open(&url, SecretKey::generate())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let queue = Arc::new(
            EmbeddedQueue::open(
                dir.path().join("queue.db").to_str().unwrap(),
                EmbeddedOptions::default(),
            )
            .await
            .unwrap(),
        );
        let emulator = Emulator::start(EmulatorConfig::default()).await.unwrap();
        let metrics = Metrics::new();
        let state = AdminState {
            store: store.clone(),
            queue: queue.clone() as Arc<dyn EventQueue>,
            metrics: metrics.clone(),
            admin_token: SecretString::from(ADMIN_TOKEN),
            public_url: PUBLIC_URL.to_owned(),
            http: comagic_client::Transport::with_policy(
                comagic_client::AddressPolicy::ALLOW_PRIVATE,
            )
            .unwrap(),
            comagic_timeout: Duration::from_secs(5),
            cookie_secure: true,
        };
        Rig {
            router: admin_router(state),
            store,
            queue,
            metrics,
            emulator,
            _pg: pg,
            _dir: dir,
        }
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        body: Option<String>,
    ) -> Answer {
        let mut builder = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            builder = builder.header(*name, value);
        }
        let request = builder
            .body(body.map(Body::from).unwrap_or_else(Body::empty))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// An API call with the admin token.
    pub async fn api(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut headers = vec![("authorization", format!("Bearer {ADMIN_TOKEN}"))];
        if body.is_some() {
            headers.push(("content-type", "application/json".to_owned()));
        }
        self.request(method, path, &headers, body.map(|b| b.to_string()))
            .await
    }

    /// A GET without any credentials.
    pub async fn anonymous(&self, path: &str) -> Answer {
        self.request(Method::GET, path, &[], None).await
    }

    /// A GET of the API with the admin token.
    pub async fn get(&self, path: &str) -> Answer {
        self.api(Method::GET, path, None).await
    }

    /// `POST /admin/v1/dead-letters/replay` with `selector`.
    pub async fn replay(&self, selector: Value) -> Answer {
        let path = "/admin/v1/dead-letters/replay";
        self.api(Method::POST, path, Some(selector)).await
    }

    /// A PUT of the API with the admin token and a JSON body.
    pub async fn put(&self, path: &str, body: Value) -> Answer {
        self.api(Method::PUT, path, Some(body)).await
    }

    /// `POST /admin/v1/tenants` with `settings`.
    pub async fn post_tenant(&self, settings: Value) -> Answer {
        self.api(Method::POST, "/admin/v1/tenants", Some(settings))
            .await
    }

    /// Valid settings for the emulator's demo account.
    pub fn settings(&self) -> Value {
        json!({
            "name": "Shop",
            "comagic": {"api_url": self.emulator.api_url(), "access_token": "demo-token"},
            "ignore_session": false,
            "set_tags": true,
            "tag_ids": [401],
            "default_entity": "campaign",
            "default_campaign_id": 101,
            "chat_employee_id": 501,
            "timezone": "Europe/Moscow"
        })
    }

    /// [`Rig::settings`] with the value at the JSON `pointer` replaced.
    pub fn settings_with(&self, pointer: &str, value: Value) -> Value {
        let mut settings = self.settings();
        *settings.pointer_mut(pointer).unwrap() = value;
        settings
    }

    /// Creates a tenant through the API; returns (id, webhook_url).
    pub async fn create(&self, settings: Value) -> (String, String) {
        let answer = self
            .api(Method::POST, "/admin/v1/tenants", Some(settings))
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        let json = answer.json();
        (
            json["id"].as_str().unwrap().to_owned(),
            json["webhook_url"].as_str().unwrap().to_owned(),
        )
    }

    /// A dead letter of `tenant` for `event` after 9 attempts, of `class`, refused with
    /// `(mnemonic, message)`; its envelope a callback that would map.
    pub async fn dead_letter(
        &self,
        tenant: Uuid,
        event: &str,
        class: &str,
        (mnemonic, message): (&str, &str),
    ) -> Uuid {
        let mut envelope = Envelope::new(
            event.parse().unwrap(),
            tenant,
            Some("application/json".into()),
            br#"{"name":"Ivan","phone":"+79001234567"}"#.to_vec(),
            Utc::now(),
        );
        envelope.attempt = 9;
        envelope.first_attempt_at = Some(Utc::now());
        envelope.last_error = Some(LastError {
            class: class.into(),
            mnemonic: Some(mnemonic.into()),
            message: message.into(),
            at: Utc::now(),
        });
        self.store
            .add_dead_letter(&NewDeadLetter {
                tenant_id: tenant,
                event_id: event.parse().unwrap(),
                class: class.to_owned(),
                mnemonic: Some(mnemonic.into()),
                message: message.into(),
                attempts: 9,
                first_attempt_at: Some(Utc::now()),
                last_attempt_at: Utc::now(),
                envelope: serde_json::to_value(&envelope).unwrap(),
            })
            .await
            .unwrap()
            .id
    }

    /// The tenant `id` as stored.
    pub async fn stored(&self, id: &str) -> bridge_store::Tenant {
        let id: Uuid = id.parse().unwrap();
        self.store.get_tenant(id).await.unwrap().unwrap()
    }

    /// Whether the dead letter `id` is still there.
    pub async fn has_dead_letter(&self, id: Uuid) -> bool {
        self.store.get_dead_letter(id).await.unwrap().is_some()
    }
}

/// A body of `tenant` as the ingress records it, received `age_secs` ago: its event (none for
/// a refused one), `(content type, body)` and `(outcome, error)`.
pub fn recent_payload(
    tenant: Uuid,
    event: Option<&str>,
    (content_type, body): (&str, &str),
    (outcome, error): (&str, Option<&str>),
    age_secs: i64,
) -> bridge_store::NewRecentPayload {
    bridge_store::NewRecentPayload {
        tenant_id: tenant,
        received_at: Utc::now() - chrono::Duration::seconds(age_secs),
        content_type: Some(content_type.to_owned()),
        event_id: event.map(str::to_owned),
        body: body.as_bytes().to_vec(),
        outcome: outcome.to_owned(),
        error: error.map(str::to_owned),
    }
}
