//! Work a queue started on its own (giving back a dropped delivery) that `close` waits for,
//! so a shutdown does not cut it off halfway.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How many such tasks are running.
#[derive(Debug, Default, Clone)]
pub(crate) struct Outstanding(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    running: AtomicUsize,
    done: Notify,
}

/// Held by one running task; dropping it marks the task done.
pub(crate) struct Running(Arc<Inner>);

impl Outstanding {
    pub(crate) fn start(&self) -> Running {
        self.0.running.fetch_add(1, Ordering::AcqRel);
        Running(self.0.clone())
    }

    /// Waits until none is running, at most `limit`; `false` when some still were.
    pub(crate) async fn drained(&self, limit: Duration) -> bool {
        tokio::time::timeout(limit, async {
            loop {
                let done = self.0.done.notified();
                if self.0.running.load(Ordering::Acquire) == 0 {
                    return;
                }
                done.await;
            }
        })
        .await
        .is_ok()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.done.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drained_waits_for_every_running_task() {
        let outstanding = Outstanding::default();
        assert!(outstanding.drained(Duration::from_millis(10)).await);
        let running = outstanding.start();
        assert!(!outstanding.drained(Duration::from_millis(20)).await);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(running);
        });
        assert!(outstanding.drained(Duration::from_secs(5)).await);
    }
}
