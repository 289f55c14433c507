//! `ComagicDateTime`: an instant read from any time format Leadback might send, written back as
//! CoMagic's `YYYY-MM-DD hh:mm:ss` in the account's zone.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// CoMagic's date-time text format.
pub const COMAGIC_FORMAT: &str = "%Y-%m-%d %H:%M:%S";
/// Unix numbers above this are milliseconds (10^11 s is the year 5138).
const MILLIS_THRESHOLD: i64 = 100_000_000_000;

/// Why a value is not a time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unrecognised date-time {raw:?}")]
pub struct DateTimeError {
    pub raw: String,
}

/// One instant in whole seconds, kept in UTC (serialised as RFC 3339 UTC). CoMagic's format has
/// no fractions, so every time is truncated to the second when it is made: comparing or clamping
/// two times then agrees with comparing what CoMagic will read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ComagicDateTime(DateTime<Utc>);

impl ComagicDateTime {
    /// `instant`, truncated to the whole second.
    pub fn from_utc(instant: DateTime<Utc>) -> ComagicDateTime {
        ComagicDateTime(whole_second(instant))
    }

    /// Parses text: naive `YYYY-MM-DD hh:mm[:ss[.fff]]` (also with `T`, or `DD.MM.YYYY …`) read
    /// in `naive_zone`; RFC 3339 / ISO 8601 with an offset; Unix seconds or milliseconds.
    pub fn parse(text: &str, naive_zone: Tz) -> Result<ComagicDateTime, DateTimeError> {
        let raw = text.trim();
        let fail = || DateTimeError {
            raw: text.to_owned(),
        };
        if raw.is_empty() {
            return Err(fail());
        }
        if let Ok(number) = raw.parse::<i64>() {
            return Self::from_unix(number).ok_or_else(fail);
        }
        if let Ok(number) = raw.parse::<f64>() {
            if number.is_finite() && raw.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                return Self::from_unix(number.trunc() as i64).ok_or_else(fail);
            }
        }
        if let Ok(with_offset) = DateTime::parse_from_rfc3339(raw) {
            return Ok(Self::from_utc(with_offset.with_timezone(&Utc)));
        }
        for format in [
            "%Y-%m-%d %H:%M:%S%.f%:z",
            "%Y-%m-%d %H:%M:%S%.f%z",
            "%Y-%m-%dT%H:%M:%S%.f%z",
            "%Y-%m-%d %H:%M:%S%.f %z",
        ] {
            if let Ok(with_offset) = DateTime::parse_from_str(raw, format) {
                return Ok(Self::from_utc(with_offset.with_timezone(&Utc)));
            }
        }
        if let Some(stripped) = raw.strip_suffix('Z').or_else(|| raw.strip_suffix(" UTC")) {
            if let Some(naive) = parse_naive(stripped) {
                return Ok(Self::from_utc(Utc.from_utc_datetime(&naive)));
            }
        }
        let naive = parse_naive(raw).ok_or_else(fail)?;
        // A local time inside a DST gap has no instant; inside an overlap take the earlier one.
        let local = naive_zone
            .from_local_datetime(&naive)
            .earliest()
            .ok_or_else(fail)?;
        Ok(Self::from_utc(local.with_timezone(&Utc)))
    }

    /// Parses a JSON value: a string as in [`parse`](Self::parse), a number as Unix time.
    pub fn from_value(value: &Value, naive_zone: Tz) -> Result<ComagicDateTime, DateTimeError> {
        match value {
            Value::String(s) => Self::parse(s, naive_zone),
            Value::Number(n) => n
                .as_i64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.is_finite())
                        .map(|f| f.trunc() as i64)
                })
                .and_then(Self::from_unix)
                .ok_or_else(|| DateTimeError { raw: n.to_string() }),
            other => Err(DateTimeError {
                raw: other.to_string(),
            }),
        }
    }

    /// Unix seconds, or milliseconds when above 10^11.
    pub fn from_unix(number: i64) -> Option<ComagicDateTime> {
        // unsigned_abs: `i64::MIN.abs()` overflows (a huge negative JSON number saturates to it).
        let instant = if number.unsigned_abs() > MILLIS_THRESHOLD.unsigned_abs() {
            DateTime::from_timestamp_millis(number)
        } else {
            DateTime::from_timestamp(number, 0)
        };
        instant.map(Self::from_utc)
    }

    pub fn utc(&self) -> DateTime<Utc> {
        self.0
    }

    /// CoMagic's text (`YYYY-MM-DD hh:mm:ss`) in the account zone.
    pub fn format_in(&self, zone: Tz) -> String {
        self.0
            .with_timezone(&zone)
            .format(COMAGIC_FORMAT)
            .to_string()
    }

    /// This instant, or `now` (to the second) if it lies in the future (CoMagic refuses future
    /// times).
    pub fn clamped_to(self, now: DateTime<Utc>) -> ComagicDateTime {
        ComagicDateTime(self.0.min(whole_second(now)))
    }
}

impl fmt::Display for ComagicDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%dT%H:%M:%SZ"))
    }
}

/// `instant` without its fraction of a second (towards the past, so a truncated "now" is never
/// in the future).
pub fn whole_second(instant: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(instant.timestamp(), 0).unwrap_or(instant)
}

fn parse_naive(text: &str) -> Option<NaiveDateTime> {
    const FORMATS: [&str; 6] = [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
        "%d.%m.%Y %H:%M:%S",
        "%d.%m.%Y %H:%M",
    ];
    FORMATS
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|date| date.and_hms_opt(0, 0, 0))
        })
}
