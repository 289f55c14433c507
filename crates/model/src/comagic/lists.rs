//! `get.*` methods: paging parameters and the list items the settings screen needs. Items keep
//! only the columns the bridge uses; the rest is ignored.

use serde::{Deserialize, Serialize};

use super::envelope::Metadata;
use super::lenient::null_as_default;

/// CoMagic's page size when none is given.
pub const DEFAULT_PAGE_LIMIT: u32 = 1000;
/// The largest `limit` CoMagic accepts.
pub const MAX_PAGE_LIMIT: u32 = 10_000;

/// `params` of a `get.*` list method (the client adds `access_token`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetListParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
    /// A filter or filter tree, as in general.txt "Критерии фильтрации".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<serde_json::Value>,
}

impl GetListParams {
    pub fn page(limit: u32, offset: u32) -> Self {
        Self {
            limit: Some(limit),
            offset: Some(offset),
            ..Self::default()
        }
    }
}

/// A `result` that carries a list in `data`: a `get.*` method's (with `metadata.total_items` and
/// limits) or an upload's (one entry per uploaded item).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(serialize = "T: Serialize", deserialize = "T: Deserialize<'de>"))]
pub struct ListResult<T> {
    #[serde(default = "Vec::new", deserialize_with = "null_as_default")]
    pub data: Vec<T>,
    #[serde(default, alias = "meta_data", skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

impl<T> Default for ListResult<T> {
    fn default() -> Self {
        Self {
            data: Vec::new(),
            metadata: None,
        }
    }
}

/// An advertising campaign (`get.campaigns`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Campaign {
    pub id: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    /// `active` / `inactive` (kept as text: the enum is not listed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_domain_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    pub campaign_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_time: Option<String>,
}

/// A site of the account (`get.sites`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Site {
    pub id: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub domain_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_key: Option<String>,
}

/// A traffic source (`get.sources`, Call tracking 3.0 accounts only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub id: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_name: Option<String>,
}

/// A tag (`get.tags`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub id: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_system: Option<bool>,
}

/// An employee (`get.employees`), for crediting operator chat messages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Employee {
    pub id: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub full_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// The account (`get.account`): its IANA time zone is what matters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Account {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}
