//! Checks that offline messages, chats and sessions share: contacts, the attribution
//! (`visitor_session_id` / `campaign_id` / `site_id`, which must exist and agree), the source, and
//! times that may not lie in the account's future.

use chrono::NaiveDateTime;
use serde_json::{json, Value};

use crate::params::{is_e164, is_email, Fields};
use crate::rpc::RpcError;
use crate::seed::CampaignStatus;
use crate::state::{Account, SessionInfo};

/// A session may be at most this old when a record is attached to it.
const MAX_SESSION_AGE_DAYS: i64 = 180;

pub(super) fn not_in_future(
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

pub(super) fn fmt(value: NaiveDateTime) -> String {
    value.format(crate::params::DATE_TIME_FORMAT).to_string()
}

pub(super) fn contacts(item: &Fields<'_>, required: bool) -> Result<(), RpcError> {
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

pub(super) fn check_campaign(
    account: &Account,
    field: &str,
    id: i64,
) -> Result<Option<i64>, RpcError> {
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

pub(super) fn check_site(account: &Account, field: &str, id: i64) -> Result<(), RpcError> {
    if account.seed.sites.iter().any(|s| s.id == id) {
        Ok(())
    } else {
        Err(RpcError::entity_not_found(field, &json!(id)))
    }
}

/// `visitor_session_id` / `campaign_id` / `site_id`: one is required, all must exist and agree.
/// `date_time` is the item's own time, named `date_field` (`date_time`, or `start_date_time` for a
/// chat): it must be later than the carried session's start.
pub(super) fn attribution(
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

pub(super) fn check_source(account: &Account, item: &Fields<'_>) -> Result<(), RpcError> {
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
