//! Embedded-only behaviour: persistence across reopen and `kill -9`, group commit, refusing
//! locations that would not be durable.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use bridge_queue::embedded::{EmbeddedOptions, EmbeddedQueue};
use bridge_queue::{EventQueue, QueueError};
use common::{envelope, next, Embedded};
use futures::future::join_all;
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopened_file_still_holds_unacked_messages() {
    let embedded = Embedded::new();
    let sent: Vec<_> = (0..3).map(|i| envelope(&format!("reopen{i}"))).collect();
    {
        let queue = embedded.open_embedded().await;
        for e in &sent {
            queue.publish(e).await.unwrap();
        }
        let mut stream = queue.consume(1).await.unwrap();
        let _held = next(&mut stream, Duration::from_secs(5)).await;
        queue.close().await;
    }
    let queue = embedded.open_embedded().await;
    let mut stream = queue.consume(10).await.unwrap();
    // The leased one returns when its lease (1 s) runs out.
    common::ack_until_all_seen(&mut stream, &sent, Duration::from_secs(5)).await;
    queue.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishes_share_commits() {
    let embedded = Embedded::new();
    let queue = embedded.open_embedded().await;
    let sent: Vec<_> = (0..500).map(|i| envelope(&format!("group{i}"))).collect();
    let before = queue.publish_commits();
    let results = join_all(sent.iter().map(|e| queue.publish(e))).await;
    assert!(results.iter().all(Result::is_ok));
    let commits = queue.publish_commits() - before;
    assert!(
        (1..50).contains(&commits),
        "{commits} commits for 500 publishes"
    );
    queue.close().await;
}

/// A group commit that fails part-way (here: its table is gone) writes nothing of its batch,
/// answers every publish in it with an error, and leaves the writer able to commit the next
/// batch (no transaction left open on its connection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_group_commit_writes_nothing_and_the_next_one_succeeds() {
    let embedded = Embedded::new();
    let queue = embedded.open_embedded().await;
    let other = sqlx::SqlitePool::connect(&format!("sqlite://{}", embedded.path()))
        .await
        .unwrap();
    let rename = |from: &str, to: &str| format!("ALTER TABLE {from} RENAME TO {to}");
    sqlx::query(&rename("queue_events", "queue_events_aside"))
        .execute(&other)
        .await
        .unwrap();
    let refused: Vec<_> = (0..20).map(|i| envelope(&format!("refused{i}"))).collect();
    let results = join_all(refused.iter().map(|e| queue.publish(e))).await;
    for result in &results {
        assert!(
            matches!(result, Err(QueueError::Storage(message)) if message.contains("queue_events")),
            "{result:?}"
        );
    }
    sqlx::query(&rename("queue_events_aside", "queue_events"))
        .execute(&other)
        .await
        .unwrap();
    let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM queue_events")
        .fetch_one(&other)
        .await
        .unwrap();
    assert_eq!(rows, 0, "nothing of the failed batches was written");

    let accepted: Vec<_> = (0..20).map(|i| envelope(&format!("accepted{i}"))).collect();
    let results = join_all(accepted.iter().map(|e| queue.publish(e))).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let mut stream = queue.consume(50).await.unwrap();
    common::ack_until_all_seen(&mut stream, &accepted, Duration::from_secs(5)).await;
    common::nothing_for(&mut stream, Duration::from_millis(300)).await;
    other.close().await;
    queue.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_is_renewed_while_the_delivery_is_held() {
    let embedded = Embedded::new();
    let queue = embedded.open_embedded().await;
    queue.publish(&envelope("held")).await.unwrap();
    let mut stream = queue.consume(5).await.unwrap();
    let held = next(&mut stream, Duration::from_secs(5)).await;
    // Three lease lengths: without renewal the row would be delivered again.
    common::nothing_for(&mut stream, Duration::from_secs(3)).await;
    held.ack().await.unwrap();
    queue.close().await;
}

#[tokio::test]
async fn refuses_locations_that_are_not_durable_files() {
    let dir = tempfile::tempdir().unwrap();
    let missing_parent = dir
        .path()
        .join("no/such/dir/queue.db")
        .display()
        .to_string();
    let directory = dir.path().display().to_string();
    for location in [
        ":memory:",
        "sqlite::memory:",
        "sqlite:file:q?mode=memory",
        "postgres://localhost/db",
        "",
        directory.as_str(),
        missing_parent.as_str(),
    ] {
        match EmbeddedQueue::open(location, EmbeddedOptions::default()).await {
            Err(QueueError::Config(_)) => {}
            other => panic!("{location:?}: expected Config, got {:?}", other.err()),
        }
    }
    // A sqlite: URL to a file is fine.
    let url = format!("sqlite://{}", dir.path().join("ok.db").display());
    let queue = EmbeddedQueue::open(&url, EmbeddedOptions::default())
        .await
        .unwrap();
    queue.ready().await.unwrap();
    queue.close().await;
    assert!(dir.path().join("ok.db").exists());
}

const CHILD_ENV: &str = "BRIDGE_QUEUE_KILL9_PATH";

/// Run by `survives_kill_9` in a child process: publishes as fast as it can from many tasks
/// and prints each event id once `publish` has returned `Ok`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "child process of survives_kill_9"]
async fn kill9_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let queue = std::sync::Arc::new(
        EmbeddedQueue::open(&path, EmbeddedOptions::default())
            .await
            .unwrap(),
    );
    let out = std::sync::Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let tasks: Vec<_> = (0..32)
        .map(|task| {
            let queue = queue.clone();
            let out = out.clone();
            tokio::spawn(async move {
                for i in 0.. {
                    let e = envelope(&format!("kill{task}x{i}"));
                    queue.publish(&e).await.unwrap();
                    let mut out = out.lock().unwrap();
                    writeln!(out, "accepted {}", e.event_id).unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    join_all(tasks).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_kill_9() {
    let embedded = Embedded::new();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "kill9_child", "--nocapture"])
        .env(CHILD_ENV, embedded.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| l.strip_prefix("accepted ").map(str::to_string))
            .collect::<Vec<_>>()
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let accepted = reader.join().unwrap();
    eprintln!("child accepted {} events", accepted.len());
    assert!(
        accepted.len() > 50,
        "child accepted only {}",
        accepted.len()
    );

    let queue = embedded.open_embedded().await;
    let mut stream = queue.consume(500).await.unwrap();
    let mut stored = HashSet::new();
    while let Ok(Some(Ok(delivery))) = tokio::time::timeout(
        Duration::from_millis(500),
        futures::StreamExt::next(&mut stream),
    )
    .await
    {
        stored.insert(delivery.envelope().event_id.to_string());
        delivery.ack().await.unwrap();
    }
    let lost: Vec<_> = accepted.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} accepted events lost: {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    queue.close().await;
}

/// A row delivered (leased) and never settled more often than the delivery limit moves to the
/// poison rows instead of looping.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_delivery_limit_a_row_becomes_poison() {
    let mut embedded = Embedded::new();
    embedded.lease = Duration::from_millis(200);
    embedded.delivery_limit = 2;
    let queue = embedded.open_embedded().await;
    let looping = envelope("looping");
    queue.publish(&looping).await.unwrap();
    let (deliveries, poison) = common::drop_until_poison(&queue, Duration::from_secs(20)).await;
    assert_eq!(deliveries, 2, "delivered up to the limit, then poison");
    assert!(
        poison.reason().starts_with("delivery limit (2)"),
        "{}",
        poison.reason()
    );
    assert_eq!(poison.envelopes(), Some(vec![looping]));
    assert_eq!(poison.body(), poison.envelopes().unwrap()[0].to_json());
    poison.ack().await.unwrap();
    common::eventually_depth(&queue, "poison", 0).await;
    common::eventually_depth(&queue, "main", 0).await;
    queue.close().await;
}
