//! No secret ever reaches the logs or the metrics: the real binary runs `serve` at trace level
//! with JSON logs, two tenants (API key; login + password) deliver through the CoMagic emulator,
//! CoMagic fails on purpose, the admin API is used — and the captured stdout + stderr and the
//! `/metrics` page contain none of the webhook tokens, the API key, the password, the secret key
//! or the admin token. On both backends: on RabbitMQ + PostgreSQL the bridge connects with a
//! RabbitMQ user and a PostgreSQL role made for the run, whose passwords are secrets too.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use crate::support;
use bridge_test_support::http::text;

use bridge_test_support::rabbitmq::Vhost;
use bridge_test_support::{BridgeProcess, Deployment};
use comagic_emulator::{AccountSeed, Emulator, EmulatorConfig, Fault};
use secrecy::SecretString;
use serde_json::{json, Value};
use std::io::Read;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(40);
/// Trace for every crate of ours, debug for the rest (hyper, reqwest, sqlx …).
const LOG_FILTER: &str = "debug,leadback_bridge=trace,bridge_app=trace,bridge_ingress=trace,\
    bridge_worker=trace,bridge_store=trace,bridge_queue=trace,bridge_admin=trace,\
    comagic_client=trace,leadback_model=trace,bridge_metrics=trace,tower_http=trace";

fn marker(what: &str) -> String {
    format!("{what}{}", Uuid::new_v4().simple())
}

struct Secrets {
    access_token: String,
    login: String,
    password: String,
    secret_key_hex: String,
    admin_token: String,
    /// The backend's connection variables (none for the embedded one).
    backend_env: Vec<(&'static str, String)>,
}

/// The backend of one run: nothing to set for the embedded one; for RabbitMQ + PostgreSQL a
/// vhost, a user, a database and a role of the run's own (dropped at the end, even on panic),
/// reached through URLs whose passwords the logs must never show.
struct RunBackend {
    env: Vec<(&'static str, String)>,
    passwords: Vec<(&'static str, String)>,
    names: Option<String>,
    _vhost: Option<Vhost>,
}

impl RunBackend {
    async fn new(backend: support::Backend) -> Self {
        if backend == support::Backend::Embedded {
            return Self {
                env: Vec::new(),
                passwords: Vec::new(),
                names: None,
                _vhost: None,
            };
        }
        support::services::require_rabbitmq();
        let name = format!("lbsec_{}", &Uuid::new_v4().simple().to_string()[..12]);
        let amqp_password = marker("amqppass");
        let pg_password = marker("pgpass");
        let vhost = Vhost::create_with_user(&name, &amqp_password).expect("vhost and user");
        support::pg_admin_execute(&format!(
            "CREATE ROLE \"{name}\" LOGIN PASSWORD '{pg_password}'"
        ))
        .await;
        support::pg_admin_execute(&format!("CREATE DATABASE \"{name}\" OWNER \"{name}\"")).await;
        Self {
            env: vec![
                (
                    "BRIDGE_AMQP_URL",
                    format!("amqp://{name}:{amqp_password}@127.0.0.1:5672/{name}"),
                ),
                (
                    "BRIDGE_DATABASE_URL",
                    format!("postgres://{name}:{pg_password}@127.0.0.1:5432/{name}"),
                ),
            ],
            passwords: vec![
                ("RabbitMQ password", amqp_password),
                ("PostgreSQL password", pg_password),
            ],
            names: Some(name),
            _vhost: Some(vhost),
        }
    }
}

impl Drop for RunBackend {
    fn drop(&mut self) {
        let Some(name) = self.names.take() else {
            return;
        };
        // Drop runs outside the runtime's async context: a thread of its own for the clean-up.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                support::drop_database(&name).await;
                support::pg_admin_execute(&format!("DROP ROLE IF EXISTS \"{name}\"")).await;
            });
        })
        .join();
    }
}

/// The run's deployment: the embedded backend's data folder, or the run's own RabbitMQ +
/// PostgreSQL through `backend_env`; JSON logs at trace level.
async fn deployment(secrets: &Secrets) -> Deployment {
    let mut builder = support::deployment(support::Backend::Embedded)
        .retry_tiers("1s")
        .env("BRIDGE_SECRET_KEY", &secrets.secret_key_hex)
        .env("BRIDGE_ADMIN_TOKEN", &secrets.admin_token)
        .env("BRIDGE_LOG_FORMAT", "json")
        .env("BRIDGE_MAX_ATTEMPTS", "3")
        .env("RUST_LOG", LOG_FILTER);
    for (key, value) in &secrets.backend_env {
        builder = builder.env(key, value);
    }
    builder.start().await.unwrap()
}

/// `tenants create`; returns the tenant id and its webhook token.
async fn create_tenant(deployment: &Deployment, comagic: Value, name: &str) -> (String, String) {
    let tenant = deployment
        .create_tenant(&json!({
            "name": name,
            "active": true,
            "comagic": comagic,
            "ignore_session": false,
            "set_tags": true, "tag_ids": [401],
            "default_entity": "campaign", "default_campaign_id": 102, "default_site_id": 201,
            "chat_employee_id": 501,
            "timezone": "Europe/Moscow",
            "upload_sessions": false
        }))
        .await
        .unwrap();
    let token = tenant.token().to_owned();
    (tenant.id, token)
}

/// `GET /admin/v1/<path>` on the admin listener with `token`.
async fn admin_get(
    http: &reqwest::Client,
    admin_addr: &str,
    path: &str,
    token: &str,
) -> reqwest::Response {
    http.get(format!("http://{admin_addr}/admin/v1/{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// The first `ip:port` in `text`.
fn socket_addr_in(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':'))
        .find(|part| part.parse::<std::net::SocketAddr>().is_ok())
        .map(str::to_owned)
}

/// Waits for the start-up line (a JSON log line, `leadback-bridge started`); returns the public,
/// metrics and admin addresses.
async fn wait_for_banner(serve: &mut BridgeProcess) -> (String, String, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = serve.log_text().lines().find_map(|line| {
            let parsed: Value = serde_json::from_str(line).ok()?;
            if parsed["message"] != "leadback-bridge started" {
                return None;
            }
            let public = socket_addr_in(parsed["listen"].as_str()?)?;
            let metrics = socket_addr_in(parsed["metrics"].as_str()?)?;
            let admin = socket_addr_in(parsed["admin"].as_str()?)?;
            Some((public, metrics, admin))
        });
        if let Some(found) = found {
            return found;
        }
        if let Err(e) = serve.check_running() {
            panic!("bridge exited early: {e}");
        }
        assert!(
            Instant::now() < deadline,
            "no start-up line: {}",
            serve.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_logs_or_metrics_embedded() {
    no_secret_reaches_logs_or_metrics(support::Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_logs_or_metrics_rabbitmq_postgres() {
    no_secret_reaches_logs_or_metrics(support::Backend::RabbitPostgres).await;
}

async fn no_secret_reaches_logs_or_metrics(backend: support::Backend) {
    let _serial = support::serial::exclusive().await;
    let run_backend = RunBackend::new(backend).await;
    let secrets = Secrets {
        access_token: marker("apikey"),
        login: marker("login"),
        password: marker("password"),
        // 32 bytes of hex: a recognisable pattern with a random tail.
        secret_key_hex: format!("5ec7e7{}", &marker("")[..26]).repeat(2)[..64].to_owned(),
        admin_token: marker("admintoken"),
        backend_env: run_backend.env.clone(),
    };
    let emulator = Emulator::start(EmulatorConfig {
        // Two accounts, so the same fixtures are two sets of records (not duplicates).
        accounts: vec![
            AccountSeed {
                name: "key-account".into(),
                app_id: 90001,
                access_tokens: vec![SecretString::from(secrets.access_token.clone())],
                login: None,
                password: None,
                ..AccountSeed::demo()
            },
            AccountSeed {
                name: "login-account".into(),
                app_id: 90002,
                access_tokens: Vec::new(),
                login: Some(secrets.login.clone()),
                password: Some(SecretString::from(secrets.password.clone())),
                ..AccountSeed::demo()
            },
        ],
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let api_url = emulator.api_url();
    let deployment = deployment(&secrets).await;
    let (key_tenant, key_token) = create_tenant(
        &deployment,
        json!({"api_url": api_url, "access_token": secrets.access_token}),
        "key-shop",
    )
    .await;
    let (login_tenant, login_token) = create_tenant(
        &deployment,
        json!({"api_url": api_url, "login": secrets.login, "password": secrets.password}),
        "login-shop",
    )
    .await;

    let mut serve = deployment.role("serve").spawn().await.unwrap();
    let (public, metrics_addr, admin_addr) = wait_for_banner(&mut serve).await;
    let http = reqwest::Client::new();
    let hook = |token: &str| format!("http://{public}/hooks/leadback/{token}");

    // CoMagic misbehaves first: an HTTP 500, a JSON-RPC error, an expired login token.
    emulator.inject(Fault::HttpStatus {
        status: 500,
        count: 1,
        method: Some("upload.offline_messages".into()),
    });
    emulator.inject(Fault::RpcError {
        code: -32603,
        mnemonic: "internal_error".into(),
        message: "injected failure".into(),
        count: 1,
        method: Some("upload.chats".into()),
    });
    emulator.expire_tokens();

    let fixtures = [
        ("callback-basic.json", "application/json"),
        ("callback-form.txt", "application/x-www-form-urlencoded"),
        ("chat-basic.json", "application/json"),
    ];
    for token in [&key_token, &login_token] {
        for (name, content_type) in fixtures {
            let body = support::fixture(name);
            let response = http
                .post(hook(token))
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 200, "{name}");
        }
        // A body the worker cannot map: a dead letter with a reason.
        let response = http
            .post(hook(token))
            .header("content-type", "application/json")
            .body(r#"{"event":"callback","id":"nothing-to-map"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        // A body that does not parse.
        let response = http
            .post(hook(token))
            .header("content-type", "application/json")
            .body("{")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400);
    }
    // Wrong tokens: well-formed, malformed, and a real token with one character changed.
    let mut near_miss = key_token.clone().into_bytes();
    near_miss[0] = if near_miss[0] == b'A' { b'B' } else { b'A' };
    let near_miss = String::from_utf8(near_miss).unwrap();
    for token in ["C".repeat(43), "short".to_owned(), near_miss.clone()] {
        let response = http
            .post(hook(&token))
            .body("phone=1")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 404);
    }

    // The admin API with the admin token (and once with a wrong one).
    let response = admin_get(&http, &admin_addr, "tenants", &secrets.admin_token).await;
    assert_eq!(response.status().as_u16(), 200);
    let listed = response.text().await.unwrap();
    assert!(!listed.contains(&secrets.access_token) && !listed.contains(&secrets.password));
    for tenant in [&key_tenant, &login_tenant] {
        let response = admin_get(
            &http,
            &admin_addr,
            &format!("tenants/{tenant}/comagic/campaigns"),
            &secrets.admin_token,
        )
        .await;
        assert_eq!(
            response.status().as_u16(),
            200,
            "{}",
            response.text().await.unwrap_or_default()
        );
    }
    let response = admin_get(
        &http,
        &admin_addr,
        "tenants",
        &format!("{}x", secrets.admin_token),
    )
    .await;
    assert_eq!(response.status().as_u16(), 401);
    let response = admin_get(&http, &admin_addr, "dead-letters", &secrets.admin_token).await;
    assert_eq!(response.status().as_u16(), 200);

    // Every fixture of both tenants arrives (after the retries), the unmappable ones die.
    let deadline = Instant::now() + WAIT;
    loop {
        let records: Vec<Value> = emulator
            .records()
            .into_iter()
            .map(|r| serde_json::to_value(r).unwrap())
            .filter(|r| r["kind"] != "session")
            .collect();
        let tagged = records.iter().filter(|r| r["tags"] == json!([401])).count();
        if tagged >= 2 * fixtures.len() {
            break;
        }
        if Instant::now() > deadline {
            let warnings: Vec<String> = serve
                .log_text()
                .lines()
                .filter(|l| l.contains("\"WARN\"") || l.contains("\"ERROR\""))
                .map(str::to_owned)
                .collect();
            let summary: Vec<String> = records
                .iter()
                .map(|r| {
                    format!(
                        "{} {} {} {}",
                        r["account"], r["kind"], r["ext_id"], r["tags"]
                    )
                })
                .collect();
            panic!("records: {summary:#?}\nwarnings and errors: {warnings:#?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The unmappable ones die quickly (a permanent mapping error): give the worker a moment.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let dead: Value = admin_get(&http, &admin_addr, "dead-letters", &secrets.admin_token)
        .await
        .json()
        .await
        .unwrap();
    let metrics = text(http.get(format!("http://{metrics_addr}/metrics")))
        .await
        .unwrap();

    // Stop it the way an operator does, so shutdown logs are checked too.
    serve.sigterm().await.unwrap();
    assert!(
        serve.wait_exit(Duration::from_secs(30)).await.is_some(),
        "bridge did not stop on SIGTERM"
    );
    let lines: Vec<String> = serve.log_text().lines().map(str::to_owned).collect();
    let output = lines.join("\n");
    assert!(
        output.contains("webhook accepted"),
        "the logs were captured: {output}"
    );
    assert!(
        output.contains("\"level\":\"TRACE\"") || output.contains("\"level\":\"DEBUG\""),
        "debug logging was on"
    );

    let forbidden = [
        ("webhook token of the key tenant", key_token.as_str()),
        ("webhook token of the login tenant", login_token.as_str()),
        ("a near-miss token", near_miss.as_str()),
        ("CoMagic API key", secrets.access_token.as_str()),
        ("CoMagic password", secrets.password.as_str()),
        ("secret key (hex)", secrets.secret_key_hex.as_str()),
        ("admin token", secrets.admin_token.as_str()),
    ];
    let upper_key = secrets.secret_key_hex.to_uppercase();
    let backend_passwords: Vec<(&str, &str)> = run_backend
        .passwords
        .iter()
        .map(|(what, password)| (*what, password.as_str()))
        .collect();
    for (what, secret) in forbidden
        .iter()
        .chain([("secret key (HEX)", upper_key.as_str())].iter())
        .chain(backend_passwords.iter())
    {
        if let Some(line) = lines.iter().find(|l| l.contains(secret)) {
            panic!("{what} is in the logs: {line}");
        }
        assert!(!metrics.contains(secret), "{what} is in /metrics");
        assert!(
            !dead.to_string().contains(secret),
            "{what} is in the dead-letter API"
        );
    }
    // No token-shaped label at all in the metrics (tenant ids are UUIDs, tokens are 43 chars).
    assert!(
        metrics.contains("leadback_bridge_ingress_requests_total"),
        "{metrics}"
    );
    assert!(!metrics.contains("/hooks/"), "no paths in metrics");

    // Every JSON log line about an event also names its tenant.
    let mut about_events = 0;
    for line in &lines {
        let Ok(parsed) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let text = parsed.to_string();
        if text.contains("\"event_id\"") {
            about_events += 1;
            assert!(
                text.contains("\"tenant_id\""),
                "event log line without tenant_id: {line}"
            );
        }
    }
    assert!(
        about_events >= 2 * fixtures.len(),
        "event log lines: {about_events}"
    );
    deployment.stop().await;
    emulator.shutdown().await;
}

/// Runs `serve` with `env` until it exits (or 30 s), returns stdout + stderr.
fn run_until_exit(data_dir: &Path, env: &[(&str, &str)]) -> String {
    let mut child = support::process::role_command(data_dir, LOG_FILTER, "serve", "127.0.0.1:0")
        .env("BRIDGE_LOG_FORMAT", "json")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let _ = child.wait();
    out
}

/// The passwords in BRIDGE_DATABASE_URL and BRIDGE_AMQP_URL stay out of the logs when the
/// connection fails — refused (nothing listens), or refused by the server (an unknown
/// database, a wrong broker password) — on both backends' paths. Loopback only.
#[test]
fn connection_url_passwords_stay_out_of_error_paths() {
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let key = "6465762d6f6e6c792d6b65792d646f2d6e6f742d7573652d696e2d70726f6421";
    let pg_password = marker("pgpassword");
    let amqp_password = marker("amqppassword");
    let cases = [
        // PostgreSQL: nothing listening; then the real server with a database that does not exist.
        vec![
            (
                "BRIDGE_DATABASE_URL",
                format!("postgres://postgres:{pg_password}@127.0.0.1:{closed_port}/bridge"),
            ),
            ("BRIDGE_SECRET_KEY", key.to_owned()),
        ],
        vec![
            (
                "BRIDGE_DATABASE_URL",
                format!(
                    "postgres://postgres:{pg_password}@127.0.0.1:5432/no_such_db_{}",
                    Uuid::new_v4().simple()
                ),
            ),
            ("BRIDGE_SECRET_KEY", key.to_owned()),
        ],
        // RabbitMQ: nothing listening; then the real broker with a wrong password.
        vec![(
            "BRIDGE_AMQP_URL",
            format!("amqp://guest:{amqp_password}@127.0.0.1:{closed_port}/%2f"),
        )],
        vec![(
            "BRIDGE_AMQP_URL",
            format!("amqp://guest:{amqp_password}@127.0.0.1:5672/%2f"),
        )],
    ];
    for env in cases {
        let data = tempfile::tempdir().unwrap();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let out = run_until_exit(data.path(), &env);
        assert!(!out.is_empty(), "{env:?}: the failure is reported");
        for secret in [&pg_password, &amqp_password] {
            assert!(
                !out.contains(secret.as_str()),
                "{env:?} leaked a password:\n{out}"
            );
        }
    }
}
