//! The public server's connection cap: at `max_connections` open connections a new client is
//! not served until one of them closes, and then it is.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use axum::routing::get;
use axum::Router;
use bridge_ingress::ServeOptions;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const REQUEST: &[u8] = b"GET /ping HTTP/1.1\r\nHost: test\r\n\r\n";

/// Sends one keep-alive request on `stream` and reads the answer's head and body (`pong`).
async fn ping(stream: &mut TcpStream) -> String {
    stream.write_all(REQUEST).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.ends_with(b"pong") {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "connection closed before the answer");
        answer.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(answer).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_over_the_cap_waits_until_another_closes() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route("/ping", get(|| async { "pong" }));
    let options = ServeOptions {
        max_connections: 2,
        ..ServeOptions::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(bridge_ingress::serve(listener, app, options, async move {
        let _ = stopped.await;
    }));

    let mut first = TcpStream::connect(addr).await.unwrap();
    let mut second = TcpStream::connect(addr).await.unwrap();
    assert!(ping(&mut first).await.starts_with("HTTP/1.1 200"));
    assert!(ping(&mut second).await.starts_with("HTTP/1.1 200"));

    // The third connects (the kernel's backlog takes it) but is not served while two are open.
    let mut third = TcpStream::connect(addr).await.unwrap();
    let waiting = tokio::time::timeout(Duration::from_millis(500), ping(&mut third)).await;
    assert!(waiting.is_err(), "served over the cap: {waiting:?}");

    // One closes: the third is accepted and gets its answer (the request it already sent).
    drop(first);
    let mut buf = [0u8; 1024];
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), async {
        while !answer.ends_with(b"pong") {
            let n = third.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed before the answer");
            answer.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("the waiting connection was served once a slot freed");
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
    // The second connection still works alongside.
    assert!(ping(&mut second).await.starts_with("HTTP/1.1 200"));

    let _ = stop.send(());
    drop((second, third));
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("server stopped")
        .unwrap();
}
