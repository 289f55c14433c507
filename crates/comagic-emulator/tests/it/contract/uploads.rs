//! Rules of upload.offline_messages (rows `O…`) and upload.chats (rows `C…`).

use chrono::Utc;
use serde_json::{json, Value};

use super::{call, chats, offline, Ctx, Rule};
use crate::common::{chat, message, moscow, with};

/// `item` with several keys set (a null value removes the key).
fn with_all(item: Value, changes: &[(&str, Value)]) -> Value {
    changes
        .iter()
        .fold(item, |item, (key, value)| with(item, key, value.clone()))
}

/// Yekaterinburg's wall clock a minute ago: two hours in Moscow's future.
fn yekaterinburg_now() -> String {
    (Utc::now() - chrono::Duration::minutes(1))
        .with_timezone(&chrono_tz::Asia::Yekaterinburg)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

pub fn offline_message_rules(ctx: &Ctx) -> Vec<Rule> {
    let upload = |id, item: Value| call(id, "upload.offline_messages", offline(vec![item]));
    let m = |changes: &[(&str, Value)]| with_all(message("o"), changes);
    let too_many: Vec<Value> = (0..51).map(|i| message(&format!("o01-{i}"))).collect();
    let session = json!(ctx.session_id);
    vec![
        call("O01", "upload.offline_messages", offline(too_many))
            .refused("data_limit_exceeded", Some("offline_messages")),
        call(
            "O02",
            "upload.offline_messages",
            json!({"access_token": crate::common::TOKEN}),
        )
        .refused("required_parameter_missed", Some("offline_messages")),
        call("O03", "upload.offline_messages", offline(vec![]))
            .refused("invalid_parameter_value", Some("offline_messages")),
        upload("O04", m(&[("date_time", Value::Null)]))
            .refused("required_parameter_missed", Some("date_time")),
        upload("O05", m(&[("date_time", json!(moscow(-2)))]))
            .refused("invalid_date_time", Some("date_time")),
        upload(
            "O06",
            m(&[
                ("visitor_session_id", session.clone()),
                ("date_time", json!(ctx.session_start)),
            ]),
        )
        .refused("invalid_date_time", Some("date_time")),
        upload("O07", m(&[("phone", Value::Null)]))
            .refused("required_parameter_missed", Some("phone")),
        upload("O08", m(&[("phone", json!("+7 916 123-45-67"))]))
            .refused("invalid_parameter_value", Some("phone")),
        upload("O09", m(&[("email", json!("ivan.example.ru"))]))
            .refused("invalid_parameter_value", Some("email")),
        upload("O10", m(&[("site_id", Value::Null)]))
            .refused("required_parameter_missed", Some("visitor_session_id")),
        upload("O11", m(&[("campaign_id", json!(101))]))
            .refused("invalid_parameters_combination", Some("site_id")),
        upload(
            "O12",
            m(&[("visitor_session_id", session), ("site_id", json!(202))]),
        )
        .refused("invalid_parameters_combination", Some("visitor_session_id")),
        upload(
            "O13",
            m(&[("campaign_id", json!(-1)), ("site_id", Value::Null)]),
        )
        .refused("invalid_parameters_combination", Some("campaign_id")),
        upload(
            "O14",
            m(&[("campaign_id", json!(999)), ("site_id", Value::Null)]),
        )
        .refused("entity_not_found", Some("campaign_id")),
        upload(
            "O15",
            m(&[("campaign_id", json!(103)), ("site_id", Value::Null)]),
        )
        .refused("campaign_is_inactive", Some("campaign_id")),
        upload("O16", m(&[("site_id", json!(999))])).refused("entity_not_found", Some("site_id")),
        upload("O17", m(&[("visitor_session_id", json!(123))]))
            .refused("entity_not_found", Some("visitor_session_id")),
        upload(
            "O18",
            m(&[("visitor_session_id", json!(ctx.old_session_id))]),
        )
        .refused("invalid_parameter_value", Some("visitor_session_id")),
        upload("O19", m(&[("source_id", json!(999))]))
            .refused("entity_not_found", Some("source_id")),
        upload("O20", message("stored-m")).refused("duplicate_entity", Some("ext_id")),
        upload(
            "O21",
            m(&[(
                "user_fields",
                json!([{"ext_id": "not_created", "value": "x"}]),
            )]),
        )
        .refused("entity_not_found", Some("user_fields.ext_id")),
        upload("O22", m(&[("date_time", json!(yekaterinburg_now()))]))
            .refused("invalid_date_time", Some("date_time")),
        call(
            "O23",
            "upload.offline_messages",
            json!({"access_token": "demo-token-ekb", "offline_messages": [
                with(message("o23"), "date_time", json!(yekaterinburg_now())),
            ]}),
        )
        .answers(),
        upload(
            "O24",
            m(&[
                ("visitor_session_id", json!(ctx.session_id)),
                ("site_id", Value::Null),
                ("campaign_id", json!(101)),
            ]),
        )
        .refused("invalid_parameters_combination", Some("visitor_session_id")),
    ]
}

pub fn chat_rules(ctx: &Ctx) -> Vec<Rule> {
    let upload = |id, item: Value| call(id, "upload.chats", chats(vec![item]));
    let c = |changes: &[(&str, Value)]| with_all(chat("c"), changes);
    let one_message = |date_time: Value, source: &str, extra: &[(&str, Value)]| {
        let message = json!({"date_time": date_time, "source": source, "message": "Здравствуйте"});
        json!([with_all(message, extra)])
    };
    let too_many: Vec<Value> = (0..51).map(|i| chat(&format!("c01-{i}"))).collect();
    let session = json!(ctx.session_id);
    // One string for the start and the message: equal to the second.
    let start = moscow(10);
    vec![
        call("C01", "upload.chats", chats(too_many)).refused("data_limit_exceeded", Some("chats")),
        upload("C02", c(&[("start_date_time", Value::Null)]))
            .refused("required_parameter_missed", Some("start_date_time")),
        upload("C03", c(&[("start_date_time", json!(moscow(-2)))]))
            .refused("invalid_date_time", Some("start_date_time")),
        upload(
            "C04",
            c(&[
                ("visitor_session_id", session.clone()),
                ("site_id", json!(201)),
                ("start_date_time", json!(ctx.session_start)),
            ]),
        )
        .refused("invalid_date_time", Some("start_date_time")),
        upload("C05", c(&[("phone", Value::Null)]))
            .refused("required_parameter_missed", Some("phone")),
        upload("C06", c(&[("site_id", Value::Null)]))
            .refused("required_parameter_missed", Some("visitor_session_id")),
        upload("C07", c(&[("campaign_id", json!(102))]))
            .refused("invalid_parameters_combination", Some("site_id")),
        upload("C08", c(&[("campaign_id", json!(-1))]))
            .refused("invalid_parameter_value", Some("campaign_id")),
        upload("C09", c(&[("status", Value::Null)]))
            .refused("required_parameter_missed", Some("status")),
        upload("C10", c(&[("status", json!("done"))]))
            .refused("invalid_parameter_value", Some("status")),
        upload("C11", c(&[("initiator", json!("robot"))]))
            .refused("invalid_parameter_value", Some("initiator")),
        upload("C12", c(&[("messages", Value::Null)]))
            .refused("required_parameter_missed", Some("messages")),
        upload("C13", c(&[("messages", json!([]))]))
            .refused("invalid_parameter_value", Some("messages")),
        upload(
            "C14",
            c(&[
                ("start_date_time", json!(start)),
                ("messages", one_message(json!(start), "visitor", &[])),
            ]),
        )
        .refused("invalid_date_time", Some("messages.date_time")),
        upload(
            "C15",
            c(&[("messages", one_message(json!(moscow(-2)), "visitor", &[]))]),
        )
        .refused("invalid_date_time", Some("messages.date_time")),
        upload(
            "C16",
            c(&[("messages", one_message(Value::Null, "visitor", &[]))]),
        )
        .refused("required_parameter_missed", Some("messages.date_time")),
        upload(
            "C17",
            c(&[("messages", one_message(json!(moscow(9)), "bot", &[]))]),
        )
        .refused("invalid_parameter_value", Some("messages.source")),
        upload(
            "C18",
            c(&[("messages", one_message(json!(moscow(9)), "operator", &[]))]),
        )
        .refused("required_parameter_missed", Some("messages.employee_id")),
        upload(
            "C19",
            c(&[(
                "messages",
                one_message(json!(moscow(9)), "operator", &[("employee_id", json!(999))]),
            )]),
        )
        .refused("entity_not_found", Some("messages.employee_id")),
        upload(
            "C20",
            c(&[(
                "messages",
                one_message(json!(moscow(9)), "visitor", &[("message", Value::Null)]),
            )]),
        )
        .refused("required_parameter_missed", Some("messages.message")),
        upload("C21", chat("stored-c")).refused("duplicate_entity", Some("ext_id")),
        upload(
            "C22",
            c(&[
                ("visitor_session_id", json!(ctx.old_session_id)),
                ("site_id", json!(201)),
            ]),
        )
        .refused("invalid_parameter_value", Some("visitor_session_id")),
        upload(
            "C23",
            c(&[("campaign_id", json!(103)), ("site_id", Value::Null)]),
        )
        .refused("campaign_is_inactive", Some("campaign_id")),
        upload("C24", c(&[("source_id", json!(999))]))
            .refused("entity_not_found", Some("source_id")),
        upload("C25", c(&[("phone", json!("8 916 123"))]))
            .refused("invalid_parameter_value", Some("phone")),
        upload(
            "C26",
            c(&[("visitor_session_id", session), ("site_id", json!(202))]),
        )
        .refused("invalid_parameters_combination", Some("visitor_session_id")),
    ]
}
