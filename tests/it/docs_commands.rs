//! README.md and docs/runbook.md tell the truth: every command line of their `sh` blocks, and
//! every `leadback-bridge …` step of the runbook's procedures, runs against a temporary data
//! folder (tenants pointing at the CoMagic emulator) and exits 0; every variable of README's
//! configuration table appears in `--help` with the default the table states.
//!
//! Data-driven: the commands, variables and subcommands are read from the documents and from
//! `--help` themselves, so new ones are covered without touching this file.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use bridge_queue::Envelope;
use bridge_store::{NewDeadLetter, SecretKey};
use comagic_emulator::{Emulator, EmulatorConfig};
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_leadback-bridge");
/// The tenant id the runbook's examples use; every other UUID there names a dead letter.
const RUNBOOK_TENANT: &str = "0d9f0b4e-6b1c-4d55-9d1e-2f3a4b5c6d7e";
/// CoMagic's real endpoints in the documents; the test sends tenants to the emulator instead.
const PUBLIC_API_URLS: [&str; 2] = [
    "https://dataapi.comagic.ru/v2.0",
    "https://dataapi.uiscom.ru/v2.0",
];

fn document(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).unwrap()
}

/// The text of every fenced block of `language`.
fn blocks(markdown: &str, language: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        let fence = line.trim_start();
        match &mut current {
            Some(block) if fence.starts_with("```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line.trim_start_matches("   "));
                block.push('\n');
            }
            None if fence == format!("```{language}") => current = Some(String::new()),
            None => {}
        }
    }
    blocks
}

/// Shell functions that stand in for what a reader has: `cargo run --release --` and
/// `leadback-bridge` are the built binary; `docker compose exec SERVICE` and `kubectl exec
/// TARGET --` run their command here; a service (`serve`, `ingress`, `worker`) must start,
/// print its banner, and stop cleanly on SIGTERM.
const PRELUDE: &str = r#"
set -euo pipefail
run_service() {
  local log; log=$(mktemp)
  "$BRIDGE_BIN" "$@" 2>"$log" & local pid=$!
  for _ in $(seq 600); do
    if grep -q "listening on\|leadback-bridge started" "$log"; then
      kill -TERM "$pid"; wait "$pid"; return $?
    fi
    if ! kill -0 "$pid" 2>/dev/null; then cat "$log" >&2; wait "$pid"; return 1; fi
    sleep 0.1
  done
  cat "$log" >&2; kill -KILL "$pid"; return 1
}
# `healthcheck` asks a running bridge: one is started beside it on a spare port.
with_serve() {
  local log; log=$(mktemp)
  BRIDGE_LISTEN="127.0.0.1:$SPARE_PORT" "$BRIDGE_BIN" serve 2>"$log" & local pid=$!
  for _ in $(seq 600); do grep -q "listening on" "$log" && break; sleep 0.1; done
  local rc=0
  BRIDGE_LISTEN="127.0.0.1:$SPARE_PORT" "$BRIDGE_BIN" "$@" || rc=$?
  kill -TERM "$pid"; wait "$pid" || true
  return $rc
}
leadback-bridge() {
  for arg in "$@"; do
    case "$arg" in
      serve|ingress|worker) run_service "$@"; return $?;;
      healthcheck) with_serve "$@"; return $?;;
    esac
  done
  "$BRIDGE_BIN" "$@"
}
cargo() {
  if [ "${1:-}" = run ]; then
    shift
    while [ "${1:-}" = -q ] || [ "${1:-}" = --release ]; do shift; done
    if [ "${1:-}" != "--" ]; then echo "docs test: no stand-in for 'cargo run $*'" >&2; return 1; fi
    shift; leadback-bridge "$@"
  elif [ "${1:-}" = test ]; then echo "docs test: 'cargo $*' is the suite this test is part of" >&2
  else echo "docs test: no stand-in for 'cargo $*'" >&2; return 1; fi
}
docker() { [ "${1:-} ${2:-}" = "compose exec" ] || return 1; shift 3; "$@"; }
kubectl() { [ "${1:-}" = exec ] || return 1; shift; while [ "$1" != "--" ]; do shift; done; shift; "$@"; }
"#;

/// A loopback port free right now.
fn spare_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn run_script(script: &str, dir: &Path, emulator_url: &str) {
    let mut text = script.to_owned();
    for url in PUBLIC_API_URLS {
        text = text.replace(url, emulator_url);
    }
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("{PRELUDE}\n{text}"))
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BRIDGE_BIN", BIN)
        .env("BRIDGE_DATA_DIR", dir.join("data"))
        .env("BRIDGE_LISTEN", "127.0.0.1:0")
        .env("BRIDGE_METRICS_LISTEN", "127.0.0.1:0")
        .env("BRIDGE_ADMIN_LISTEN", "127.0.0.1:0")
        .env("SPARE_PORT", spare_port().to_string())
        .env("RUST_LOG", "warn")
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "exit {:?} running\n{text}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn readme_commands_run() {
    let emulator = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let api_url = format!("{}/v2.0", emulator.base_url());
    let dir = tempfile::tempdir().unwrap();
    let readme = document("README.md");
    let sh = blocks(&readme, "sh");
    assert!(sh.len() >= 3, "README has its sh blocks");
    // In order, in one folder: the quick start builds on itself.
    for block in sh {
        let (dir, api_url) = (dir.path().to_owned(), api_url.clone());
        tokio::task::spawn_blocking(move || run_script(&block, &dir, &api_url))
            .await
            .unwrap();
    }
    assert!(dir.path().join("data/bridge.db").exists());
}

/// A data folder with a tenant and one dead letter per example id of the runbook.
async fn runbook_world(runbook: &str, api_url: &str) -> (tempfile::TempDir, String, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let status = Command::new(BIN)
        .args(["migrate"])
        .env("BRIDGE_DATA_DIR", &data)
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    let key = std::fs::read_to_string(data.join("secret.key")).unwrap();
    let url = format!("sqlite://{}", data.join("bridge.db").display());
    let store = bridge_store::open(&url, SecretKey::parse(key.trim()).unwrap())
        .await
        .unwrap();
    let settings = serde_json::json!({
        "name": "Runbook shop",
        "comagic": {"api_url": api_url, "access_token": "demo-token"},
        "default_campaign_id": 101, "chat_employee_id": 501,
    });
    let input = bridge_app::TenantFile::from_value(settings)
        .unwrap()
        .into_input(true)
        .unwrap();
    let (tenant, _) = store.create_tenant(input).await.unwrap();
    let mut dead_ids = Vec::new();
    for (n, _) in example_uuids(runbook).iter().enumerate() {
        let envelope = Envelope::new(
            format!("runbook-{n}").parse().unwrap(),
            tenant.id,
            Some("application/json".into()),
            b"{}".to_vec(),
            chrono::Utc::now(),
        );
        let dead = store
            .add_dead_letter(&NewDeadLetter {
                tenant_id: tenant.id,
                event_id: envelope.event_id.clone(),
                class: "tenant_permanent".into(),
                mnemonic: Some("access_token_invalid".into()),
                message: "refused".into(),
                attempts: 1,
                first_attempt_at: None,
                last_attempt_at: chrono::Utc::now(),
                envelope: serde_json::to_value(&envelope).unwrap(),
            })
            .await
            .unwrap();
        dead_ids.push(dead.id.to_string());
    }
    (dir, tenant.id.to_string(), dead_ids)
}

/// The UUIDs of the runbook's examples that stand for dead letters, in order of appearance.
fn example_uuids(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for word in text.split(|c: char| !(c.is_ascii_hexdigit() || c == '-')) {
        if uuid::Uuid::parse_str(word).is_ok()
            && word != RUNBOOK_TENANT
            && !found.iter().any(|f| f == word)
        {
            found.push(word.to_owned());
        }
    }
    found
}

/// The runbook's bridge command lines: the commands of its `sh` blocks that run
/// `leadback-bridge` (directly or through `docker compose exec` / `kubectl exec`; other tools'
/// commands, such as `rabbitmqctl set_policy`, configure shared services and are not run), and
/// its inline `leadback-bridge …` steps (a span with `…` names a family, not a command).
fn runbook_commands(runbook: &str) -> Vec<String> {
    let mut commands: Vec<String> = blocks(runbook, "sh")
        .iter()
        .flat_map(|block| {
            block
                .replace("\\\n", " ")
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|line| !line.trim_start().starts_with('#') && line.contains("leadback-bridge "))
        .collect();
    for span in runbook.split('`').skip(1).step_by(2) {
        if span.starts_with("leadback-bridge ") && !span.contains('…') {
            commands.push(span.to_owned());
        }
    }
    commands
}

/// Fills the runbook's placeholders with the world's ids.
fn fill(
    command: &str,
    tenant: &str,
    dead_ids: &[String],
    examples: &[String],
    data: &Path,
) -> String {
    let mut text = command
        .replace(RUNBOOK_TENANT, tenant)
        .replace("<tenant_id>", tenant)
        .replace("--tenant <id>", &format!("--tenant {tenant}"))
        .replace("<reason>", "tenant_permanent")
        .replace("<RFC 3339 time>", "2026-11-20T00:00:00Z")
        .replace("/var/lib/leadback-bridge", &data.display().to_string());
    let id = if text.contains("leadback-bridge tenants") {
        tenant
    } else {
        &dead_ids[0]
    };
    text = text.replace("<id>", id);
    for (example, real) in examples.iter().zip(dead_ids) {
        text = text.replace(example, real);
    }
    text
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.path().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[tokio::test]
async fn runbook_commands_run() {
    let emulator = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let api_url = format!("{}/v2.0", emulator.base_url());
    let runbook = document("docs/runbook.md");
    let examples = example_uuids(&runbook);
    let (template, tenant, dead_ids) = runbook_world(&runbook, &api_url).await;
    // The settings file of the "rotating a tenant's CoMagic key" procedure.
    let settings_file = blocks(&runbook, "json")
        .into_iter()
        .find(|block| block.contains("\"comagic\""))
        .expect("the runbook shows a settings file");
    let commands = runbook_commands(&runbook);
    assert!(commands.len() >= 15, "{commands:?}");
    for command in commands {
        // Each command on a fresh copy: a purge must not take what the next replay needs.
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&template.path().join("data"), &dir.path().join("data"));
        std::fs::write(dir.path().join("F.json"), &settings_file).unwrap();
        let line = fill(
            &command,
            &tenant,
            &dead_ids,
            &examples,
            &dir.path().join("data"),
        );
        assert!(!line.contains('<'), "placeholder left in {line:?}");
        let (path, api_url) = (dir.path().to_owned(), api_url.clone());
        tokio::task::spawn_blocking(move || run_script(&line, &path, &api_url))
            .await
            .unwrap();
    }
}

/// The help texts of the binary and of every subcommand, found through `Commands:` sections.
fn all_help() -> Vec<String> {
    let mut texts = Vec::new();
    let mut pending: Vec<Vec<String>> = vec![Vec::new()];
    while let Some(path) = pending.pop() {
        let out = Command::new(BIN)
            .args(&path)
            .arg("--help")
            .env_clear()
            .output()
            .unwrap();
        assert!(out.status.success(), "{path:?} --help: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut in_commands = false;
        for line in text.lines() {
            if line == "Commands:" {
                in_commands = true;
            } else if in_commands && line.trim().is_empty() {
                in_commands = false;
            } else if in_commands {
                let name = line.split_whitespace().next().unwrap_or_default();
                if name != "help"
                    && !name.is_empty()
                    && line.starts_with("  ")
                    && !line.starts_with("        ")
                {
                    let mut sub = path.clone();
                    sub.push(name.to_owned());
                    pending.push(sub);
                }
            }
        }
        texts.push(text);
    }
    texts
}

/// One option (or trailing note) of a help text per entry, its lines joined.
fn help_entries(text: &str) -> Vec<String> {
    let mut entries: Vec<String> = Vec::new();
    for line in text.lines() {
        let item = line.trim_start();
        let indent = line.len() - item.len();
        let starts_entry = indent <= 6
            && (item.starts_with("--")
                || item.starts_with("-")
                || item.starts_with('<')
                || indent == 0);
        if starts_entry || entries.is_empty() {
            entries.push(String::new());
        }
        let entry = entries.last_mut().unwrap();
        entry.push(' ');
        entry.push_str(item);
    }
    entries
}

/// The README configuration table: (variable, default cell).
fn readme_variables(readme: &str) -> Vec<(String, String)> {
    readme
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            let is_variable = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                && name.contains('_');
            is_variable.then(|| (name.to_owned(), cells.get(2).unwrap_or(&"").to_string()))
        })
        .collect()
}

#[test]
fn every_readme_variable_is_in_help_with_its_default() {
    let readme = document("README.md");
    let variables = readme_variables(&readme);
    assert!(variables.len() >= 20, "{variables:?}");
    let entries: Vec<String> = all_help().iter().flat_map(|t| help_entries(t)).collect();
    for (name, default) in variables {
        let marker = format!("[env: {name}");
        // An option's entry names its variable; a variable without an option (RUST_LOG) is
        // described in a note of its own.
        let mut mentions: Vec<&String> = entries.iter().filter(|e| e.contains(&marker)).collect();
        if mentions.is_empty() {
            mentions = entries
                .iter()
                .filter(|e| e.contains(&name) && e.contains("[default"))
                .collect();
        }
        assert!(
            !mentions.is_empty(),
            "{name} is in README's table but in no --help"
        );
        for entry in mentions {
            match default.strip_prefix('`').and_then(|d| d.strip_suffix('`')) {
                Some(value) => assert!(
                    entry.contains(&format!("[default: {value}]")),
                    "{name}: README says default `{value}`, --help says: {entry}"
                ),
                None => assert!(
                    entry.contains("[default"),
                    "{name}: README states a default ({default}); --help states none: {entry}"
                ),
            }
        }
    }
}

/// The top-level subcommands `--help` lists.
fn subcommands() -> Vec<String> {
    let out = Command::new(BIN)
        .arg("--help")
        .env_clear()
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .skip_while(|line| *line != "Commands:")
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_commands_table_lists_every_subcommand() {
    let readme = document("README.md");
    let table: Vec<&str> = readme
        .lines()
        .skip_while(|line| *line != "## Commands")
        .take_while(|line| !line.starts_with("## Configuration"))
        .filter(|line| line.starts_with("| `"))
        .collect();
    let commands = subcommands();
    assert!(commands.len() >= 7, "{commands:?}");
    for command in commands {
        let cell = format!("`{command}");
        assert!(
            table.iter().any(|row| row
                .split('|')
                .nth(1)
                .is_some_and(|first| first.contains(&cell))),
            "README's commands table lacks `{command}`"
        );
    }
}
