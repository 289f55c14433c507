//! Issue 18 against a running bridge on loopback: many-field bodies are refused at once, an
//! oversized body gets a 413 the client can read, unknown tokens from a throttled address cost
//! no lookup, and public error bodies carry no internal text.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use crate::support;
use bridge_test_support::http::json;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;
use support::{Backend, World};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn token_path(url: &str) -> String {
    let at = url.find("/hooks/").unwrap();
    url[at..].to_owned()
}

/// Writes the whole request (head and body) before reading anything — as a plain HTTP client
/// without `Expect: 100-continue` does — then reads the status line and body.
async fn write_all_then_read(addr: SocketAddr, head: &[u8], body: &[u8]) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head).await.ok()?;
    stream.write_all(body).await.ok()?;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    Some((status, text))
}

/// `name=value` of a `Set-Cookie` header (its attributes left out).
fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap_or_default().to_owned()
}

/// The admin sign-in form posted with the right token to the admin listener at `base`.
async fn sign_in(http: &reqwest::Client, base: &str) -> reqwest::Response {
    http.post(format!("{base}/admin/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={}", support::ADMIN_TOKEN))
        .send()
        .await
        .unwrap()
}

/// Item 2: 43,000 `a[]=1` items (258 kB) took seconds of CPU and were accepted with 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_many_field_form_is_refused_at_once() {
    let _serial = support::serial::exclusive().await;
    let (world, url) = World::start_with_tenant(Backend::Embedded).await;
    let body = "a[]=1&".repeat(43_000).into_bytes();
    let mut fastest = Duration::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        let (status, answer) = world
            .post(&url, "application/x-www-form-urlencoded", body.clone())
            .await;
        fastest = fastest.min(started.elapsed());
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer["reason"]
                .as_str()
                .unwrap()
                .contains("1000 form fields"),
            "{answer}"
        );
    }
    assert!(fastest < Duration::from_millis(50), "{fastest:?}");
    // The same as a query string.
    let query = "a[]=1&".repeat(2_000);
    let response = world.get(&format!("{url}?{query}")).await;
    assert_eq!(response.status(), 400);
    world.stop().await;
}

/// Item 5: a client that writes the whole 2 MiB body before reading got a broken pipe in 8 of
/// 10 tries; every try must read the 413.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_writing_the_whole_oversized_body_reads_the_413() {
    let (world, url) = World::start_with_tenant(Backend::Embedded).await;
    let addr = world.bridge().addr;
    let path = token_path(&url);
    let body = vec![b' '; 2 * 1024 * 1024];
    for attempt in 0..10 {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        );
        let (status, text) = write_all_then_read(addr, head.as_bytes(), &body)
            .await
            .unwrap_or_else(|| panic!("attempt {attempt}: no answer"));
        assert_eq!(status, 413, "attempt {attempt}: {text}");
        assert!(text.contains("too_large"), "{text}");
    }
    // Chunked: the limit is crossed mid-way.
    let mut chunked = Vec::new();
    for piece in body.chunks(64 * 1024) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\r\n"
    );
    let (status, _) = write_all_then_read(addr, head.as_bytes(), &chunked)
        .await
        .expect("an answer to the chunked body");
    assert_eq!(status, 413);
    world.stop().await;
}

/// Item 6: once an address is throttled, a token this process has not routed is refused before
/// any lookup — even a valid one (the lookup would have found it) — while a tenant already
/// routed keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_address_gets_no_lookups_for_unseen_tokens() {
    let world = World::start(Backend::Embedded).await;
    let (_, routed) = world.default_tenant().await;
    let (_, unseen) = world.default_tenant().await;
    let event = |n: u32| {
        json!({"event": "callback", "id": format!("sec-{n}"), "phone": "+79161234567"})
            .to_string()
            .into_bytes()
    };
    let (status, _) = world.post(&routed, "application/json", event(0)).await;
    assert_eq!(status, 200);
    let base = format!("http://{}", world.bridge().addr);
    let per_minute = world.config.ingress.unknown_token_per_minute;
    for i in 0..per_minute + 1 {
        let token = format!("{i:0>43}").replace('0', "C");
        let _ = world
            .poke(&format!("{base}/hooks/leadback/{token}{i}"))
            .await;
    }
    let (status, answer) = world.post(&unseen, "application/json", event(1)).await;
    assert_eq!(status, 429, "{answer}");
    let (status, answer) = world.post(&routed, "application/json", event(2)).await;
    assert_eq!(status, 200, "{answer}");
    world.stop().await;
}

/// Item 6: a 503 says "unavailable" and nothing about the queue or the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_error_bodies_are_generic() {
    // A closed queue may refuse or never confirm: either way the answer is a 503 within 1 s.
    let world = World::start_with(Backend::Embedded, |config| {
        config.ingress.publish_timeout = Duration::from_secs(1);
    })
    .await;
    let (_, url) = world.default_tenant().await;
    // Closing marks the queue unavailable at once; it then waits for the pool's connections,
    // which the running consumer still holds — so it is not awaited here.
    let queue = world.bridge().queue.clone();
    let closing = tokio::spawn(async move { queue.close().await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, answer) = world
        .post(
            &url,
            "application/json",
            br#"{"event":"callback","id":"x","phone":"+79161234567"}"#.to_vec(),
        )
        .await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer, json!({"error": "unavailable"}));
    let ready = world
        .get(&format!("http://{}/readyz", world.bridge().addr))
        .await;
    assert_eq!(ready.status(), 503);
    let ready: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(ready["queue"], "unavailable", "{ready}");
    // The metrics listener (private) tells what failed.
    let metrics_addr = world.bridge().metrics_addr.expect("metrics listener");
    let detailed: serde_json::Value = json(world.http.get(format!("http://{metrics_addr}/readyz")))
        .await
        .unwrap();
    assert_ne!(detailed["queue"], "unavailable", "{detailed}");
    assert_ne!(detailed["queue"], "ok", "{detailed}");
    closing.abort();
    // Stopped in order: the closed queue is shut down with the bridge (dropping a bridge whose
    // queue was closed under it would wait on the consumer for ever).
    world.stop().await;
}

/// Item 3: the admin side is on its own listener; the public one serves only webhooks and
/// health; wrong tokens are throttled per address (429 + Retry-After, the right token too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_side_is_private_and_throttles_wrong_tokens() {
    let world = World::start(Backend::Embedded).await;
    let public = format!("http://{}", world.bridge().addr);
    let admin = world.admin_base();
    for path in [
        "/admin/login",
        "/admin/v1/tenants",
        "/admin/v1/openapi.json",
    ] {
        let status = world.get(&format!("{public}{path}")).await.status();
        assert_eq!(status, 404, "public {path}");
    }
    let login = world.get(&format!("{admin}/admin/login")).await;
    assert_eq!(login.status(), 200);

    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..12 {
        let response = world
            .http
            .get(format!("{admin}/admin/v1/tenants"))
            .bearer_auth("wrong-token-wrong-token-wrong-token")
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            retry_after = response.headers().get("retry-after").cloned();
        }
        statuses.push(response.status().as_u16());
    }
    assert!(statuses[..10].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[10..].iter().all(|s| *s == 429), "{statuses:?}");
    let wait: u64 = retry_after.unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // While throttled, the right token waits too, and so does the sign-in form.
    let (status, _) = world
        .admin(
            reqwest::Method::GET,
            "/admin/v1/tenants",
            &serde_json::Value::Null,
        )
        .await;
    assert_eq!(status, 429);
    let form = sign_in(&world.http, &admin).await;
    assert_eq!(form.status(), 429);
    world.stop().await;
}

/// Item 3: a short admin token stops the process with the variable's name; `admin-token`
/// prints one long enough.
#[test]
fn a_short_admin_token_is_refused_and_admin_token_makes_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = support::process::role_command(dir.path(), "warn", "serve", "127.0.0.1:0")
        .env("BRIDGE_ADMIN_TOKEN", "change-me")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("BRIDGE_ADMIN_TOKEN") && stderr.contains("32"),
        "{stderr}"
    );
    assert!(!stderr.contains("change-me"), "{stderr}");

    let out = support::process::bridge_command(dir.path(), "warn")
        .arg("admin-token")
        .output()
        .unwrap();
    assert!(out.status.success());
    let first = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(first.len() >= 32, "{first}");
    let again = support::process::bridge_command(dir.path(), "warn")
        .arg("admin-token")
        .output()
        .unwrap();
    assert_ne!(String::from_utf8_lossy(&again.stdout).trim(), first);
}

/// Item 3: a session signed in on one replica works on another sharing the database (signed
/// cookies; the CSRF token is derived from the session), and a forged cookie works on neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_sessions_work_across_replicas() {
    let world = World::start(Backend::RabbitPostgres).await;
    let mut second = world.config.clone();
    second.roles = bridge_app::Roles::INGRESS;
    let replica = bridge_app::start(second)
        .await
        .expect("second replica starts");
    let one = world.admin_base();
    let two = format!("http://{}", replica.admin_addr.expect("admin listener"));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed_in = sign_in(&http, &one).await;
    assert_eq!(signed_in.status(), 303);
    let cookie = cookie_pair(signed_in.headers()["set-cookie"].to_str().unwrap());
    let page = http
        .get(format!("{two}/admin/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "the other replica accepts the session");
    let html = page.text().await.unwrap();
    let at = html.find(r#"name="csrf" value=""#).expect("a CSRF field") + 19;
    let csrf = html[at..].split('"').next().unwrap().to_owned();

    // A tenant created on replica one: the webhook URL it issues is shown once on the page the
    // browser is sent to — served here by replica two.
    let form: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf", &csrf)
        .append_pair("name", "Replicas")
        .append_pair("api_url", &world.emulator.api_url())
        .append_pair("access_token", "demo-token")
        .finish();
    let created = http
        .post(format!("{one}/admin/tenants"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 303);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let issued = created
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("bridge_admin_issued="))
        .map(cookie_pair)
        .expect("the issued URL travels in a cookie");
    let page = http
        .get(format!("{two}{location}"))
        .header("cookie", format!("{cookie}; {issued}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"id="webhook-url">"#) && html.contains("/hooks/leadback/"),
        "replica two shows the URL replica one issued"
    );

    // A form of replica two's page, posted to replica one: the CSRF token is the session's.
    let logout = http
        .post(format!("{one}/admin/logout"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}"))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 303);
    // Signed out on replica one: refused by both; so is a forged cookie.
    let forged = format!("{}x", cookie);
    for (sent, what) in [(&cookie, "signed-out session"), (&forged, "forged cookie")] {
        for base in [&one, &two] {
            let refused = http
                .get(format!("{base}/admin/"))
                .header("cookie", sent)
                .send()
                .await
                .unwrap();
            assert_eq!(refused.status(), 303, "{what} on {base}");
        }
    }
    replica.shutdown().await;
    world.stop().await;
}
