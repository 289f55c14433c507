//! Bodies the ingress refuses before parsing them — 413 (too large) and 408 (too slow) — are
//! among the tenant's recent payloads: when, the content type, why and the size seen, and no
//! byte of the body; in `GET …/payloads` and on the page in its language. A body sent to an
//! unknown token records nothing. On both backends (the ingress over the rig's store).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use bridge_ingress::{hook_router, IngressConfig, IngressState, RecentPayloads};
use bridge_queue::EventQueue;
use bytes::Bytes;
use futures::StreamExt as _;
use serde_json::Value;
use support::browser::sign_in;
use support::{Db, Rig};
use tower::ServiceExt as _;

const LIMIT: usize = 1024;

/// Sends `body` (with `length` as its Content-Length, if any) to the webhook at `token`.
async fn post(hooks: &Router, token: &str, length: Option<usize>, body: Body) -> StatusCode {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(format!("/hooks/leadback/{token}"))
        .header("content-type", "application/json");
    if let Some(length) = length {
        request = request.header("content-length", length);
    }
    let request = request.body(body).unwrap();
    hooks.clone().oneshot(request).await.unwrap().status()
}

/// A body of `chunks` pieces of 600 bytes, then, if `stall`, nothing ever again.
fn chunked(chunks: usize, stall: bool) -> Body {
    let pieces = futures::stream::iter(
        (0..chunks).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b' '; 600]))),
    );
    if stall {
        Body::from_stream(pieces.chain(futures::stream::pending()))
    } else {
        Body::from_stream(pieces)
    }
}

async fn refused_bodies_are_listed(db: Db) {
    let rig = Rig::on(db).await;
    let (id, url) = rig.create(rig.settings()).await;
    let token = url.rsplit('/').next().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (recent, recorder) =
        RecentPayloads::start(rig.store.clone(), rig.metrics.clone(), 50, async {
            let _ = stopped.await;
        });
    let hooks = hook_router(IngressState {
        store: rig.store.clone(),
        queue: rig.queue.clone() as Arc<dyn EventQueue>,
        metrics: rig.metrics.clone(),
        config: IngressConfig {
            body_limit: LIMIT,
            body_timeout: Duration::from_millis(300),
            ..IngressConfig::default()
        },
        queue_backend: "embedded",
        recent_payloads: recent,
        activity: None,
    });

    // Declared too large: refused unread. Sent too large: refused once past the limit, the rest
    // drained and counted. Too slow: refused at the deadline with what had arrived.
    let declared = Body::from(vec![b' '; 4096]);
    assert_eq!(
        post(&hooks, token, Some(4096), declared).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(
        post(&hooks, token, None, chunked(3, false)).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(
        post(&hooks, token, None, chunked(1, true)).await,
        StatusCode::REQUEST_TIMEOUT
    );
    // A token nobody has: nothing read, nothing recorded.
    let unknown = "a".repeat(43);
    let big = Body::from(vec![b' '; 4096]);
    assert_eq!(
        post(&hooks, &unknown, Some(4096), big).await,
        StatusCode::NOT_FOUND
    );

    let path = format!("/admin/v1/tenants/{id}/payloads");
    let mut listed = Value::Null;
    for _ in 0..50 {
        listed = rig.get(&path).await.json();
        if listed.as_array().is_some_and(|l| l.len() >= 3) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rows = listed.as_array().expect("a list");
    assert_eq!(rows.len(), 3, "{listed:#}");
    let mut seen: Vec<(String, u64)> = Vec::new();
    for row in rows {
        assert_eq!(row["ingress"], "rejected", "{row}");
        assert_eq!(row["content_type"], "application/json", "{row}");
        assert_eq!(row["body"], "", "no byte of a refused body is kept: {row}");
        assert_eq!(row["event_id"], Value::Null);
        assert_eq!(row["delivery"], Value::Null);
        assert_eq!(
            row["parsed"]["kind"],
            Value::Null,
            "nothing to parse: {row}"
        );
        assert!(row["received_at"].is_string());
        let code = row["ingress_code"].as_str().unwrap().to_owned();
        let error = row["ingress_error"].as_str().unwrap();
        let status = if code == "too_large" {
            "(413)"
        } else {
            "(408)"
        };
        assert!(error.contains(status), "{row}");
        seen.push((code, row["bytes_seen"].as_u64().unwrap()));
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            ("body_timeout".to_owned(), 600),
            ("too_large".to_owned(), 1800),
            ("too_large".to_owned(), 4096),
        ]
    );

    // On the page, in its language, without a check button for a body that is not kept.
    let browser = sign_in(&rig).await;
    let page = format!("/admin/tenants/{id}");
    let russian = browser.get(&page).await.body;
    for said in [
        "отклонено до разбора (413): тело в 4096 байт больше предела в 1024 байт",
        "отклонено до разбора (408): за 300 мс пришло только 600 байт",
    ] {
        assert!(russian.contains(said), "{said:?} missing");
    }
    assert!(!russian.contains("refused before reading"));
    assert!(!russian.contains(r#"class="check secondary""#));
    let english = browser.get(&format!("{page}?lang=en")).await.body;
    assert!(english.contains("refused before reading (413): a body of 1800 bytes"));
    assert!(!english.contains("отклонено до разбора"));

    let _ = stop.send(());
    recorder.await.unwrap();
}

#[tokio::test]
async fn refused_bodies_are_listed_on_sqlite() {
    refused_bodies_are_listed(Db::Sqlite).await;
}

#[tokio::test]
async fn refused_bodies_are_listed_on_postgres() {
    refused_bodies_are_listed(Db::Postgres).await;
}
