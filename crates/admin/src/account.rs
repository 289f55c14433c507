//! Reading a tenant's own CoMagic account: the lists the settings screen offers (campaigns,
//! sites, sources, tags, employees, the account itself) and the check, at save time, that the
//! chosen ids exist there.
//!
//! Failures are sorted for an operator: credentials CoMagic refuses are the operator's to fix
//! (422); CoMagic being down must not block saving (a warning); anything else while listing is
//! CoMagic's answer passed on (502).

use std::collections::BTreeSet;

use comagic_client::comagic::{errors as codes, Account, Campaign, Employee, Site, Source, Tag};
use comagic_client::{ClientOptions, ComagicClient, ComagicError, ErrorClass};
use leadback_model::{ComagicCredentials, DefaultEntity, TenantSettings};
use serde_json::Value;

use crate::error::ApiError;
use crate::reasons::{add_field_error, Entity, FieldErrors, Reason};
use crate::AdminState;

/// What `GET /admin/v1/tenants/{id}/comagic/{kind}` can list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    Campaigns,
    Sites,
    Sources,
    Tags,
    Employees,
    Account,
}

pub const LIST_KINDS: [ListKind; 6] = [
    ListKind::Campaigns,
    ListKind::Sites,
    ListKind::Sources,
    ListKind::Tags,
    ListKind::Employees,
    ListKind::Account,
];

impl ListKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ListKind::Campaigns => "campaigns",
            ListKind::Sites => "sites",
            ListKind::Sources => "sources",
            ListKind::Tags => "tags",
            ListKind::Employees => "employees",
            ListKind::Account => "account",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        LIST_KINDS.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// A client for one operator request, with the admin side's timeout.
pub(crate) fn client(
    app: &AdminState,
    credentials: ComagicCredentials,
) -> Result<ComagicClient, ComagicError> {
    let options = ClientOptions {
        timeout: app.comagic_timeout,
        ..ClientOptions::default()
    };
    ComagicClient::new(credentials, app.http.clone(), options)
}

/// CoMagic refused the credentials (or the bridge's address, or the URL is unusable): nothing
/// will work until the operator changes them.
pub(crate) fn refused(error: &ComagicError) -> bool {
    match error {
        ComagicError::Config(_) => true,
        ComagicError::HttpStatus { status, .. } => matches!(status, 401 | 403),
        other => other
            .code()
            .is_some_and(|code| matches!(code, codes::AUTH | codes::FORBIDDEN)),
    }
}

/// CoMagic could not be reached or did not answer usably: worth a warning, not a refusal.
pub(crate) fn unreachable(error: &ComagicError) -> bool {
    matches!(
        error.class(),
        ErrorClass::Retryable { .. } | ErrorClass::RateLimited { .. }
    )
}

fn class_name(class: ErrorClass) -> &'static str {
    match class {
        ErrorClass::Retryable { .. } => "retryable",
        ErrorClass::RateLimited { .. } => "rate_limited",
        ErrorClass::TenantPermanent => "tenant_permanent",
        ErrorClass::EventPermanent => "event_permanent",
        ErrorClass::SessionRejected => "session_rejected",
        ErrorClass::AlreadyDelivered => "already_delivered",
    }
}

/// The API's answer to a failed CoMagic read.
pub(crate) fn api_error(error: &ComagicError) -> ApiError {
    if refused(error) {
        ApiError::CredentialsRefused {
            mnemonic: error.mnemonic().map(str::to_owned),
            message: error.message(),
        }
    } else {
        ApiError::Comagic {
            mnemonic: error.mnemonic().map(str::to_owned),
            class: class_name(error.class()),
            message: error.message(),
        }
    }
}

/// One list (or the account) as JSON. The client pages through every list completely.
pub(crate) async fn fetch(client: &ComagicClient, kind: ListKind) -> Result<Value, ComagicError> {
    fn to_json<T: serde::Serialize>(value: T) -> Value {
        // Plain structs of strings and numbers always serialise.
        serde_json::to_value(value).unwrap_or(Value::Null)
    }
    Ok(match kind {
        ListKind::Campaigns => to_json(client.get_campaigns().await?.value),
        ListKind::Sites => to_json(client.get_sites().await?.value),
        ListKind::Sources => to_json(client.get_sources().await?.value),
        ListKind::Tags => to_json(client.get_tags().await?.value),
        ListKind::Employees => to_json(client.get_employees().await?.value),
        ListKind::Account => to_json(client.get_account().await?.value),
    })
}

/// Why one list could not be loaded.
#[derive(Debug, Clone)]
pub(crate) struct ListError {
    pub message: String,
    pub refused: bool,
    pub unreachable: bool,
}

impl ListError {
    fn of(error: &ComagicError) -> Self {
        ListError {
            message: error.message(),
            refused: refused(error),
            unreachable: unreachable(error),
        }
    }
}

/// Everything the settings screen offers, each list loaded independently so one failing
/// (e.g. `get.sources` on an account without Call tracking 3.0) does not hide the others.
#[derive(Debug)]
pub(crate) struct AccountLists {
    pub campaigns: Result<Vec<Campaign>, ListError>,
    pub sites: Result<Vec<Site>, ListError>,
    pub sources: Result<Vec<Source>, ListError>,
    pub tags: Result<Vec<Tag>, ListError>,
    pub employees: Result<Vec<Employee>, ListError>,
    pub account: Result<Account, ListError>,
}

impl AccountLists {
    pub async fn load(client: &ComagicClient) -> Self {
        let (campaigns, sites, sources, tags, employees, account) = tokio::join!(
            client.get_campaigns(),
            client.get_sites(),
            client.get_sources(),
            client.get_tags(),
            client.get_employees(),
            client.get_account(),
        );
        AccountLists {
            campaigns: campaigns.map(|c| c.value).map_err(|e| ListError::of(&e)),
            sites: sites.map(|c| c.value).map_err(|e| ListError::of(&e)),
            sources: sources.map(|c| c.value).map_err(|e| ListError::of(&e)),
            tags: tags.map(|c| c.value).map_err(|e| ListError::of(&e)),
            employees: employees.map(|c| c.value).map_err(|e| ListError::of(&e)),
            account: account.map(|c| c.value).map_err(|e| ListError::of(&e)),
        }
    }

    /// Every list failed the same way (e.g. the client could not be built).
    pub fn failed(error: &ComagicError) -> Self {
        let e = ListError::of(error);
        AccountLists {
            campaigns: Err(e.clone()),
            sites: Err(e.clone()),
            sources: Err(e.clone()),
            tags: Err(e.clone()),
            employees: Err(e.clone()),
            account: Err(e),
        }
    }

    /// The lists' failures, each once.
    fn errors(&self) -> Vec<&ListError> {
        [
            self.campaigns.as_ref().err(),
            self.sites.as_ref().err(),
            self.sources.as_ref().err(),
            self.tags.as_ref().err(),
            self.employees.as_ref().err(),
            self.account.as_ref().err(),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// CoMagic's words when it refused the credentials.
    pub fn refused(&self) -> Option<&ListError> {
        self.errors().into_iter().find(|e| e.refused)
    }

    /// CoMagic's (or the network's) words when it could not be reached.
    pub fn unreachable(&self) -> Option<&ListError> {
        self.errors().into_iter().find(|e| e.unreachable)
    }
}

/// What the account says about chosen settings.
#[derive(Debug, Default)]
pub(crate) struct AccountCheck {
    /// Chosen ids the account does not have (field → why).
    pub fields: FieldErrors,
    /// The credentials were refused: CoMagic's message.
    pub refused: Option<ListError>,
    /// What could not be checked, and why (the settings are saved anyway).
    pub warnings: Vec<Reason>,
    /// The account's time zone as `get.account` reports it (stored with the settings).
    pub account_zone: Option<String>,
}

/// Checks that every chosen id exists in the account.
pub(crate) async fn check_settings(
    client: &ComagicClient,
    settings: &TenantSettings,
) -> AccountCheck {
    let lists = AccountLists::load(client).await;
    let mut check = AccountCheck::default();
    if let Some(refused) = lists.refused() {
        check.refused = Some(refused.clone());
        return check;
    }

    fn verify<T>(
        check: &mut AccountCheck,
        list: &Result<Vec<T>, ListError>,
        id_of: impl Fn(&T) -> i64,
        field: &str,
        entity: Entity,
        wanted: &[i64],
    ) {
        if wanted.is_empty() {
            return;
        }
        match list {
            Ok(items) => {
                let have: BTreeSet<i64> = items.iter().map(&id_of).collect();
                let ids: Vec<i64> = wanted
                    .iter()
                    .copied()
                    .filter(|id| !have.contains(id))
                    .collect();
                if !ids.is_empty() {
                    let reason = Reason::NotInAccount { entity, ids };
                    add_field_error(&mut check.fields, field, reason);
                }
            }
            Err(error) => check.warnings.push(Reason::NotChecked {
                field: field.to_owned(),
                why: error.message.clone(),
            }),
        }
    }

    // -1 ("visitors without campaign") is CoMagic's built-in pseudo-campaign; not every
    // account lists it.
    let campaign: Vec<i64> = match settings.default_entity {
        DefaultEntity::Campaign => settings
            .default_campaign_id
            .filter(|id| *id != -1)
            .into_iter()
            .collect(),
        DefaultEntity::Source => Vec::new(),
    };
    let source: Vec<i64> = match settings.default_entity {
        DefaultEntity::Source => settings.default_source_id.into_iter().collect(),
        DefaultEntity::Campaign => Vec::new(),
    };
    let site: Vec<i64> = settings.default_site_id.into_iter().collect();
    let tags: Vec<i64> = if settings.set_tags {
        settings.tag_ids.clone()
    } else {
        Vec::new()
    };
    let employee: Vec<i64> = settings.chat_employee_id.into_iter().collect();

    verify(
        &mut check,
        &lists.campaigns,
        |c| c.id,
        "default_campaign_id",
        Entity::Campaign,
        &campaign,
    );
    verify(
        &mut check,
        &lists.sources,
        |s| s.id,
        "default_source_id",
        Entity::Source,
        &source,
    );
    verify(
        &mut check,
        &lists.sites,
        |s| s.id,
        "default_site_id",
        Entity::Site,
        &site,
    );
    verify(
        &mut check,
        &lists.tags,
        |t| t.id,
        "tag_ids",
        Entity::Tag,
        &tags,
    );
    verify(
        &mut check,
        &lists.employees,
        |e| e.id,
        "chat_employee_id",
        Entity::Employee,
        &employee,
    );
    check_campaign_site(&mut check, &lists.campaigns, settings);
    match &lists.account {
        Ok(account) => check.account_zone = account.timezone.clone(),
        Err(error) => check
            .warnings
            .push(Reason::AccountZoneUnread(error.message.clone())),
    }
    if let (Some(given), Some(account)) = (&settings.timezone, &check.account_zone) {
        if given != account {
            let reason = Reason::AccountZoneDiffers {
                account: account.clone(),
                given: given.clone(),
            };
            add_field_error(&mut check.fields, "timezone", reason);
        }
    }
    check.warnings.dedup();
    check
}

/// The default campaign must be active and belong to the default site (get.campaigns
/// `site_id`, `status`): CoMagic refuses a campaign with another site's id
/// (`invalid_parameters_combination`) and uploads to an inactive one (`campaign_is_inactive`).
fn check_campaign_site(
    check: &mut AccountCheck,
    campaigns: &Result<Vec<Campaign>, ListError>,
    settings: &TenantSettings,
) {
    let (DefaultEntity::Campaign, Some(id)) =
        (settings.default_entity, settings.default_campaign_id)
    else {
        return;
    };
    let Some(campaign) = campaigns
        .as_ref()
        .ok()
        .and_then(|list| list.iter().find(|c| c.id == id))
    else {
        return;
    };
    if campaign
        .status
        .as_deref()
        .is_some_and(|status| status != "active")
    {
        let reason = Reason::CampaignInactive { id };
        add_field_error(&mut check.fields, "default_campaign_id", reason);
    }
    if let (Some(site), Some(own)) = (settings.default_site_id, campaign.site_id) {
        if site != own {
            let reason = Reason::CampaignOtherSite { id, own, site };
            add_field_error(&mut check.fields, "default_site_id", reason);
        }
    }
}
