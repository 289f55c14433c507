//! The client against the CoMagic emulator (`comagic_emulator`): real uploads, validation
//! errors, limits, login expiry and injected transport faults.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::time::Duration;

use comagic_client::comagic::{
    Attribution, Chat, ChatInitiator, ChatMessage, ChatStatus, CommunicationTagItem,
    CommunicationType, MessageSource, OfflineMessage, SetTagCommunicationsParams, UploadSession,
};
use comagic_client::{
    Called, ClientOptions, ComagicClient, ComagicError, ErrorClass, TransportKind,
};
use comagic_emulator::{AccountSeed, Component, Emulator, EmulatorConfig, Fault, RunningEmulator};
use leadback_model::{ComagicAuth, ComagicCredentials};
use secrecy::SecretString;

async fn emulator() -> RunningEmulator {
    Emulator::start(EmulatorConfig::default()).await.unwrap()
}

fn client_with(emu: &RunningEmulator, auth: ComagicAuth, options: ClientOptions) -> ComagicClient {
    ComagicClient::new(
        ComagicCredentials {
            api_url: emu.api_url(),
            auth,
        },
        comagic_client::Transport::with_policy(comagic_client::AddressPolicy::ALLOW_PRIVATE)
            .unwrap(),
        options,
    )
    .unwrap()
}

fn token(value: &str) -> ComagicAuth {
    ComagicAuth::AccessToken {
        access_token: SecretString::from(value),
    }
}

fn demo(emu: &RunningEmulator) -> ComagicClient {
    demo_with(emu, ClientOptions::default())
}

fn demo_with(emu: &RunningEmulator, options: ClientOptions) -> ComagicClient {
    client_with(emu, token("demo-token"), options)
}

/// A minute-old Moscow wall-clock time (UTC is three hours behind it, so UTC-now is past there).
fn recently() -> String {
    (chrono::Utc::now() - chrono::Duration::minutes(5))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn message(ext_id: &str) -> OfflineMessage {
    OfflineMessage {
        date_time: recently(),
        name: Some("Мария".to_owned()),
        phone: Some("79161234567".to_owned()),
        message: Some("Перезвоните".to_owned()),
        attribution: Attribution {
            campaign_id: Some(101),
            ..Attribution::default()
        },
        form_name: Some("Leadback".to_owned()),
        ext_id: Some(ext_id.to_owned()),
        ..OfflineMessage::default()
    }
}

/// Tag the offline message `evt-1` with `tag_id`.
async fn tag_evt_1(client: &ComagicClient, tag_id: i64) -> Result<Called<()>, ComagicError> {
    let params =
        SetTagCommunicationsParams::by_ext_id("evt-1", CommunicationType::OfflineMessage, tag_id);
    client.set_tag_communications(&params).await
}

#[tokio::test]
async fn upload_offline_message_duplicate_and_tags() {
    let emu = emulator().await;
    let client = demo(&emu);
    let uploaded = client
        .upload_offline_messages(&[message("evt-1"), message("evt-2")])
        .await
        .unwrap();
    assert_eq!(uploaded.value.len(), 2);
    let limits = uploaded.limits.expect("the emulator reports limits");
    assert!(limits.minute_remaining.is_some() && limits.day_remaining.is_some());

    let records = emu.records();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].ext_id.as_deref(), Some("evt-1"));
    assert_eq!(records[0].id as i64, uploaded.value[0]);
    assert_eq!(records[0].payload["phone"], "79161234567");

    // The same event again: CoMagic already has it.
    let error = client
        .upload_offline_messages(&[message("evt-2")])
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::AlreadyDelivered, "{error:?}");
    assert_eq!(error.duplicate_ext_id(), Some("evt-2"));

    tag_evt_1(&client, 401).await.unwrap();
    client
        .set_communications_tags(&[CommunicationTagItem {
            tag_id: 402,
            communication_id: Some(uploaded.value[1]),
            communication_ext_id: None,
            communication_type: CommunicationType::OfflineMessage,
        }])
        .await
        .unwrap();
    let records = emu.records();
    assert_eq!(records[0].tags, vec![401]);
    assert_eq!(records[1].tags, vec![402]);

    // An unknown tag comes from the tenant's settings (its tag list), not from the event.
    let error = tag_evt_1(&client, 999_999).await.unwrap_err();
    assert_eq!(error.class(), ErrorClass::TenantPermanent);
}

#[tokio::test]
async fn unknown_session_is_rejected_then_default_works() {
    let emu = emulator().await;
    let client = demo(&emu);
    let with_session = OfflineMessage {
        attribution: Attribution {
            visitor_session_id: Some(123_456),
            ..Attribution::default()
        },
        ..message("evt-s")
    };
    let error = client
        .upload_offline_messages(std::slice::from_ref(&with_session))
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::SessionRejected, "{error:?}");
    let fallback = OfflineMessage {
        attribution: Attribution {
            campaign_id: Some(101),
            ..Attribution::default()
        },
        ..with_session
    };
    client.upload_offline_messages(&[fallback]).await.unwrap();
    assert_eq!(emu.records().len(), 1);
}

#[tokio::test]
async fn invalid_values_are_event_permanent() {
    let emu = emulator().await;
    let client = demo(&emu);
    let bad_phone = OfflineMessage {
        phone: Some("not-a-phone".to_owned()),
        ..message("evt-bad")
    };
    let error = client
        .upload_offline_messages(&[bad_phone])
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::EventPermanent, "{error:?}");
    assert_eq!(error.code(), Some(-32602));
    assert!(emu.records().is_empty());

    // campaign -1 is forbidden for chats.
    let chat = Chat {
        attribution: Attribution {
            campaign_id: Some(-1),
            ..chat("chat-bad").attribution
        },
        ..chat("chat-bad")
    };
    let error = client.upload_chats(&[chat]).await.unwrap_err();
    assert_eq!(error.class(), ErrorClass::EventPermanent, "{error:?}");
    assert_eq!(error.mnemonic(), Some("invalid_parameter_value"));
}

fn chat(ext_id: &str) -> Chat {
    let start = chrono::Utc::now() - chrono::Duration::minutes(10);
    let at = |minutes: i64| {
        (start + chrono::Duration::minutes(minutes))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    Chat {
        start_date_time: at(0),
        name: Some("Олег".to_owned()),
        phone: Some("79161234567".to_owned()),
        email: None,
        status: ChatStatus::Succeed,
        initiator: Some(ChatInitiator::Visitor),
        attribution: Attribution {
            site_id: Some(201),
            ..Attribution::default()
        },
        messages: vec![
            ChatMessage {
                date_time: at(1),
                source: MessageSource::Visitor,
                employee_id: None,
                message: "Здравствуйте".to_owned(),
            },
            ChatMessage {
                date_time: at(2),
                source: MessageSource::Operator,
                employee_id: Some(501),
                message: "Добрый день".to_owned(),
            },
        ],
        ext_id: Some(ext_id.to_owned()),
    }
}

#[tokio::test]
async fn chats_and_sessions() {
    let emu = emulator().await;
    let client = demo(&emu);
    let ids = client.upload_chats(&[chat("chat-1")]).await.unwrap();
    assert_eq!(ids.value.len(), 1);

    let mut session = UploadSession::new("visit-1", 201, recently(), true, "62.173.141.6");
    session.utm_source = Some("yandex".to_owned());
    session.entrance_page_url = Some("https://shop.example.ru/".to_owned());
    let sessions = client.upload_sessions(&[session]).await.unwrap();
    assert_eq!(sessions.value.len(), 1);
    assert_eq!(sessions.value[0].ext_id, "visit-1");
    assert!(sessions.value[0].session_id > 0);
}

#[tokio::test]
async fn lists_page_through_everything() {
    let emu = emulator().await;
    let one_a_page = ClientOptions {
        page_limit: 1,
        ..ClientOptions::default()
    };
    let client = demo_with(&emu, one_a_page);
    let campaigns = client.get_campaigns().await.unwrap();
    let mut ids: Vec<i64> = campaigns.value.iter().map(|c| c.id).collect();
    ids.sort();
    assert_eq!(ids, vec![-1, 101, 102, 103]);
    let pages = emu
        .calls()
        .iter()
        .filter(|c| c.method == "get.campaigns")
        .count();
    assert!(pages >= 4, "one item per page: {pages} calls");

    let sites = client.get_sites().await.unwrap().value;
    assert!(sites.iter().any(|s| s.domain_name == "shop.example.ru"));
    let sources = client.get_sources().await.unwrap().value;
    assert!(sources.iter().any(|s| s.id == 301 && s.name == "Leadback"));
    let tags = client.get_tags().await.unwrap().value;
    assert_eq!(tags.len(), 2);
    let employees = client.get_employees().await.unwrap().value;
    assert!(employees
        .iter()
        .any(|e| e.id == 501 && !e.full_name.is_empty()));
    let account = client.get_account().await.unwrap();
    assert_eq!(account.value.timezone.as_deref(), Some("Europe/Moscow"));
    assert!(account.limits.is_some());
}

#[tokio::test]
async fn login_refreshes_after_expiry() {
    let emu = emulator().await;
    let client = client_with(
        &emu,
        ComagicAuth::Login {
            login: "demo".to_owned(),
            password: SecretString::from("demo-password"),
        },
        ClientOptions::default(),
    );
    client.get_tags().await.unwrap();
    client.get_tags().await.unwrap();
    emu.expire_tokens();
    client.get_tags().await.unwrap();
    let methods: Vec<(String, String)> = emu
        .calls()
        .into_iter()
        .map(|c| (c.method, c.outcome))
        .collect();
    let logins = methods.iter().filter(|(m, _)| m == "login.user").count();
    assert_eq!(logins, 2, "{methods:?}");
    assert!(methods
        .iter()
        .any(|(m, o)| m == "get.tags" && o == "access_token_invalid"));

    let wrong = client_with(
        &emu,
        ComagicAuth::Login {
            login: "demo".to_owned(),
            password: SecretString::from("wrong-password"),
        },
        ClientOptions::default(),
    );
    let error = wrong.get_tags().await.unwrap_err();
    assert_eq!(error.class(), ErrorClass::TenantPermanent);
    assert_eq!(error.mnemonic(), Some("auth_error"));
    assert!(!format!("{error:?}").contains("wrong-password"));
}

#[tokio::test]
async fn expired_plain_token_and_invalid_token_are_tenant_permanent() {
    let emu = emulator().await;
    emu.inject(Fault::RpcError {
        code: -32001,
        mnemonic: "access_token_expired".to_owned(),
        message: "Access token has been expired".to_owned(),
        count: 1,
        method: None,
    });
    let error = demo(&emu).get_tags().await.unwrap_err();
    assert_eq!(error.class(), ErrorClass::TenantPermanent);

    let error = client_with(&emu, token("no-such-token"), ClientOptions::default())
        .get_tags()
        .await
        .unwrap_err();
    assert_eq!(error.mnemonic(), Some("access_token_invalid"));
    assert_eq!(error.class(), ErrorClass::TenantPermanent);
    assert!(!format!("{error:?}").contains("no-such-token"));
}

#[tokio::test]
async fn missing_component_is_tenant_permanent() {
    let mut seed = AccountSeed::demo();
    seed.disabled_components = vec![Component::UploadSessions];
    let emu = Emulator::start(EmulatorConfig::with_accounts(vec![seed]))
        .await
        .unwrap();
    let session = UploadSession::new("visit-1", 201, recently(), true, "62.173.141.6");
    let error = demo(&emu).upload_sessions(&[session]).await.unwrap_err();
    assert_eq!(error.mnemonic(), Some("method_component_disabled"));
    assert_eq!(error.class(), ErrorClass::TenantPermanent);
}

#[tokio::test]
async fn spent_points_are_rate_limited_with_the_reset() {
    let emu = emulator().await;
    assert!(emu.set_limits("demo-token", 1, 1000));
    let client = demo(&emu);
    let first = client.get_tags().await.unwrap();
    assert_eq!(first.limits.unwrap().minute_remaining, Some(0));
    let error = client.get_tags().await.unwrap_err();
    assert_eq!(error.mnemonic(), Some("limit_exceeded"));
    match error.class() {
        ErrorClass::RateLimited { retry_after } => {
            assert!(retry_after >= Duration::from_secs(1) && retry_after <= Duration::from_secs(60))
        }
        other => panic!("{other:?}"),
    }
    // The day window wins when it is the one spent.
    assert!(emu.set_limits("demo-token", 1000, 1));
    client.get_tags().await.unwrap();
    let error = client.get_tags().await.unwrap_err();
    match error.class() {
        ErrorClass::RateLimited { retry_after } => {
            let expected = error.limits().and_then(|l| l.day_reset).unwrap();
            assert_eq!(retry_after, Duration::from_secs(expected.max(1) as u64));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn injected_transport_faults_are_retryable() {
    let emu = emulator().await;
    let impatient = ClientOptions {
        timeout: Duration::from_millis(300),
        ..ClientOptions::default()
    };
    let client = demo_with(&emu, impatient);
    emu.inject(Fault::HttpStatus {
        status: 502,
        count: 1,
        method: None,
    });
    let error = client.get_tags().await.unwrap_err();
    assert!(matches!(
        error,
        ComagicError::HttpStatus { status: 502, .. }
    ));
    assert_eq!(error.class(), ErrorClass::Retryable { retry_after: None });

    emu.inject(Fault::RpcError {
        code: -32603,
        mnemonic: "internal_error".to_owned(),
        message: "Internal error".to_owned(),
        count: 1,
        method: None,
    });
    let error = client.get_tags().await.unwrap_err();
    assert_eq!(error.class(), ErrorClass::Retryable { retry_after: None });

    emu.inject(Fault::DropConnection {
        count: 1,
        method: None,
    });
    let error = client.get_tags().await.unwrap_err();
    assert!(matches!(error, ComagicError::Transport { .. }), "{error:?}");
    assert_eq!(error.class(), ErrorClass::Retryable { retry_after: None });

    emu.inject(Fault::Delay {
        duration: Duration::from_secs(2),
        count: 1,
        method: None,
    });
    let error = client.get_tags().await.unwrap_err();
    assert_eq!(
        error.transport_kind(),
        Some(TransportKind::Timeout),
        "{error:?}"
    );

    // Faults are used up: the next call goes through.
    client.get_tags().await.unwrap();
}
