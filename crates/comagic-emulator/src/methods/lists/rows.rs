//! The rows of each `get.*` list method, built from the account's seed: only the fields the seed
//! models; [`super::spec::ListSpec::row`] fills in the rest as `null` (or the API's empty value).

use serde_json::{json, Value};

use crate::seed::{AccountSeed, EmployeeSeed, SiteSeed, SourceSeed, TagSeed};

pub(super) fn campaigns(seed: &AccountSeed) -> Vec<Value> {
    let domain = |site: Option<i64>| {
        site.and_then(|site| seed.sites.iter().find(|s| s.id == site))
            .map(|s| s.domain_name.clone())
    };
    seed.campaigns
        .iter()
        .map(|c| {
            json!({"id": c.id, "name": c.name, "status": c.status.as_str(),
                "creation_time": c.creation_time, "type": c.kind, "cost_ratio": 1,
                "cost_ratio_operator": "wo_changes", "site_id": c.site_id,
                "site_domain_name": domain(c.site_id), "site_blocks": [],
                "dynamic_call_tracking_enabled": false})
        })
        .collect()
}

pub(super) fn sites(seed: &AccountSeed) -> Vec<Value> {
    let site = |s: &SiteSeed| {
        let name = s.name.clone().unwrap_or_else(|| s.domain_name.clone());
        json!({"id": s.id, "domain_name": s.domain_name, "name": name, "site_blocks": [],
            "connected_integrations": []})
    };
    seed.sites.iter().map(site).collect()
}

pub(super) fn sources(seed: &AccountSeed) -> Vec<Value> {
    let source = |s: &SourceSeed| {
        json!({"id": s.id, "name": s.name, "channel_name": s.channel_name, "state": s.state,
            "is_custom": true})
    };
    seed.sources.iter().map(source).collect()
}

pub(super) fn tags(seed: &AccountSeed) -> Vec<Value> {
    let tag = |t: &TagSeed| json!({"id": t.id, "name": t.name, "is_system": t.is_system});
    seed.tags.iter().map(tag).collect()
}

pub(super) fn employees(seed: &AccountSeed) -> Vec<Value> {
    let employee = |e: &EmployeeSeed| {
        let full_name = match &e.last_name {
            Some(last) => format!("{last} {}", e.first_name),
            None => e.first_name.clone(),
        };
        json!({"id": e.id, "login": e.login, "first_name": e.first_name,
            "last_name": e.last_name, "full_name": full_name, "email": e.email,
            "groups": [], "phone_numbers": []})
    };
    seed.employees.iter().map(employee).collect()
}
