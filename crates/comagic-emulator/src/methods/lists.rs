//! `get.*` list methods (campaigns, sites, sources, tags, employees) with `filter`, `sort`,
//! `limit`/`offset` paging and `fields`, plus `get.account`.
//!
//! Each method knows its documented top-level fields; fields the seed does not model come back as
//! `null` (or `[]` for lists), following the API's convention for empty values.

use std::cmp::Ordering;

use serde_json::{json, Map, Value};

use crate::params::Fields;
use crate::rpc::RpcError;
use crate::state::Account;

const DEFAULT_LIMIT: i64 = 1000;
const MAX_LIMIT: i64 = 10_000;
const MAX_OFFSET: i64 = 100_000;

const CAMPAIGN_FIELDS: &[&str] = &[
    "id",
    "name",
    "description",
    "status",
    "creation_time",
    "campaign_conditions",
    "engine",
    "type",
    "costs",
    "cost_ratio",
    "cost_ratio_operator",
    "site_id",
    "site_domain_name",
    "site_blocks",
    "dynamic_call_tracking_enabled",
    "dynamic_call_tracking",
];
/// Returned only when asked for in `fields`.
const CAMPAIGN_EXTRA_FIELDS: &[&str] = &[
    "static_utm_source",
    "static_utm_medium",
    "static_utm_campaign",
    "static_utm_term",
    "static_utm_content",
    "static_utm_referrer",
    "static_utm_expid",
];
const SITE_FIELDS: &[&str] = &[
    "id",
    "domain_name",
    "name",
    "default_phone_number",
    "default_scenario",
    "app_key",
    "site_key",
    "is_editable",
    "industry_id",
    "industry_name",
    "target_call_min_duration",
    "track_subdomains",
    "cookie_lifetime",
    "campaign_lifetime",
    "sales_enabled",
    "second_communication_period",
    "services_enabled",
    "replacement_dynamical_block_enabled",
    "widget_link",
    "show_visitor_id",
    "site_blocks",
    "connected_integrations",
    "is_support_web_directory",
    "child_customer_id",
    "parent_id",
    "creation_date",
];
const SOURCE_FIELDS: &[&str] = &[
    "id",
    "name",
    "description",
    "group_id",
    "group_name",
    "channel_id",
    "channel_name",
    "channel_mnemonic",
    "filter",
    "priority",
    "is_custom",
    "state",
    "icon_mnemonic",
    "static_parameters",
];
const TAG_FIELDS: &[&str] = &["id", "name", "is_system"];
const EMPLOYEE_FIELDS: &[&str] = &[
    "id",
    "login",
    "first_name",
    "last_name",
    "patronymic",
    "full_name",
    "email",
    "status",
    "status_id",
    "calls_available",
    "allowed_in_call_types",
    "in_external_allowed_call_directions",
    "in_internal_allowed_call_directions",
    "allowed_out_call_types",
    "out_external_allowed_call_directions",
    "out_internal_allowed_call_directions",
    "groups",
    "call_recording",
    "schedule_id",
    "schedule_name",
    "coach",
    "phone_numbers",
    "extension",
    "operator",
];

/// Fields marked "да" in the "Фильтрация" / "Сортировка" columns of each method's page. A known
/// field outside these is `filter_prohibited` / `sort_prohibited`; a field the method does not have
/// at all is `unexpected_parameters` (general.txt: "указан параметр для сортировки, фильтрации и
/// выборки, который не существует").
const CAMPAIGN_FILTER: &[&str] = &[
    "id",
    "name",
    "status",
    "creation_time",
    "engine",
    "type",
    "costs",
    "site_id",
    "site_domain_name",
    "site_blocks",
    "static_utm_source",
    "static_utm_medium",
    "static_utm_campaign",
    "static_utm_term",
    "static_utm_content",
    "static_utm_referrer",
    "static_utm_expid",
    "dynamic_call_tracking",
];
const CAMPAIGN_SORT: &[&str] = &[
    "name",
    "creation_time",
    "engine",
    "type",
    "costs",
    "site_id",
];
const SITE_FILTER: &[&str] = &[
    "id",
    "domain_name",
    "name",
    "default_phone_number",
    "creation_date",
    "target_call_min_duration",
    "track_subdomains",
    "cookie_lifetime",
    "campaign_lifetime",
    "sales_enabled",
    "second_communication_period",
    "services_enabled",
    "is_support_web_directory",
    "child_customer_id",
    "site_blocks",
    "parent_id",
];
const SITE_SORT: &[&str] = &["child_customer_id", "parent_id"];
const SOURCE_FILTER: &[&str] = &[
    "id",
    "name",
    "description",
    "group_id",
    "group_name",
    "channel_id",
    "channel_name",
    "channel_mnemonic",
    "filter",
    "priority",
    "is_custom",
    "state",
];
const SOURCE_SORT: &[&str] = &[
    "id",
    "name",
    "channel_name",
    "channel_mnemonic",
    "filter",
    "priority",
    "is_custom",
    "state",
];
const TAG_FILTER: &[&str] = &["id", "name", "is_system"];
const TAG_SORT: &[&str] = &["name", "is_system"];
const EMPLOYEE_FILTER: &[&str] = &[
    "id",
    "login",
    "first_name",
    "last_name",
    "full_name",
    "status",
    "status_id",
    "calls_available",
    "allowed_in_call_types",
    "in_external_allowed_call_directions",
    "in_internal_allowed_call_directions",
    "allowed_out_call_types",
    "out_external_allowed_call_directions",
    "out_internal_allowed_call_directions",
    "email",
    "call_recording",
    "schedule_id",
    "schedule_name",
    "coach",
    "groups",
    "phone_numbers",
    "extension",
];
const EMPLOYEE_SORT: &[&str] = &[
    "login",
    "first_name",
    "last_name",
    "patronymic",
    "full_name",
    "calls_available",
];

/// The documented shape of a `get.*` list method.
struct ListSpec {
    /// Returned when `fields` is not given.
    defaults: &'static [&'static str],
    /// Returned only when asked for in `fields`.
    extra: &'static [&'static str],
    filterable: &'static [&'static str],
    sortable: &'static [&'static str],
}

impl ListSpec {
    fn of(method: &str) -> Option<Self> {
        let (defaults, extra, filterable, sortable): (_, &'static [&'static str], _, _) =
            match method {
                "get.campaigns" => (
                    CAMPAIGN_FIELDS,
                    CAMPAIGN_EXTRA_FIELDS,
                    CAMPAIGN_FILTER,
                    CAMPAIGN_SORT,
                ),
                "get.sites" => (SITE_FIELDS, &[], SITE_FILTER, SITE_SORT),
                "get.sources" => (SOURCE_FIELDS, &[], SOURCE_FILTER, SOURCE_SORT),
                "get.tags" => (TAG_FIELDS, &[], TAG_FILTER, TAG_SORT),
                "get.employees" => (EMPLOYEE_FIELDS, &[], EMPLOYEE_FILTER, EMPLOYEE_SORT),
                _ => return None,
            };
        Some(Self {
            defaults,
            extra,
            filterable,
            sortable,
        })
    }

    fn known(&self, field: &str) -> bool {
        self.defaults.contains(&field) || self.extra.contains(&field)
    }

    /// `Ok` when `field` may be filtered (`for_sort == false`) or sorted by.
    fn check(&self, field: &str, for_sort: bool, path: &str) -> Result<(), RpcError> {
        let allowed = if for_sort {
            self.sortable
        } else {
            self.filterable
        };
        if allowed.contains(&field) {
            Ok(())
        } else if !self.known(field) {
            Err(RpcError::unexpected_parameters(path).with_value(json!(field)))
        } else if for_sort {
            Err(RpcError::sort_prohibited(path).with_value(json!(field)))
        } else {
            Err(RpcError::filter_prohibited(path).with_value(json!(field)))
        }
    }
}

/// A row with every field of `fields`, the known ones from `known`, the rest null.
fn row(fields: &[&str], extra: &[&str], known: Value) -> Map<String, Value> {
    let mut known = match known {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    fields
        .iter()
        .chain(extra)
        .map(|f| ((*f).to_owned(), known.remove(*f).unwrap_or(Value::Null)))
        .collect()
}

/// The rows of a `get.*` method (`None`: not a list method).
fn table(account: &Account, method: &str) -> Option<Vec<Map<String, Value>>> {
    let seed = &account.seed;
    let rows = match method {
        "get.campaigns" => seed
            .campaigns
            .iter()
            .map(|c| {
                let domain = c
                    .site_id
                    .and_then(|site| seed.sites.iter().find(|s| s.id == site))
                    .map(|s| s.domain_name.clone());
                row(
                    CAMPAIGN_FIELDS,
                    CAMPAIGN_EXTRA_FIELDS,
                    json!({"id": c.id, "name": c.name, "status": c.status.as_str(),
                        "creation_time": c.creation_time, "type": c.kind, "cost_ratio": 1,
                        "cost_ratio_operator": "wo_changes", "site_id": c.site_id,
                        "site_domain_name": domain, "site_blocks": [],
                        "dynamic_call_tracking_enabled": false}),
                )
            })
            .collect(),
        "get.sites" => seed
            .sites
            .iter()
            .map(|s| {
                row(
                    SITE_FIELDS,
                    &[],
                    json!({"id": s.id, "domain_name": s.domain_name,
                        "name": s.name.clone().unwrap_or_else(|| s.domain_name.clone()),
                        "site_blocks": [], "connected_integrations": []}),
                )
            })
            .collect(),
        "get.sources" => seed
            .sources
            .iter()
            .map(|s| {
                row(
                    SOURCE_FIELDS,
                    &[],
                    json!({"id": s.id, "name": s.name, "channel_name": s.channel_name,
                        "state": s.state, "is_custom": true}),
                )
            })
            .collect(),
        "get.tags" => seed
            .tags
            .iter()
            .map(|t| {
                row(
                    TAG_FIELDS,
                    &[],
                    json!({"id": t.id, "name": t.name, "is_system": t.is_system}),
                )
            })
            .collect(),
        "get.employees" => seed
            .employees
            .iter()
            .map(|e| {
                let full_name = match &e.last_name {
                    Some(last) => format!("{last} {}", e.first_name),
                    None => e.first_name.clone(),
                };
                row(
                    EMPLOYEE_FIELDS,
                    &[],
                    json!({"id": e.id, "login": e.login, "first_name": e.first_name,
                        "last_name": e.last_name, "full_name": full_name, "email": e.email,
                        "groups": [], "phone_numbers": []}),
                )
            })
            .collect(),
        _ => return None,
    };
    Some(rows)
}

/// A `get.*` list method.
pub(super) fn list(
    account: &Account,
    method: &str,
    params: &Fields<'_>,
) -> Result<Value, RpcError> {
    params.only(&[
        "access_token",
        "user_id",
        "limit",
        "offset",
        "filter",
        "fields",
        "sort",
    ])?;
    params.opt_int("user_id")?;
    let spec = ListSpec::of(method).ok_or_else(RpcError::method_not_found)?;
    let mut rows = table(account, method).ok_or_else(RpcError::method_not_found)?;

    let limit = params.opt_int("limit")?.unwrap_or(DEFAULT_LIMIT);
    if !(0..=MAX_LIMIT).contains(&limit) {
        return Err(RpcError::invalid_parameter_value("limit", &json!(limit)));
    }
    let offset = params.opt_int("offset")?.unwrap_or(0);
    if !(0..=MAX_OFFSET).contains(&offset) {
        return Err(RpcError::invalid_parameter_value("offset", &json!(offset)));
    }
    let selected: Vec<String> = match params.opt_array("fields")? {
        None => spec.defaults.iter().map(|f| (*f).to_owned()).collect(),
        Some(fields) => fields
            .iter()
            .map(|f| match f.as_str() {
                Some(name) if spec.known(name) => Ok(name.to_owned()),
                Some(_) => Err(RpcError::unexpected_parameters("fields").with_value(f.clone())),
                None => Err(RpcError::data_type_error("fields", f)),
            })
            .collect::<Result<_, _>>()?,
    };
    if let Some(filter) = params.raw("filter") {
        // Evaluate once on an empty row so a malformed filter fails even when there are no rows.
        matches(filter, &Map::new(), &spec)?;
        let mut kept = Vec::with_capacity(rows.len());
        for row in rows {
            if matches(filter, &row, &spec)? {
                kept.push(row);
            }
        }
        rows = kept;
    }
    if let Some(sort) = params.opt_array("sort")? {
        let mut keys = Vec::new();
        for entry in sort {
            let entry = Fields::of(entry, "sort", "sort")?;
            entry.only(&["field", "order"])?;
            let field = entry.req_str("field")?;
            spec.check(field, true, "sort.field")?;
            let descending = entry.opt_enum("order", &["asc", "desc"])? == Some("desc");
            keys.push((field.to_owned(), descending));
        }
        rows.sort_by(|a, b| {
            keys.iter()
                .map(|(field, descending)| {
                    let order = compare(
                        a.get(field).unwrap_or(&Value::Null),
                        b.get(field).unwrap_or(&Value::Null),
                    );
                    if *descending {
                        order.reverse()
                    } else {
                        order
                    }
                })
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        });
    }
    let total = rows.len();
    let data: Vec<Value> = rows
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|row| {
            Value::Object(
                selected
                    .iter()
                    .map(|f| (f.clone(), row.get(f).cloned().unwrap_or(Value::Null)))
                    .collect(),
            )
        })
        .collect();
    Ok(json!({"data": data, "metadata": {"total_items": total}}))
}

/// `get.account`: `data: [{app_id, name, timezone}]`.
pub(super) fn account(account: &Account, params: &Fields<'_>) -> Result<Value, RpcError> {
    params.only(&["access_token"])?;
    Ok(json!({"data": [{
        "app_id": account.seed.app_id,
        "name": account.seed.name,
        "timezone": account.seed.timezone,
    }]}))
}

const OPERATORS: &[&str] = &[
    "=",
    "!=",
    "<",
    ">",
    "<=",
    ">=",
    "like",
    "ilike",
    "not_like",
    "not_ilike",
    "in",
    "not_in",
    "is_null",
    "is_not_null",
];

/// Evaluate a filter (simple or tree) on a row. Every branch is evaluated (no short-circuit) so
/// that validation errors surface regardless of the data.
fn matches(filter: &Value, row: &Map<String, Value>, spec: &ListSpec) -> Result<bool, RpcError> {
    let node = Fields::of(filter, "filter", "filter")?;
    if node.has("filters") {
        node.only(&["filters", "condition"])?;
        let any = node.opt_enum("condition", &["and", "or"])? == Some("or");
        let results = node
            .req_array("filters")?
            .iter()
            .map(|f| matches(f, row, spec))
            .collect::<Result<Vec<bool>, _>>()?;
        return Ok(if any {
            results.iter().any(|r| *r)
        } else {
            results.iter().all(|r| *r)
        });
    }
    node.only(&["field", "operator", "value"])?;
    let field = node.req_str("field")?;
    spec.check(field, false, "filter.field")?;
    let operator = node.req_enum("operator", OPERATORS)?;
    let expected = node.map().get("value").unwrap_or(&Value::Null);
    let actual = row.get(field).unwrap_or(&Value::Null);
    let as_list = || {
        expected
            .as_array()
            .ok_or_else(|| RpcError::invalid_parameter_value("filter.value", expected))
    };
    let as_pattern = || {
        expected
            .as_str()
            .ok_or_else(|| RpcError::invalid_parameter_value("filter.value", expected))
    };
    let text = actual.as_str().unwrap_or("");
    Ok(match operator {
        "=" => {
            actual == expected || compare(actual, expected) == Ordering::Equal && !actual.is_null()
        }
        "!=" => {
            !(actual == expected
                || compare(actual, expected) == Ordering::Equal && !actual.is_null())
        }
        "<" => compare(actual, expected) == Ordering::Less,
        ">" => compare(actual, expected) == Ordering::Greater,
        "<=" => compare(actual, expected) != Ordering::Greater,
        ">=" => compare(actual, expected) != Ordering::Less,
        "like" => like(text, as_pattern()?),
        "not_like" => !like(text, as_pattern()?),
        "ilike" => like(&text.to_lowercase(), &as_pattern()?.to_lowercase()),
        "not_ilike" => !like(&text.to_lowercase(), &as_pattern()?.to_lowercase()),
        "in" => as_list()?
            .iter()
            .any(|v| compare(actual, v) == Ordering::Equal),
        "not_in" => !as_list()?
            .iter()
            .any(|v| compare(actual, v) == Ordering::Equal),
        "is_null" => actual.is_null(),
        _ => !actual.is_null(),
    })
}

/// Numbers numerically, strings lexically, null before everything.
fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        _ => a.to_string().cmp(&b.to_string()),
    }
}

/// SQL `LIKE` with `%` as the only wildcard.
fn like(text: &str, pattern: &str) -> bool {
    let parts: Vec<&str> = pattern.split('%').collect();
    if parts.len() == 1 {
        return text == pattern;
    }
    let (first, rest) = (parts[0], &parts[1..]);
    let Some(mut remaining) = text.strip_prefix(first) else {
        return false;
    };
    let (last, middle) = match rest.split_last() {
        Some(split) => split,
        None => return true,
    };
    for part in middle {
        match remaining.find(part) {
            Some(at) => remaining = &remaining[at + part.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::like;

    #[test]
    fn like_wildcards() {
        assert!(like("shop.example.ru", "%example%"));
        assert!(like("shop.example.ru", "shop%"));
        assert!(like("shop.example.ru", "%.ru"));
        assert!(!like("shop.example.ru", "%.com"));
        assert!(like("abc", "abc"));
        assert!(!like("abcd", "abc"));
        assert!(like("aXbXc", "a%b%c"));
    }
}
