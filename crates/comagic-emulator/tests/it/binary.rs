use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};

use serde_json::{json, Value};

/// The running binary and the URL it printed.
struct Process {
    child: Child,
    url: String,
    /// Kept open while the binary runs: it prints more after the URL.
    _stdout: BufReader<ChildStdout>,
}

impl Process {
    fn spawn(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_comagic-emulator"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut first_line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut first_line).unwrap();
        let url = first_line.trim().to_owned();
        assert!(
            url.starts_with("http://127.0.0.1:") && url.ends_with("/v2.0"),
            "{url}"
        );
        Self {
            child,
            url,
            _stdout: stdout,
        }
    }

    async fn call(&self, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let request = reqwest::Client::new().post(&self.url).json(&body);
        request.send().await.unwrap().json().await.unwrap()
    }

    /// The token's account's `timezone`, as `get.account` answers.
    async fn timezone(&self, access_token: &str) -> Value {
        let account = self
            .call("get.account", json!({"access_token": access_token}))
            .await;
        account["result"]["data"][0]["timezone"].clone()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary starts from a seed file, prints its URL and serves that account.
#[tokio::test]
async fn binary_serves_a_seed_file() {
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/seed.example.json");
    let process = Process::spawn(&["--seed", seed]);
    assert_eq!(
        process.timezone("flowers-token").await,
        "Asia/Yekaterinburg"
    );
    let response = process
        .call("get.account", json!({"access_token": "flowers-token"}))
        .await;
    assert_eq!(response["result"]["metadata"]["limits"]["day_limit"], 750);
    let expired = process
        .call("get.account", json!({"access_token": "flowers-old-token"}))
        .await;
    assert_eq!(expired["error"]["data"]["mnemonic"], "access_token_expired");
}

fn message(ext_id: &str, phone: &str) -> Value {
    let now = chrono::Utc::now().with_timezone(&chrono_tz::Europe::Moscow);
    json!({"date_time": now.format("%Y-%m-%d %H:%M:%S").to_string(), "phone": phone,
        "site_id": 201, "ext_id": ext_id})
}

/// Without a seed the three demo accounts are served; `--item-index` and `--repeated-ext-id`
/// switch the two modes, and `--help` documents them.
#[tokio::test]
async fn binary_flags_switch_the_modes() {
    let help = Command::new(env!("CARGO_BIN_EXE_comagic-emulator"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in ["--item-index", "--repeated-ext-id", "update", "refuse"] {
        assert!(help.contains(flag), "{flag} missing from --help:\n{help}");
    }

    let strict = Process::spawn(&[]);
    assert_eq!(
        strict.timezone("demo-token-kgd").await,
        "Europe/Kaliningrad"
    );
    let upload = |ext_id: &str, phone: &str| json!({"access_token": "demo-token", "offline_messages": [message(ext_id, phone)]});
    let refused = strict
        .call("upload.offline_messages", upload("a", "12"))
        .await;
    assert!(
        refused["error"]["data"].get("params").is_none(),
        "{refused}"
    );
    strict
        .call("upload.offline_messages", upload("b", "79161234567"))
        .await;
    let repeated = strict
        .call("upload.offline_messages", upload("b", "79161234567"))
        .await;
    assert_eq!(repeated["error"]["data"]["mnemonic"], "duplicate_entity");

    let lenient = Process::spawn(&["--item-index", "--repeated-ext-id", "update"]);
    let refused = lenient
        .call("upload.offline_messages", upload("a", "12"))
        .await;
    assert_eq!(refused["error"]["data"]["params"]["index"], 0, "{refused}");
    let first = lenient
        .call("upload.offline_messages", upload("b", "79161234567"))
        .await;
    let repeated = lenient
        .call("upload.offline_messages", upload("b", "79161234567"))
        .await;
    assert_eq!(
        first["result"]["data"][0]["id"], repeated["result"]["data"][0]["id"],
        "{repeated}"
    );
}
