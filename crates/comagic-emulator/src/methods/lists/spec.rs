//! The documented shape of each `get.*` list method: the fields its page lists (returned by
//! default, or only when asked for in `fields`) and those its "Фильтрация" / "Сортировка" columns
//! mark "да". Each list is written as the page's column reads, one word a field.

use serde_json::{json, Value};

use super::rows;
use crate::rpc::RpcError;
use crate::seed::AccountSeed;

/// One `get.*` list method.
pub(super) struct ListSpec {
    pub method: &'static str,
    /// Returned when `fields` is not given, in this order.
    defaults: &'static str,
    /// Returned only when asked for in `fields`.
    extra: &'static str,
    /// Marked "да" in the "Фильтрация" column.
    filterable: &'static str,
    /// Marked "да" in the "Сортировка" column.
    sortable: &'static str,
    /// The rows, with the fields the seed models (the rest come back as `null`).
    pub rows: fn(&AccountSeed) -> Vec<Value>,
}

pub(super) const SPECS: &[ListSpec] = &[
    ListSpec {
        method: "get.campaigns",
        defaults: "id name description status creation_time campaign_conditions engine type costs \
            cost_ratio cost_ratio_operator site_id site_domain_name site_blocks \
            dynamic_call_tracking_enabled dynamic_call_tracking",
        extra: "static_utm_source static_utm_medium static_utm_campaign static_utm_term \
            static_utm_content static_utm_referrer static_utm_expid",
        filterable: "id name status creation_time engine type costs site_id site_domain_name \
            site_blocks static_utm_source static_utm_medium static_utm_campaign static_utm_term \
            static_utm_content static_utm_referrer static_utm_expid dynamic_call_tracking",
        sortable: "name creation_time engine type costs site_id",
        rows: rows::campaigns,
    },
    ListSpec {
        method: "get.sites",
        defaults: "id domain_name name default_phone_number default_scenario app_key site_key \
            is_editable industry_id industry_name target_call_min_duration track_subdomains \
            cookie_lifetime campaign_lifetime sales_enabled second_communication_period \
            services_enabled replacement_dynamical_block_enabled widget_link show_visitor_id \
            site_blocks connected_integrations is_support_web_directory child_customer_id \
            parent_id creation_date",
        extra: "",
        filterable: "id domain_name name default_phone_number creation_date \
            target_call_min_duration track_subdomains cookie_lifetime campaign_lifetime \
            sales_enabled second_communication_period services_enabled is_support_web_directory \
            child_customer_id site_blocks parent_id",
        sortable: "child_customer_id parent_id",
        rows: rows::sites,
    },
    ListSpec {
        method: "get.sources",
        defaults: "id name description group_id group_name channel_id channel_name \
            channel_mnemonic filter priority is_custom state icon_mnemonic static_parameters",
        extra: "",
        filterable: "id name description group_id group_name channel_id channel_name \
            channel_mnemonic filter priority is_custom state",
        sortable: "id name channel_name channel_mnemonic filter priority is_custom state",
        rows: rows::sources,
    },
    ListSpec {
        method: "get.tags",
        defaults: "id name is_system",
        extra: "",
        filterable: "id name is_system",
        sortable: "name is_system",
        rows: rows::tags,
    },
    ListSpec {
        method: "get.employees",
        defaults: "id login first_name last_name patronymic full_name email status status_id \
            calls_available allowed_in_call_types in_external_allowed_call_directions \
            in_internal_allowed_call_directions allowed_out_call_types \
            out_external_allowed_call_directions out_internal_allowed_call_directions groups \
            call_recording schedule_id schedule_name coach phone_numbers extension operator",
        extra: "",
        filterable: "id login first_name last_name full_name status status_id calls_available \
            allowed_in_call_types in_external_allowed_call_directions \
            in_internal_allowed_call_directions allowed_out_call_types \
            out_external_allowed_call_directions out_internal_allowed_call_directions email \
            call_recording schedule_id schedule_name coach groups phone_numbers extension",
        sortable: "login first_name last_name patronymic full_name calls_available",
        rows: rows::employees,
    },
];

fn has(list: &str, field: &str) -> bool {
    list.split_ascii_whitespace().any(|f| f == field)
}

impl ListSpec {
    pub fn of(method: &str) -> Option<&'static Self> {
        SPECS.iter().find(|spec| spec.method == method)
    }

    /// The fields returned when `fields` is not given.
    pub fn defaults(&self) -> impl Iterator<Item = &'static str> {
        self.defaults.split_ascii_whitespace()
    }

    /// Every field of the method, the extra ones last.
    fn all(&self) -> impl Iterator<Item = &'static str> {
        self.defaults().chain(self.extra.split_ascii_whitespace())
    }

    pub fn known(&self, field: &str) -> bool {
        has(self.defaults, field) || has(self.extra, field)
    }

    /// `Ok` when `field` may be filtered (`for_sort == false`) or sorted by. general.txt: a field
    /// the method does not have at all is `unexpected_parameters` ("указан параметр для
    /// сортировки, фильтрации и выборки, который не существует"); a known one outside the column
    /// is `filter_prohibited` / `sort_prohibited`.
    pub fn check(&self, field: &str, for_sort: bool, path: &str) -> Result<(), RpcError> {
        let allowed = if for_sort {
            self.sortable
        } else {
            self.filterable
        };
        if has(allowed, field) {
            Ok(())
        } else if !self.known(field) {
            Err(RpcError::unexpected_parameters(path).with_value(json!(field)))
        } else if for_sort {
            Err(RpcError::sort_prohibited(path).with_value(json!(field)))
        } else {
            Err(RpcError::filter_prohibited(path).with_value(json!(field)))
        }
    }

    /// A row with every field of the method: the known ones from `known`, the rest null.
    pub fn row(&self, known: Value) -> serde_json::Map<String, Value> {
        let mut known = match known {
            Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        self.all()
            .map(|f| (f.to_owned(), known.remove(f).unwrap_or(Value::Null)))
            .collect()
    }
}
