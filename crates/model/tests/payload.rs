//! RawPayload: formats, bracket nesting, multipart, query, errors, ping detection, event ids.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use leadback_model::{BodyError, RawPayload, MAX_FIELDS};
use serde_json::json;

fn parse(ct: Option<&str>, body: &str) -> serde_json::Value {
    RawPayload::parse(ct, body.as_bytes())
        .unwrap()
        .value()
        .clone()
}

#[test]
fn json_form_and_query_give_the_same_tree() {
    let expected = json!({"phone": "+79161234567", "utm": {"utm_source": "google"}});
    assert_eq!(
        parse(
            Some("application/json"),
            r#"{"phone":"+79161234567","utm":{"utm_source":"google"}}"#
        ),
        expected
    );
    assert_eq!(
        parse(
            Some("application/x-www-form-urlencoded"),
            "phone=%2B79161234567&utm%5Butm_source%5D=google"
        ),
        expected
    );
    assert_eq!(
        RawPayload::from_query("?phone=%2B79161234567&utm[utm_source]=google")
            .unwrap()
            .value(),
        &expected
    );
}

#[test]
fn form_brackets_nest_like_php() {
    let cases: &[(&str, serde_json::Value)] = &[
        ("a=1&b=two+words", json!({"a": "1", "b": "two words"})),
        ("utm[utm_source]=x&utm[utm_medium]=y", json!({"utm": {"utm_source": "x", "utm_medium": "y"}})),
        (
            "messages[0][text]=hi&messages[0][from]=visitor&messages[1][text]=hello&messages[1][from]=operator",
            json!({"messages": [{"text": "hi", "from": "visitor"}, {"text": "hello", "from": "operator"}]}),
        ),
        ("tags[]=a&tags[]=b", json!({"tags": ["a", "b"]})),
        ("m[1][t]=second&m[0][t]=first", json!({"m": [{"t": "first"}, {"t": "second"}]})),
        ("a[b][c][d]=deep", json!({"a": {"b": {"c": {"d": "deep"}}}})),
        ("a=1&a=2", json!({"a": "2"})),
        ("a=1&a[b]=2", json!({"a": {"b": "2"}})),
        ("flag", json!({"flag": ""})),
        ("broken[key=1", json!({"broken[key": "1"})),
        ("=orphan&[x]=y&ok=1", json!({"ok": "1"})),
        ("x[01]=a", json!({"x": {"01": "a"}})),
        ("", json!({})),
        ("a=%D0%98%D0%B2%D0%B0%D0%BD", json!({"a": "Иван"})),
    ];
    for (body, expected) in cases {
        assert_eq!(
            &parse(Some("application/x-www-form-urlencoded"), body),
            expected,
            "{body}"
        );
    }
}

#[test]
fn multipart_form_is_read_with_brackets() {
    let body = "--XyZ\r\n\
        Content-Disposition: form-data; name=\"phone\"\r\n\r\n\
        +7 916 123-45-67\r\n\
        --XyZ\r\n\
        Content-Disposition: form-data; name=\"messages[0][text]\"\r\n\r\n\
        Привет\r\n\
        --XyZ\r\n\
        Content-Disposition: form-data; name=\"file\"; filename=\"x.bin\"\r\n\
        Content-Type: application/octet-stream\r\n\r\n\
        \u{1}\r\n\
        --XyZ--\r\n";
    let value = parse(Some("multipart/form-data; boundary=XyZ"), body);
    assert_eq!(value["phone"], "+7 916 123-45-67");
    assert_eq!(value["messages"][0]["text"], "Привет");
}

#[test]
fn multipart_binary_file_is_skipped_and_errors_are_reported() {
    let mut body =
        b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.bin\"\r\n\r\n".to_vec();
    body.extend_from_slice(&[0xff, 0xfe, 0x00]);
    body.extend_from_slice(
        b"\r\n--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--b--\r\n",
    );
    let payload = RawPayload::parse(Some("multipart/form-data; boundary=b"), &body).unwrap();
    assert_eq!(payload.value(), &json!({"a": "1"}));

    assert_eq!(
        RawPayload::parse(Some("multipart/form-data"), b"x").unwrap_err(),
        BodyError::MissingBoundary
    );
    let err = RawPayload::parse(Some("multipart/form-data; boundary=b"), b"garbage").unwrap_err();
    assert!(matches!(err, BodyError::Multipart(_)), "{err}");
}

#[test]
fn content_type_sniffing_and_refusal() {
    assert_eq!(parse(None, " {\"a\":1}"), json!({"a": 1}));
    assert_eq!(parse(Some("text/plain"), "[1]"), json!([1]));
    assert_eq!(parse(None, "a=1"), json!({"a": "1"}));
    assert_eq!(
        parse(Some("application/octet-stream"), "a=1"),
        json!({"a": "1"})
    );
    assert_eq!(
        parse(Some("Application/JSON; charset=utf-8"), "{}"),
        json!({})
    );
    assert_eq!(
        parse(Some("application/vnd.leadback+json"), "{\"a\":2}"),
        json!({"a": 2})
    );
    assert_eq!(
        parse(Some("application/json"), "\u{feff}{\"a\":3}"),
        json!({"a": 3})
    );
    assert_eq!(parse(Some("application/json"), "   "), json!({}));
    let err = RawPayload::parse(Some("application/xml"), b"<a/>").unwrap_err();
    assert!(
        err.to_string().contains("unsupported content type"),
        "{err}"
    );
}

#[test]
fn json_errors_are_clear_and_never_panic() {
    let err = RawPayload::parse(Some("application/json"), b"{\"a\": }").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid JSON at line 1 column 7: expected value"
    );
    let err = RawPayload::parse(Some("application/json"), b"{\"a\":\"\xff\"}").unwrap_err();
    assert_eq!(err, BodyError::InvalidUtf8 { offset: 6 });
    let err = RawPayload::parse(Some("application/json"), b"{\"a\":\"x\x00y\"}").unwrap_err();
    assert!(matches!(err, BodyError::InvalidJson { .. }));
    let err = RawPayload::parse(None, b"a=\xff").unwrap_err();
    assert!(matches!(err, BodyError::InvalidUtf8 { .. }));
    let err = RawPayload::parse(None, b"a=%ff").unwrap_err();
    assert!(
        matches!(err, BodyError::InvalidFormEncoding { .. }),
        "{err}"
    );
    // NUL via percent-encoding is data, not a crash.
    assert!(RawPayload::parse(None, b"a=%00").is_ok());
}

#[test]
fn nesting_deeper_than_64_is_refused() {
    let ok = format!("{}{}", "[".repeat(64), "]".repeat(64));
    assert!(RawPayload::parse(Some("application/json"), ok.as_bytes()).is_ok());
    let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
    assert_eq!(
        RawPayload::parse(Some("application/json"), deep.as_bytes()).unwrap_err(),
        BodyError::TooDeep
    );
    // Far beyond serde_json's own limit: an error, not a stack overflow.
    let huge = "[".repeat(100_000);
    assert!(RawPayload::parse(Some("application/json"), huge.as_bytes()).is_err());
    let form = format!("a{}=1", "[x]".repeat(70));
    assert_eq!(
        RawPayload::parse(None, form.as_bytes()).unwrap_err(),
        BodyError::TooDeep
    );
}

#[test]
fn ping_detection() {
    let pings = [
        "",
        "{}",
        "[]",
        "null",
        "\"\"",
        "{\"test\": true}",
        "{\"ping\": 1, \"site\": \"shop.example.ru\"}",
        "{\"event\": \"test\"}",
        "{\"type\": \"PING\", \"id\": \"1\"}",
        "{\"check\": \"1\", \"messages\": []}",
    ];
    assert!(RawPayload::parse(None, b"test=1").unwrap().is_ping());
    assert!(RawPayload::from_query("").unwrap().is_ping());

    let events = [
        "{\"test\": true, \"phone\": \"+79161234567\"}",
        "{\"event\": \"test\", \"visitor\": {\"email\": \"a@b.ru\"}}",
        "{\"ping\": 1, \"messages\": [{\"text\": \"hi\"}]}",
        "{\"test\": 1, \"comment\": \"call me\"}",
        "{\"site\": \"shop.example.ru\"}",
        "{\"event\": \"callback\"}",
        "42",
    ];
    let bodies = pings.map(|body| (body, true));
    for (body, ping) in bodies.into_iter().chain(events.map(|body| (body, false))) {
        let payload = RawPayload::parse(Some("application/json"), body.as_bytes()).unwrap();
        assert_eq!(payload.is_ping(), ping, "{body}: a ping? {ping}");
    }
    for name in common::ALL_FIXTURES {
        assert!(!common::fixture_payload(name).is_ping(), "{name}");
    }
}

#[test]
fn keys_and_markers_match_ignoring_case() {
    use leadback_model::aliases::{eq_ignore_case, get_ci};
    // Keys in any case, ASCII or not, name the same field; different words never match.
    assert!(eq_ignore_case("Phone", "phone"));
    assert!(eq_ignore_case("ТЕЛЕФОН", "телефон"));
    assert!(eq_ignore_case("Straße", "STRAßE"));
    assert!(!eq_ignore_case("phone", "phones"));
    assert!(!eq_ignore_case("телефон", "телефоны"));
    let object = serde_json::json!({"PHONE": "+79161234567", "Имя": "Анна"});
    let object = object.as_object().unwrap();
    assert_eq!(
        get_ci(object, "phone"),
        Some(&serde_json::json!("+79161234567"))
    );
    assert_eq!(get_ci(object, "имя"), Some(&serde_json::json!("Анна")));
    assert_eq!(get_ci(object, "email"), None);

    // Upper-case test markers are pings too, and an event in capitals is still an event.
    for body in [
        "{\"TEST\": true}",
        "{\"Event\": \"Test\"}",
        "{\"IS_TEST\": 1}",
    ] {
        let payload = RawPayload::parse(Some("application/json"), body.as_bytes()).unwrap();
        assert!(payload.is_ping(), "{body} should be a ping");
    }
    let payload = RawPayload::parse(
        Some("application/json"),
        b"{\"TEST\": 1, \"PHONE\": \"+79161234567\"}",
    )
    .unwrap();
    assert!(!payload.is_ping());
}

#[test]
fn event_id_uses_the_leadback_id_qualified_by_kind() {
    let cases = [
        (json!({"id_call": "5521"}), "callback:5521"),
        (json!({"event": "chat", "chat_id": 5521}), "chat:5521"),
        (json!({"ID": " 77 "}), "callback:77"),
        (
            json!({"id": "", "uuid": "u-1", "messages": [{"text": "x"}]}),
            "chat:u-1",
        ),
        (json!({"id": "a b"}), "callback:a_b"),
    ];
    for (value, expected) in cases {
        assert_eq!(
            RawPayload::from_value(value.clone()).event_id().as_str(),
            expected,
            "{value}"
        );
    }
    let long = "x".repeat(300);
    let id = RawPayload::from_value(json!({ "id": long })).event_id();
    assert!(
        id.as_str().starts_with("lb:") && id.as_str().len() == 67,
        "{id}"
    );
}

#[test]
fn body_hash_id_is_stable_across_key_order_and_format() {
    let a = RawPayload::parse(
        Some("application/json"),
        br#"{"phone":"+79161234567","duration":94,"utm":{"utm_source":"x","utm_medium":"y"}}"#,
    )
    .unwrap();
    let b = RawPayload::parse(
        Some("application/json"),
        br#"{ "utm": {"utm_medium":"y","utm_source":"x"}, "duration": "94", "phone": "+79161234567" }"#,
    )
    .unwrap();
    let c = RawPayload::parse(
        Some("application/x-www-form-urlencoded"),
        b"utm[utm_medium]=y&duration=94&phone=%2B79161234567&utm[utm_source]=x",
    )
    .unwrap();
    let d = RawPayload::from_query(
        "duration=94&phone=%2B79161234567&utm[utm_source]=x&utm[utm_medium]=y",
    )
    .unwrap();
    let id = a.event_id();
    assert!(id.as_str().starts_with("sha256:"), "{id}");
    assert_eq!(id.as_str().len(), 7 + 64);
    assert_eq!(b.event_id(), id);
    assert_eq!(c.event_id(), id);
    assert_eq!(d.event_id(), id);
    let other = RawPayload::from_query(
        "duration=95&phone=%2B79161234567&utm[utm_source]=x&utm[utm_medium]=y",
    )
    .unwrap();
    assert_ne!(other.event_id(), id);
}

#[test]
fn fixture_ids() {
    let expected = [
        (
            "callback-basic.json",
            "callback:9f3c2a71-5d1e-4b0a-8e51-0c2f6d7a1b01",
        ),
        ("callback-form.txt", "callback:1187342"),
        ("callback-no-session.json", "callback:5521"),
        ("callback-session.json", "callback:lb-000451"),
        ("chat-basic.json", "chat:c-77120"),
        ("chat-no-contact.json", "chat:c-77121"),
    ];
    for (name, id) in expected {
        assert_eq!(
            common::fixture_payload(name).event_id().as_str(),
            id,
            "{name}"
        );
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A small deterministic generator: no dependency, same cases on every run.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let alphabet = b"{}[]\":,=&%+ab01\\\x00\xff\xc3[]utm_source\r\n--b";
    let types = [
        None,
        Some("application/json"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=b"),
        Some("text/plain"),
    ];
    for _ in 0..3000 {
        let mut body = Vec::new();
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = (state % 64) as usize;
        for _ in 0..len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            body.push(alphabet[(state % alphabet.len() as u64) as usize]);
        }
        for content_type in types {
            if let Ok(payload) = RawPayload::parse(content_type, &body) {
                let _ = payload.is_ping();
                let _ = payload.event_id();
                let _ = leadback_model::LeadbackEvent::from_payload(
                    &payload,
                    chrono_tz::Europe::Moscow,
                );
            }
        }
    }
}

/// Issue 18, item 2: 43,000 `a[]=1` took seconds (every append rescanned its siblings). Now
/// over the field cap it is refused at once, and a body just under the cap is parsed fast.
#[test]
fn many_fields_are_linear_and_capped() {
    let hostile = "a[]=1&".repeat(43_000);
    let started = std::time::Instant::now();
    let refused = RawPayload::parse(
        Some("application/x-www-form-urlencoded"),
        hostile.as_bytes(),
    );
    assert_eq!(refused, Err(BodyError::TooManyFields));
    assert!(refused.unwrap_err().to_string().contains("1000"));
    assert_eq!(
        RawPayload::from_query(&hostile),
        Err(BodyError::TooManyFields)
    );
    assert!(
        started.elapsed() < std::time::Duration::from_millis(50),
        "{:?}",
        started.elapsed()
    );

    let under = format!("{}b[5]=x&b[]=y&b[k]=z", "a[]=1&".repeat(MAX_FIELDS - 3));
    let started = std::time::Instant::now();
    let parsed = RawPayload::from_query(&under).unwrap();
    let elapsed = started.elapsed();
    assert_eq!(
        parsed.value()["a"].as_array().unwrap().len(),
        MAX_FIELDS - 3
    );
    // `[]` after an explicit index appends after it, as PHP does.
    assert_eq!(
        parsed.value()["b"],
        serde_json::json!({"5": "x", "6": "y", "k": "z"})
    );
    assert!(
        elapsed < std::time::Duration::from_millis(50),
        "{elapsed:?}"
    );
}

#[test]
fn deep_form_keys_are_refused_with_the_reason() {
    let key = format!("a{}", "[x]".repeat(100_000));
    let refused = RawPayload::from_query(&format!("{key}=1")).unwrap_err();
    assert_eq!(refused, BodyError::TooDeep);
    assert!(refused.to_string().contains("64"));
}
