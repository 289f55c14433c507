//! The samples and the verdicts on them: is a series flat, what the metrics text says.

use std::time::Duration;

/// One sample of the running bridge.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub at: Duration,
    pub rss_kb: u64,
    pub fds: u64,
    /// Messages in the main queue and the delay tiers.
    pub depth: u64,
    /// Dead letters (`queue_depth{queue="dead"}`).
    pub dead: u64,
    /// `leadback_bridge_events_delivered_total`, all kinds.
    pub delivered_total: u64,
    pub accepted: usize,
    /// Distinct `ext_id`s CoMagic holds.
    pub stored: usize,
}

impl Sample {
    pub fn print(&self) {
        println!(
            "{:>5.0}s {:>9} {:>5} {:>7} {:>5} {:>10} {:>9} {:>9}",
            self.at.as_secs_f64(),
            self.rss_kb,
            self.fds,
            self.depth,
            self.dead,
            self.delivered_total,
            self.accepted,
            self.stored
        );
    }
}

/// Whether a series stayed flat.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Flatness {
    pub middle: f64,
    pub last: f64,
    pub pass: bool,
}

/// The last third of `samples` averages at most `tolerance_pct` percent (plus `slack` in
/// absolute units) above the middle third. The first third is warm-up (caches, pools, the
/// allocator's arenas) and is not judged. Fewer than three samples cannot show a trend: pass.
pub fn flat(
    samples: &[Sample],
    value: impl Fn(&Sample) -> f64,
    tolerance_pct: u32,
    slack: f64,
) -> Flatness {
    let third = samples.len() / 3;
    if third == 0 {
        return Flatness {
            middle: 0.0,
            last: 0.0,
            pass: true,
        };
    }
    let average = |part: &[Sample]| part.iter().map(&value).sum::<f64>() / part.len() as f64;
    let middle = average(&samples[third..2 * third]);
    let last = average(&samples[samples.len() - third..]);
    let limit = middle * (1.0 + f64::from(tolerance_pct) / 100.0) + slack;
    Flatness {
        middle,
        last,
        pass: last <= limit,
    }
}

impl Flatness {
    /// Whether the count came back after the load: `after_drain` within the same limit of the
    /// middle third. Open descriptors follow the connections in flight (a slow CoMagic answer
    /// holds one), so in a short run one busy sample can lift the last third; leaked
    /// descriptors stay after the drain, busy ones are given back.
    pub fn returned_after_drain(&self, after_drain: f64, tolerance_pct: u32, slack: f64) -> bool {
        after_drain <= self.middle * (1.0 + f64::from(tolerance_pct) / 100.0) + slack
    }
}

/// The value of a sample line `name{labels} value`, with its labels.
fn series<'a>(metrics: &'a str, name: &'a str) -> impl Iterator<Item = (&'a str, f64)> + 'a {
    metrics.lines().filter_map(move |line| {
        let rest = line.strip_prefix(name)?;
        let (labels, value) = match rest.strip_prefix('{') {
            Some(rest) => {
                let (labels, value) = rest.split_once('}')?;
                (labels, value)
            }
            None if rest.starts_with(' ') => ("", rest),
            None => return None,
        };
        Some((labels, value.trim().parse().ok()?))
    })
}

/// `leadback_bridge_queue_depth`: the dead letters alone (`dead`), or every other queue.
pub fn queue_depth(metrics: &str, dead: bool) -> u64 {
    series(metrics, "leadback_bridge_queue_depth")
        .filter(|(labels, _)| labels.contains(r#"queue="dead""#) == dead)
        .map(|(_, v)| v.max(0.0) as u64)
        .sum()
}

/// The sum of a counter over its labels.
pub fn counter_sum(metrics: &str, name: &str) -> u64 {
    series(metrics, name).map(|(_, v)| v.max(0.0) as u64).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Samples carrying `values` in the field `set` writes, the rest default.
    fn samples(values: &[u64], set: impl Fn(&mut Sample, u64)) -> Vec<Sample> {
        values
            .iter()
            .map(|v| {
                let mut sample = Sample::default();
                set(&mut sample, *v);
                sample
            })
            .collect()
    }

    fn rss(values: &[u64]) -> Vec<Sample> {
        samples(values, |s, v| s.rss_kb = v)
    }

    #[test]
    fn busy_descriptors_come_back_after_the_drain_leaked_ones_do_not() {
        let fds = |values: &[u64]| samples(values, |s, v| s.fds = v);
        // The soak of 2026-12-02 that failed on a busy last third: 53 open after the drain.
        let busy = flat(&fds(&[31, 49, 47, 55, 76, 63]), |s| s.fds as f64, 20, 4.0);
        assert!(!busy.pass, "{busy:?}");
        assert!(busy.returned_after_drain(53.0, 20, 4.0));
        // A leak: still high after the drain.
        assert!(!busy.returned_after_drain(90.0, 20, 4.0));
    }

    #[test]
    fn a_leak_fails_and_a_plateau_passes() {
        let growing = rss(&[100, 200, 300, 400, 500, 600]);
        let f = flat(&growing, |s| s.rss_kb as f64, 20, 0.0);
        assert!(!f.pass, "{f:?}");
        assert_eq!((f.middle, f.last), (350.0, 550.0));

        let plateau = rss(&[50, 90, 100, 104, 101, 108]);
        assert!(flat(&plateau, |s| s.rss_kb as f64, 20, 0.0).pass);
        assert!(flat(&rss(&[1, 100]), |s| s.rss_kb as f64, 20, 0.0).pass);
    }

    #[test]
    fn metrics_text_is_read_by_series() {
        let text = "# HELP leadback_bridge_queue_depth Messages waiting\n\
            leadback_bridge_queue_depth{queue=\"main\"} 7\n\
            leadback_bridge_queue_depth{queue=\"retry_1s\"} 2\n\
            leadback_bridge_queue_depth{queue=\"dead\"} 3\n\
            leadback_bridge_events_delivered_total{kind=\"callback\"} 40\n\
            leadback_bridge_events_delivered_total{kind=\"chat\"} 10\n\
            leadback_bridge_events_delivered_totalx 99\n";
        assert_eq!(queue_depth(text, false), 9);
        assert_eq!(queue_depth(text, true), 3);
        assert_eq!(
            counter_sum(text, "leadback_bridge_events_delivered_total"),
            50
        );
    }
}
