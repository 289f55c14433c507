//! The operator commands as issue 21 asks for them: strict input, errors that name the problem,
//! nothing created by a command that only reads, listings that never stop short, and help that
//! fits each command. Storage-bound checks run on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use crate::support;

use bridge_store::{NewDeadLetter, SecretKey, Store};
use serde_json::{json, Value};
use std::process::{Command, Output};
use uuid::Uuid;

const KEY_HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// One store for the binary: a SQLite data folder, or a PostgreSQL database of its own.
struct World {
    dir: tempfile::TempDir,
    postgres: Option<String>,
}

impl World {
    async fn new(postgres: bool) -> World {
        let dir = tempfile::tempdir().unwrap();
        let postgres = if postgres {
            let name = format!("cli_{}", Uuid::new_v4().simple());
            support::create_database(&name).await;
            Some(name)
        } else {
            None
        };
        let world = World { dir, postgres };
        ok_json(&world.run(&["migrate"]));
        world
    }

    fn database_url(&self) -> Option<String> {
        self.postgres
            .as_ref()
            .map(|name| format!("postgres://postgres@127.0.0.1:5432/{name}"))
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_leadback-bridge"));
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("BRIDGE_DATA_DIR", self.dir.path().join("data"))
            .env("RUST_LOG", "info");
        if let Some(url) = self.database_url() {
            command
                .env("BRIDGE_DATABASE_URL", url)
                .env("BRIDGE_SECRET_KEY", KEY_HEX);
        }
        command.output().expect("binary runs")
    }

    async fn store(&self) -> std::sync::Arc<dyn Store> {
        let (url, key) = match self.database_url() {
            Some(url) => (url, KEY_HEX.to_owned()),
            None => {
                let data = self.dir.path().join("data");
                let key = std::fs::read_to_string(data.join("secret.key")).unwrap();
                (
                    format!("sqlite://{}", data.join("bridge.db").display()),
                    key,
                )
            }
        };
        bridge_store::open(&url, SecretKey::parse(key.trim()).unwrap())
            .await
            .unwrap()
    }

    fn settings_file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    }

    async fn tenant(&self) -> String {
        let file = self.settings_file("tenant.json", SETTINGS);
        let created = ok_json(&self.run(&["tenants", "create", "--settings", &file]));
        created["id"].as_str().unwrap().to_owned()
    }

    async fn seed_dead_letters(&self, tenant: &str, count: usize) -> Vec<Uuid> {
        let store = self.store().await;
        let mut ids = Vec::new();
        for n in 0..count {
            let dead = store
                .add_dead_letter(&NewDeadLetter {
                    tenant_id: tenant.parse().unwrap(),
                    event_id: format!("ev-{n}").parse().unwrap(),
                    class: "mapping".into(),
                    mnemonic: None,
                    message: "no contact".into(),
                    attempts: 1,
                    first_attempt_at: None,
                    last_attempt_at: chrono::Utc::now(),
                    envelope: json!({}),
                })
                .await
                .unwrap();
            ids.push(dead.id);
        }
        ids
    }

    async fn finish(self) {
        if let Some(name) = &self.postgres {
            support::drop_database(name).await;
        }
    }
}

const SETTINGS: &str = r#"{
  "name": "CLI shop",
  "comagic": {"api_url": "http://127.0.0.1:9/v2.0", "access_token": "cli-secret-token-value"},
  "default_entity": "campaign", "default_campaign_id": 101, "chat_employee_id": 501
}"#;

fn ok_json(out: &Output) -> Value {
    assert!(out.status.success(), "{}", describe(out));
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Exit code `code`, and every word in stderr.
fn assert_refused(out: &Output, code: i32, words: &[&str]) {
    assert_eq!(out.status.code(), Some(code), "{}", describe(out));
    let err = String::from_utf8_lossy(&out.stderr);
    for word in words {
        assert!(
            err.contains(word),
            "stderr lacks {word:?}: {}",
            describe(out)
        );
    }
}

async fn settings_files_are_strict(postgres: bool) {
    let world = World::new(postgres).await;
    let id = world.tenant().await;
    let typo = world.settings_file(
        "typo.json",
        &SETTINGS.replace(
            r#""name""#,
            r#""upload_session": true, "set_tag": true, "name""#,
        ),
    );
    let out = world.run(&["tenants", "create", "--settings", &typo]);
    assert_refused(
        &out,
        1,
        &["upload_session", "`upload_sessions`", "`set_tags`"],
    );
    let wrong_type = world.settings_file(
        "type.json",
        &SETTINGS.replace(
            r#""default_campaign_id": 101"#,
            r#""default_campaign_id": "x""#,
        ),
    );
    let out = world.run(&["tenants", "create", "--settings", &wrong_type]);
    assert_refused(&out, 1, &["default_campaign_id", "expected i64"]);

    // `tenants show` output goes back into `tenants update` as it is: credentials kept.
    let shown = world.run(&["tenants", "show", &id]);
    // Migrations already applied are not news (PostgreSQL's notice stays below INFO).
    let stderr = String::from_utf8_lossy(&shown.stderr);
    assert!(!stderr.contains("_sqlx_migrations"), "{stderr}");
    let shown = ok_json(&shown);
    let mut edited = shown.clone();
    edited["name"] = json!("Renamed shop");
    let file = world.settings_file("shown.json", &edited.to_string());
    let updated = ok_json(&world.run(&["tenants", "update", &id, "--settings", &file]));
    assert_eq!(updated["name"], "Renamed shop");
    assert_eq!(updated["comagic"]["auth"], "access_token");
    let stored = world.store().await.get_tenant(id.parse().unwrap()).await;
    let stored = stored.unwrap().unwrap();
    assert_eq!(stored.name, "Renamed shop");
    assert_eq!(stored.credentials.auth.kind(), "access_token");
    // Without secrets, a different api_url cannot keep the old credentials.
    edited["comagic"]["api_url"] = json!("http://127.0.0.1:10/v2.0");
    let file = world.settings_file("moved.json", &edited.to_string());
    let out = world.run(&["tenants", "update", &id, "--settings", &file]);
    assert_refused(&out, 1, &["comagic.api_url"]);
    // One wording for a missing tenant.
    let missing = Uuid::new_v4().to_string();
    for args in [
        ["tenants", "show", &missing],
        ["tenants", "deactivate", &missing],
    ] {
        assert_refused(&world.run(&args), 1, &["not found: tenant", &missing]);
    }
    world.finish().await;
}

#[tokio::test]
async fn settings_files_are_strict_on_sqlite() {
    settings_files_are_strict(false).await;
}

#[tokio::test]
async fn settings_files_are_strict_on_postgres() {
    settings_files_are_strict(true).await;
}

#[tokio::test]
async fn dead_letter_arguments_are_parsed_strictly() {
    let world = World::new(false).await;
    let out = world.run(&["dlq", "list", "--class", "tenant_permanet"]);
    assert_refused(
        &out,
        2,
        &["tenant_permanet", "tenant_permanent", "exhausted"],
    );
    let out = world.run(&["dlq", "purge", "--class", "bogus"]);
    assert_refused(&out, 2, &["bogus", "rate_limited"]);
    let help = world.run(&["dlq", "list", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    support::process::assert_mentions(
        "dlq list --help",
        &help,
        support::process::DEAD_LETTER_CLASSES,
    );
    let out = world.run(&["dlq", "list", "--since", "2026-11-20 10:00"]);
    assert_refused(&out, 2, &["--since", "2026-11-20T00:00:00Z"]);
    ok_json(&world.run(&["dlq", "list", "--since", "2026-11-20"]));
    let out = world.run(&[
        "dlq",
        "list",
        "--since",
        "2026-11-21",
        "--until",
        "2026-11-20",
    ]);
    assert_refused(&out, 1, &["--since", "after", "--until"]);
    for args in [
        &["dlq", "show", "nope"][..],
        &["dlq", "replay", "--id", "nope"],
        &["dlq", "list", "--tenant", "nope"],
        &["tenants", "show", "nope"],
    ] {
        assert_refused(&world.run(args), 2, &["expected a UUID"]);
    }
    world.finish().await;
}

async fn listing_streams_every_match(postgres: bool) {
    let world = World::new(postgres).await;
    let tenant = world.tenant().await;
    let ids = world.seed_dead_letters(&tenant, 1_150).await;
    let out = world.run(&["dlq", "list", "--class", "mapping"]);
    let listed = ok_json(&out);
    let listed: std::collections::HashSet<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), ids.len(), "every dead letter once");
    assert!(String::from_utf8_lossy(&out.stderr).contains("1150 dead letters listed"));
    let out = world.run(&["dlq", "list", "--limit", "7"]);
    assert_eq!(ok_json(&out).as_array().unwrap().len(), 7);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--limit reached"));
    world.finish().await;
}

#[tokio::test]
async fn listing_streams_every_match_on_sqlite() {
    listing_streams_every_match(false).await;
}

#[tokio::test]
async fn listing_streams_every_match_on_postgres() {
    listing_streams_every_match(true).await;
}

async fn unknown_ids_are_reported(postgres: bool) {
    let world = World::new(postgres).await;
    let tenant = world.tenant().await;
    let ids = world.seed_dead_letters(&tenant, 2).await;
    let unknown = Uuid::new_v4().to_string();
    let (first, second) = (ids[0].to_string(), ids[1].to_string());
    let out = world.run(&["dlq", "purge", "--id", &first, "--id", &unknown]);
    assert_refused(&out, 1, &["1 dead letters not purged", "1 not found"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["purged"], 1);
    assert_eq!(report["not_found"], json!([unknown]));
    let out = world.run(&["dlq", "replay", "--id", &unknown]);
    assert_refused(&out, 1, &["not replayed"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["not_found"], json!([unknown]));
    let out = world.run(&["dlq", "show", &first]);
    assert_refused(&out, 1, &["not found: dead letter"]);
    ok_json(&world.run(&["dlq", "show", &second]));
    world.finish().await;
}

#[tokio::test]
async fn unknown_ids_are_reported_on_sqlite() {
    unknown_ids_are_reported(false).await;
}

#[tokio::test]
async fn unknown_ids_are_reported_on_postgres() {
    unknown_ids_are_reported(true).await;
}

#[test]
fn operator_commands_never_create_a_database_or_key() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("dta");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_leadback-bridge"))
            .args(args)
            .env_clear()
            .env("BRIDGE_DATA_DIR", &typo)
            .output()
            .unwrap()
    };
    for args in [
        &["dlq", "list"][..],
        &["tenants", "list"],
        &["tenants", "create", "--settings", "/missing.json"],
        &["dlq", "purge", "--all"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", describe(&out));
        assert!(!typo.exists(), "{args:?} created {}", typo.display());
    }
    assert_refused(
        &run(&["dlq", "list"]),
        1,
        &["no bridge database at", "BRIDGE_DATA_DIR"],
    );
    assert_refused(
        &run(&["tenants", "create", "--settings", "/missing.json"]),
        1,
        &["cannot read /missing.json"],
    );
    // A database without its key is not given a new one.
    ok_json(&run(&["migrate"]));
    std::fs::remove_file(typo.join("secret.key")).unwrap();
    assert_refused(
        &run(&["tenants", "list"]),
        1,
        &["no secret key at", "BRIDGE_SECRET_KEY"],
    );
    assert!(!typo.join("secret.key").exists());
}

#[test]
fn database_urls_are_checked_and_masked() {
    let dir = tempfile::tempdir().unwrap();
    let run = |url: &str| {
        Command::new(env!("CARGO_BIN_EXE_leadback-bridge"))
            .args(["migrate"])
            .env_clear()
            .env("BRIDGE_DATA_DIR", dir.path())
            .env("BRIDGE_DATABASE_URL", url)
            .env("BRIDGE_SECRET_KEY", KEY_HEX)
            .output()
            .unwrap()
    };
    let out = run("mysql://u:p@127.0.0.1/x");
    assert_refused(&out, 1, &["postgres://", "sqlite:", "`mysql:`"]);
    // Port 9 on loopback: nothing listens (discard is not served here).
    let out = run("postgres://postgres:hunter2@127.0.0.1:9/x");
    assert_refused(&out, 1, &["127.0.0.1:9", "***", "unreachable"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("hunter2"));
}

#[test]
fn out_of_range_settings_are_refused_with_the_range() {
    let dir = tempfile::tempdir().unwrap();
    for (flag, value, range) in [
        ("--batch-size", "100", "1..=50"),
        ("--concurrency", "0", "1.."),
        ("--max-attempts", "0", "1.."),
        ("--max-connections", "0", "1.."),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_leadback-bridge"))
            .args(["serve", flag, value])
            .env_clear()
            .env("BRIDGE_DATA_DIR", dir.path())
            .output()
            .unwrap();
        assert_refused(&out, 2, &[flag, range]);
    }
    assert!(!dir.path().join("bridge.db").exists());
}

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_leadback-bridge"))
        .args(args)
        .arg("--help")
        .env_clear()
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn each_command_shows_only_its_options() {
    let absent: &[(&[&str], &[&str])] = &[
        (&["demo"], &["--amqp-url", "--retry-tiers", "--listen"]),
        (&["worker"], &["--body-limit", "--unknown-token-per-minute"]),
        (&["ingress"], &["--batch-size", "--concurrency"]),
        (
            &["dlq", "list"],
            &["--retry-tiers", "--publish-batch-max", "--amqp-url"],
        ),
        (&["dlq", "purge"], &["--amqp-url"]),
        (&["tenants", "list"], &["--amqp-url", "--metrics-listen"]),
    ];
    for (command, flags) in absent {
        let text = help(command);
        assert!(text.contains("Global options:"), "{command:?}: {text}");
        for flag in *flags {
            assert!(
                !text.contains(flag),
                "{command:?} --help shows {flag}: {text}"
            );
        }
    }
    assert!(help(&["dlq", "replay"]).contains("--amqp-url"));
    // Every option and argument has a description.
    for command in [
        &["tenants", "create"][..],
        &["tenants", "update"],
        &["tenants", "show"],
        &["dlq", "list"],
        &["dlq", "replay"],
        &["dlq", "show"],
        &["serve"],
    ] {
        let text = help(command);
        for line in text.lines() {
            let item = line.trim_start();
            let is_item = item.starts_with("--") || item.starts_with('<');
            if is_item && !item.starts_with("--help") {
                let described = item.split("  ").filter(|p| !p.trim().is_empty()).count() > 1;
                let next_described = text
                    .lines()
                    .skip_while(|l| *l != line)
                    .nth(1)
                    .is_some_and(|l| l.starts_with("          ") && !l.trim().is_empty());
                assert!(
                    described || next_described,
                    "{command:?}: {item} undescribed"
                );
            }
        }
    }
    let list = help(&["dlq", "list"]);
    assert!(list.contains("[default: every match]"), "{list}");
}
