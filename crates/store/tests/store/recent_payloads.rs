//! Issue 16 on both backends: recent payloads kept by count (per tenant, at every write) and by
//! age, going with their tenant; tenant activity written by several writers without clobbering
//! each other; open dead letters counted per class; an event's dead letter found by its id.

use crate::harness::{tenant_named, Backend};
use bridge_store::{
    ActivityRecorder, LimitsSeen, NewDeadLetter, NewRecentPayload, SecretKey, Store,
    TenantActivity, OUTCOME_ACCEPTED, OUTCOME_REJECTED,
};
use chrono::{DateTime, SubsecRound as _, TimeDelta, Utc};
use leadback_model::comagic::Limits;
use leadback_model::LastError;
use std::sync::Arc;
use uuid::Uuid;

async fn tenant(store: &Arc<dyn Store>, name: &str) -> Uuid {
    tenant_named(store, name).await.id
}

/// How many of the tenant's payloads are stored, however old.
async fn stored_of(store: &Arc<dyn Store>, tenant_id: Uuid) -> usize {
    let since = DateTime::<Utc>::UNIX_EPOCH;
    store
        .recent_payloads(tenant_id, since, 100)
        .await
        .unwrap()
        .len()
}

fn payload(tenant_id: Uuid, event: &str, received_at: DateTime<Utc>) -> NewRecentPayload {
    NewRecentPayload {
        tenant_id,
        received_at,
        content_type: Some("application/json".into()),
        event_id: Some(event.into()),
        body: format!(r#"{{"id":"{event}"}}"#).into_bytes(),
        outcome: OUTCOME_ACCEPTED.into(),
        error: None,
    }
}

fn events(listed: &[bridge_store::RecentPayload]) -> Vec<String> {
    listed
        .iter()
        .map(|p| p.recorded.event_id.clone().unwrap_or_default())
        .collect()
}

fn minutes_ago(n: i64) -> DateTime<Utc> {
    (Utc::now() - TimeDelta::minutes(n)).trunc_subsecs(6)
}

pub async fn recent_payloads_bounded_by_count_and_age(b: &dyn Backend) {
    let store = b.migrated(SecretKey::generate()).await;
    let (a, other) = (tenant(&store, "a").await, tenant(&store, "b").await);
    let week_ago = Utc::now() - TimeDelta::days(7);

    // Five in one batch, three kept: the newest, newest first.
    let batch: Vec<_> = (0..5)
        .map(|i| payload(a, &format!("e{i}"), minutes_ago(50 - i)))
        .collect();
    assert_eq!(store.record_recent_payloads(&batch, 3).await.unwrap(), 5);
    let listed = store.recent_payloads(a, week_ago, 100).await.unwrap();
    assert_eq!(events(&listed), ["e4", "e3", "e2"]);
    assert_eq!(listed[0].recorded.received_at, batch[4].received_at);

    // A later batch pushes the oldest out; another tenant's rows are not counted.
    store
        .record_recent_payloads(&[payload(other, "o1", minutes_ago(30))], 3)
        .await
        .unwrap();
    store
        .record_recent_payloads(
            &[
                payload(a, "e5", minutes_ago(20)),
                payload(a, "e6", minutes_ago(10)),
            ],
            3,
        )
        .await
        .unwrap();
    assert_eq!(
        events(&store.recent_payloads(a, week_ago, 100).await.unwrap()),
        ["e6", "e5", "e4"]
    );
    assert_eq!(
        events(&store.recent_payloads(a, week_ago, 2).await.unwrap()),
        ["e6", "e5"],
        "the listing's limit"
    );
    assert_eq!(
        events(&store.recent_payloads(other, week_ago, 100).await.unwrap()),
        ["o1"]
    );

    // A refused body keeps its exact bytes, no event id, and the reason.
    let refused = NewRecentPayload {
        tenant_id: other,
        received_at: minutes_ago(5),
        content_type: None,
        event_id: None,
        body: vec![0xff, 0xfe, b'{'],
        outcome: OUTCOME_REJECTED.into(),
        error: Some("unparseable body".into()),
    };
    store
        .record_recent_payloads(std::slice::from_ref(&refused), 3)
        .await
        .unwrap();
    let listed = store.recent_payloads(other, week_ago, 100).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(
        (
            &listed[0].recorded.body,
            &listed[0].recorded.event_id,
            &listed[0].recorded.content_type,
            listed[0].recorded.outcome.as_str(),
            listed[0].recorded.error.as_deref()
        ),
        (
            &refused.body,
            &None,
            &None,
            OUTCOME_REJECTED,
            Some("unparseable body")
        )
    );

    // By age: an eight-day-old body is not listed, and the prune deletes it (only it).
    store
        .record_recent_payloads(
            &[payload(other, "old", Utc::now() - TimeDelta::days(8))],
            10,
        )
        .await
        .unwrap();
    assert_eq!(stored_of(&store, other).await, 3);
    assert!(
        !events(&store.recent_payloads(other, week_ago, 100).await.unwrap())
            .contains(&"old".to_owned())
    );
    assert_eq!(store.prune_recent_payloads(week_ago).await.unwrap(), 1);
    assert_eq!(stored_of(&store, other).await, 2);

    // A tenant deleted before the batch was written: its rows are skipped, the rest kept.
    let gone = Uuid::new_v4();
    let kept = store
        .record_recent_payloads(
            &[
                payload(gone, "g", minutes_ago(1)),
                payload(a, "e7", minutes_ago(1)),
            ],
            3,
        )
        .await
        .unwrap();
    assert_eq!(kept, 1);

    // They go with their tenant.
    store.delete_tenant(a).await.unwrap();
    assert!(store
        .recent_payloads(a, week_ago, 100)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .recent_payloads(other, week_ago, 100)
            .await
            .unwrap()
            .len(),
        2
    );
}

fn error(class: &str, mnemonic: Option<&str>, at: DateTime<Utc>) -> LastError {
    LastError {
        class: class.into(),
        mnemonic: mnemonic.map(Into::into),
        message: format!("{class} happened"),
        at,
    }
}

pub async fn tenant_activity_merges_writers(b: &dyn Backend) {
    let store = b.migrated(SecretKey::generate()).await;
    let t = tenant(&store, "acme").await;
    assert!(store.tenant_activity(Some(t)).await.unwrap().is_empty());

    // The ingress notes acceptance; the worker, separately, a delivery, an error and limits.
    let accepted = minutes_ago(3);
    store
        .record_activity(&[TenantActivity {
            last_accepted_at: Some(accepted),
            ..TenantActivity::new(t)
        }])
        .await
        .unwrap();
    let limits = LimitsSeen::from_limits(
        &Limits {
            minute_limit: Some(120),
            minute_remaining: Some(7),
            minute_reset: Some(30),
            day_limit: Some(10_000),
            day_remaining: Some(9_000),
            day_reset: Some(3_600),
        },
        minutes_ago(2),
    );
    let failed = error("rate_limited", Some("limit_exceeded"), minutes_ago(2));
    let delivered = minutes_ago(2);
    store
        .record_activity(&[TenantActivity {
            last_delivered_at: Some(delivered),
            last_error: Some(failed.clone()),
            limits: Some(limits),
            ..TenantActivity::new(t)
        }])
        .await
        .unwrap();
    let seen = store.tenant_activity(Some(t)).await.unwrap().remove(0);
    assert_eq!(
        seen.last_accepted_at,
        Some(accepted),
        "kept by the worker's write"
    );
    assert_eq!(seen.last_delivered_at, Some(delivered));
    assert_eq!(seen.last_error.as_ref(), Some(&failed));
    assert_eq!(seen.limits, Some(limits));
    assert_eq!(
        seen.limits.unwrap().minute_reset_at,
        Some(limits.at + TimeDelta::seconds(30))
    );

    // A later error replaces the earlier one as a whole (no stale mnemonic).
    let later = error("retryable", None, minutes_ago(1));
    store
        .record_activity(&[TenantActivity {
            last_error: Some(later.clone()),
            ..TenantActivity::new(t)
        }])
        .await
        .unwrap();
    let seen = store.tenant_activity(None).await.unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].last_error.as_ref(), Some(&later));
    assert_eq!(seen[0].limits, Some(limits), "limits kept");
    assert_eq!(seen[0].last_accepted_at, Some(accepted));

    // The recorder coalesces: a thousand notes, one row written once.
    let recorder = ActivityRecorder::new(store.clone());
    let newest = Utc::now().trunc_subsecs(6);
    for i in (0..1000).rev() {
        recorder.accepted(t, newest - TimeDelta::milliseconds(i));
    }
    recorder.accepted(Uuid::new_v4(), newest); // a tenant that does not exist: skipped
    assert_eq!(recorder.flush().await.unwrap(), 2);
    assert_eq!(recorder.flush().await.unwrap(), 0, "nothing new");
    let seen = store.tenant_activity(Some(t)).await.unwrap().remove(0);
    assert_eq!(seen.last_accepted_at, Some(newest));
    assert_eq!(store.tenant_activity(None).await.unwrap().len(), 1);

    store.delete_tenant(t).await.unwrap();
    assert!(store.tenant_activity(None).await.unwrap().is_empty());
}

fn dead(tenant_id: Uuid, event_id: &str, class: &str) -> NewDeadLetter {
    NewDeadLetter {
        tenant_id,
        event_id: event_id.parse().unwrap(),
        class: class.into(),
        mnemonic: None,
        message: format!("{event_id} failed"),
        attempts: 1,
        first_attempt_at: None,
        last_attempt_at: Utc::now(),
        envelope: serde_json::json!({}),
    }
}

pub async fn dead_letters_counted_per_class_and_found_by_event(b: &dyn Backend) {
    let store = b.migrated(SecretKey::generate()).await;
    let (a, other) = (tenant(&store, "a").await, tenant(&store, "b").await);
    for (tenant, event, class) in [
        (a, "m1", "mapping"),
        (a, "m2", "mapping"),
        (a, "x1", "exhausted"),
        (other, "t1", "tenant_permanent"),
    ] {
        store
            .add_dead_letter(&dead(tenant, event, class))
            .await
            .unwrap();
    }
    let counts = |list: Vec<bridge_store::DeadLetterCount>| -> Vec<(Uuid, String, u64)> {
        list.into_iter()
            .map(|c| (c.tenant_id, c.class, c.count))
            .collect()
    };
    assert_eq!(
        counts(store.dead_letter_counts(Some(a)).await.unwrap()),
        [(a, "exhausted".into(), 1), (a, "mapping".into(), 2)]
    );
    assert_eq!(
        counts(store.dead_letter_counts(None).await.unwrap()).len(),
        3
    );

    let found = store.dead_letter_of_event(a, "m2").await.unwrap().unwrap();
    assert_eq!(
        (found.class.as_str(), found.event_id.as_str()),
        ("mapping", "m2")
    );
    assert!(store
        .dead_letter_of_event(other, "m2")
        .await
        .unwrap()
        .is_none());

    // Delivered after all: resolved, no longer counted, still found (for audit).
    store
        .ledger_record_upload(&bridge_store::UploadRecord {
            tenant_id: a,
            event_id: "m1".parse().unwrap(),
            kind: leadback_model::EventKind::Callback,
            ext_id: "leadback:m1".into(),
            comagic_id: Some(5),
            attempts: 2,
            received_at: Utc::now(),
            delivered_at: Utc::now(),
            complete: true,
        })
        .await
        .unwrap();
    assert_eq!(
        counts(store.dead_letter_counts(Some(a)).await.unwrap()),
        [(a, "exhausted".into(), 1), (a, "mapping".into(), 1)]
    );
    assert!(store
        .dead_letter_of_event(a, "m1")
        .await
        .unwrap()
        .unwrap()
        .resolved_at
        .is_some());
}
