//! Phone, Email, EventId and ComagicDateTime: only valid values can be built.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use chrono::{TimeZone, Utc};
use chrono_tz::{Asia::Yekaterinburg, Europe::Moscow, UTC};
use leadback_model::{ComagicDateTime, Email, EventId, Phone};

#[test]
fn phones_normalise_to_e164_digits() {
    let cases = [
        ("8 (916) 123-45-67", "79161234567"),
        ("+7 916 123 45 67", "79161234567"),
        ("9161234567", "79161234567"),
        ("79161234567", "79161234567"),
        ("+7 (921) 000-11-22", "79210001122"),
        ("8-800-555-35-35", "78005553535"),
        ("4951234567", "74951234567"),
        ("tel:+79161234567", "79161234567"),
        ("  +7.916.123.45.67 ", "79161234567"),
        ("+44 20 7946 0958", "442079460958"),
        ("0044 20 7946 0958", "442079460958"),
        ("380501234567", "380501234567"),
        ("+49 30 1234567", "49301234567"),
        ("+1 (415) 555-2671", "14155552671"),
    ];
    for (input, expected) in cases {
        assert_eq!(
            Phone::parse(input).map(|p| p.to_string()),
            Ok(expected.to_owned()),
            "{input}"
        );
    }
}

#[test]
fn bad_phones_are_refused_with_their_text() {
    for input in [
        "",
        "   ",
        "звоните",
        "12345",
        "916-123",
        "+7 916 123 45 6",
        "+7 916 123 45 678",
        "+0 123 456 789",
        "+1234567",
        "+1234567890123456",
        "8 916 123 45 67 доб. 12",
        "1234567890",
    ] {
        let err = Phone::parse(input).unwrap_err();
        assert_eq!(err.raw, input);
    }
}

#[test]
fn emails() {
    for ok in [
        "ivan@example.ru",
        " Maria@Example.org ",
        "mailto:a.b+c@x.co",
    ] {
        assert!(Email::parse(ok).is_ok(), "{ok}");
    }
    assert_eq!(Email::parse("mailto:a@b.ru").unwrap().as_str(), "a@b.ru");
    for bad in [
        "",
        "ivan",
        "ivan@",
        "@example.ru",
        "a@b",
        "a b@c.ru",
        "a@b..ru",
        "a@@b.ru",
    ] {
        assert!(Email::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn event_ids() {
    assert!(EventId::parse("").is_err());
    assert!(EventId::parse("a b").is_err());
    assert!(EventId::parse("a\u{7}").is_err());
    assert!(EventId::parse(&"x".repeat(129)).is_err());
    assert!(EventId::parse(&"x".repeat(128)).is_ok());
    assert!(EventId::from_leadback("  ").is_err());
    assert_eq!(EventId::from_leadback(" 42 ").unwrap().as_str(), "42");

    let short = EventId::from_leadback("callback:5521").unwrap();
    assert_eq!(short.ext_id(), "leadback:callback:5521");
    let hashed = EventId::from_body_hash(b"{}");
    let ext = hashed.ext_id();
    assert_eq!(ext.len(), 64);
    assert!(ext.starts_with("leadback:#"));
    assert_eq!(ext, EventId::from_body_hash(b"{}").ext_id());
    assert_ne!(ext, EventId::from_body_hash(b"{ }").ext_id());
    // serde round trip refuses invalid ids
    let json = serde_json::to_string(&short).unwrap();
    assert_eq!(serde_json::from_str::<EventId>(&json).unwrap(), short);
    assert!(serde_json::from_str::<EventId>("\"\"").is_err());
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

#[test]
fn times_in_every_accepted_format() {
    // Each instant, then every spelling of it that is read (naive times are Moscow's).
    let cases: [(_, &[&str]); 4] = [
        (
            utc(2026, 11, 20, 11, 3, 11),
            &[
                "2026-11-20 14:03:11",
                "2026-11-20T14:03:11",
                "2026-11-20 14:03:11.250",
                "20.11.2026 14:03:11",
            ],
        ),
        (utc(2026, 11, 20, 11, 3, 0), &["2026-11-20 14:03"]),
        (
            utc(2026, 11, 21, 6, 15, 0),
            &[
                "2026-11-21T09:15:00+03:00",
                "2026-11-21T06:15:00Z",
                "2026-11-21 09:15:00+03:00",
                "2026-11-21T09:15:00+0300",
            ],
        ),
        (
            utc(2025, 11, 21, 10, 0, 0),
            &["1763719200", "1763719200000", "1763719200.9"],
        ),
    ];
    for (expected, inputs) in cases {
        for input in inputs {
            let parsed = ComagicDateTime::parse(input, Moscow).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(parsed.utc().timestamp(), expected.timestamp(), "{input}");
        }
    }
    assert_eq!(
        ComagicDateTime::from_value(&serde_json::json!(1763719200), Moscow)
            .unwrap()
            .utc(),
        utc(2025, 11, 21, 10, 0, 0)
    );
    assert_eq!(
        ComagicDateTime::from_value(&serde_json::json!(1763719200123_i64), Moscow)
            .unwrap()
            .utc(),
        utc(2025, 11, 21, 10, 0, 0),
        "milliseconds are read, then truncated to the second"
    );
    for bad in [
        "",
        "yesterday",
        "2026-13-01 00:00:00",
        "2026-11-20 25:00:00",
    ] {
        assert!(ComagicDateTime::parse(bad, Moscow).is_err(), "{bad}");
    }
    assert!(ComagicDateTime::from_value(&serde_json::json!(true), Moscow).is_err());
}

#[test]
fn naive_times_use_the_given_zone_and_format_in_the_account_zone() {
    let t = ComagicDateTime::parse("2026-11-20 14:03:11", Yekaterinburg).unwrap();
    assert_eq!(t.utc(), utc(2026, 11, 20, 9, 3, 11));
    assert_eq!(t.format_in(Moscow), "2026-11-20 12:03:11");
    assert_eq!(t.format_in(UTC), "2026-11-20 09:03:11");
    assert_eq!(t.format_in(Yekaterinburg), "2026-11-20 14:03:11");
}

/// CoMagic reads whole seconds: every time is truncated when made, so comparing two times (or
/// clamping to `now`) agrees with what CoMagic will compare.
#[test]
fn times_are_whole_seconds() {
    let fraction = |ms: i64| Utc.timestamp_millis_opt(1_763_719_200_000 + ms).unwrap();
    for t in [
        ComagicDateTime::from_utc(fraction(999)),
        ComagicDateTime::parse("2025-11-21T10:00:00.999Z", Moscow).unwrap(),
        ComagicDateTime::parse("2025-11-21 13:00:00.5", Moscow).unwrap(),
        ComagicDateTime::from_unix(1_763_719_200_999).unwrap(),
    ] {
        assert_eq!(t.utc(), utc(2025, 11, 21, 10, 0, 0), "{t}");
        assert_eq!(t.utc().timestamp_subsec_nanos(), 0, "{t}");
    }
    // A time a fraction after `now` is the same second, not "the future" clamped below it.
    let now = fraction(250);
    let later_same_second = ComagicDateTime::from_utc(fraction(900));
    assert_eq!(
        later_same_second.clamped_to(now).utc(),
        utc(2025, 11, 21, 10, 0, 0)
    );
}

#[test]
fn future_times_clamp_to_now() {
    let now = utc(2026, 11, 25, 0, 0, 0);
    let future = ComagicDateTime::from_utc(utc(2026, 12, 1, 0, 0, 0));
    assert_eq!(future.clamped_to(now).utc(), now);
    let past = ComagicDateTime::from_utc(utc(2026, 11, 1, 0, 0, 0));
    assert_eq!(past.clamped_to(now), past);
}

/// Found by `cargo fuzz` (target `datetime`): a huge negative number saturates to `i64::MIN`,
/// whose `abs()` overflowed.
#[test]
fn extreme_unix_numbers_are_refused_not_panics() {
    assert!(ComagicDateTime::from_unix(i64::MIN).is_none());
    assert!(ComagicDateTime::from_unix(i64::MAX).is_none());
    let huge_negative = serde_json::json!(-77777777777777777777.0);
    assert!(ComagicDateTime::from_value(&huge_negative, Moscow).is_err());
    assert!(ComagicDateTime::parse("-77777777777777777777", Moscow).is_err());
}
