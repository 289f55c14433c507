//! `upload.offline_messages`, `upload.chats`, `upload.sessions`.
//!
//! The whole batch is validated before anything is stored: if any item is invalid the call fails
//! with that item's error and nothing is stored (its position is added as `data.params.index` and
//! stripped again unless `report_item_index` is on). The docs do not say what the real API does
//! with partly valid batches; this is an assumption.

use std::collections::HashSet;
use std::net::IpAddr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Timelike, Utc};
use serde_json::{json, Value};

use super::MAX_BATCH;
use crate::ext_ids::RepeatedExtId;
use crate::params::{is_e164, is_email, Fields};
use crate::records::RecordKind;
use crate::rpc::RpcError;
use crate::seed::CampaignStatus;
use crate::state::{Account, Inner, SessionInfo};

/// "Максимальный размер JSON | 512 Кб" of `upload.sessions`.
const MAX_SESSIONS_JSON: usize = 512 * 1024;
/// A session may be at most this old when a record is attached to it.
const MAX_SESSION_AGE_DAYS: i64 = 180;

const OFFLINE_MESSAGE_FIELDS: &[&str] = &[
    "date_time",
    "name",
    "phone",
    "email",
    "message",
    "visitor_session_id",
    "campaign_id",
    "source_id",
    "site_id",
    "form_name",
    "ext_id",
    "user_fields",
];

const CHAT_FIELDS: &[&str] = &[
    "start_date_time",
    "name",
    "phone",
    "email",
    "status",
    "initiator",
    "visitor_session_id",
    "campaign_id",
    "source_id",
    "site_id",
    "messages",
    "ext_id",
];

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

/// The list parameter of an upload: present, an array, 1..=50 items.
fn batch<'a>(params: &Fields<'a>, key: &str) -> Result<&'a Vec<Value>, RpcError> {
    let items = params.req_array(key)?;
    if items.is_empty() {
        return Err(RpcError::invalid_parameter_value(
            key,
            &Value::Array(vec![]),
        ));
    }
    if items.len() > MAX_BATCH {
        return Err(RpcError::data_limit_exceeded(key, MAX_BATCH).with_param("count", items.len()));
    }
    Ok(items)
}

fn not_in_future(
    field: &str,
    value: NaiveDateTime,
    local_now: NaiveDateTime,
) -> Result<(), RpcError> {
    if value > local_now {
        Err(
            RpcError::invalid_date_time(field, &Value::String(fmt(value)))
                .with_param("reason", "in_future"),
        )
    } else {
        Ok(())
    }
}

fn fmt(value: NaiveDateTime) -> String {
    value.format(crate::params::DATE_TIME_FORMAT).to_string()
}

fn contacts(item: &Fields<'_>, required: bool) -> Result<(), RpcError> {
    let phone = item.opt_str("phone")?;
    let email = item.opt_str("email")?;
    if required && phone.is_none() && email.is_none() {
        return Err(RpcError::required_parameter_missed(item.path("phone"))
            .with_param("one_of", json!(["phone", "email"])));
    }
    if let Some(phone) = phone {
        if !is_e164(phone) {
            return Err(RpcError::invalid_parameter_value(
                item.path("phone"),
                &Value::String(phone.into()),
            ));
        }
    }
    if let Some(email) = email {
        if !is_email(email) {
            return Err(RpcError::invalid_parameter_value(
                item.path("email"),
                &Value::String(email.into()),
            ));
        }
    }
    Ok(())
}

fn check_campaign(account: &Account, field: &str, id: i64) -> Result<Option<i64>, RpcError> {
    let campaign = account
        .seed
        .campaigns
        .iter()
        .find(|c| c.id == id)
        .ok_or_else(|| RpcError::entity_not_found(field, &json!(id)))?;
    if campaign.status == CampaignStatus::Inactive {
        return Err(RpcError::campaign_is_inactive(field, &json!(id)));
    }
    Ok(campaign.site_id)
}

fn check_site(account: &Account, field: &str, id: i64) -> Result<(), RpcError> {
    if account.seed.sites.iter().any(|s| s.id == id) {
        Ok(())
    } else {
        Err(RpcError::entity_not_found(field, &json!(id)))
    }
}

/// `visitor_session_id` / `campaign_id` / `site_id`: one is required, all must exist and agree.
/// `date_time` is the item's own time, named `date_field` (`date_time`, or `start_date_time` for a
/// chat): it must be later than the carried session's start.
fn attribution(
    account: &Account,
    item: &Fields<'_>,
    (date_field, date_time): (&str, NaiveDateTime),
    for_chat: bool,
) -> Result<(), RpcError> {
    let session = item.opt_int("visitor_session_id")?;
    let campaign = item.opt_int("campaign_id")?;
    let site = item.opt_int("site_id")?;
    if session.is_none() && campaign.is_none() && site.is_none() {
        return Err(
            RpcError::required_parameter_missed(item.path("visitor_session_id")).with_param(
                "one_of",
                json!(["visitor_session_id", "campaign_id", "site_id"]),
            ),
        );
    }
    if let Some(site) = site {
        check_site(account, &item.path("site_id"), site)?;
    }
    // The site the item is on: its own, or its campaign's.
    let mut effective_site = site;
    if let Some(campaign) = campaign {
        if campaign == -1 {
            // -1 is "visitors without a campaign": chats must say it with site_id alone.
            if for_chat {
                return Err(RpcError::invalid_parameter_value(
                    item.path("campaign_id"),
                    &json!(-1),
                ));
            }
            if site.is_none() {
                return Err(
                    RpcError::invalid_parameters_combination(item.path("campaign_id"))
                        .with_value(json!(-1))
                        .with_param("requires", "site_id"),
                );
            }
        } else {
            let campaign_site = check_campaign(account, &item.path("campaign_id"), campaign)?;
            effective_site = effective_site.or(campaign_site);
            if let (Some(expected), Some(site)) = (campaign_site, site) {
                if expected != site {
                    return Err(
                        RpcError::invalid_parameters_combination(item.path("site_id"))
                            .with_value(json!(site))
                            .with_param("campaign_site_id", expected),
                    );
                }
            }
        }
    }
    if let Some(session_id) = session {
        let info = u64::try_from(session_id)
            .ok()
            .and_then(|id| account.sessions.get(&id))
            .ok_or_else(|| {
                RpcError::entity_not_found(item.path("visitor_session_id"), &json!(session_id))
            })?;
        check_session(
            info,
            item,
            session_id,
            effective_site,
            campaign,
            (date_field, date_time),
        )?;
    }
    Ok(())
}

fn check_session(
    info: &SessionInfo,
    item: &Fields<'_>,
    session_id: i64,
    site: Option<i64>,
    campaign: Option<i64>,
    (date_field, date_time): (&str, NaiveDateTime),
) -> Result<(), RpcError> {
    let inconsistent = matches!((info.site_id, site), (Some(a), Some(b)) if a != b)
        || matches!((info.campaign_id, campaign), (Some(a), Some(b)) if a != b && b != -1);
    if inconsistent {
        return Err(
            RpcError::invalid_parameters_combination(item.path("visitor_session_id"))
                .with_value(json!(session_id)),
        );
    }
    if let Some(started) = info.started {
        // "Должна быть больше чем у переданной сессии посетителя": equal is not later.
        if date_time <= started {
            return Err(RpcError::invalid_date_time(
                item.path(date_field),
                &Value::String(fmt(date_time)),
            )
            .with_param("session_start", fmt(started)));
        }
        if (date_time - started).num_days() >= MAX_SESSION_AGE_DAYS {
            return Err(RpcError::invalid_parameter_value(
                item.path("visitor_session_id"),
                &json!(session_id),
            )
            .with_param("reason", "session_too_old"));
        }
    }
    Ok(())
}

fn check_source(account: &Account, item: &Fields<'_>) -> Result<(), RpcError> {
    if let Some(source) = item.opt_int("source_id")? {
        let usable = account
            .seed
            .sources
            .iter()
            .any(|s| s.id == source && s.state != "removed");
        if !usable {
            return Err(RpcError::entity_not_found(
                item.path("source_id"),
                &json!(source),
            ));
        }
    }
    Ok(())
}

/// The ext_ids of one batch, checked against the account's and each other.
struct BatchExtIds<'a> {
    repeated: RepeatedExtId,
    seen: HashSet<&'a str>,
}

impl<'a> BatchExtIds<'a> {
    fn new(repeated: RepeatedExtId) -> Self {
        Self {
            repeated,
            seen: HashSet::new(),
        }
    }

    /// In [`RepeatedExtId::Refuse`] mode a repeated ext_id (already stored, or earlier in this
    /// batch) is `duplicate_entity`; in `Update` mode it is let through to replace the record.
    fn check(
        &mut self,
        account: &Account,
        kind: RecordKind,
        item: &Fields<'a>,
    ) -> Result<(), RpcError> {
        let Some(ext_id) = item.opt_str("ext_id")? else {
            return Ok(());
        };
        if self.repeated == RepeatedExtId::Update {
            return Ok(());
        }
        let stored = account.ext_ids.get(&(kind, ext_id.to_owned()));
        if stored.is_some() || !self.seen.insert(ext_id) {
            let mut error =
                RpcError::duplicate_entity(item.path("ext_id"), &Value::String(ext_id.into()));
            if let Some(id) = stored {
                error = error.with_param("id", *id);
            }
            return Err(error);
        }
        Ok(())
    }
}

fn offline_message<'a>(
    account: &Account,
    value: &'a Value,
    local_now: NaiveDateTime,
    ext_ids: &mut BatchExtIds<'a>,
) -> Result<(), RpcError> {
    let item = Fields::of(value, "offline_messages", "")?;
    item.only(OFFLINE_MESSAGE_FIELDS)?;
    // Documented as required although "the call time is used if absent": the emulator is strict.
    let date_time = item.req_date_time("date_time")?;
    not_in_future("date_time", date_time, local_now)?;
    for key in ["name", "message", "form_name"] {
        item.opt_str(key)?;
    }
    contacts(&item, true)?;
    attribution(account, &item, ("date_time", date_time), false)?;
    check_source(account, &item)?;
    if let Some(fields) = item.opt_array("user_fields")? {
        for field in fields {
            let field = Fields::of(field, "user_fields", "user_fields")?;
            field.only(&["ext_id", "value"])?;
            let ext_id = field.req_str("ext_id")?;
            // "Перед тем как передать, нужно создать пользовательское поле".
            if !account
                .seed
                .offline_message_user_fields
                .iter()
                .any(|f| f == ext_id)
            {
                return Err(RpcError::entity_not_found(
                    "user_fields.ext_id",
                    &json!(ext_id),
                ));
            }
            field.opt_str("value")?;
        }
    }
    ext_ids.check(account, RecordKind::OfflineMessage, &item)
}

fn chat<'a>(
    account: &Account,
    value: &'a Value,
    local_now: NaiveDateTime,
    ext_ids: &mut BatchExtIds<'a>,
) -> Result<(), RpcError> {
    let item = Fields::of(value, "chats", "")?;
    item.only(CHAT_FIELDS)?;
    let start = item.req_date_time("start_date_time")?;
    not_in_future("start_date_time", start, local_now)?;
    item.opt_str("name")?;
    // The page's header lists "phone или email" among the required parameters; its table marks
    // each optional alone. The stricter reading wins: one of the two is required.
    contacts(&item, true)?;
    item.req_enum("status", &["lost", "succeed", "refused"])?;
    item.opt_enum("initiator", &["operator", "visitor", "autoinvite"])?;
    attribution(account, &item, ("start_date_time", start), true)?;
    check_source(account, &item)?;
    let messages = item.req_array("messages")?;
    if messages.is_empty() {
        return Err(RpcError::invalid_parameter_value(
            item.path("messages"),
            &json!([]),
        ));
    }
    for (index, message) in messages.iter().enumerate() {
        chat_message(account, message, start, local_now)
            .map_err(|e| e.with_param(super::MESSAGE_INDEX, index))?;
    }
    ext_ids.check(account, RecordKind::Chat, &item)
}

fn chat_message(
    account: &Account,
    value: &Value,
    start: NaiveDateTime,
    local_now: NaiveDateTime,
) -> Result<(), RpcError> {
    let message = Fields::of(value, "messages", "messages")?;
    message.only(&["date_time", "source", "employee_id", "message"])?;
    let date_time = message.req_date_time("date_time")?;
    not_in_future("messages.date_time", date_time, local_now)?;
    // "Должна быть позже чем start_date_time": a message at the chat's start is refused.
    if date_time <= start {
        return Err(RpcError::invalid_date_time(
            "messages.date_time",
            &Value::String(fmt(date_time)),
        )
        .with_param("start_date_time", fmt(start)));
    }
    let source = message.req_enum("source", &["operator", "visitor", "system"])?;
    message.req_str("message")?;
    match message.opt_int("employee_id")? {
        None if source == "operator" => {
            Err(RpcError::required_parameter_missed("messages.employee_id"))
        }
        None => Ok(()),
        Some(id) if account.seed.employees.iter().any(|e| e.id == id) => Ok(()),
        Some(id) => Err(RpcError::entity_not_found(
            "messages.employee_id",
            &json!(id),
        )),
    }
}

/// Validate every item, then store (or, for a repeated ext_id in `Update` mode, replace) them all.
fn upload_records(
    inner: &mut Inner,
    account: usize,
    params: &Fields<'_>,
    now: DateTime<Utc>,
    (list, kind): (&str, RecordKind),
    repeated: RepeatedExtId,
) -> Result<Value, RpcError> {
    params.only(&["access_token", "user_id", list])?;
    params.opt_int("user_id")?;
    let items = batch(params, list)?;
    let acc = &inner.accounts[account];
    let local_now = acc.local_now(now);
    let mut ext_ids = BatchExtIds::new(repeated);
    for (index, item) in items.iter().enumerate() {
        let checked = match kind {
            RecordKind::Chat => chat(acc, item, local_now, &mut ext_ids),
            _ => offline_message(acc, item, local_now, &mut ext_ids),
        };
        if let Err(error) = checked {
            // A refused repeat is still an upload of that ext_id: the counter shows it.
            if error.mnemonic == "duplicate_entity" {
                if let Some(Value::String(ext_id)) = &error.value {
                    inner.count_upload(account, kind, ext_id);
                }
            }
            return Err(error.with_param(super::ITEM_INDEX, index));
        }
    }
    let data: Vec<Value> = items
        .iter()
        .map(|item| json!({"id": inner.upsert(account, kind, item, now)}))
        .collect();
    Ok(json!({"data": data}))
}

pub(super) fn offline_messages(
    inner: &mut Inner,
    account: usize,
    params: &Fields<'_>,
    now: DateTime<Utc>,
    repeated: RepeatedExtId,
) -> Result<Value, RpcError> {
    let list = ("offline_messages", RecordKind::OfflineMessage);
    upload_records(inner, account, params, now, list, repeated)
}

pub(super) fn chats(
    inner: &mut Inner,
    account: usize,
    params: &Fields<'_>,
    now: DateTime<Utc>,
    repeated: RepeatedExtId,
) -> Result<Value, RpcError> {
    upload_records(
        inner,
        account,
        params,
        now,
        ("chats", RecordKind::Chat),
        repeated,
    )
}

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
pub(super) fn sessions(
    inner: &mut Inner,
    account: usize,
    params: &Fields<'_>,
    now: DateTime<Utc>,
) -> Result<Value, RpcError> {
    params.only(&["access_token", "user_id", "sessions"])?;
    params.opt_int("user_id")?;
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
            session(acc, item, local_now).map_err(|e| e.with_param(super::ITEM_INDEX, index))?,
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
