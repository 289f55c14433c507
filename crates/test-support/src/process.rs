//! One role of the bridge (`serve`, `ingress`, `worker`) as a child process of the real binary,
//! and what can be read about it from outside: readiness, its log, `/proc` (memory,
//! descriptors). Killed when dropped, so a failing test leaves no process behind.

use crate::Error;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};
use tokio::process::Child;

/// A port free right now on the loopback (bound and released).
pub fn free_port() -> Result<u16, Error> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(Error::io("binding 127.0.0.1:0"))?;
    let addr = listener
        .local_addr()
        .map_err(Error::io("reading a bound address"))?;
    Ok(addr.port())
}

/// What a started role must answer before [`spawn`](crate::RoleBuilder::spawn) returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ready {
    /// `GET /readyz` 2xx: the backends are reachable (the default).
    Readyz,
    /// `GET /healthz` 2xx: the process serves HTTP.
    Healthz,
    /// Nothing: the test watches the process itself.
    NoWait,
}

impl Ready {
    fn path(self) -> Option<&'static str> {
        match self {
            Ready::Readyz => Some("/readyz"),
            Ready::Healthz => Some("/healthz"),
            Ready::NoWait => None,
        }
    }
}

/// A running role; stdout and stderr go to its log file in the data folder.
pub struct BridgeProcess {
    role: String,
    child: Child,
    listen: SocketAddr,
    metrics: SocketAddr,
    log: PathBuf,
}

/// How long a role may take to become ready (a busy 2-core machine, a broker reconnecting).
const READY_WITHIN: Duration = Duration::from_secs(60);

impl BridgeProcess {
    pub(crate) fn new(
        role: &str,
        child: Child,
        listen: SocketAddr,
        metrics: SocketAddr,
        log: PathBuf,
    ) -> Self {
        Self {
            role: role.to_owned(),
            child,
            listen,
            metrics,
            log,
        }
    }

    pub fn role(&self) -> &str {
        &self.role
    }

    /// The public listener (`BRIDGE_LISTEN`).
    pub fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// `http://<public listener>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.listen)
    }

    /// The webhook URL of a tenant's token on this process.
    pub fn hook_url(&self, token: &str) -> String {
        format!("http://{}/hooks/leadback/{token}", self.listen)
    }

    pub fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.metrics)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The whole log so far (empty when unreadable).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = self.log_text();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// `Some` once the process has exited.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// An error with the log's tail when the process has exited.
    pub fn check_running(&mut self) -> Result<(), Error> {
        match self.exit_status() {
            None => Ok(()),
            Some(status) => Err(self.exited(status)),
        }
    }

    fn exited(&self, status: ExitStatus) -> Error {
        Error::Exited {
            role: self.role.clone(),
            status: status.to_string(),
            log: self.log_tail(30),
        }
    }

    /// Waits until `ready` answers 2xx; fails at once when the process exits meanwhile.
    pub async fn wait_ready(&mut self, ready: Ready) -> Result<(), Error> {
        let Some(path) = ready.path() else {
            return Ok(());
        };
        let url = format!("http://{}{path}", self.listen);
        let http = reqwest::Client::new();
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            let answered = http
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if answered {
                return Ok(());
            }
            self.check_running()?;
            if Instant::now() > deadline {
                return Err(Error::NotReady {
                    role: self.role.clone(),
                    secs: READY_WITHIN.as_secs(),
                    log: self.log_tail(30),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no shutdown path runs, exactly like a power cut of that process.
    pub async fn kill(mut self) -> Result<ExitStatus, Error> {
        let what = format!("killing {}", self.role);
        self.child.start_kill().map_err(Error::io(what.clone()))?;
        self.child.wait().await.map_err(Error::io(what))
    }

    /// Sends SIGTERM (what an operator or Kubernetes sends), without waiting.
    pub async fn sigterm(&self) -> Result<(), Error> {
        let Some(pid) = self.pid() else {
            return Ok(());
        };
        let status = tokio::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await
            .map_err(Error::io("running kill -TERM"))?;
        if status.success() {
            Ok(())
        } else {
            Err(Error::Io {
                what: format!("kill -TERM {pid}"),
                source: std::io::Error::other(status.to_string()),
            })
        }
    }

    /// Waits up to `within` for the process to exit.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        tokio::time::timeout(within, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`; how it exited.
    pub async fn stop(mut self, grace: Duration) -> Option<ExitStatus> {
        // Already gone (or never ran): nothing to signal.
        if self.sigterm().await.is_err() {
            return self.exit_status();
        }
        match self.wait_exit(grace).await {
            Some(status) => Some(status),
            None => self.kill().await.ok(),
        }
    }

    /// Resident memory now (`VmRSS`), kB.
    pub fn rss_kb(&self) -> Option<u64> {
        self.pid().and_then(|pid| proc_status_kb(pid, "VmRSS:"))
    }

    /// Peak resident memory so far (`VmHWM`), MiB.
    pub fn peak_rss_mib(&self) -> Option<f64> {
        self.pid().and_then(peak_rss_mib)
    }

    /// Open file descriptors (entries of `/proc/<pid>/fd`).
    pub fn fds(&self) -> Option<u64> {
        let entries = std::fs::read_dir(format!("/proc/{}/fd", self.pid()?)).ok()?;
        Some(entries.count() as u64)
    }
}

/// Peak resident memory (`VmHWM`) of any process, MiB.
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    proc_status_kb(pid, "VmHWM:").map(|kb| kb as f64 / 1024.0)
}

/// A `kB` line of `/proc/<pid>/status`.
fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
