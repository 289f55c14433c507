//! Schema changes and rollbacks as a Kubernetes rollout meets them, with the real binary on both
//! stores: an older binary runs on a schema a newer release migrated (`kubectl rollout undo`, an
//! old pod restarting mid-rollout) whatever `BRIDGE_MIGRATE` says; with `BRIDGE_MIGRATE=off` a
//! binary refuses a schema older than it needs, with a message saying what to run; and
//! `leadback-bridge healthcheck` exits 0 only while `/readyz` answers 200.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use crate::support;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::process::{assert_success, bridge_command, free_port};
use support::{create_database, delete_rabbit_topology, drop_database, RABBIT_URL};

const SECRET_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// A version no release has: what a newer release's migration looks like to this binary.
const NEWER_VERSION: i64 = 99_990_101;

/// One store (and for PostgreSQL a RabbitMQ prefix) the binary is pointed at.
struct Target {
    data_dir: tempfile::TempDir,
    database_url: String,
    /// PostgreSQL: the database to drop, and the queue prefix to clean up.
    postgres: Option<(String, String)>,
}

impl Target {
    async fn sqlite() -> Target {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let database_url = format!("sqlite://{}", data_dir.path().join("bridge.db").display());
        Target {
            data_dir,
            database_url,
            postgres: None,
        }
    }

    async fn postgres() -> Target {
        support::services::require_rabbitmq();
        let tag = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let db = format!("migr_{tag}");
        create_database(&db).await;
        Target {
            data_dir: tempfile::tempdir().expect("temp dir"),
            database_url: format!("postgres://postgres@127.0.0.1:5432/{db}"),
            postgres: Some((db, format!("migr.{tag}"))),
        }
    }

    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = bridge_command(self.data_dir.path(), "warn");
        cmd.args(args)
            .env("BRIDGE_DATABASE_URL", &self.database_url)
            .env("BRIDGE_SECRET_KEY", SECRET_KEY)
            .env("BRIDGE_METRICS_LISTEN", "off")
            .envs(env.iter().copied());
        if let Some((_, prefix)) = &self.postgres {
            cmd.env("BRIDGE_AMQP_URL", RABBIT_URL)
                .env("BRIDGE_QUEUE_PREFIX", prefix);
        }
        cmd
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.command(args, env).output().expect("binary runs")
    }

    /// Runs SQL on the store as an operator (or another release) would.
    async fn execute(&self, sql: &str) {
        if self.postgres.is_some() {
            let pool = sqlx::PgPool::connect(&self.database_url)
                .await
                .expect("PostgreSQL reachable");
            sqlx::query(sql).execute(&pool).await.expect(sql);
            pool.close().await;
        } else {
            let pool = sqlx::SqlitePool::connect(&self.database_url)
                .await
                .expect("SQLite file opens");
            sqlx::query(sql).execute(&pool).await.expect(sql);
            pool.close().await;
        }
    }

    /// What a newer release leaves behind: one more applied migration.
    async fn apply_newer_release(&self) {
        let checksum = if self.postgres.is_some() {
            "'\\x00'::bytea"
        } else {
            "X'00'"
        };
        self.execute(&format!(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES ({NEWER_VERSION}, 'from a newer release', TRUE, {checksum}, 0)"
        ))
        .await;
    }

    /// What a binary newer than the schema sees: its last migration not applied.
    async fn forget_latest_migration(&self) {
        self.execute(
            "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
        )
        .await;
    }

    async fn clean_up(self) {
        if let Some((db, prefix)) = &self.postgres {
            drop_database(db).await;
            let tiers =
                bridge_queue::RetryTiers::parse("5s,30s,2m,10m,30m,1h,3h,6h").expect("tiers");
            delete_rabbit_topology(prefix, &tiers).await;
        }
    }
}

/// A running `serve`, killed on drop.
struct Served {
    child: Child,
    listen: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(target: &Target, migrate: &str) -> Served {
    let listen = format!("127.0.0.1:{}", free_port());
    let child = target
        .command(
            &["serve"],
            &[
                ("BRIDGE_LISTEN", listen.as_str()),
                ("BRIDGE_MIGRATE", migrate),
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts");
    Served { child, listen }
}

/// `leadback-bridge healthcheck` against `listen`: its exit code.
fn healthcheck(target: &Target, listen: &str) -> Option<i32> {
    target
        .run(&["healthcheck"], &[("BRIDGE_LISTEN", listen)])
        .status
        .code()
}

/// Waits until the healthcheck passes; panics (with the process's exit, if it died) otherwise.
fn wait_healthy(target: &Target, served: &mut Served) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(status) = served.child.try_wait().expect("child status") {
            panic!("serve exited instead of starting: {status}");
        }
        if healthcheck(target, &served.listen) == Some(0) {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!(
        "serve on {} did not become ready within 30 s",
        served.listen
    );
}

async fn older_binary_starts_on_a_newer_schema(target: Target) {
    assert_success("migrate", &target.run(&["migrate"], &[]));
    target.apply_newer_release().await;
    // sqlx's migrator alone refuses a database with an applied migration it does not know.
    assert_success("migrate on a newer schema", &target.run(&["migrate"], &[]));
    for migrate in ["auto", "off"] {
        let mut served = serve(&target, migrate);
        wait_healthy(&target, &mut served);
    }
    target.clean_up().await;
}

/// `serve` with `BRIDGE_MIGRATE=off` and JSON logs: it must exit 1 with one JSON error line
/// saying the schema is too old and what to run; returns that message.
fn refused_start(target: &Target) -> String {
    let out = target.run(
        &["serve"],
        &[
            ("BRIDGE_MIGRATE", "off"),
            ("BRIDGE_LOG_FORMAT", "json"),
            ("BRIDGE_LISTEN", &format!("127.0.0.1:{}", free_port())),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "serve must refuse an old schema"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The fatal error is a JSON log line like every other, and says what to do.
    let fatal = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["level"] == "ERROR")
        .unwrap_or_else(|| panic!("no JSON error line in:\n{stderr}"));
    let message = fatal["message"].as_str().expect("message").to_owned();
    assert!(
        message.contains("older than this leadback-bridge needs")
            && message.contains("leadback-bridge migrate"),
        "unclear refusal: {message}"
    );
    message
}

async fn newer_binary_refuses_an_older_schema_without_auto(target: Target) {
    // A database no release migrated yet: refused, and `migrate` is the way out.
    refused_start(&target);
    assert_success("migrate", &target.run(&["migrate"], &[]));
    let mut served = serve(&target, "off");
    wait_healthy(&target, &mut served);
    drop(served);
    // One migration behind (this release's newest not applied): refused, naming it.
    target.forget_latest_migration().await;
    let message = refused_start(&target);
    assert!(message.contains("is not applied"), "{message}");
    target.clean_up().await;
}

/// A loopback listener that answers one request with `response`; its address.
fn answer_once(response: &'static str) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut head = [0u8; 1024];
            let _ = stream.read(&mut head);
            let _ = stream.write_all(response.as_bytes());
        }
    });
    addr
}

/// For each scenario `async fn name(target: Target)`, a `sqlite::name` and a `postgres::name`
/// test: one body, run on both stores.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Target::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Target::postgres().await).await;
                }
            )*
        }
    };
}

on_both_stores!(
    older_binary_starts_on_a_newer_schema,
    newer_binary_refuses_an_older_schema_without_auto,
);

/// Runs only as the child of `a_service_that_is_down_fails_the_run_once_with_how_to_start_it`.
#[tokio::test]
async fn child_needing_rabbitmq_and_postgres() {
    if std::env::var_os("LEADBACK_TEST_SERVICES_CHILD").is_none() {
        return;
    }
    Target::postgres().await.clean_up().await;
}

#[test]
fn a_service_that_is_down_fails_the_run_once_with_how_to_start_it() {
    let closed = format!("127.0.0.1:{}", free_port());
    for (variable, name) in [
        ("LEADBACK_TEST_RABBITMQ_ADDR", "RabbitMQ"),
        ("LEADBACK_TEST_POSTGRES_ADDR", "PostgreSQL"),
    ] {
        // The test's name within this binary: its module path without the crate's name.
        let child = module_path!()
            .split_once("::")
            .map_or(String::new(), |(_, module)| format!("{module}::"))
            + "child_needing_rabbitmq_and_postgres";
        let out = Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", child.as_str(), "--test-threads=1"])
            .env("LEADBACK_TEST_SERVICES_CHILD", "1")
            .env(variable, &closed)
            .output()
            .expect("test binary runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        let message = format!("{name} is not reachable at {closed}");
        assert_eq!(stderr.matches(&message).count(), 1, "{stderr}");
        assert!(stderr.contains("bash .ci/run"), "{stderr}");
    }
}

#[tokio::test]
async fn healthcheck_exit_codes_follow_readyz() {
    let target = Target::sqlite().await;
    let nobody = format!("127.0.0.1:{}", free_port());
    assert_eq!(healthcheck(&target, &nobody), Some(1), "nothing listens");
    let mut served = serve(&target, "auto");
    wait_healthy(&target, &mut served);
    let out = target.run(&["healthcheck"], &[("BRIDGE_LISTEN", &served.listen)]);
    assert_success("healthcheck", &out);
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).expect("readyz JSON");
    assert_eq!(body["status"], "ready");
    // An unspecified listen address (what containers set) is asked on the loopback.
    let port = served.listen.rsplit(':').next().expect("port");
    assert_eq!(healthcheck(&target, &format!("0.0.0.0:{port}")), Some(0));
    let listen = served.listen.clone();
    drop(served);
    assert_eq!(healthcheck(&target, &listen), Some(1), "after it stopped");
    // Answering, but not 200: not healthy either.
    let not_ready = answer_once("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 2\r\n\r\n{}");
    assert_eq!(healthcheck(&target, &not_ready), Some(1), "503");
    target.clean_up().await;
}
