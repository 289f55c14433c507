//! Shared test rig: a real SQLite store and embedded queue in a temp dir, the CoMagic emulator,
//! and the admin router driven in-process.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use bridge_admin::{admin_router, AdminState};
use bridge_metrics::Metrics;
use bridge_queue::embedded::{EmbeddedOptions, EmbeddedQueue};
use bridge_queue::EventQueue;
use bridge_store::{SecretKey, Store};
use comagic_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use http_body_util::BodyExt as _;
use secrecy::SecretString;
use serde_json::{json, Value};
use tower::ServiceExt as _;

pub const ADMIN_TOKEN: &str = "admin-secret-token-for-tests";
pub const PUBLIC_URL: &str = "https://bridge.example.test";

pub struct Rig {
    pub router: Router,
    pub store: Arc<dyn Store>,
    pub queue: Arc<EmbeddedQueue>,
    pub metrics: Metrics,
    pub emulator: RunningEmulator,
    _dir: tempfile::TempDir,
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
}

impl Rig {
    pub async fn start() -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let store = bridge_store::open(
            &format!("sqlite://{}", dir.path().join("store.db").display()),
            SecretKey::generate(),
        )
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
}
