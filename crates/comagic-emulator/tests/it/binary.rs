use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

/// The binary starts from a seed file, prints its URL and serves that account.
#[tokio::test]
async fn binary_serves_a_seed_file() {
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/seed.example.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_comagic-emulator"))
        .args(["--listen", "127.0.0.1:0", "--seed", seed])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first_line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first_line)
        .unwrap();
    let url = first_line.trim().to_owned();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/v2.0"),
        "{url}"
    );
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "get.account", "params": {"access_token": "flowers-token"}});
    let response: Value = reqwest::Client::new()
        .post(&url)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        response["result"]["data"][0]["timezone"],
        "Asia/Yekaterinburg"
    );
    assert_eq!(response["result"]["metadata"]["limits"]["day_limit"], 750);
}
