//! `Phone::parse` on any text. Must not panic; what it accepts must be E.164 digits as its doc
//! promises: 8 to 15 digits, no leading 0.
#![no_main]

use leadback_model::Phone;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(phone) = Phone::parse(&text) {
        assert!(
            phone.as_str().bytes().all(|b| b.is_ascii_digit()),
            "accepted phone is not all digits: {:?}",
            phone.as_str()
        );
        let len = phone.as_str().len();
        assert!((8..=15).contains(&len), "length {len}: {:?}", phone.as_str());
        assert!(!phone.as_str().starts_with('0'), "leading 0: {:?}", phone.as_str());
    }
});
