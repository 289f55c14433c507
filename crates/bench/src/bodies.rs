//! The load: Leadback callback bodies, unique per request, cheap to make.

use crate::load::Target;
use serde_json::json;
use std::sync::Arc;

/// A Leadback callback with a unique id per request (~500 bytes of JSON).
pub(crate) fn callback_body(run: &str, n: u64) -> Vec<u8> {
    CallbackBodies::new(run).body(n)
}

/// Callback bodies that differ only in the id and the phone: the JSON is built once (with
/// `serde_json`, so it is well-formed) and each request only splices in its number, so the load
/// generator spends its CPU on HTTP, not on formatting dates and JSON trees — the CPU it does
/// not use is left to what is measured.
pub(crate) struct CallbackBodies {
    /// The serialised body cut at the two places that vary: before the id's number, between it
    /// and the phone's number, after the phone's.
    parts: [String; 3],
}

impl CallbackBodies {
    const ID_MARK: &'static str = "@@ID@@";
    const PHONE_MARK: &'static str = "@@PHONE@@";

    pub(crate) fn new(run: &str) -> Self {
        let date = (chrono::Utc::now() - chrono::Duration::minutes(1))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string();
        let json = json!({
            "event": "callback",
            "id_call": format!("bench-{run}-{}", Self::ID_MARK),
            "date_create": date,
            "callback_phone": format!("+7916{}", Self::PHONE_MARK),
            "name": "Bench Visitor",
            "email": "visitor@example.ru",
            "status": "success",
            "duration": 42,
            "site": "shop.example.ru",
            "page_url": "https://shop.example.ru/catalog?utm_source=yandex&utm_medium=cpc&utm_campaign=bench",
            "referrer": "https://yandex.ru/",
            "ip": "93.184.216.34"
        })
        .to_string();
        let (before_id, rest) = json.split_once(Self::ID_MARK).unwrap_or((&json, ""));
        let (between, after_phone) = rest.split_once(Self::PHONE_MARK).unwrap_or((rest, ""));
        Self {
            parts: [before_id.into(), between.into(), after_phone.into()],
        }
    }

    pub(crate) fn body(&self, n: u64) -> Vec<u8> {
        use std::io::Write;
        let [before_id, between, after_phone] = &self.parts;
        let mut body = Vec::with_capacity(before_id.len() + between.len() + after_phone.len() + 27);
        body.extend_from_slice(before_id.as_bytes());
        let _ = write!(body, "{n}");
        body.extend_from_slice(between.as_bytes());
        let _ = write!(body, "{:07}", n % 10_000_000);
        body.extend_from_slice(after_phone.as_bytes());
        body
    }
}

pub(crate) fn target(url: String, run: &str) -> Target {
    let bodies = CallbackBodies::new(run);
    Target {
        url,
        content_type: "application/json",
        body: Arc::new(move |n| bodies.body(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_bodies_are_json_with_their_own_id_and_phone() {
        let bodies = CallbackBodies::new("run1");
        for n in [0, 7, 12_345_678] {
            let body: serde_json::Value =
                serde_json::from_slice(&bodies.body(n)).expect("well-formed JSON");
            assert_eq!(body["id_call"], format!("bench-run1-{n}"));
            assert_eq!(
                body["callback_phone"],
                format!("+7916{:07}", n % 10_000_000)
            );
            assert_eq!(body["event"], "callback");
            assert!(body["date_create"].as_str().is_some_and(|d| d.len() == 19));
        }
    }
}
