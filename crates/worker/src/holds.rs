//! Tenant holds: tenants whose CoMagic budget is spent wait, without a call, until its reset,
//! while other tenants flow on. A hold is set from `metadata.limits` of every answer (the
//! window whose points are gone) and from `limit_exceeded`.

use bridge_metrics::Metrics;
use comagic_client::{reset_wait, DEFAULT_RATE_LIMIT_WAIT, MAX_WAIT};
use leadback_model::comagic::Limits;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Held tenants and until when. A plain mutex: never held across an await.
#[derive(Default)]
pub(crate) struct TenantHolds {
    holds: Mutex<HashMap<Uuid, Instant>>,
}

impl TenantHolds {
    /// Gauges of the tenant's remaining points, and a hold on the tenant when a window's points
    /// are gone: the day's until its reset (waiting for the minute would not help), else the
    /// minute's.
    pub(crate) fn observe(&self, metrics: &Metrics, tenant_id: Uuid, limits: &Limits) {
        let tenant = tenant_id.to_string();
        // Each count holds until its window resets; after that the gauge is dropped, not left
        // showing a spent budget that CoMagic has since refilled.
        let valid_for =
            |reset: Option<i64>| reset.map(|s| Duration::from_secs(s.max(0).unsigned_abs()));
        if let Some(v) = limits.minute_remaining {
            metrics.set_limit_remaining(&tenant, "minute", v, valid_for(limits.minute_reset));
        }
        if let Some(v) = limits.day_remaining {
            metrics.set_limit_remaining(&tenant, "day", v, valid_for(limits.day_reset));
        }
        if let Some(wait) = spent_wait(limits) {
            tracing::info!(%tenant_id, ?wait, "tenant's CoMagic budget spent; holding its events");
            self.hold(tenant_id, wait);
        }
    }

    /// Holds the tenant for `wait` (capped at [`MAX_WAIT`]); a longer hold already set stays.
    pub(crate) fn hold(&self, tenant_id: Uuid, wait: Duration) {
        // Waits are capped (MAX_WAIT), and checked all the same: an overflow would panic.
        let now = Instant::now();
        let until = now
            .checked_add(wait.min(MAX_WAIT))
            .unwrap_or(now + MAX_WAIT);
        let mut holds = self.holds.lock().unwrap_or_else(|e| e.into_inner());
        let entry = holds.entry(tenant_id).or_insert(until);
        *entry = (*entry).max(until);
    }

    /// How long the tenant is still held, if it is.
    pub(crate) fn held_until(&self, tenant_id: Uuid) -> Option<Duration> {
        let mut holds = self.holds.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        match holds.get(&tenant_id) {
            Some(until) if *until > now => Some(*until - now),
            Some(_) => {
                holds.remove(&tenant_id);
                None
            }
            None => None,
        }
    }
}

/// How long to wait when a window's points are gone: the day's reset when the day is spent
/// (the minute's reset would not help), else the minute's; `None` while points are left.
fn spent_wait(limits: &Limits) -> Option<Duration> {
    let spent = |left: Option<i64>| left.is_some_and(|left| left <= 0);
    let reset = if spent(limits.day_remaining) {
        limits.day_reset.or(limits.minute_reset)
    } else if spent(limits.minute_remaining) {
        limits.minute_reset
    } else {
        return None;
    };
    Some(reset.map_or(DEFAULT_RATE_LIMIT_WAIT, reset_wait))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(minute: i64, minute_reset: i64, day: i64, day_reset: i64) -> Limits {
        Limits {
            minute_remaining: Some(minute),
            minute_reset: Some(minute_reset),
            day_remaining: Some(day),
            day_reset: Some(day_reset),
            ..Limits::default()
        }
    }

    fn gauge(metrics: &Metrics, tenant: Uuid, window: &str) -> i64 {
        metrics
            .comagic_limit_remaining
            .with_label_values(&[&tenant.to_string(), window])
            .get()
    }

    #[test]
    fn spent_day_budget_holds_the_tenant_until_the_day_reset() {
        let (d, metrics) = (TenantHolds::default(), Metrics::new());
        let (spent, other) = (Uuid::new_v4(), Uuid::new_v4());
        // Points left this minute, none today: the minute's reset (20 s) would not help.
        d.observe(&metrics, spent, &limits(500, 20, 0, 30_000));
        d.observe(&metrics, other, &limits(500, 20, 9_000, 30_000));
        let held = d.held_until(spent).expect("held");
        assert!(
            held > Duration::from_secs(29_990) && held <= Duration::from_secs(30_000),
            "{held:?}"
        );
        assert_eq!(d.held_until(other), None, "only the spent tenant waits");
        // What the LeadbackBridgeComagicLimitNearlyExhausted alert reads.
        assert_eq!(gauge(&metrics, spent, "day"), 0);
        assert_eq!(gauge(&metrics, other, "day"), 9_000);
    }

    #[test]
    fn spent_minute_budget_holds_until_the_minute_reset() {
        let (d, metrics) = (TenantHolds::default(), Metrics::new());
        let tenant = Uuid::new_v4();
        d.observe(&metrics, tenant, &limits(0, 20, 9_000, 30_000));
        let held = d.held_until(tenant).expect("held");
        assert!(
            held > Duration::from_secs(19) && held <= Duration::from_secs(20),
            "{held:?}"
        );
        assert_eq!(gauge(&metrics, tenant, "minute"), 0);
        // A later answer with a longer wait extends the hold; a shorter one does not cut it.
        d.observe(&metrics, tenant, &limits(0, 5, 9_000, 30_000));
        assert!(d.held_until(tenant).expect("held") > Duration::from_secs(19));
    }

    #[test]
    fn budget_left_holds_nobody() {
        let (d, metrics) = (TenantHolds::default(), Metrics::new());
        let tenant = Uuid::new_v4();
        d.observe(&metrics, tenant, &limits(1, 20, 1, 30_000));
        d.observe(&metrics, tenant, &Limits::default());
        assert_eq!(d.held_until(tenant), None);
    }
}
