//! Fault injection: "an accepted event becomes exactly one CoMagic record or one dead letter,
//! never zero, never two".
//!
//! Each test runs the real `leadback-bridge` binary as child processes (RabbitMQ + PostgreSQL
//! with separate `ingress` and `worker` processes; one test runs `serve` embedded on SQLite)
//! against the in-process CoMagic emulator, puts a steady load of callbacks and chats with
//! distinct Leadback ids on it, injects one fault, drains, and checks against what the emulator
//! stored and what the dead letters hold:
//!
//! * accepted ids (the ingress answered `200 accepted`) ⊆ delivered ids ∪ dead-letter ids,
//! * no `ext_id` stored twice, no id both delivered and dead.
//!
//! It prints one row per fault (accepted, faults injected, lost, duplicated, time from the end
//! of the fault to the next delivery); `docs/reliability.md` keeps the figures.
//!
//! Two tests stop shared services (RabbitMQ's app, the PostgreSQL cluster): they take
//! `support::serial::exclusive()`, every other test of this binary the shared side, so a service
//! is never stopped under a test of this binary that needs it. Cargo runs test binaries one
//! after another, so other binaries are not affected.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use crate::support;
use bridge_test_support::http::json;

use bridge_test_support::{Backend, BridgeProcess};
use support::process::free_port;

use chrono::{DateTime, Utc};
use comagic_emulator::{
    Emulator, EmulatorConfig, Fault, RecordKind, RepeatedExtId, RunningEmulator,
};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
const RETRY_TIERS: &str = "1s,2s,3s";
/// Events per second of the steady load.
const RATE: u64 = 20;
/// Every n-th event is a chat, the others callbacks.
const CHAT_EVERY: u64 = 5;

// ---------------------------------------------------------------------------------------------
// The bridge as processes
// ---------------------------------------------------------------------------------------------

/// The deployment under fault: `serve` on SQLite (embedded), or `ingress` + `worker` on
/// RabbitMQ and PostgreSQL; each role on fixed ports, so a killed role comes back on its own.
struct Deployment {
    bridge: bridge_test_support::Deployment,
    /// role → its process while it runs (killed with SIGKILL when dropped).
    procs: HashMap<&'static str, BridgeProcess>,
    /// role → (listen port, metrics port)
    ports: HashMap<&'static str, (u16, u16)>,
    webhook_url: String,
}

impl Deployment {
    /// Creates the database (RabbitMQ + PostgreSQL), migrates, creates the tenant and starts
    /// the roles.
    async fn start(backend: Backend, comagic: Value) -> Deployment {
        let public_port = free_port();
        let bridge = support::deployment(backend)
            .name("faults")
            .retry_tiers(RETRY_TIERS)
            .env("BRIDGE_MAX_ATTEMPTS", "40")
            .env("BRIDGE_COMAGIC_TIMEOUT_SECS", "2")
            .env("BRIDGE_PUBLISH_TIMEOUT_SECS", "2")
            .env("BRIDGE_SHUTDOWN_GRACE_SECS", "2")
            .env(
                "BRIDGE_PUBLIC_URL",
                format!("http://127.0.0.1:{public_port}"),
            )
            .start()
            .await
            .unwrap();
        let mut ports = HashMap::new();
        match backend {
            Backend::Embedded => {
                ports.insert("serve", (public_port, free_port()));
            }
            Backend::RabbitPostgres => {
                ports.insert("ingress", (public_port, free_port()));
                ports.insert("worker", (free_port(), free_port()));
            }
        }
        let tenant = bridge
            .create_tenant(&json!({
                "name": "Fault shop", "active": true,
                "comagic": comagic,
                "set_tags": true, "tag_ids": [401],
                "default_entity": "campaign", "default_campaign_id": 102, "default_site_id": 201,
                "chat_employee_id": 501
            }))
            .await
            .unwrap();
        let mut deployment = Deployment {
            bridge,
            procs: HashMap::new(),
            ports,
            webhook_url: tenant.webhook_url,
        };
        for role in deployment.roles() {
            deployment.spawn(role).await;
        }
        deployment
    }

    fn roles(&self) -> Vec<&'static str> {
        match self.bridge.backend() {
            Backend::Embedded => vec!["serve"],
            Backend::RabbitPostgres => vec!["ingress", "worker"],
        }
    }

    /// The run's PostgreSQL database (RabbitMQ + PostgreSQL only).
    fn database(&self) -> Option<&str> {
        self.bridge.database()
    }

    /// Starts `role` on its ports and waits for its `/readyz`.
    async fn spawn(&mut self, role: &'static str) {
        let (port, metrics_port) = self.ports[role];
        let process = self
            .bridge
            .role(role)
            .listen(port)
            .metrics(metrics_port)
            .spawn()
            .await
            .unwrap_or_else(|e| panic!("{role}: {e}"));
        self.procs.insert(role, process);
    }

    /// SIGKILL: no shutdown path runs, exactly like a power cut of that process.
    async fn kill(&mut self, role: &'static str) {
        let process = self.procs.remove(role).expect("role running");
        let status = process.kill().await.unwrap();
        assert!(!status.success(), "{role} was killed: {status}");
    }

    /// The last lines of `role`'s log (all its runs), also after it was killed.
    fn log_tail(&self, role: &str) -> String {
        let text = std::fs::read_to_string(self.bridge.dir().join(format!("{role}.log")))
            .unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Event ids of the dead letters, through the operator command.
    async fn dead_letter_ids(&self) -> Vec<String> {
        self.bridge.dead_letter_ids().await.unwrap()
    }

    async fn stop(mut self) {
        for role in self.roles() {
            if self.procs.contains_key(role) {
                self.kill(role).await;
            }
        }
        self.bridge.stop().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------------------------

fn event_body(id: &str, chat: bool) -> Vec<u8> {
    let fixture = if chat {
        "chat-basic.json"
    } else {
        "callback-basic.json"
    };
    let mut body: Value = serde_json::from_slice(&support::fixture(fixture)).unwrap();
    let key = if chat { "chat_id" } else { "id_call" };
    body[key] = json!(id);
    serde_json::to_vec(&body).unwrap()
}

#[derive(Default)]
struct LoadStats {
    /// Accepted event id (the bridge's, as answered) → when the 200 came.
    accepted: Mutex<BTreeMap<String, Instant>>,
    sent: AtomicU64,
    /// Answers other than 200 (by status) and transport errors (0).
    refused: Mutex<BTreeMap<u16, u64>>,
}

/// A steady stream of events with ids `f-<phase>-<n>`, each POST in its own task so an outage
/// does not slow the stream down.
struct Load {
    stats: Arc<LoadStats>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Load {
    fn start(url: String, phase: &'static str) -> Load {
        let stats = Arc::new(LoadStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let task = {
            let stats = stats.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut ticker = tokio::time::interval(Duration::from_millis(1000 / RATE));
                let mut posts = tokio::task::JoinSet::new();
                let mut n = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    ticker.tick().await;
                    n += 1;
                    let id = format!("f-{phase}-{n:05}");
                    let body = event_body(&id, n.is_multiple_of(CHAT_EVERY));
                    let (http, url, stats) = (http.clone(), url.clone(), stats.clone());
                    stats.sent.fetch_add(1, Ordering::SeqCst);
                    posts.spawn(async move {
                        let sent = http
                            .post(&url)
                            .header("content-type", "application/json")
                            .body(body)
                            .send()
                            .await;
                        let status = match sent {
                            Ok(r) => {
                                let status = r.status().as_u16();
                                let answer: Value = r.json().await.unwrap_or(Value::Null);
                                if status == 200 && answer["status"] == "accepted" {
                                    // The bridge's event id is `<kind>:<Leadback id>`.
                                    let event_id = answer["event_id"].as_str().unwrap().to_owned();
                                    assert!(event_id.ends_with(&format!(":{id}")), "{answer}");
                                    stats
                                        .accepted
                                        .lock()
                                        .unwrap()
                                        .insert(event_id, Instant::now());
                                    return;
                                }
                                status
                            }
                            Err(_) => 0,
                        };
                        *stats.refused.lock().unwrap().entry(status).or_default() += 1;
                    });
                    while let Some(joined) = posts.try_join_next() {
                        joined.unwrap();
                    }
                }
                while let Some(joined) = posts.join_next().await {
                    joined.unwrap();
                }
            })
        };
        Load { stats, stop, task }
    }

    async fn finish(self) -> Arc<LoadStats> {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.unwrap();
        self.stats
    }
}

/// Injects `make()` into the emulator after every `every` calls it received, until stopped.
/// Returns the number injected.
fn inject_every(
    emulator: Arc<RunningEmulator>,
    every: usize,
    stop: Arc<AtomicBool>,
    make: impl Fn() -> Fault + Send + 'static,
) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut injected = 0;
        let mut last = emulator.call_count();
        while !stop.load(Ordering::SeqCst) {
            let now = emulator.call_count();
            if now >= last + every {
                emulator.inject(make());
                injected += 1;
                last = now;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        injected
    })
}

// ---------------------------------------------------------------------------------------------
// The check
// ---------------------------------------------------------------------------------------------

struct Outcome {
    phase: &'static str,
    sent: u64,
    accepted: usize,
    refused: BTreeMap<u16, u64>,
    faults: u64,
    delivered: usize,
    dead: usize,
    lost: Vec<String>,
    duplicated: Vec<String>,
    delivered_and_dead: Vec<String>,
    untagged: usize,
    /// Uploads of an ext_id beyond its first: an upload that had reached CoMagic was sent again
    /// (the emulator runs in the mode where a repeat updates the record, so a second record
    /// would show only as a second ext_id of one event — `duplicated`).
    reuploads: u64,
    /// CoMagic refusals by a documented rule that the phase did not provoke (method, mnemonic):
    /// real CoMagic would refuse them too, so there must be none.
    unprovoked_refusals: Vec<(String, String)>,
    recover: Option<Duration>,
    /// From the end of the fault to the next `200 accepted`.
    accepting: Option<Duration>,
    drain: Duration,
}

impl Outcome {
    /// Prints the table row (and the processes' last log lines when something is wrong).
    fn report(&self, deployment: &Deployment) {
        header();
        println!(
            "| {:<16} | {:>4} | {:>8} | {:>6} | {:>9} | {:>4} | {:>4} | {:>10} | {:>8} | {:>11} | {:>9} | {:>9} | {:>7} | {:?}",
            self.phase,
            self.sent,
            self.accepted,
            self.faults,
            self.delivered,
            self.dead,
            self.lost.len(),
            self.duplicated.len(),
            self.untagged,
            self.reuploads,
            secs(self.recover),
            secs(self.accepting),
            format!("{:.1} s", self.drain.as_secs_f64()),
            self.refused,
        );
        if !self.lost.is_empty() || !self.duplicated.is_empty() {
            for role in deployment.roles() {
                eprintln!("--- {role} log tail ---\n{}", deployment.log_tail(role));
            }
        }
    }

    fn assert_exactly_once(&self) {
        assert!(self.accepted > 0, "{}: nothing was accepted", self.phase);
        assert!(
            self.unprovoked_refusals.is_empty(),
            "{}: CoMagic refused calls the phase did not provoke: {:?}",
            self.phase,
            &self.unprovoked_refusals[..self.unprovoked_refusals.len().min(20)]
        );
        assert!(
            self.lost.is_empty(),
            "{}: {} accepted events neither delivered nor dead: {:?}",
            self.phase,
            self.lost.len(),
            &self.lost[..self.lost.len().min(20)]
        );
        assert!(
            self.duplicated.is_empty(),
            "{}: ext_ids stored more than once: {:?}",
            self.phase,
            self.duplicated
        );
        assert!(
            self.delivered_and_dead.is_empty(),
            "{}: events both delivered and dead-lettered: {:?}",
            self.phase,
            self.delivered_and_dead
        );
    }
}

fn secs(d: Option<Duration>) -> String {
    d.map_or("-".to_owned(), |d| format!("{:.1} s", d.as_secs_f64()))
}

fn header() {
    println!(
        "| fault            | sent | accepted | faults | delivered | dead | lost | duplicated | untagged | re-uploads  | recovered | accepting | drained | refused (status → n, 0 = no answer)"
    );
}

/// Stored `ext_id` → (count, tagged, first received).
fn stored(emulator: &RunningEmulator) -> HashMap<String, (usize, bool, DateTime<Utc>)> {
    let mut out: HashMap<String, (usize, bool, DateTime<Utc>)> = HashMap::new();
    for r in emulator.records() {
        if r.kind == RecordKind::Session {
            continue;
        }
        let Some(ext) = r.ext_id.clone() else {
            continue;
        };
        let entry = out.entry(ext).or_insert((0, true, r.received_at));
        entry.0 += 1;
        entry.1 &= r.tags.contains(&401);
        entry.2 = entry.2.min(r.received_at);
    }
    out
}

fn ext_id(id: &str) -> String {
    format!("leadback:{id}")
}

/// Waits until every accepted event is stored or dead (or `timeout`), then a little longer to
/// catch late doubles, and measures.
/// The refusals a phase provokes on purpose (the emulator updates on a repeated ext_id, so a
/// re-upload after a fault is not a refusal but a counted re-upload).
fn provoked_refusals(phase: &str) -> &'static [&'static str] {
    match phase {
        // general.txt: an expired login.user key is one CoMagic no longer finds.
        "token-expired" => &["access_token_invalid"],
        "limit-exceeded" => &["limit_exceeded"],
        _ => &[],
    }
}

async fn drain_and_check(
    phase: &'static str,
    deployment: &Deployment,
    emulator: &RunningEmulator,
    stats: &LoadStats,
    faults: u64,
    fault_end: Option<DateTime<Utc>>,
    timeout: Duration,
) -> Outcome {
    let started = Instant::now();
    let accepting = fault_end.and_then(|end| {
        let since_end = (Utc::now() - end).to_std().unwrap_or_default();
        let end_instant = started.checked_sub(since_end)?;
        stats
            .accepted
            .lock()
            .unwrap()
            .values()
            .filter(|at| **at >= end_instant)
            .min()
            .map(|at| *at - end_instant)
    });
    let accepted: Vec<String> = stats.accepted.lock().unwrap().keys().cloned().collect();
    let deadline = started + timeout;
    let mut dead: Vec<String> = Vec::new();
    let mut drained_at = None;
    loop {
        let records = stored(emulator);
        let missing: Vec<&String> = accepted
            .iter()
            .filter(|id| !records.contains_key(&ext_id(id)))
            .collect();
        // Only ask for the dead letters when the records do not cover everything.
        if !missing.is_empty() {
            dead = deployment.dead_letter_ids().await;
        }
        let all_settled = missing.iter().all(|id| dead.contains(id));
        let all_tagged = accepted
            .iter()
            .all(|id| records.get(&ext_id(id)).is_none_or(|r| r.1));
        if all_settled && all_tagged && drained_at.is_none() {
            drained_at = Some(Instant::now());
        }
        match drained_at {
            // Settled: watch two more seconds for late doubles.
            Some(at) if at.elapsed() >= Duration::from_secs(2) => break,
            _ if Instant::now() > deadline => break,
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let drain = drained_at.unwrap_or_else(Instant::now) - started;
    let records = stored(emulator);
    dead = deployment.dead_letter_ids().await;
    let dead_set: HashSet<&String> = dead.iter().collect();
    let mut lost = Vec::new();
    let mut delivered_and_dead = Vec::new();
    let mut untagged = 0;
    let mut delivered = 0;
    for id in &accepted {
        match records.get(&ext_id(id)) {
            Some(r) => {
                delivered += 1;
                if !r.1 {
                    untagged += 1;
                }
                if dead_set.contains(id) {
                    delivered_and_dead.push(id.clone());
                }
            }
            None if dead_set.contains(id) => {}
            None => lost.push(id.clone()),
        }
    }
    let mut duplicated: Vec<String> = records
        .iter()
        .filter(|(_, r)| r.0 > 1)
        .map(|(ext, r)| format!("{ext} ×{}", r.0))
        .collect();
    duplicated.sort();
    let mut dead_counts: HashMap<&String, usize> = HashMap::new();
    for id in &dead {
        *dead_counts.entry(id).or_default() += 1;
    }
    duplicated.extend(
        dead_counts
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(id, n)| format!("dead {id} ×{n}")),
    );
    let recover = fault_end.and_then(|end| {
        records
            .values()
            .map(|r| r.2)
            .filter(|at| *at >= end)
            .min()
            .map(|at| (at - end).to_std().unwrap_or_default())
    });
    let outcome = Outcome {
        phase,
        sent: stats.sent.load(Ordering::SeqCst),
        accepted: accepted.len(),
        refused: stats.refused.lock().unwrap().clone(),
        faults,
        delivered,
        dead: dead.len(),
        lost,
        duplicated,
        delivered_and_dead,
        untagged,
        reuploads: emulator.reuploads(),
        unprovoked_refusals: emulator
            .calls()
            .into_iter()
            .filter(|c| {
                c.is_rule_refusal() && !provoked_refusals(phase).contains(&c.outcome.as_str())
            })
            .map(|c| (c.method, c.outcome))
            .collect(),
        recover,
        accepting,
        drain,
    };
    outcome
}

// ---------------------------------------------------------------------------------------------
// Service guards
// ---------------------------------------------------------------------------------------------

fn run(program: &str, args: &[&str]) -> bool {
    std::process::Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Stops RabbitMQ's app; starts it again when dropped (even when the test panics) unless
/// [`start`](Self::start) did.
pub(crate) struct BrokerGuard {
    started: bool,
}

impl BrokerGuard {
    pub(crate) fn stop() -> BrokerGuard {
        assert!(
            run("rabbitmqctl", &["stop_app"]),
            "rabbitmqctl stop_app failed"
        );
        BrokerGuard { started: false }
    }

    fn start(&mut self) {
        assert!(run("rabbitmqctl", &["start_app"]), "start_app failed");
        assert!(
            run("rabbitmqctl", &["await_startup"]),
            "await_startup failed"
        );
        self.started = true;
    }
}

impl Drop for BrokerGuard {
    fn drop(&mut self) {
        if !self.started {
            run("rabbitmqctl", &["start_app"]);
            run("rabbitmqctl", &["await_startup"]);
        }
    }
}

fn pg_cluster_version() -> String {
    let mut versions: Vec<String> = std::fs::read_dir("/etc/postgresql")
        .expect("/etc/postgresql (Debian's PostgreSQL layout)")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    versions.sort();
    versions.pop().expect("a PostgreSQL cluster")
}

fn restart_postgres() {
    let version = pg_cluster_version();
    assert!(
        run(
            "pg_ctlcluster",
            &["--skip-systemctl-redirect", &version, "main", "restart"]
        ),
        "pg_ctlcluster restart failed"
    );
}

/// Makes sure PostgreSQL runs again even when the test panics.
struct PostgresGuard;

impl Drop for PostgresGuard {
    fn drop(&mut self) {
        let version = pg_cluster_version();
        if !run("pg_isready", &["-h", "127.0.0.1", "-q"]) {
            run(
                "pg_ctlcluster",
                &["--skip-systemctl-redirect", &version, "main", "start"],
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The phases
// ---------------------------------------------------------------------------------------------

async fn emulator() -> Arc<RunningEmulator> {
    // A repeated ext_id updates the record (general.txt's "при последующих запросах обновляет
    // ее"): the suites then see every re-upload counted, and a second record of an event only
    // if the bridge gave it a second ext_id.
    Arc::new(
        Emulator::start(EmulatorConfig {
            repeated_ext_id: RepeatedExtId::Update,
            ..EmulatorConfig::default()
        })
        .await
        .unwrap(),
    )
}

fn token_comagic(emulator: &RunningEmulator) -> Value {
    json!({"api_url": emulator.api_url(), "access_token": "demo-token"})
}

const PRE: Duration = Duration::from_secs(3);
const POST: Duration = Duration::from_secs(3);
const DRAIN: Duration = Duration::from_secs(60);

/// One phase's world: the emulator and the deployment under load.
struct Phase {
    name: &'static str,
    emulator: Arc<RunningEmulator>,
    deployment: Deployment,
}

impl Phase {
    /// The emulator, the deployment (its tenant on `comagic(emulator)`) and a steady load that
    /// has run for [`PRE`].
    async fn start(
        name: &'static str,
        backend: Backend,
        comagic: impl Fn(&RunningEmulator) -> Value,
    ) -> (Phase, Load) {
        let emulator = emulator().await;
        let deployment = Deployment::start(backend, comagic(&emulator)).await;
        let load = Load::start(deployment.webhook_url.clone(), name);
        tokio::time::sleep(PRE).await;
        let phase = Phase {
            name,
            emulator,
            deployment,
        };
        (phase, load)
    }

    /// Waits until every accepted event is stored or dead (or `timeout`), and measures.
    async fn drain(
        &self,
        stats: &LoadStats,
        faults: u64,
        fault_end: DateTime<Utc>,
        timeout: Duration,
    ) -> Outcome {
        drain_and_check(
            self.name,
            &self.deployment,
            &self.emulator,
            stats,
            faults,
            Some(fault_end),
            timeout,
        )
        .await
    }

    /// Prints the outcome's row and removes the deployment.
    async fn end(self, outcome: Outcome) -> Outcome {
        outcome.report(&self.deployment);
        self.deployment.stop().await;
        outcome
    }
}

/// A process of the deployment SIGKILLed mid-load (with CoMagic slowed so deliveries are in
/// flight), started again after `down`.
async fn kill_phase(phase: &'static str, backend: Backend, role: &'static str) -> Outcome {
    let _serial = support::serial::shared().await;
    let (mut run, load) = Phase::start(phase, backend, token_comagic).await;
    let mut kills = 0;
    let mut fault_end = Utc::now();
    for round in 0..2 {
        // Slow calls: the kill lands while uploads are on the wire.
        run.emulator.inject(Fault::Delay {
            duration: Duration::from_millis(400),
            count: 4,
            method: None,
        });
        // The worst moment: CoMagic has stored the upload, the ledger does not know yet. With
        // PostgreSQL the test holds that moment open: it locks the ledger against writes, so
        // uploads succeed and their ledger writes wait; the worker dies right there, and its
        // waiting statements are cancelled before the lock is released.
        let ledger_lock = match (run.deployment.database(), role, round) {
            (Some(db), "worker", 1) => Some(LedgerLock::take(db).await),
            _ => None,
        };
        tokio::time::sleep(Duration::from_millis(if ledger_lock.is_some() {
            1500
        } else {
            600
        }))
        .await;
        run.deployment.kill(role).await;
        if let Some(lock) = ledger_lock {
            lock.release().await;
        }
        kills += 1;
        tokio::time::sleep(Duration::from_secs(2)).await;
        run.deployment.spawn(role).await;
        // Back and ready: from here on the time to recover runs.
        fault_end = Utc::now();
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    tokio::time::sleep(POST).await;
    let stats = load.finish().await;
    let outcome = run.drain(&stats, kills, fault_end, DRAIN).await;
    run.end(outcome).await
}

/// A transaction holding `LOCK TABLE ledger IN EXCLUSIVE MODE` (reads pass, writes wait).
struct LedgerLock {
    conn: sqlx::PgConnection,
    db: String,
}

impl LedgerLock {
    async fn take(db: &str) -> LedgerLock {
        use sqlx::Connection;
        let mut conn =
            sqlx::PgConnection::connect(&format!("postgres://postgres@127.0.0.1:5432/{db}"))
                .await
                .unwrap();
        sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
        sqlx::query("LOCK TABLE ledger IN EXCLUSIVE MODE")
            .execute(&mut conn)
            .await
            .unwrap();
        LedgerLock {
            conn,
            db: db.to_owned(),
        }
    }

    /// Terminates the sessions still waiting for the lock (the killed worker's: PostgreSQL
    /// would otherwise run their writes once the lock goes), then releases it.
    async fn release(mut self) {
        use sqlx::Connection;
        let waiting: Vec<(i32,)> = sqlx::query_as(
            "SELECT pid FROM pg_stat_activity \
             WHERE datname = $1 AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
        )
        .bind(&self.db)
        .fetch_all(&mut self.conn)
        .await
        .unwrap();
        for (pid,) in &waiting {
            sqlx::query("SELECT pg_terminate_backend($1)")
                .bind(pid)
                .execute(&mut self.conn)
                .await
                .unwrap();
        }
        println!("ledger lock: {} waiting writes cancelled", waiting.len());
        sqlx::query("ROLLBACK")
            .execute(&mut self.conn)
            .await
            .unwrap();
        self.conn.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_sigkill_mid_delivery() {
    let outcome = kill_phase("worker-kill", Backend::RabbitPostgres, "worker").await;
    outcome.assert_exactly_once();
    // The kill hit uploads CoMagic had stored but the ledger had not recorded: they were sent
    // again under the same ext_id — one record each (assert_exactly_once), re-uploads counted.
    assert!(
        outcome.reuploads > 0,
        "the kill never caught an upload between CoMagic and the ledger"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingress_sigkill_mid_load() {
    kill_phase("ingress-kill", Backend::RabbitPostgres, "ingress")
        .await
        .assert_exactly_once();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_serve_sigkill_mid_delivery() {
    let outcome = kill_phase("serve-kill", Backend::Embedded, "serve").await;
    outcome.assert_exactly_once();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_stopped_and_started_mid_load() {
    let _serial = support::serial::exclusive().await;
    let phase = "rabbitmq-restart";
    let (run, load) = Phase::start(phase, Backend::RabbitPostgres, token_comagic).await;
    let mut guard = tokio::task::spawn_blocking(BrokerGuard::stop)
        .await
        .unwrap();
    let stopped_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let during = stats_snapshot(&load.stats);
    guard = tokio::task::spawn_blocking(move || {
        guard.start();
        guard
    })
    .await
    .unwrap();
    let down = stopped_at.elapsed();
    let fault_end = Utc::now();
    drop(guard);
    tokio::time::sleep(POST + Duration::from_secs(2)).await;
    let stats = load.finish().await;
    println!(
        "{phase}: broker down {down:.1?}; (accepted so far, refused so far) when it came back: {during:?}"
    );
    let outcome = run.drain(&stats, 1, fault_end, DRAIN).await;
    run.end(outcome).await.assert_exactly_once();
    // The ingress came back by itself: events after the restart were accepted again.
    let late = stats
        .accepted
        .lock()
        .unwrap()
        .values()
        .filter(|at| **at > stopped_at + down + Duration::from_secs(1))
        .count();
    assert!(late > 0, "nothing accepted after the broker came back");
}

fn stats_snapshot(stats: &LoadStats) -> (usize, BTreeMap<u16, u64>) {
    (
        stats.accepted.lock().unwrap().len(),
        stats.refused.lock().unwrap().clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_mid_load() {
    let _serial = support::serial::exclusive().await;
    let phase = "postgres-restart";
    let (mut run, load) = Phase::start(phase, Backend::RabbitPostgres, token_comagic).await;
    let guard = PostgresGuard;
    let restarted_at = Instant::now();
    tokio::task::spawn_blocking(restart_postgres).await.unwrap();
    let fault_end = Utc::now();
    let restart_took = restarted_at.elapsed();
    drop(guard);
    tokio::time::sleep(POST + Duration::from_secs(2)).await;
    let stats = load.finish().await;
    println!("{phase}: pg_ctlcluster restart took {restart_took:.1?}");
    let outcome = run.drain(&stats, 1, fault_end, DRAIN).await;
    // Neither process was restarted: both still run.
    for role in run.deployment.roles() {
        let process = run.deployment.procs.get_mut(role).unwrap();
        assert!(
            process.exit_status().is_none(),
            "{role} exited after the PostgreSQL restart: {}",
            run.deployment.log_tail(role)
        );
    }
    run.end(outcome).await.assert_exactly_once();
}

/// A steady share of CoMagic calls misbehaves for `window`.
async fn emulator_phase(
    phase: &'static str,
    every: usize,
    window: Duration,
    comagic: impl Fn(&RunningEmulator) -> Value,
    make: impl Fn() -> Fault + Send + 'static,
    counted: Option<&'static str>,
) -> Outcome {
    let _serial = support::serial::shared().await;
    let (run, load) = Phase::start(phase, Backend::RabbitPostgres, comagic).await;
    let stop = Arc::new(AtomicBool::new(false));
    let injector = inject_every(run.emulator.clone(), every, stop.clone(), make);
    tokio::time::sleep(window).await;
    stop.store(true, Ordering::SeqCst);
    let injected = injector.await.unwrap();
    let fault_end = Utc::now();
    tokio::time::sleep(POST).await;
    let stats = load.finish().await;
    // Faults the emulator really applied (a queued one may still be pending), else injected.
    let faults = match counted {
        Some(outcome) => run
            .emulator
            .calls()
            .iter()
            .filter(|c| c.outcome == outcome)
            .count() as u64,
        None => injected,
    };
    let outcome = run.drain(&stats, faults, fault_end, DRAIN).await;
    run.end(outcome).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comagic_answers_20_percent_5xx() {
    emulator_phase(
        "comagic-5xx",
        5,
        Duration::from_secs(10),
        token_comagic,
        || Fault::HttpStatus {
            status: 502,
            count: 1,
            method: None,
        },
        Some("http_502"),
    )
    .await
    .assert_exactly_once();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comagic_slower_than_the_client_timeout() {
    // 3 s > BRIDGE_COMAGIC_TIMEOUT_SECS=2: the client gives up, but the emulator may still store
    // the upload afterwards — the retry then meets duplicate_entity, which counts as delivered.
    emulator_phase(
        "comagic-slow",
        5,
        Duration::from_secs(10),
        token_comagic,
        || Fault::Delay {
            duration: Duration::from_secs(3),
            count: 1,
            method: None,
        },
        None,
    )
    .await
    .assert_exactly_once();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comagic_drops_connections() {
    emulator_phase(
        "comagic-drop",
        5,
        Duration::from_secs(10),
        token_comagic,
        || Fault::DropConnection {
            count: 1,
            method: None,
        },
        Some("dropped"),
    )
    .await
    .assert_exactly_once();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comagic_login_tokens_expire_mid_load() {
    let _serial = support::serial::shared().await;
    let phase = "token-expired";
    let login_comagic = |emulator: &RunningEmulator| json!({"api_url": emulator.api_url(), "login": "demo", "password": "demo-password"});
    let (run, load) = Phase::start(phase, Backend::RabbitPostgres, login_comagic).await;
    for _ in 0..5 {
        run.emulator.expire_tokens();
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let fault_end = Utc::now();
    tokio::time::sleep(POST).await;
    let stats = load.finish().await;
    let calls = run.emulator.calls();
    // An expired login.user key is one CoMagic no longer finds: general.txt keeps
    // `access_token_expired` for permanent keys, so the emulator answers `access_token_invalid`.
    let expired = calls
        .iter()
        .filter(|c| c.method != "login.user" && c.outcome == "access_token_invalid")
        .count() as u64;
    let logins = calls.iter().filter(|c| c.method == "login.user").count();
    println!("{phase}: {logins} login.user calls");
    let outcome = run.drain(&stats, expired, fault_end, DRAIN).await;
    run.end(outcome).await.assert_exactly_once();
    assert!(expired > 0, "no call met an expired token");
    assert!(logins > 1, "the client never logged in again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comagic_limit_exceeded_mid_load() {
    let _serial = support::serial::shared().await;
    let phase = "limit-exceeded";
    let (run, load) = Phase::start(phase, Backend::RabbitPostgres, token_comagic).await;
    let emulator = run.emulator.clone();
    // Fresh windows: the minute window opens at the next call and closes 60 s later; the points
    // are spent within seconds, then CoMagic answers limit_exceeded until the window closes.
    let limited_at = Utc::now();
    // The bridge's next uploads wait 2 s at CoMagic's door, so the points are spent by the test
    // first: otherwise the bridge may take the last point itself, see `remaining: 0` and hold
    // (correctly) without ever meeting limit_exceeded, and the phase would test nothing.
    for method in ["upload.offline_messages", "upload.chats"] {
        emulator.inject(Fault::Delay {
            duration: Duration::from_secs(2),
            count: 4,
            method: Some(method.into()),
        });
    }
    assert!(emulator.set_limits("demo-token", 30, 1_000_000));
    // The bridge watches `metadata.limits` and stops before the budget is spent, so the limit
    // is only met when someone else spends the account's points: another integration on the
    // same account, played here by the test.
    let http = reqwest::Client::new();
    let mut spent = 0;
    loop {
        let answer: Value = json(http.post(emulator.api_url()).json(
            &json!({"jsonrpc": "2.0", "id": spent, "method": "get.account",
                "params": {"access_token": "demo-token"}}),
        ))
        .await
        .unwrap();
        if answer["error"]["data"]["mnemonic"] == "limit_exceeded" {
            break;
        }
        assert!(answer.get("result").is_some(), "{answer}");
        spent += 1;
    }
    println!("{phase}: the test spent {spent} points of the account's 30");
    tokio::time::sleep(Duration::from_secs(8)).await;
    let stats = load.finish().await;
    let calls = emulator.calls();
    let window_open = calls
        .iter()
        .filter(|c| c.at >= limited_at)
        .map(|c| c.at)
        .min()
        .expect("calls after the limit");
    let fault_end = window_open + chrono::Duration::seconds(60);
    // A budget of 20 a minute would take minutes to drain the backlog: shortly before the
    // window closes, give the account a real budget again (fresh windows). The bridge still
    // waits for the reset CoMagic announced, so the fault ends when the window closes.
    let raise_at = window_open + chrono::Duration::seconds(50);
    tokio::time::sleep((raise_at - Utc::now()).to_std().unwrap_or_default()).await;
    let limited_calls = emulator
        .calls()
        .iter()
        .filter(|c| c.outcome == "limit_exceeded" && c.method != "get.account")
        .count();
    assert!(emulator.set_limits("demo-token", 10_000, 1_000_000));
    println!("{phase}: {limited_calls} calls refused before the budget was raised");
    let outcome = run
        .drain(&stats, 0, fault_end, DRAIN + Duration::from_secs(60))
        .await;
    let limited = emulator
        .calls()
        .iter()
        .filter(|c| c.outcome == "limit_exceeded" && c.method != "get.account")
        .count() as u64;
    println!("{phase}: {limited} calls answered limit_exceeded");
    let outcome = Outcome {
        faults: limited,
        ..outcome
    };
    run.end(outcome).await.assert_exactly_once();
    assert!(limited > 0, "the limit was never reached");
}
