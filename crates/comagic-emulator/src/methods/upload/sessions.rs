//! `upload.sessions`: visitor sessions from another system, which later records may carry as
//! `visitor_session_id`.

use std::net::IpAddr;

use chrono::{NaiveDate, NaiveDateTime, Timelike};
use serde_json::{json, Value};

use super::batch;
use super::checks::{check_campaign, check_site, fmt, not_in_future};
use crate::methods::Call;
use crate::params::Fields;
use crate::records::RecordKind;
use crate::rpc::RpcError;
use crate::state::{Account, SessionInfo};

/// "Максимальный размер JSON | 512 Кб" of `upload.sessions`.
const MAX_SESSIONS_JSON: usize = 512 * 1024;

const SESSION_STRING_FIELDS: &[&str] = &[
    "visitor_browser_name",
    "visitor_browser_version",
    "visitor_os_name",
    "visitor_os_version",
    "visitor_screen",
    "visitor_language",
    "search_engine",
    "search_query",
    "ua_client_id",
    "ym_client_id",
    "referrer",
    "utm_source",
    "utm_medium",
    "utm_term",
    "utm_content",
    "utm_campaign",
    "utm_referrer",
    "utm_expid",
    "openstat_ad",
    "openstat_campaign",
    "openstat_service",
    "openstat_source",
    "gclid",
    "yclid",
    "ymclid",
    "ef_id",
    "tag_from",
    "cm_id",
    "entrance_page_url",
    "entrance_page_title",
];

const SESSION_OTHER_FIELDS: &[&str] = &[
    "ext_id",
    "site_id",
    "date_time",
    "visitor_id",
    "is_visitor_new",
    "duration",
    "visitor_ip_address",
    "campaign_id",
    "visitor_device",
    "adv_system",
];

/// A validated session item.
struct SessionItem<'a> {
    value: &'a Value,
    ext_id: &'a str,
    visitor: Option<i64>,
    info: SessionInfo,
}

fn session<'a>(
    account: &Account,
    value: &'a Value,
    local_now: NaiveDateTime,
) -> Result<SessionItem<'a>, RpcError> {
    let item = Fields::of(value, "sessions", "")?;
    let known: Vec<&str> = SESSION_OTHER_FIELDS
        .iter()
        .chain(SESSION_STRING_FIELDS)
        .copied()
        .collect();
    item.only(&known)?;
    let ext_id = item.req_str("ext_id")?;
    let site = item.req_int("site_id")?;
    check_site(account, "site_id", site)?;
    let date_time = item.req_date_time("date_time")?;
    not_in_future("date_time", date_time, local_now)?;
    let earliest = NaiveDate::from_ymd_opt(2011, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or(NaiveDateTime::MIN);
    if date_time < earliest {
        return Err(RpcError::invalid_date_time(
            "date_time",
            &Value::String(fmt(date_time)),
        ));
    }
    item.req_bool("is_visitor_new")?;
    let ip = item.req_str("visitor_ip_address")?;
    if ip.parse::<IpAddr>().is_err() {
        return Err(RpcError::invalid_parameter_value(
            "visitor_ip_address",
            &Value::String(ip.into()),
        ));
    }
    let visitor = item.opt_int("visitor_id")?;
    if let Some(visitor) = visitor {
        match account.visitor_sites.get(&visitor) {
            Some(&visitor_site) if visitor_site != site => {
                return Err(RpcError::invalid_parameters_combination("visitor_id")
                    .with_value(json!(visitor)));
            }
            _ => {}
        }
    }
    if let Some(duration) = item.opt_int("duration")? {
        let seconds_left_in_day = 86_399 - i64::from(date_time.num_seconds_from_midnight());
        if !(0..=seconds_left_in_day).contains(&duration) {
            return Err(RpcError::invalid_parameter_value(
                "duration",
                &json!(duration),
            ));
        }
    }
    let campaign = item.opt_int("campaign_id")?;
    if let Some(campaign) = campaign.filter(|c| *c != -1) {
        if let Some(expected) = check_campaign(account, "campaign_id", campaign)? {
            if expected != site {
                return Err(RpcError::invalid_parameters_combination("site_id")
                    .with_value(json!(site))
                    .with_param("campaign_site_id", expected));
            }
        }
    }
    item.opt_enum("visitor_device", &["desktop", "mobile", "tablet", "other"])?;
    if let Some(system) = item.opt_int("adv_system")? {
        if !(1..=8).contains(&system) {
            return Err(RpcError::invalid_parameter_value(
                "adv_system",
                &json!(system),
            ));
        }
    }
    for key in SESSION_STRING_FIELDS {
        item.opt_str(key)?;
    }
    Ok(SessionItem {
        value,
        ext_id,
        visitor,
        info: SessionInfo {
            site_id: Some(site),
            campaign_id: campaign.filter(|c| *c != -1),
            started: Some(date_time),
        },
    })
}

/// `upload.sessions`: `data: [{ext_id, session_id}]`. The docs say duplicate sessions are dropped
/// on load, so a repeated ext_id answers with the session id it got the first time (not an error).
pub(in crate::methods) fn sessions(call: Call<'_, '_>) -> Result<Value, RpcError> {
    let (inner, account, params, now) = (call.inner, call.account, call.params, call.now);
    params.only_method(&["sessions"])?;
    let items = batch(params, "sessions")?;
    // "Максимальный размер JSON | 512 Кб": measured on the params as received.
    let size = serde_json::to_vec(params.map()).map_or(0, |json| json.len());
    if size > MAX_SESSIONS_JSON {
        return Err(RpcError::data_limit_exceeded("sessions", MAX_SESSIONS_JSON));
    }
    let acc = &inner.accounts[account];
    let local_now = acc.local_now(now);
    let mut valid = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        valid.push(
            session(acc, item, local_now)
                .map_err(|e| e.with_param(crate::methods::ITEM_INDEX, index))?,
        );
    }
    let mut data = Vec::with_capacity(valid.len());
    for item in valid {
        let existing = inner.accounts[account]
            .session_ext_ids
            .get(item.ext_id)
            .copied();
        let session_id = match existing {
            Some(id) => id,
            None => {
                let id = inner.store(account, RecordKind::Session, item.value, now);
                let acc = &mut inner.accounts[account];
                if let (Some(visitor), Some(site)) = (item.visitor, item.info.site_id) {
                    acc.visitor_sites.insert(visitor, site);
                }
                acc.sessions.insert(id, item.info);
                acc.session_ext_ids.insert(item.ext_id.to_owned(), id);
                id
            }
        };
        data.push(json!({"ext_id": item.ext_id, "session_id": session_id}));
    }
    Ok(json!({"data": data}))
}
