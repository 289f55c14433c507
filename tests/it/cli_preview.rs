//! `leadback-bridge preview --tenant ID --body FILE [--content-type T]` on a SQLite data folder:
//! the tenant's field map applies, the access token never appears, a missing file or tenant
//! fails with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::process::Output;

use crate::support::process::{bare_command, stdout_json};

const SETTINGS: &str = r#"{
  "name": "Preview shop",
  "comagic": {"api_url": "http://127.0.0.1:9/v2.0", "access_token": "cli-preview-secret-token"},
  "default_entity": "campaign", "default_campaign_id": 101, "chat_employee_id": 501
}"#;

fn run(dir: &std::path::Path, args: &[&str]) -> Output {
    bare_command(&dir.join("data"), "warn")
        .args(args)
        .output()
        .expect("binary runs")
}

#[tokio::test]
async fn preview_prints_the_calls_with_the_field_map() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    stdout_json(&run(root, &["migrate"]));
    let settings = root.join("tenant.json");
    std::fs::write(&settings, SETTINGS).unwrap();
    let created = stdout_json(&run(
        root,
        &[
            "tenants",
            "create",
            "--settings",
            settings.to_str().unwrap(),
        ],
    ));
    let tenant = created["id"].as_str().unwrap().to_owned();
    let body = root.join("body.txt");
    std::fs::write(&body, "event=callback&id=cli-1&lead%5Bphone%5D=89161112233").unwrap();
    let args = [
        "preview",
        "--tenant",
        &tenant,
        "--body",
        body.to_str().unwrap(),
        "--content-type",
        "application/x-www-form-urlencoded",
    ];

    let unmapped = run(root, &args);
    assert!(!String::from_utf8_lossy(&unmapped.stdout).contains("cli-preview-secret-token"));
    let unmapped = stdout_json(&unmapped);
    assert_eq!(unmapped["mappable"], false, "{unmapped}");

    // Teach the phone's path through the store, as the admin API does.
    let data = root.join("data");
    let key = std::fs::read_to_string(data.join("secret.key")).unwrap();
    let store = bridge_store::open(
        &format!("sqlite://{}", data.join("bridge.db").display()),
        bridge_store::SecretKey::parse(key.trim()).unwrap(),
    )
    .await
    .unwrap();
    let map =
        leadback_model::FieldMap::from_json(&serde_json::json!({"phone": ["lead.phone"]})).unwrap();
    store
        .set_field_map(tenant.parse().unwrap(), &map)
        .await
        .unwrap();

    let mapped = stdout_json(&run(root, &args));
    assert_eq!(mapped["mappable"], true, "{mapped}");
    assert_eq!(mapped["calls"][0]["method"], "upload.offline_messages");
    assert_eq!(
        mapped["calls"][0]["params"]["offline_messages"][0]["phone"],
        "79161112233"
    );

    let missing = run(
        root,
        &[
            "preview",
            "--tenant",
            &tenant,
            "--body",
            "/nonexistent/body",
        ],
    );
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read"));
    let unknown = run(
        root,
        &[
            "preview",
            "--tenant",
            "00000000-0000-0000-0000-000000000000",
            "--body",
            body.to_str().unwrap(),
        ],
    );
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no tenant"));
}
