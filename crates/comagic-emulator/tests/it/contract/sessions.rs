//! Rules of upload.sessions (rows `S…`).

use serde_json::{json, Value};

use super::{call, sessions, Ctx, Rule};
use crate::common::{moscow, session, with};

pub fn rules(ctx: &Ctx) -> Vec<Rule> {
    let upload = |id, item: Value| call(id, "upload.sessions", sessions(vec![item]));
    let s = |key: &str, value: Value| with(session("s", 5), key, value);
    let too_many: Vec<Value> = (0..51).map(|i| session(&format!("s01-{i}"), 5)).collect();
    // Two sessions of 300 KB each: under the count limit, over "Максимальный размер JSON 512 Кб".
    let long_page = format!("https://shop.example.ru/?q={}", "x".repeat(300 * 1024));
    let heavy: Vec<Value> = (0..2)
        .map(|i| {
            with(
                session(&format!("s02-{i}"), 5),
                "entrance_page_url",
                json!(long_page),
            )
        })
        .collect();
    // 23:00 of an earlier day, lasting two hours: past 23:59:59 of that day.
    let late = with(
        s("date_time", json!("2026-11-20 23:00:00")),
        "duration",
        json!(7200),
    );
    vec![
        call("S01", "upload.sessions", sessions(too_many))
            .refused("data_limit_exceeded", Some("sessions")),
        call("S02", "upload.sessions", sessions(heavy))
            .refused("data_limit_exceeded", Some("sessions")),
        upload("S03", s("ext_id", Value::Null))
            .refused("required_parameter_missed", Some("ext_id")),
        upload("S04", s("site_id", Value::Null))
            .refused("required_parameter_missed", Some("site_id")),
        upload("S05", s("site_id", json!(999))).refused("entity_not_found", Some("site_id")),
        upload("S06", s("date_time", json!(moscow(-2))))
            .refused("invalid_date_time", Some("date_time")),
        upload("S07", s("date_time", json!("2010-12-31 23:59:59")))
            .refused("invalid_date_time", Some("date_time")),
        upload("S08", s("is_visitor_new", Value::Null))
            .refused("required_parameter_missed", Some("is_visitor_new")),
        upload("S09", s("visitor_ip_address", Value::Null))
            .refused("required_parameter_missed", Some("visitor_ip_address")),
        upload("S10", s("visitor_ip_address", json!("62.173.141")))
            .refused("invalid_parameter_value", Some("visitor_ip_address")),
        upload("S11", late).refused("invalid_parameter_value", Some("duration")),
        upload(
            "S12",
            with(s("visitor_id", json!(77)), "site_id", json!(202)),
        )
        .refused("invalid_parameters_combination", Some("visitor_id")),
        upload("S13", s("campaign_id", json!(101)))
            .refused("invalid_parameters_combination", Some("site_id")),
        upload("S14", s("visitor_device", json!("fridge")))
            .refused("invalid_parameter_value", Some("visitor_device")),
        upload("S15", s("adv_system", json!(9)))
            .refused("invalid_parameter_value", Some("adv_system")),
        upload("S16", session("contract-visit", 1))
            .answers_with("/data/0/session_id", json!(ctx.session_id)),
        call(
            "S17",
            "upload.sessions",
            json!({"access_token": "no-uploads-token", "sessions": [session("s17", 5)]}),
        )
        .refused("method_component_disabled", None),
        upload("S18", s("campaign_id", json!(103)))
            .refused("campaign_is_inactive", Some("campaign_id")),
        upload("S19", s("site_id", json!("201"))).refused("data_type_error", Some("site_id")),
    ]
}
