//! Helpers for tests that run the real `leadback-bridge` binary as child processes.

use std::process::Command;
use std::time::{Duration, Instant};

/// A port free right now on the loopback (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .expect("local addr")
        .port()
}

/// The binary with a clean environment: only `PATH`, the data folder, the log filter and the
/// allowance for the emulator's loopback address.
pub fn bridge_command(data_dir: &std::path::Path, rust_log: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_leadback-bridge"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BRIDGE_DATA_DIR", data_dir)
        // The emulator runs on loopback.
        .env("BRIDGE_ALLOW_PRIVATE_API_URLS", "true")
        // Never the fixed default port: tests run in parallel.
        .env("BRIDGE_ADMIN_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", rust_log);
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
