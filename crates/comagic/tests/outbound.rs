//! The outbound rules of every CoMagic call, against servers on loopback only: redirects are
//! not followed (the secret stays with the URL it was stored for), answers over the cap are
//! refused, and loopback is refused unless the policy allows internal addresses.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use comagic_client::{
    AddressPolicy, ClientOptions, ComagicClient, ComagicError, ErrorClass, Transport,
    MAX_ANSWER_BYTES,
};
use leadback_model::{ComagicAuth, ComagicCredentials};
use secrecy::SecretString;

const TOKEN: &str = "stored-secret-token-4711";

/// Serves `app` on a loopback port; returns `http://127.0.0.1:port`.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// A server that counts every request it gets and answers a valid `get.account`.
async fn counting_server() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = Router::new().fallback(move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            axum::Json(serde_json::json!({"jsonrpc":"2.0","id":1,
                "result":{"data":[{"name":"captured","timezone":"Europe/Moscow"}]}}))
        }
    });
    (serve(app).await, hits)
}

fn client(url: &str, policy: AddressPolicy) -> Result<ComagicClient, ComagicError> {
    ComagicClient::new(
        ComagicCredentials {
            api_url: url.to_owned(),
            auth: ComagicAuth::AccessToken {
                access_token: SecretString::from(TOKEN),
            },
        },
        Transport::with_policy(policy).unwrap(),
        ClientOptions::default(),
    )
}

#[tokio::test]
async fn a_redirect_to_another_port_is_not_followed() {
    let (capture, hits) = counting_server().await;
    for status in [
        StatusCode::TEMPORARY_REDIRECT,
        StatusCode::PERMANENT_REDIRECT,
        StatusCode::FOUND,
    ] {
        let target = format!("{capture}/v2.0");
        let redirecting = serve(Router::new().route(
            "/v2.0",
            post(move || {
                let target = target.clone();
                async move { (status, [(header::LOCATION, target)]).into_response() }
            }),
        ))
        .await;
        // Loopback is allowed here only so the test can run on loopback at all.
        let client = client(&format!("{redirecting}/v2.0"), AddressPolicy::ALLOW_PRIVATE).unwrap();
        let error = client.get_account().await.unwrap_err();
        match &error {
            ComagicError::HttpStatus { status: got, .. } => assert_eq!(*got, status.as_u16()),
            other => panic!("expected the redirect status, got {other:?}"),
        }
        assert_eq!(error.class(), ErrorClass::TenantPermanent);
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the redirect target got the secret"
    );
}

#[tokio::test]
async fn loopback_is_refused_without_the_allowance() {
    let (url, hits) = counting_server().await;
    // An IP literal: refused when the client is built.
    let error = client(&format!("{url}/v2.0"), AddressPolicy::PUBLIC_ONLY).unwrap_err();
    assert!(
        matches!(&error, ComagicError::Config(m) if m.contains("loopback")),
        "{error:?}"
    );
    // A name: refused on the resolved address when connecting, as a setting to change.
    let port = url.rsplit(':').next().unwrap();
    let named = client(
        &format!("http://localhost:{port}/v2.0"),
        AddressPolicy::PUBLIC_ONLY,
    )
    .unwrap();
    let error = named.get_account().await.unwrap_err();
    assert!(
        matches!(&error, ComagicError::Config(m) if m.contains("loopback")),
        "{error:?}"
    );
    assert_eq!(error.class(), ErrorClass::TenantPermanent);
    assert!(!error.to_string().contains(TOKEN));
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    // Allowed, the same name works.
    let allowed = client(
        &format!("http://localhost:{port}/v2.0"),
        AddressPolicy::ALLOW_PRIVATE,
    )
    .unwrap();
    assert_eq!(
        allowed.get_account().await.unwrap().value.name.as_deref(),
        Some("captured")
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

fn huge_answer(chunked: bool) -> Response {
    let mut body = br#"{"jsonrpc":"2.0","id":1,"result":{"data":[{"name":""#.to_vec();
    body.resize(MAX_ANSWER_BYTES + 1024, b'x');
    body.extend_from_slice(br#""}]}}"#);
    if chunked {
        // No Content-Length: the cap is crossed while reading.
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            body.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
        Response::new(axum::body::Body::from_stream(futures::stream::iter(chunks)))
    } else {
        body.into_response()
    }
}

#[tokio::test]
async fn an_answer_over_the_cap_is_refused() {
    for chunked in [false, true] {
        let url =
            serve(Router::new().route("/v2.0", post(move || async move { huge_answer(chunked) })))
                .await;
        let client = client(&format!("{url}/v2.0"), AddressPolicy::ALLOW_PRIVATE).unwrap();
        let error = client.get_account().await.unwrap_err();
        assert!(
            matches!(&error, ComagicError::InvalidResponse { message, .. } if message.contains("larger than")),
            "chunked={chunked}: {error:?}"
        );
    }
}
