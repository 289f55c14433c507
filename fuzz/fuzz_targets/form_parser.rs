//! GET query strings / urlencoded forms: `RawPayload::from_query` (PHP-style bracket keys), then
//! the event read. None may panic.
#![no_main]

use chrono_tz::Tz;
use leadback_model::{LeadbackEvent, RawPayload};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let query = String::from_utf8_lossy(data);
    let Ok(payload) = RawPayload::from_query(&query) else {
        return;
    };
    let _ = payload.is_ping();
    let _ = payload.event_id();
    let _ = LeadbackEvent::from_payload(&payload, Tz::Europe__Moscow);
});
