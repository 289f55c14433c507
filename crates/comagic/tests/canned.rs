//! The client against a tiny scripted JSON-RPC server: exact envelope, headers, ids, limits,
//! login/refresh and every error class, with CoMagic's documented shapes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use comagic_client::comagic::{
    Attribution, Chat, ChatMessage, ChatStatus, MessageSource, OfflineMessage,
};
use comagic_client::{ClientOptions, ComagicClient, ComagicError, ErrorClass, TransportKind};
use leadback_model::{ComagicAuth, ComagicCredentials};
use secrecy::SecretString;
use serde_json::{json, Value};

/// What the scripted server saw.
#[derive(Debug, Clone)]
struct Seen {
    content_type: Option<String>,
    body: Value,
}

type Script = dyn Fn(&Value, usize) -> Response + Send + Sync;

#[derive(Clone)]
struct Server {
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Script>,
}

async fn handle(State(server): State<Server>, headers: HeaderMap, body: String) -> Response {
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let index = {
        let mut seen = server.seen.lock().unwrap();
        seen.push(Seen {
            content_type: headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body: body.clone(),
        });
        seen.len() - 1
    };
    (server.script)(&body, index)
}

/// Starts a server answering `POST /v2.0` with `script(request, call_index)`.
async fn canned(
    script: impl Fn(&Value, usize) -> Response + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let state = Server {
        seen: seen.clone(),
        script: Arc::new(script),
    };
    let app = Router::new().route("/v2.0", post(handle)).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}/v2.0"), seen)
}

fn ok(request: &Value, result: Value) -> Response {
    axum::Json(json!({"jsonrpc": "2.0", "id": request["id"], "result": result})).into_response()
}

fn rpc_error(request: &Value, code: i64, data: Value) -> Response {
    axum::Json(json!({"jsonrpc": "2.0", "id": request["id"],
        "error": {"code": code, "message": "error text", "data": data}}))
    .into_response()
}

fn limits(minute_remaining: i64) -> Value {
    json!({"day_limit": 3000, "day_remaining": 2990, "day_reset": 40000,
        "minute_limit": 60, "minute_remaining": minute_remaining, "minute_reset": 42})
}

const TOKEN: &str = "secret-access-token-123";

fn token_client(url: &str) -> ComagicClient {
    token_client_with(url, ClientOptions::default())
}

/// A token client that reads lists two rows a page.
fn two_a_page(url: &str) -> ComagicClient {
    let options = ClientOptions {
        page_limit: 2,
        ..ClientOptions::default()
    };
    token_client_with(url, options)
}

fn token_client_with(url: &str, options: ClientOptions) -> ComagicClient {
    ComagicClient::new(
        ComagicCredentials {
            api_url: url.to_owned(),
            auth: ComagicAuth::AccessToken {
                access_token: SecretString::from(TOKEN),
            },
        },
        comagic_client::Transport::with_policy(comagic_client::AddressPolicy::ALLOW_PRIVATE)
            .unwrap(),
        options,
    )
    .unwrap()
}

fn login_client(url: &str) -> ComagicClient {
    ComagicClient::new(
        ComagicCredentials {
            api_url: url.to_owned(),
            auth: ComagicAuth::Login {
                login: "manager-login".to_owned(),
                password: SecretString::from("hunter2-password"),
            },
        },
        comagic_client::Transport::with_policy(comagic_client::AddressPolicy::ALLOW_PRIVATE)
            .unwrap(),
        ClientOptions::default(),
    )
    .unwrap()
}

fn message(ext_id: &str) -> OfflineMessage {
    OfflineMessage {
        date_time: "2024-05-01 10:00:00".to_owned(),
        phone: Some("79161234567".to_owned()),
        attribution: Attribution {
            campaign_id: Some(101),
            ..Attribution::default()
        },
        ext_id: Some(ext_id.to_owned()),
        ..OfflineMessage::default()
    }
}

/// The error of an upload answered with `script`.
async fn upload_error(
    script: impl Fn(&Value, usize) -> Response + Send + Sync + 'static,
) -> ComagicError {
    let (url, _) = canned(script).await;
    token_client(&url)
        .upload_offline_messages(&[message("evt-1")])
        .await
        .unwrap_err()
}

/// The error of an upload that CoMagic refuses with `code` and `data`.
async fn refused_upload(code: i64, data: Value) -> ComagicError {
    upload_error(move |req, _| rpc_error(req, code, data.clone())).await
}

fn assert_no_secrets(error: &ComagicError) {
    let text = format!("{error} {error:?}");
    for secret in [TOKEN, "hunter2-password", "manager-login"] {
        assert!(!text.contains(secret), "{secret} leaked in {text}");
    }
}

#[tokio::test]
async fn envelope_headers_ids_and_limits() {
    let (url, seen) = canned(|req, i| {
        ok(
            req,
            json!({"data": [{"id": 1000 + i}], "metadata": {"limits": limits(59 - i as i64)}}),
        )
    })
    .await;
    let client = token_client(&url);
    let first = client
        .upload_offline_messages(&[message("evt-1")])
        .await
        .unwrap();
    assert_eq!(first.value, vec![1000]);
    let limits = first.limits.unwrap();
    assert_eq!(limits.minute_remaining, Some(59));
    assert_eq!(limits.minute_reset, Some(42));
    assert_eq!(limits.day_limit, Some(3000));
    assert_eq!(limits.day_remaining, Some(2990));

    let chat = Chat {
        start_date_time: "2024-05-01 10:00:00".to_owned(),
        name: None,
        phone: None,
        email: None,
        status: ChatStatus::Succeed,
        initiator: None,
        attribution: Attribution {
            site_id: Some(201),
            ..Attribution::default()
        },
        messages: vec![ChatMessage {
            date_time: "2024-05-01 10:00:05".to_owned(),
            source: MessageSource::Visitor,
            employee_id: None,
            message: "hi".to_owned(),
        }],
        ext_id: Some("chat-1".to_owned()),
    };
    let second = client.clone().upload_chats(&[chat]).await.unwrap();
    assert_eq!(second.value, vec![1001]);
    assert_eq!(second.limits.unwrap().minute_remaining, Some(58));

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    for s in &seen {
        assert_eq!(
            s.content_type.as_deref(),
            Some("application/json; charset=UTF-8")
        );
        assert_eq!(s.body["jsonrpc"], "2.0");
        assert_eq!(s.body["params"]["access_token"], TOKEN);
    }
    assert_eq!(seen[0].body["method"], "upload.offline_messages");
    let sent = &seen[0].body["params"]["offline_messages"][0];
    assert_eq!(
        sent,
        &json!({"date_time": "2024-05-01 10:00:00", "phone": "79161234567",
            "campaign_id": 101, "ext_id": "evt-1"}),
        "absent options must not be sent"
    );
    assert_eq!(seen[1].body["method"], "upload.chats");
    assert_eq!(seen[1].body["params"]["chats"][0]["status"], "succeed");
    assert_eq!(
        seen[1].body["params"]["chats"][0]["messages"][0]["source"],
        "visitor"
    );
    let id0 = seen[0].body["id"].as_i64().unwrap();
    let id1 = seen[1].body["id"].as_i64().unwrap();
    assert!(id1 > id0, "request ids must increase: {id0} then {id1}");
}

#[tokio::test]
async fn http_5xx_is_retryable_with_retry_after() {
    let error = upload_error(|_, _| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [("retry-after", "7")],
            "<html>down</html>",
        )
            .into_response()
    })
    .await;
    assert!(matches!(
        error,
        ComagicError::HttpStatus { status: 503, .. }
    ));
    assert_eq!(
        error.class(),
        ErrorClass::Retryable {
            retry_after: Some(Duration::from_secs(7))
        }
    );
    let error = upload_error(|_, _| StatusCode::BAD_GATEWAY.into_response()).await;
    assert_eq!(error.class(), ErrorClass::Retryable { retry_after: None });
}

#[tokio::test]
async fn http_404_without_rpc_body_is_a_tenant_problem() {
    let error = upload_error(|_, _| StatusCode::NOT_FOUND.into_response()).await;
    assert_eq!(error.class(), ErrorClass::TenantPermanent);
}

#[tokio::test]
async fn rpc_error_with_http_error_status_is_still_read() {
    let error = upload_error(|req, _| {
        let mut response = rpc_error(req, -32003, json!({"mnemonic": "ip_not_whitelisted"}));
        *response.status_mut() = StatusCode::FORBIDDEN;
        response
    })
    .await;
    assert_eq!(error.mnemonic(), Some("ip_not_whitelisted"));
    assert_eq!(error.class(), ErrorClass::TenantPermanent);
}

#[tokio::test]
async fn timeout_is_retryable() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v2.0", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let client = token_client_with(
        &url,
        ClientOptions {
            timeout: Duration::from_millis(200),
            ..ClientOptions::default()
        },
    );
    let started = std::time::Instant::now();
    let error = client
        .upload_offline_messages(&[message("evt-1")])
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(1200));
    assert_eq!(
        error.transport_kind(),
        Some(TransportKind::Timeout),
        "{error:?}"
    );
    assert_eq!(error.class(), ErrorClass::Retryable { retry_after: None });
}

#[tokio::test]
async fn connection_refused_is_retryable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = token_client(&format!("http://{addr}/v2.0"));
    let error = client.get_tags().await.unwrap_err();
    assert!(
        matches!(
            error,
            ComagicError::Transport {
                kind: TransportKind::Connect,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.class(), ErrorClass::Retryable { retry_after: None });
    assert_eq!(error.method(), Some("get.tags"));
}

#[tokio::test]
async fn invalid_json_and_internal_errors_are_retryable() {
    let error = upload_error(|_, _| "{not json".into_response()).await;
    assert!(matches!(error, ComagicError::InvalidResponse { .. }));
    assert_eq!(error.class(), ErrorClass::Retryable { retry_after: None });

    let error =
        upload_error(|req, _| rpc_error(req, -32603, json!({"mnemonic": "internal_error"}))).await;
    assert_eq!(error.code(), Some(-32603));
    assert_eq!(error.class(), ErrorClass::Retryable { retry_after: None });

    let error =
        upload_error(|req, _| rpc_error(req, -32700, json!({"mnemonic": "parse_error"}))).await;
    assert_eq!(error.class(), ErrorClass::Retryable { retry_after: None });
}

#[tokio::test]
async fn limit_exceeded_waits_for_the_right_reset() {
    let minute = refused_upload(
        -32029,
        json!({"mnemonic": "limit_exceeded", "params": {"limit_type": "minute"},
                "metadata": {"limits": {"day_limit": 3000, "day_remaining": 100, "day_reset": 50000,
                    "minute_limit": 60, "minute_remaining": 0, "minute_reset": 17}}}),
    )
    .await;
    assert_eq!(
        minute.class(),
        ErrorClass::RateLimited {
            retry_after: Duration::from_secs(17)
        }
    );
    assert_eq!(minute.limits().unwrap().minute_remaining, Some(0));

    let day = refused_upload(
        -32029,
        json!({"mnemonic": "limit_exceeded",
                "metadata": {"limits": {"day_remaining": 0, "day_reset": 5000,
                    "minute_remaining": 10, "minute_reset": 17}}}),
    )
    .await;
    assert_eq!(
        day.class(),
        ErrorClass::RateLimited {
            retry_after: Duration::from_secs(5000)
        }
    );

    let unknown =
        upload_error(|req, _| rpc_error(req, -32029, json!({"mnemonic": "limit_exceeded"}))).await;
    assert_eq!(
        unknown.class(),
        ErrorClass::RateLimited {
            retry_after: Duration::from_secs(60)
        }
    );
}

#[tokio::test]
async fn tenant_permanent_errors() {
    for (code, mnemonic) in [
        (-32001, "access_token_expired"),
        (-32001, "access_token_invalid"),
        (-32001, "access_token_blocked"),
        (-32003, "ip_not_whitelisted"),
        (-32003, "forbidden"),
        (-32008, "method_component_disabled"),
        (-32008, "parameter_component_disabled"),
        (-32009, "account_inactive"),
    ] {
        // CoMagic echoes what it was sent; the token must not survive into the error.
        let error = upload_error(move |req, _| {
            rpc_error(
                req,
                code,
                json!({"mnemonic": mnemonic, "field": "access_token", "value": TOKEN,
                    "params": {"access_token": TOKEN, "ip": "10.0.0.1", "note": format!("token {TOKEN}")}}),
            )
        })
        .await;
        assert_eq!(error.class(), ErrorClass::TenantPermanent, "{mnemonic}");
        assert_eq!(error.mnemonic(), Some(mnemonic));
        assert_eq!(error.code(), Some(code));
        assert_no_secrets(&error);
        if let ComagicError::Rpc(rpc) = &error {
            assert_eq!(rpc.value, None);
            assert_eq!(
                rpc.params,
                Some(json!({"ip": "10.0.0.1", "note": "token ***"}))
            );
        } else {
            panic!("not an RPC error: {error:?}");
        }
    }
}

#[tokio::test]
async fn event_errors_session_rejection_and_duplicates() {
    let error = refused_upload(-32602, json!({"mnemonic": "invalid_parameter_value", "field": "offline_messages.0.phone", "value": "12"})).await;
    assert_eq!(error.class(), ErrorClass::EventPermanent);
    assert_eq!(error.field(), Some("offline_messages.0.phone"));

    for mnemonic in [
        "invalid_parameter_value",
        "entity_not_found",
        "invalid_parameters_combination",
    ] {
        let error = refused_upload(
            -32602,
            json!({"mnemonic": mnemonic, "field": "visitor_session_id", "value": 123}),
        )
        .await;
        assert_eq!(error.class(), ErrorClass::SessionRejected, "{mnemonic}");
    }
    // Not sending any of session/campaign/site is our mapping's bug, not a stale session.
    let missing = refused_upload(
        -32602,
        json!({"mnemonic": "required_parameter_missed", "field": "visitor_session_id"}),
    )
    .await;
    assert_eq!(missing.class(), ErrorClass::EventPermanent);

    let duplicate = refused_upload(-32602, json!({"mnemonic": "duplicate_entity", "field": "ext_id", "value": "evt-1", "params": {"id": 77}})).await;
    assert_eq!(duplicate.class(), ErrorClass::AlreadyDelivered);
    assert_eq!(duplicate.duplicate_ext_id(), Some("evt-1"));

    // A duplicate of something that is not our ext_id is a real refusal.
    let other = refused_upload(
        -32602,
        json!({"mnemonic": "duplicate_entity", "field": "name", "value": "x"}),
    )
    .await;
    assert_eq!(other.class(), ErrorClass::EventPermanent);
}

#[tokio::test]
async fn login_token_is_cached_and_refreshed_once_on_expiry() {
    let (url, seen) = canned(|req, _| match req["method"].as_str() {
        Some("login.user") => {
            // The docs' sample spells the expiry `expire` and nests the token in `data`.
            let n = req["id"].as_i64().unwrap();
            ok(
                req,
                json!({"data": {"access_token": format!("session-{n}"), "expire": 4102444800u64, "app_id": 9}}),
            )
        }
        _ if req["params"]["access_token"] == "session-1" => rpc_error(
            req,
            -32001,
            json!({"mnemonic": "access_token_expired"}),
        ),
        _ => ok(req, json!({"data": [{"id": 1, "name": "Leadback"}]})),
    })
    .await;
    let client = login_client(&url);
    let tags = client.get_tags().await.unwrap();
    assert_eq!(tags.value.len(), 1);
    assert_eq!(tags.value[0].name, "Leadback");
    // Cached: no new login.
    client.clone().get_tags().await.unwrap();

    let seen = seen.lock().unwrap().clone();
    let methods: Vec<_> = seen
        .iter()
        .map(|s| {
            (
                s.body["method"].as_str().unwrap().to_owned(),
                s.body["params"]["access_token"].as_str().map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(
        methods,
        vec![
            ("login.user".to_owned(), None),
            ("get.tags".to_owned(), Some("session-1".to_owned())),
            ("login.user".to_owned(), None),
            ("get.tags".to_owned(), Some("session-3".to_owned())),
            ("get.tags".to_owned(), Some("session-3".to_owned())),
        ]
    );
    assert_eq!(seen[0].body["params"]["login"], "manager-login");
    assert_eq!(seen[0].body["params"]["password"], "hunter2-password");
}

#[tokio::test]
async fn login_expiry_field_expire_at_is_honoured() {
    let (url, seen) = canned(|req, _| match req["method"].as_str() {
        // Already within the refresh margin: every call needs a fresh login.
        Some("login.user") => {
            let soon = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                + 30;
            ok(
                req,
                json!({"data": {"access_token": "t", "expire_at": soon, "app_id": 9}}),
            )
        }
        _ => ok(req, json!({"data": []})),
    })
    .await;
    let client = login_client(&url);
    client.get_sites().await.unwrap();
    client.get_sites().await.unwrap();
    let logins = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.body["method"] == "login.user")
        .count();
    assert_eq!(logins, 2);
}

#[tokio::test]
async fn expired_again_after_relogin_is_retryable_not_looping() {
    let (url, seen) = canned(|req, _| match req["method"].as_str() {
        Some("login.user") => ok(
            req,
            json!({"data": {"access_token": "t", "expire_at": 4102444800u64}}),
        ),
        _ => rpc_error(req, -32001, json!({"mnemonic": "access_token_expired"})),
    })
    .await;
    let error = login_client(&url).get_tags().await.unwrap_err();
    assert_eq!(error.class(), ErrorClass::Retryable { retry_after: None });
    assert_eq!(seen.lock().unwrap().len(), 4, "login, call, login, call");
}

#[tokio::test]
async fn wrong_login_is_tenant_permanent_without_secrets() {
    let error = {
        let (url, _) = canned(|req, _| {
            rpc_error(
                req,
                -32001,
                json!({"mnemonic": "auth_error", "value": "manager-login",
                    "params": {"login": "manager-login", "password": "hunter2-password"}}),
            )
        })
        .await;
        login_client(&url).get_account().await.unwrap_err()
    };
    assert_eq!(error.class(), ErrorClass::TenantPermanent);
    assert_eq!(error.mnemonic(), Some("auth_error"));
    assert_eq!(error.method(), Some("login.user"));
    assert_no_secrets(&error);
}

#[tokio::test]
async fn paging_reads_every_page() {
    let all: Vec<Value> = (1..=5)
        .map(|i| json!({"id": i, "name": format!("c{i}"), "status": "active", "unknown_column": [1]}))
        .collect();
    let (url, seen) = canned(move |req, _| {
        let offset = req["params"]["offset"].as_u64().unwrap() as usize;
        let limit = req["params"]["limit"].as_u64().unwrap() as usize;
        let page: Vec<Value> = all.iter().skip(offset).take(limit).cloned().collect();
        ok(
            req,
            json!({"data": page, "metadata": {"total_items": 5, "limits": limits(50)}}),
        )
    })
    .await;
    let client = two_a_page(&url);
    let campaigns = client.get_campaigns().await.unwrap();
    let ids: Vec<i64> = campaigns.value.iter().map(|c| c.id).collect();
    assert_eq!(ids, vec![1, 2, 3, 4, 5]);
    assert_eq!(campaigns.value[4].name, "c5");
    assert!(campaigns.limits.is_some());
    let offsets: Vec<u64> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.body["params"]["offset"].as_u64().unwrap())
        .collect();
    assert_eq!(offsets, vec![0, 2, 4]);
}

#[tokio::test]
async fn paging_stops_at_total_items_on_a_full_page() {
    let (url, seen) = canned(|req, _| {
        ok(
            req,
            json!({"data": [{"id": 1, "full_name": null}, {"id": 2, "full_name": "B"}], "meta_data": {"total_items": 2}}),
        )
    })
    .await;
    let client = two_a_page(&url);
    let employees = client.get_employees().await.unwrap();
    assert_eq!(employees.value.len(), 2);
    assert_eq!(employees.value[0].full_name, "");
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn account_and_batch_guards() {
    let (url, seen) = canned(|req, _| {
        ok(
            req,
            json!({"meta_data": {}, "data": [{"app_id": 5, "name": "Shop", "timezone": "Asia/Yekaterinburg"}]}),
        )
    })
    .await;
    let client = token_client(&url);
    let account = client.get_account().await.unwrap();
    assert_eq!(
        account.value.timezone.as_deref(),
        Some("Asia/Yekaterinburg")
    );
    assert_eq!(account.value.app_id, Some(5));
    // get.account takes no paging parameters.
    assert_eq!(
        seen.lock().unwrap()[0].body["params"],
        json!({"access_token": TOKEN})
    );

    let too_many: Vec<OfflineMessage> = (0..51).map(|i| message(&format!("e{i}"))).collect();
    let error = client.upload_offline_messages(&too_many).await.unwrap_err();
    assert_eq!(error.class(), ErrorClass::EventPermanent);
    let empty = client.upload_offline_messages(&[]).await.unwrap();
    assert!(empty.value.is_empty());
    assert_eq!(seen.lock().unwrap().len(), 1, "guards make no call");
}

#[tokio::test]
async fn generic_call_and_bad_url() {
    let (url, seen) = canned(|req, _| ok(req, json!({"echo": req["params"]["x"]}))).await;
    let client = token_client(&url);
    let called: comagic_client::Called<Value> = client
        .call("get.something", &json!({"x": 5}))
        .await
        .unwrap();
    assert_eq!(called.value, json!({"echo": 5}));
    assert_eq!(called.limits, None);
    assert_eq!(seen.lock().unwrap()[0].body["method"], "get.something");

    let bad = ComagicClient::new(
        ComagicCredentials {
            api_url: "ftp://x".to_owned(),
            auth: ComagicAuth::AccessToken {
                access_token: SecretString::from("t"),
            },
        },
        comagic_client::Transport::with_policy(comagic_client::AddressPolicy::ALLOW_PRIVATE)
            .unwrap(),
        ClientOptions::default(),
    );
    assert!(matches!(bad, Err(ComagicError::Config(_))));
}
