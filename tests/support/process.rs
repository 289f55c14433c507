//! Helpers for tests that run the real `leadback-bridge` binary as child processes themselves
//! (the others use `support::deployment`).

use std::process::Command;
use std::time::{Duration, Instant};

/// A port free right now on the loopback (bound and released).
pub fn free_port() -> u16 {
    bridge_test_support::free_port().expect("a free port on 127.0.0.1")
}

/// The binary with a clean environment: only `PATH`, the data folder and the log filter.
pub fn bare_command(data_dir: &std::path::Path, rust_log: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_leadback-bridge"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BRIDGE_DATA_DIR", data_dir)
        .env("RUST_LOG", rust_log);
    cmd
}

/// [`bare_command`] with the allowance for the emulator's loopback address and an admin
/// listener on a free port.
pub fn bridge_command(data_dir: &std::path::Path, rust_log: &str) -> Command {
    let mut cmd = bare_command(data_dir, rust_log);
    // The emulator runs on loopback.
    cmd.env("BRIDGE_ALLOW_PRIVATE_API_URLS", "true")
        // Never the fixed default port: tests run in parallel.
        .env("BRIDGE_ADMIN_LISTEN", "127.0.0.1:0");
    cmd
}

/// Waits until `url` answers 2xx, or panics after 30 s.
pub async fn wait_http_ok(http: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = http.get(url).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} did not answer 2xx within 30 s");
}

/// `bridge_command` running `role` on `listen` (an `ip:port`), its metrics on any free port.
pub fn role_command(
    data_dir: &std::path::Path,
    rust_log: &str,
    role: &str,
    listen: &str,
) -> Command {
    let mut cmd = bridge_command(data_dir, rust_log);
    cmd.args([role, "--listen", listen, "--metrics-listen", "127.0.0.1:0"]);
    cmd
}

/// Posts the basic callback fixture to the webhook of `token` on `port`; its event id, once
/// answered 200.
pub async fn post_basic_callback(port: u16, token: &str) -> String {
    let answer = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/hooks/leadback/{token}"))
        .header("content-type", "application/json")
        .body(super::fixture("callback-basic.json"))
        .send()
        .await
        .expect("webhook answered");
    assert_eq!(answer.status(), 200);
    let answer: serde_json::Value = answer.json().await.expect("JSON answer");
    answer["event_id"].as_str().expect("an event id").to_owned()
}

/// Fails the test with the command's output unless it exited 0.
pub fn assert_success(what: &str, out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{what}: exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The JSON a command printed, once it exited 0.
pub fn stdout_json(out: &std::process::Output) -> serde_json::Value {
    assert_success("leadback-bridge", out);
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

/// Fails the test naming the first of `needles` that `text` (`what`) lacks.
pub fn assert_mentions(what: &str, text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "{what} lacks {needle}: {text}");
    }
}

/// Every dead-letter class an operator can filter by (`dlq list --class`).
pub const DEAD_LETTER_CLASSES: &[&str] = &[
    "retryable",
    "rate_limited",
    "tenant_permanent",
    "event_permanent",
    "mapping",
    "exhausted",
    "poison",
];
