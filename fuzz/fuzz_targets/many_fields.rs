//! Form bodies with many fields: the fuzzer picks a few key shapes (`a[]`, `a[1][]`, `a[b]`…)
//! and how often each repeats, up to tens of thousands of fields. Parsing must stay linear
//! (libFuzzer's -timeout catches a slow input), never panic, and either refuse the body with
//! `TooManyFields` / `TooDeep` or keep no more than MAX_FIELDS leaves.
#![no_main]

use leadback_model::{RawPayload, MAX_FIELDS};
use libfuzzer_sys::fuzz_target;

fn leaves(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Array(items) => items.iter().map(leaves).sum(),
        serde_json::Value::Object(map) => map.values().map(leaves).sum(),
        _ => 1,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&repeat, shapes)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(shapes);
    let repeat = usize::from(repeat) * 200;
    let mut body = String::new();
    for shape in text.split('\n').take(8) {
        for _ in 0..repeat {
            // A few MiB is plenty past the cap; more would only test the allocator.
            if body.len() > 4 << 20 {
                break;
            }
            body.push_str(shape);
            body.push_str("=1&");
        }
    }
    match RawPayload::parse(Some("application/x-www-form-urlencoded"), body.as_bytes()) {
        Ok(payload) => {
            assert!(leaves(payload.value()) <= MAX_FIELDS);
            let _ = payload.event_id();
        }
        // Refusals (too many fields, too deep, bad encoding) are answers, not failures.
        Err(_) => {}
    }
});
