//! Tenant health: `GET /admin/v1/tenants/{id}/health` and the `status` of each tenant in the
//! list.
//!
//! What the ingress and the worker saw (last accepted, last delivered, last error, CoMagic's
//! limits) comes from `tenant_activity`, which they write at most once a second per tenant, so
//! it is right whichever process served the events. The health answer adds what only a live
//! look can tell: one read-only `get.account` call with the admin side's CoMagic timeout
//! (reachable, credentials accepted, the account's time zone, the freshest limits). The list's
//! status uses stored data only (no CoMagic call per tenant).

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use bridge_store::{DeadLetterCount, LimitsSeen, Tenant, TenantActivity};
use chrono::{DateTime, Utc};
use leadback_model::LastError;
use serde::Serialize;
use uuid::Uuid;

use crate::account;
use crate::api::ApiTenant;
use crate::error::ApiError;
use crate::reasons::Reason;
use crate::AdminState;

/// A tenant's state at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    /// Delivering (or nothing received yet), nothing waiting for an operator.
    Ok,
    /// Events wait for CoMagic (unreachable, erroring, or the budget spent); they go on by
    /// themselves.
    WaitingForComagic,
    /// Something only an operator can fix: dead letters, refused credentials, inactive.
    NeedsAttention,
}

impl TenantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Ok => "ok",
            TenantStatus::WaitingForComagic => "waiting_for_comagic",
            TenantStatus::NeedsAttention => "needs_attention",
        }
    }
}

/// A status and why: `status_reason` in English for the API, `reason` for the pages to say in
/// their own language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusView {
    pub status: TenantStatus,
    pub status_reason: String,
    #[serde(skip)]
    pub reason: StatusReason,
}

/// Why a tenant has its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusReason {
    Inactive,
    /// Open dead letters: how many, and `count class` per class.
    DeadLetters {
        total: u64,
        classes: Vec<String>,
    },
    /// The last failure retries by itself.
    Waiting {
        class: String,
        message: String,
        at: DateTime<Utc>,
    },
    BudgetSpent {
        until: DateTime<Utc>,
    },
    /// CoMagic refused the stored credentials (its message).
    CredentialsRefused(String),
    /// CoMagic did not answer (why).
    Unreachable(String),
    NothingYet,
    LastDelivery(DateTime<Utc>),
    LastAccepted(DateTime<Utc>),
}

impl StatusReason {
    /// The reason in English (`russian: false`) or Russian.
    pub fn text(&self, russian: bool) -> String {
        use StatusReason::*;
        match (self, russian) {
            (Inactive, false) => {
                "the tenant is inactive: its webhooks are refused and nothing is delivered".into()
            }
            (Inactive, true) => {
                "интеграция выключена: вебхуки отклоняются, ничего не передаётся".into()
            }
            (DeadLetters { total, classes }, false) => format!(
                "{total} dead letter(s) ({}): fix the cause, then replay them",
                classes.join(", ")
            ),
            (DeadLetters { total, classes }, true) => format!(
                "недоставленных событий: {total} ({}): устраните причину и повторите их",
                classes.join(", ")
            ),
            (Waiting { class, message, at }, _) => format!("{class}: {message} ({at})"),
            (BudgetSpent { until }, false) => {
                format!("the CoMagic API budget is spent until {until}")
            }
            (BudgetSpent { until }, true) => format!("лимит запросов CoMagic исчерпан до {until}"),
            (CredentialsRefused(why), false) => format!("CoMagic refused the credentials: {why}"),
            (CredentialsRefused(why), true) => format!("CoMagic отклонил ключ доступа: {why}"),
            (Unreachable(why), false) => format!("CoMagic did not answer: {why}"),
            (Unreachable(why), true) => format!("CoMagic не ответил: {why}"),
            (NothingYet, false) => "no webhook received yet".into(),
            (NothingYet, true) => "вебхуков ещё не было".into(),
            (LastDelivery(at), false) => format!("last delivery at {at}"),
            (LastDelivery(at), true) => format!("последняя доставка {at}"),
            (LastAccepted(at), false) => format!("last webhook accepted at {at}"),
            (LastAccepted(at), true) => format!("последний вебхук принят {at}"),
        }
    }
}

impl StatusView {
    fn new(status: TenantStatus, reason: StatusReason) -> StatusView {
        StatusView {
            status,
            status_reason: reason.text(false),
            reason,
        }
    }
}

/// Failure classes that retry by themselves (the event waits for CoMagic).
const WAITING_CLASSES: [&str; 2] = ["retryable", "rate_limited"];

/// The status from stored data: the tenant, its activity and its open dead letters.
pub fn status_of(
    tenant: &Tenant,
    activity: Option<&TenantActivity>,
    dead: &[DeadLetterCount],
    now: DateTime<Utc>,
) -> StatusView {
    use TenantStatus::*;
    if !tenant.active {
        return StatusView::new(NeedsAttention, StatusReason::Inactive);
    }
    let total: u64 = dead.iter().map(|d| d.count).sum();
    if total > 0 {
        let classes: Vec<String> = dead
            .iter()
            .map(|d| format!("{} {}", d.count, d.class))
            .collect();
        return StatusView::new(NeedsAttention, StatusReason::DeadLetters { total, classes });
    }
    let last_delivered = activity.and_then(|a| a.last_delivered_at);
    if let Some(error) = activity.and_then(|a| a.last_error.as_ref()) {
        let since_delivery = last_delivered.is_none_or(|d| error.at > d);
        if since_delivery && WAITING_CLASSES.contains(&error.class.as_str()) {
            return StatusView::new(
                WaitingForComagic,
                StatusReason::Waiting {
                    class: error.class.clone(),
                    message: error.message.clone(),
                    at: error.at,
                },
            );
        }
    }
    if let Some(until) = activity
        .and_then(|a| a.limits.as_ref())
        .and_then(|l| spent_until(l, now))
    {
        return StatusView::new(WaitingForComagic, StatusReason::BudgetSpent { until });
    }
    match (activity.and_then(|a| a.last_accepted_at), last_delivered) {
        (None, None) => StatusView::new(Ok, StatusReason::NothingYet),
        (_, Some(at)) => StatusView::new(Ok, StatusReason::LastDelivery(at)),
        (Some(at), None) => StatusView::new(Ok, StatusReason::LastAccepted(at)),
    }
}

/// When a spent window (day first) resets, if one is spent and has not reset yet.
fn spent_until(limits: &LimitsSeen, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let spent = |left: Option<i64>, reset: Option<DateTime<Utc>>| match (left, reset) {
        (Some(left), Some(reset)) if left <= 0 && reset > now => Some(reset),
        _ => None,
    };
    spent(limits.day_remaining, limits.day_reset_at)
        .or_else(|| spent(limits.minute_remaining, limits.minute_reset_at))
}

/// The status of each of `tenants` (two store reads, whatever their number).
pub async fn tenant_statuses(
    app: &AdminState,
    tenants: &[Tenant],
) -> Result<HashMap<Uuid, StatusView>, ApiError> {
    let activity: HashMap<Uuid, TenantActivity> = app
        .store
        .tenant_activity(None)
        .await?
        .into_iter()
        .map(|a| (a.tenant_id, a))
        .collect();
    let mut dead: HashMap<Uuid, Vec<DeadLetterCount>> = HashMap::new();
    for count in app.store.dead_letter_counts(None).await? {
        dead.entry(count.tenant_id).or_default().push(count);
    }
    let now = Utc::now();
    Ok(tenants
        .iter()
        .map(|t| {
            let status = status_of(
                t,
                activity.get(&t.id),
                dead.get(&t.id).map_or(&[][..], Vec::as_slice),
                now,
            );
            (t.id, status)
        })
        .collect())
}

/// The tenant's health, as the API answers it.
#[derive(Debug, Clone, Serialize)]
pub struct TenantHealth {
    pub tenant_id: Uuid,
    pub name: String,
    pub active: bool,
    #[serde(flatten)]
    pub status: StatusView,
    pub last_accepted_at: Option<DateTime<Utc>>,
    pub last_delivered_at: Option<DateTime<Utc>>,
    pub last_error: Option<LastError>,
    pub dead_letters: DeadLettersView,
    pub comagic: ComagicCheck,
    pub timezone: TimezoneCheck,
    pub budget: BudgetView,
    /// Things worth knowing that do not change the status (English in the API).
    pub warnings: Vec<Reason>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeadLettersView {
    /// Open (unresolved) dead letters.
    pub total: u64,
    pub by_class: BTreeMap<String, u64>,
}

/// The live `get.account` call.
#[derive(Debug, Clone, Serialize)]
pub struct ComagicCheck {
    /// CoMagic answered (with data or with an error of its own).
    pub reachable: bool,
    /// `false`: CoMagic refused the credentials; `None`: not known (no usable answer).
    pub credentials_accepted: Option<bool>,
    pub mnemonic: Option<String>,
    /// Why the call failed.
    pub error: Option<String>,
    pub checked_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TimezoneCheck {
    /// Stored with the settings (read from the account when they were saved).
    pub stored: Option<String>,
    /// The account's now (`get.account`); `None` when it could not be read.
    pub account: Option<String>,
    /// `None` when either is unknown.
    pub matches: Option<bool>,
}

/// CoMagic's remaining API points.
#[derive(Debug, Clone, Serialize)]
pub struct BudgetView {
    pub minute: Option<BudgetWindow>,
    pub day: Option<BudgetWindow>,
    /// When CoMagic reported them.
    pub seen_at: Option<DateTime<Utc>>,
    /// `get.account` (this check) or `worker` (its last CoMagic answer); `None`: never seen.
    pub source: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BudgetWindow {
    pub limit: Option<i64>,
    pub remaining: Option<i64>,
    pub resets_at: Option<DateTime<Utc>>,
    /// The window has reset since: the budget is full again (`remaining` is the old count).
    pub refilled: bool,
}

pub(crate) async fn show(
    ApiTenant { ctx, tenant }: ApiTenant,
) -> Result<Json<TenantHealth>, ApiError> {
    Ok(Json(tenant_health(&ctx.app, tenant.id).await?))
}

/// The tenant's health with one live `get.account` call; [`ApiError::NotFound`] for an
/// unknown tenant. For the API and the page.
pub async fn tenant_health(app: &AdminState, tenant_id: Uuid) -> Result<TenantHealth, ApiError> {
    let tenant = crate::api::tenant_of(app, tenant_id).await?;
    let (check, account_zone, live_limits) = check_account(app, &tenant).await;
    let mut activity = app.store.tenant_activity(Some(tenant_id)).await?.pop();
    if let Some(limits) = live_limits {
        // The freshest budget also serves the tenant list (one write per health check).
        let update = TenantActivity {
            limits: Some(limits),
            ..TenantActivity::new(tenant_id)
        };
        if let Err(e) = app.store.record_activity(&[update]).await {
            tracing::debug!(error = %e, "cannot store the limits get.account reported");
        }
    }
    let dead = app.store.dead_letter_counts(Some(tenant_id)).await?;
    let now = Utc::now();
    let mut status = status_of(&tenant, activity.as_ref(), &dead, now);
    if status.status != TenantStatus::NeedsAttention {
        if check.credentials_accepted == Some(false) {
            status = StatusView::new(
                TenantStatus::NeedsAttention,
                StatusReason::CredentialsRefused(check.error.clone().unwrap_or_default()),
            );
        } else if !check.reachable {
            status = StatusView::new(
                TenantStatus::WaitingForComagic,
                StatusReason::Unreachable(check.error.clone().unwrap_or_default()),
            );
        }
    }
    let mut last_delivered_at = activity.as_ref().and_then(|a| a.last_delivered_at);
    if last_delivered_at.is_none() {
        // Deliveries from before activity was recorded.
        last_delivered_at = app
            .store
            .recent_deliveries(tenant_id, 1)
            .await?
            .first()
            .map(|e| e.delivered_at);
    }
    let stored_zone = tenant.settings.timezone.clone();
    let matches = match (&stored_zone, &account_zone) {
        (Some(stored), Some(account)) => Some(stored == account),
        _ => None,
    };
    let mut warnings = Vec::new();
    if let (Some(false), Some(account), Some(stored)) = (matches, &account_zone, &stored_zone) {
        warnings.push(Reason::TimezoneChanged {
            account: account.clone(),
            stored: stored.clone(),
        });
    }
    let (limits, source) = match (live_limits, activity.as_mut().and_then(|a| a.limits.take())) {
        (Some(live), _) => (Some(live), Some("get.account")),
        (None, Some(stored)) => (Some(stored), Some("worker")),
        (None, None) => (None, None),
    };
    let budget = budget_view(limits.as_ref(), source, now);
    Ok(TenantHealth {
        tenant_id,
        name: tenant.name,
        active: tenant.active,
        status,
        last_accepted_at: activity.as_ref().and_then(|a| a.last_accepted_at),
        last_delivered_at,
        last_error: activity.and_then(|a| a.last_error),
        dead_letters: DeadLettersView {
            total: dead.iter().map(|d| d.count).sum(),
            by_class: dead.into_iter().map(|d| (d.class, d.count)).collect(),
        },
        comagic: check,
        timezone: TimezoneCheck {
            stored: stored_zone,
            account: account_zone,
            matches,
        },
        budget,
        warnings,
    })
}

fn budget_view(
    limits: Option<&LimitsSeen>,
    source: Option<&'static str>,
    now: DateTime<Utc>,
) -> BudgetView {
    let window = |limit: Option<i64>, remaining: Option<i64>, resets_at: Option<DateTime<Utc>>| {
        (limit.is_some() || remaining.is_some()).then_some(BudgetWindow {
            limit,
            remaining,
            resets_at,
            refilled: resets_at.is_some_and(|r| r <= now),
        })
    };
    BudgetView {
        minute: limits.and_then(|l| window(l.minute_limit, l.minute_remaining, l.minute_reset_at)),
        day: limits.and_then(|l| window(l.day_limit, l.day_remaining, l.day_reset_at)),
        seen_at: limits.map(|l| l.at),
        source,
    }
}

/// One read-only `get.account` call: the check, the account's zone, the limits it reported.
async fn check_account(
    app: &AdminState,
    tenant: &Tenant,
) -> (ComagicCheck, Option<String>, Option<LimitsSeen>) {
    let checked_at = Utc::now();
    let failed = |e: &comagic_client::ComagicError| {
        let refused = account::refused(e);
        ComagicCheck {
            // A refusal is an answer; a transport failure or CoMagic's 5xx is not.
            reachable: refused || !account::unreachable(e),
            credentials_accepted: refused.then_some(false),
            mnemonic: e.mnemonic().map(str::to_owned),
            error: Some(e.message()),
            checked_at,
        }
    };
    let client = match account::client(app, tenant.credentials.clone()) {
        Ok(client) => client,
        Err(e) => return (failed(&e), None, None),
    };
    match client.get_account().await {
        Ok(called) => {
            let limits = called
                .limits
                .filter(|l| !l.is_empty())
                .map(|l| LimitsSeen::from_limits(&l, Utc::now()));
            let check = ComagicCheck {
                reachable: true,
                credentials_accepted: Some(true),
                mnemonic: None,
                error: None,
                checked_at,
            };
            (check, called.value.timezone, limits)
        }
        Err(e) => {
            let limits = e
                .limits()
                .filter(|l| !l.is_empty())
                .map(|l| LimitsSeen::from_limits(l, Utc::now()));
            (failed(&e), None, limits)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;
    use leadback_model::{ComagicAuth, ComagicCredentials, TenantSettings};

    fn tenant(active: bool) -> Tenant {
        Tenant {
            id: Uuid::new_v4(),
            name: "t".into(),
            active,
            settings: TenantSettings::default(),
            credentials: ComagicCredentials {
                api_url: "https://dataapi.uiscom.ru/v2.0".into(),
                auth: ComagicAuth::AccessToken {
                    access_token: "x".to_owned().into(),
                },
            },
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn activity(t: &Tenant) -> TenantActivity {
        TenantActivity::new(t.id)
    }

    fn error(class: &str, at: DateTime<Utc>) -> LastError {
        LastError {
            class: class.into(),
            mnemonic: None,
            message: "boom".into(),
            at,
        }
    }

    #[test]
    fn status_from_stored_data() {
        let now = Utc::now();
        let t = tenant(true);
        let status = |a: Option<&TenantActivity>, dead: &[DeadLetterCount]| {
            status_of(&t, a, dead, now).status
        };
        assert_eq!(status(None, &[]), TenantStatus::Ok);
        assert_eq!(
            status_of(&tenant(false), None, &[], now).status,
            TenantStatus::NeedsAttention
        );
        let dead = [DeadLetterCount {
            tenant_id: t.id,
            class: "mapping".into(),
            count: 2,
        }];
        let view = status_of(&t, None, &dead, now);
        assert_eq!(view.status, TenantStatus::NeedsAttention);
        assert!(view.status_reason.contains("2 mapping"), "{view:?}");

        // A retryable error after the last delivery: waiting; before it: over.
        let mut a = activity(&t);
        a.last_delivered_at = Some(now - TimeDelta::minutes(5));
        a.last_error = Some(error("retryable", now - TimeDelta::minutes(1)));
        assert_eq!(status(Some(&a), &[]), TenantStatus::WaitingForComagic);
        a.last_delivered_at = Some(now);
        assert_eq!(status(Some(&a), &[]), TenantStatus::Ok);
        // A permanent error is the dead letters' business (none open: ok).
        a.last_error = Some(error("mapping", now + TimeDelta::seconds(1)));
        assert_eq!(status(Some(&a), &[]), TenantStatus::Ok);

        // A spent budget that has not reset yet: waiting; once reset: ok.
        let spent = LimitsSeen {
            minute_limit: Some(10),
            minute_remaining: Some(0),
            minute_reset_at: Some(now + TimeDelta::seconds(20)),
            day_limit: None,
            day_remaining: Some(100),
            day_reset_at: Some(now + TimeDelta::hours(3)),
            at: now,
        };
        a.limits = Some(spent);
        assert_eq!(status(Some(&a), &[]), TenantStatus::WaitingForComagic);
        a.limits = Some(LimitsSeen {
            minute_reset_at: Some(now - TimeDelta::seconds(1)),
            ..spent
        });
        assert_eq!(status(Some(&a), &[]), TenantStatus::Ok);
    }
}
