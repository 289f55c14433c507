//! The `leadback-bridge` binary as an operator uses it: tenants, dead letters, refusals.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use crate::support::process::{assert_mentions, bare_command, stdout_json as json_of};
use std::process::{Command, Output};

fn bridge(data_dir: &std::path::Path, args: &[&str]) -> Output {
    bridge_with(data_dir, args, &[])
}

/// `bridge` with extra environment variables.
fn bridge_with(data_dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    bare_command(data_dir, "warn")
        .args(args)
        .env("BRIDGE_PUBLIC_URL", "https://bridge.example.com")
        .envs(env.iter().copied())
        .output()
        .expect("binary runs")
}

const SETTINGS: &str = r#"{
  "name": "CLI shop",
  "active": true,
  "comagic": {"api_url": "https://dataapi.comagic.ru/v2.0", "access_token": "cli-secret-token-value"},
  "ignore_session": false,
  "set_tags": false, "tag_ids": [],
  "default_entity": "source", "default_source_id": 301, "default_site_id": 201,
  "chat_employee_id": 501,
  "timezone": "Europe/Moscow",
  "upload_sessions": false
}"#;

#[test]
fn help_lists_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let help: [(&[&str], &[&str]); 4] = [
        (
            &["--help"],
            &[
                "serve", "ingress", "worker", "migrate", "tenants", "dlq", "demo", "preview",
            ],
        ),
        (
            &["tenants", "--help"],
            &[
                "create",
                "list",
                "show",
                "update",
                "rotate-token",
                "deactivate",
            ],
        ),
        (&["dlq", "--help"], &["list", "show", "replay", "purge"]),
        (
            &["serve", "--help"],
            &[
                "BRIDGE_LISTEN",
                "BRIDGE_METRICS_LISTEN",
                "BRIDGE_AMQP_URL",
                "BRIDGE_DATABASE_URL",
                "BRIDGE_SECRET_KEY",
                "BRIDGE_ADMIN_TOKEN",
                "BRIDGE_PUBLIC_URL",
                "BRIDGE_PUBLISH_BATCH_MAX",
                "BRIDGE_PUBLISH_IN_FLIGHT",
                "BRIDGE_LEDGER_RETENTION_DAYS",
            ],
        ),
    ];
    for (args, expected) in help {
        let out = bridge(dir.path(), args);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_mentions(&args.join(" "), &text, expected);
    }
}

#[test]
fn tenant_lifecycle_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    json_of(&bridge(dir.path(), &["migrate"]));
    let file = dir.path().join("tenant.json");
    std::fs::write(&file, SETTINGS).unwrap();

    let created = json_of(&bridge(
        dir.path(),
        &["tenants", "create", "--settings", file.to_str().unwrap()],
    ));
    let id = created["id"].as_str().expect("id").to_owned();
    let url = created["webhook_url"]
        .as_str()
        .expect("webhook_url")
        .to_owned();
    assert!(
        url.starts_with("https://bridge.example.com/hooks/leadback/"),
        "{url}"
    );
    let token = url.rsplit('/').next().unwrap();
    assert_eq!(token.len(), 43, "32 random bytes, base64url");
    assert_eq!(created["default_entity"], "source");
    let printed = serde_json::to_string(&created).unwrap();
    assert!(
        !printed.contains("cli-secret-token-value"),
        "secret echoed: {printed}"
    );

    let listed = json_of(&bridge(dir.path(), &["tenants", "list"]));
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["id"] == id.as_str()));
    let shown = json_of(&bridge(dir.path(), &["tenants", "show", &id]));
    assert_eq!(shown["name"], "CLI shop");
    assert!(!serde_json::to_string(&shown)
        .unwrap()
        .contains("cli-secret-token-value"));

    let rotated = json_of(&bridge(dir.path(), &["tenants", "rotate-token", &id]));
    assert_ne!(rotated["webhook_url"], url.as_str());

    let deactivated = json_of(&bridge(dir.path(), &["tenants", "deactivate", &id]));
    assert_eq!(deactivated["active"], false);
    let shown = json_of(&bridge(dir.path(), &["tenants", "show", &id]));
    assert_eq!(shown["active"], false);

    // The credentials are not in clear anywhere in the data folder.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() && path.file_name().unwrap() != "tenant.json" {
            let bytes = std::fs::read(&path).unwrap();
            let needle = b"cli-secret-token-value";
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "secret in clear in {}",
                path.display()
            );
        }
    }
}

#[test]
fn invalid_settings_name_each_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tenant.json");
    std::fs::write(
        &file,
        r#"{"name":"x","comagic":{"api_url":"https://dataapi.comagic.ru/v2.0","access_token":"t"},
            "default_entity":"source","set_tags":true,"tag_ids":[]}"#,
    )
    .unwrap();
    let out = bridge(
        dir.path(),
        &["tenants", "create", "--settings", file.to_str().unwrap()],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for field in ["default_source_id", "default_site_id", "tag_ids"] {
        assert!(err.contains(field), "error does not name {field}: {err}");
    }
}

#[test]
fn dead_letter_commands_on_an_empty_store() {
    let dir = tempfile::tempdir().unwrap();
    json_of(&bridge(dir.path(), &["migrate"]));
    let listed = json_of(&bridge(dir.path(), &["dlq", "list"]));
    assert_eq!(listed, serde_json::json!([]));
    // Replay and purge refuse to act without a selector.
    for cmd in ["replay", "purge"] {
        let out = bridge(dir.path(), &["dlq", cmd]);
        assert!(
            !out.status.success(),
            "dlq {cmd} without selector must fail"
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("--all"));
    }
    let purged = json_of(&bridge(dir.path(), &["dlq", "purge", "--all"]));
    assert_eq!(purged["purged"], 0);
}

#[test]
fn split_roles_on_the_embedded_queue_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    for role in ["ingress", "worker"] {
        let out = bridge(
            dir.path(),
            &[
                role,
                "--listen",
                "127.0.0.1:0",
                "--metrics-listen",
                "127.0.0.1:0",
            ],
        );
        assert!(
            !out.status.success(),
            "{role} alone on the embedded queue must be refused"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("BRIDGE_AMQP_URL"), "{err}");
    }
}

#[test]
fn postgres_without_a_secret_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_leadback-bridge"))
        .args(["migrate"])
        .env_clear()
        .env("BRIDGE_DATA_DIR", dir.path())
        .env(
            "BRIDGE_DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/postgres",
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("BRIDGE_SECRET_KEY"));
}

#[test]
fn demo_delivers_every_sample_offline() {
    let dir = tempfile::tempdir().unwrap();
    let out = bridge(dir.path(), &["demo", "--timeout-secs", "60"]);
    let records = json_of(&out);
    let records = records.as_array().expect("a JSON list of records");
    // Five samples on the Moscow account, the first one again on the Yekaterinburg account.
    assert_eq!(records.len(), 6, "{records:?}");
    let kinds: Vec<&str> = records.iter().filter_map(|r| r["kind"].as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "offline_message").count(), 5);
    assert_eq!(kinds.iter().filter(|k| **k == "chat").count(), 1);
    // One instant, each account's own wall clock: Yekaterinburg is two hours ahead of Moscow.
    let first_sample_time = |account: &str| {
        records
            .iter()
            .find(|r| {
                r["account"] == account
                    && r["ext_id"].as_str().is_some_and(|e| e.contains("9f3c2a71"))
            })
            .and_then(|r| r["payload"]["date_time"].as_str())
            .map(str::to_owned)
    };
    assert_eq!(
        first_sample_time("demo").as_deref(),
        Some("2026-11-20 14:03:11")
    );
    assert_eq!(
        first_sample_time("demo-ekb").as_deref(),
        Some("2026-11-20 16:03:11")
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("6 of 6 sample events arrived"), "{stderr}");
    assert!(stderr.contains("in account demo-ekb"), "{stderr}");
}

#[test]
fn group_publish_limits_are_checked_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value) in [
        ("BRIDGE_PUBLISH_IN_FLIGHT", "0"),
        ("BRIDGE_PUBLISH_BATCH_MAX", "0"),
        ("BRIDGE_PUBLISH_BATCH_MAX", "many"),
    ] {
        let out = bridge_with(
            dir.path(),
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--metrics-listen",
                "127.0.0.1:0",
            ],
            &[(var, value)],
        );
        assert!(!out.status.success(), "{var}={value} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        let flag = var
            .trim_start_matches("BRIDGE_")
            .to_lowercase()
            .replace('_', "-");
        assert!(err.contains(&flag), "{var}={value}: {err}");
    }
}
