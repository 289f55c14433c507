//! Webhook bodies: `RawPayload::parse` with any content type and bytes, then everything the
//! ingress and the worker do with a payload (ping test, event id, event, mapping). None may panic.
#![no_main]

use chrono::DateTime;
use chrono_tz::Tz;
use leadback_model::{map, map_with_default, DefaultEntity, LeadbackEvent, RawPayload, TenantSettings};
use libfuzzer_sys::fuzz_target;

const KNOWN_TYPES: [Option<&str>; 6] = [
    None,
    Some("application/json"),
    Some("application/x-www-form-urlencoded"),
    Some("multipart/form-data; boundary=X"),
    Some("text/plain; charset=utf-8"),
    Some("application/octet-stream"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    // Low selectors pick a real content type; the others take one from the input.
    let (content_type, body) = match KNOWN_TYPES.get(usize::from(selector)) {
        Some(known) => (known.map(str::to_owned), rest),
        None => {
            let len = usize::from(selector % 64).min(rest.len());
            let (ct, body) = rest.split_at(len);
            (Some(String::from_utf8_lossy(ct).into_owned()), body)
        }
    };
    let Ok(payload) = RawPayload::parse(content_type.as_deref(), body) else {
        return;
    };
    let _ = payload.is_ping();
    let _ = payload.event_id().ext_id();
    let zone = if selector % 2 == 0 { Tz::Europe__Moscow } else { Tz::Pacific__Kiritimati };
    let Ok(event) = LeadbackEvent::from_payload(&payload, zone) else {
        return;
    };
    let _ = event.has_visit_data();
    let now = DateTime::from_timestamp(1_795_000_000, 0).unwrap_or_default();
    for settings in settings_variants() {
        if let Ok(plan) = map(&event, &settings, now) {
            let _ = plan.tag_params(&settings.tag_ids);
            let _ = plan.tag_items(&settings.tag_ids);
            let _ = plan.ext_id();
        }
        let _ = map_with_default(&event, &settings, now);
    }
});

fn settings_variants() -> [TenantSettings; 3] {
    let campaign = TenantSettings {
        set_tags: true,
        tag_ids: vec![401, 401, 402],
        default_campaign_id: Some(102),
        default_site_id: Some(201),
        chat_employee_id: Some(501),
        ..TenantSettings::default()
    };
    let sessions = TenantSettings {
        upload_sessions: true,
        default_campaign_id: Some(-1),
        timezone: Some("Asia/Kamchatka".to_owned()),
        ..campaign.clone()
    };
    let source = TenantSettings {
        ignore_session: true,
        default_entity: DefaultEntity::Source,
        default_source_id: Some(7),
        chat_employee_id: None,
        ..campaign.clone()
    };
    [campaign, sessions, source]
}
