//! The table-driven contract test: one row per rule of docs/comagic-contract.md, each a request
//! that breaks exactly that rule (every other parameter valid) and the answer the reference pages
//! document for it. The rule ids of the table and of the document must be the same set.

mod general;
mod lists_tags;
mod sessions;
mod uploads;

use std::collections::BTreeSet;

use chrono::Utc;
use comagic_emulator::{AccountSeed, Component, EmulatorConfig, LimitsSeed};
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::common::{chat, message, moscow, session, with, Api, TOKEN};

/// The contract document, relative to this crate.
const CONTRACT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../docs/comagic-contract.md"
);

/// What is sent.
pub enum Request {
    /// A JSON-RPC call with `id` 7.
    Call { method: &'static str, params: Value },
    /// A body sent as is.
    Raw(String),
}

/// What must come back.
pub enum Expect {
    /// An error with this mnemonic (its code from general.txt's table) and `data.field`.
    Refused {
        mnemonic: &'static str,
        field: Option<&'static str>,
    },
    /// A result; with a JSON pointer, the value found there.
    Answers(Option<(&'static str, Value)>),
}

/// One row: the rule's id in docs/comagic-contract.md, the request, the expected answer.
pub struct Rule {
    pub id: &'static str,
    pub request: Request,
    pub expect: Expect,
}

/// Row constructors, so the tables read as one line per rule.
pub fn call(id: &'static str, method: &'static str, params: Value) -> RuleBuilder {
    RuleBuilder {
        id,
        request: Request::Call { method, params },
    }
}

pub fn raw(id: &'static str, body: impl Into<String>) -> RuleBuilder {
    RuleBuilder {
        id,
        request: Request::Raw(body.into()),
    }
}

pub struct RuleBuilder {
    id: &'static str,
    request: Request,
}

impl RuleBuilder {
    pub fn refused(self, mnemonic: &'static str, field: Option<&'static str>) -> Rule {
        self.expect(Expect::Refused { mnemonic, field })
    }

    pub fn answers(self) -> Rule {
        self.expect(Expect::Answers(None))
    }

    pub fn answers_with(self, pointer: &'static str, value: Value) -> Rule {
        self.expect(Expect::Answers(Some((pointer, value))))
    }

    fn expect(self, expect: Expect) -> Rule {
        Rule {
            id: self.id,
            request: self.request,
            expect,
        }
    }
}

/// The code general.txt's tables give each mnemonic.
fn code_of(mnemonic: &str) -> i64 {
    match mnemonic {
        "parse_error" => -32700,
        "invalid_request" => -32600,
        "method_not_found" => -32601,
        "access_token_invalid" | "access_token_expired" | "access_token_blocked" | "auth_error" => {
            -32001
        }
        "method_component_disabled" => -32008,
        "limit_exceeded" => -32029,
        "batch_opreations_not_supported" | "notifications_not_supported" => -32099,
        _ => -32602,
    }
}

/// What the rows refer to: things the setup created.
pub struct Ctx {
    /// A session uploaded on site 201 that started at `session_start` (Moscow), visitor 77.
    pub session_id: u64,
    pub session_start: String,
    /// A session on site 201 that started 200 days ago.
    pub old_session_id: u64,
    /// A `login.user` key that ran out.
    pub expired_login_key: String,
    /// The id of the stored offline message `stored-m`.
    pub stored_message_id: u64,
}

/// Offline-message upload params for the demo account.
pub fn offline(items: Vec<Value>) -> Value {
    json!({"access_token": TOKEN, "offline_messages": items})
}

/// Chat upload params for the demo account.
pub fn chats(items: Vec<Value>) -> Value {
    json!({"access_token": TOKEN, "chats": items})
}

/// Session upload params for the demo account.
pub fn sessions(items: Vec<Value>) -> Value {
    json!({"access_token": TOKEN, "sessions": items})
}

/// The emulator the table runs against: the three demo accounts plus accounts with a spent
/// minute, with no upload components, and permanent keys that expired or were blocked.
async fn contract_emulator() -> Api {
    let keyless = |name: &str, token: &str| AccountSeed {
        name: name.to_owned(),
        app_id: 91000,
        access_tokens: vec![SecretString::from(token.to_owned())],
        login: None,
        password: None,
        ..AccountSeed::demo()
    };
    let mut accounts = EmulatorConfig::default().accounts;
    accounts.push(AccountSeed {
        limits: LimitsSeed { minute: 0, day: 10 },
        ..keyless("spent", "spent-token")
    });
    accounts.push(AccountSeed {
        disabled_components: vec![Component::UploadOfflineMessages, Component::UploadSessions],
        ..keyless("no-uploads", "no-uploads-token")
    });
    accounts.push(AccountSeed {
        expired_access_tokens: vec![SecretString::from("expired-key")],
        blocked_access_tokens: vec![SecretString::from("blocked-key")],
        ..keyless("old-keys", "old-keys-token")
    });
    Api::start_with(EmulatorConfig {
        accounts,
        ..EmulatorConfig::default()
    })
    .await
}

async fn setup(api: &Api) -> Ctx {
    let session_start = moscow(30);
    let visit = with(
        with(
            session("contract-visit", 0),
            "date_time",
            json!(session_start),
        ),
        "visitor_id",
        json!(77),
    );
    let old_start = (Utc::now() - chrono::Duration::days(200))
        .with_timezone(&chrono_tz::Europe::Moscow)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let old = with(session("contract-old", 0), "date_time", json!(old_start));
    let uploaded = api.ok("upload.sessions", sessions(vec![visit, old])).await;
    let stored = api
        .ok(
            "upload.offline_messages",
            offline(vec![message("stored-m")]),
        )
        .await;
    api.ok("upload.chats", chats(vec![chat("stored-c")])).await;
    let login = api
        .ok(
            "login.user",
            json!({"login": "demo", "password": "demo-password"}),
        )
        .await;
    api.emu.expire_tokens();
    Ctx {
        session_id: uploaded["data"][0]["session_id"].as_u64().unwrap(),
        session_start,
        old_session_id: uploaded["data"][1]["session_id"].as_u64().unwrap(),
        stored_message_id: stored["data"][0]["id"].as_u64().unwrap(),
        expired_login_key: login["data"]["access_token"].as_str().unwrap().to_owned(),
    }
}

/// Rule ids (a capital letter and two digits) in the first column of the document's tables
/// (`| \`O06\` | …`).
fn documented_ids() -> BTreeSet<String> {
    let is_rule_id = |id: &str| {
        id.len() == 3
            && id.starts_with(|c: char| c.is_ascii_uppercase())
            && id[1..].bytes().all(|b| b.is_ascii_digit())
    };
    let text = std::fs::read_to_string(CONTRACT).unwrap();
    text.lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`'))
        .map(|(id, _)| id)
        .filter(|id| is_rule_id(id))
        .map(str::to_owned)
        .collect()
}

async fn check(api: &Api, rule: &Rule) -> Result<(), String> {
    let response = match &rule.request {
        Request::Call { method, params } => api.call(method, params.clone()).await,
        Request::Raw(body) => api.raw(body).await,
    };
    let error = &response["error"];
    match &rule.expect {
        Expect::Refused { mnemonic, field } => {
            let wanted_field = field.map_or(Value::Null, |f| json!(f));
            let data = &error["data"];
            let got = (&error["code"], &data["mnemonic"], &data["field"]);
            if got != (&json!(code_of(mnemonic)), &json!(mnemonic), &wanted_field) {
                return Err(format!("wanted {mnemonic} on {field:?}, got {response}"));
            }
            // general.txt documents no position of a refused item, and `params` only as the
            // substitutions of a templated message.
            let templated = ["limit_exceeded", "method_component_disabled"].contains(mnemonic);
            if data.get("params").is_some() != templated {
                return Err(format!(
                    "params where general.txt has none, or none where it has: {response}"
                ));
            }
        }
        Expect::Answers(pointer) => {
            if !error.is_null() {
                return Err(format!("wanted a result, got {response}"));
            }
            if let Some((pointer, value)) = pointer {
                if response["result"].pointer(pointer) != Some(value) {
                    return Err(format!("wanted {pointer} = {value}, got {response}"));
                }
            }
        }
    }
    Ok(())
}

/// Every rule of docs/comagic-contract.md, broken once each.
#[tokio::test]
async fn every_documented_rule_is_enforced() {
    let api = contract_emulator().await;
    let ctx = setup(&api).await;
    let rules: Vec<Rule> = [
        general::rules(&ctx),
        uploads::offline_message_rules(&ctx),
        uploads::chat_rules(&ctx),
        sessions::rules(&ctx),
        lists_tags::rules(&ctx),
    ]
    .into_iter()
    .flatten()
    .collect();
    let stored_before = api.emu.records().len();

    let mut failures = Vec::new();
    for rule in &rules {
        if let Err(failure) = check(&api, rule).await {
            failures.push(format!("{}: {failure}", rule.id));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    let tested: BTreeSet<String> = rules.iter().map(|r| r.id.to_owned()).collect();
    assert_eq!(tested.len(), rules.len(), "a rule id is used twice");
    assert_eq!(
        tested,
        documented_ids(),
        "the table and docs/comagic-contract.md list different rules"
    );
    // Only the rows that answer with a result may have stored anything (a session repeat stores
    // nothing new either).
    let answered = rules
        .iter()
        .filter(|r| matches!(r.expect, Expect::Answers(_)))
        .count();
    assert!(api.emu.records().len() <= stored_before + answered);
}
