//! Parsers of command-line values whose errors say what was expected.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use uuid::Uuid;

/// A UUID, or an error saying one was expected.
pub fn parse_uuid(text: &str) -> Result<Uuid, String> {
    Uuid::parse_str(text.trim())
        .map_err(|_| "expected a UUID, like 8c4b0f7e-2f4e-4d5e-9a43-0c4f5b9f3a11".to_owned())
}

/// An RFC 3339 time (`2026-11-20T00:00:00Z`), or a plain date read as midnight UTC.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date.and_time(NaiveTime::MIN).and_utc());
    }
    Err(
        "expected a time like 2026-11-20T00:00:00Z (RFC 3339), or a date like 2026-11-20 \
         (midnight UTC)"
            .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_dates() {
        let midnight = parse_time("2026-11-20").unwrap();
        assert_eq!(midnight.to_rfc3339(), "2026-11-20T00:00:00+00:00");
        let moscow = parse_time("2026-11-20T03:00:00+03:00").unwrap();
        assert_eq!(moscow, midnight);
        let err = parse_time("2026-11-20 10:00").unwrap_err();
        assert!(err.contains("2026-11-20T00:00:00Z"), "{err}");
        assert!(parse_uuid("nope").unwrap_err().contains("expected a UUID"));
    }
}
