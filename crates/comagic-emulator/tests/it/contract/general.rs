//! Rules of general.txt and login.user (rows `G…`).

use serde_json::json;

use super::{call, offline, raw, Ctx, Rule};
use crate::common::{message, with, TOKEN};

pub fn rules(ctx: &Ctx) -> Vec<Rule> {
    let tags = |token: &str| json!({"access_token": token});
    vec![
        raw("G01", "{not json").refused("parse_error", None),
        raw(
            "G02",
            json!([{"jsonrpc": "2.0", "id": 1, "method": "get.tags", "params": tags(TOKEN)}])
                .to_string(),
        )
        .refused("batch_opreations_not_supported", None),
        raw(
            "G03",
            json!({"jsonrpc": "2.0", "method": "get.tags", "params": tags(TOKEN)}).to_string(),
        )
        .refused("notifications_not_supported", None),
        raw(
            "G04",
            json!({"jsonrpc": "1.0", "id": 1, "method": "get.tags", "params": tags(TOKEN)})
                .to_string(),
        )
        .refused("invalid_request", Some("jsonrpc")),
        call("G05", "get.everything", tags(TOKEN)).refused("method_not_found", None),
        raw(
            "G06",
            json!({"jsonrpc": "2.0", "id": 1, "method": "get.tags"}).to_string(),
        )
        .refused("invalid_request", Some("params")),
        call(
            "G07",
            "get.tags",
            json!({"access_token": TOKEN, "colour": 1}),
        )
        .refused("unexpected_parameters", Some("colour")),
        call(
            "G08",
            "upload.offline_messages",
            offline(vec![with(message("g08"), "phone", json!(79161234567_u64))]),
        )
        .refused("data_type_error", Some("phone")),
        call("G09", "get.tags", json!({}))
            .refused("required_parameter_missed", Some("access_token")),
        call("G10", "get.tags", tags("no-such-key")).refused("access_token_invalid", None),
        call("G11", "get.tags", tags(&ctx.expired_login_key)).refused("access_token_invalid", None),
        call("G12", "get.tags", tags("expired-key")).refused("access_token_expired", None),
        call("G13", "get.tags", tags("blocked-key")).refused("access_token_blocked", None),
        call(
            "G14",
            "login.user",
            json!({"login": "demo", "password": "wrong"}),
        )
        .refused("auth_error", None),
        call(
            "G15",
            "upload.offline_messages",
            json!({"access_token": "no-uploads-token", "offline_messages": [message("g15")]}),
        )
        .refused("method_component_disabled", None),
        call("G16", "get.tags", tags("spent-token")).refused("limit_exceeded", None),
        call(
            "G17",
            "upload.offline_messages",
            offline(vec![with(
                message("g17"),
                "date_time",
                json!("2026-11-23T10:20:30"),
            )]),
        )
        .refused("invalid_parameter_value", Some("date_time")),
        call(
            "G18",
            "upload.offline_messages",
            offline(vec![
                message("g18-ok"),
                with(message("g18-bad"), "phone", json!("12")),
            ]),
        )
        .refused("invalid_parameter_value", Some("phone")),
    ]
}
