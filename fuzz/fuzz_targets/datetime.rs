//! `ComagicDateTime::parse` (and `from_value`) on any text in any zone, then formatting and
//! clamping. None may panic.
#![no_main]

use chrono::DateTime;
use chrono_tz::Tz;
use leadback_model::ComagicDateTime;
use libfuzzer_sys::fuzz_target;

const ZONES: [Tz; 5] = [
    Tz::Europe__Moscow,
    Tz::UTC,
    Tz::Pacific__Kiritimati,
    Tz::America__St_Johns,
    Tz::Pacific__Pago_Pago,
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let zone = ZONES[usize::from(selector) % ZONES.len()];
    let text = String::from_utf8_lossy(rest);
    let now = DateTime::from_timestamp(1_795_000_000, 0).unwrap_or_default();
    if let Ok(parsed) = ComagicDateTime::parse(&text, zone) {
        for out in ZONES {
            let _ = parsed.format_in(out);
        }
        let _ = parsed.clamped_to(now).format_in(zone);
    }
    // The same text as a JSON value (numbers take the Unix-time path).
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) {
        if let Ok(parsed) = ComagicDateTime::from_value(&value, zone) {
            let _ = parsed.format_in(zone);
        }
    }
    let _ = ComagicDateTime::from_value(&serde_json::Value::String(text.into_owned()), zone);
});
