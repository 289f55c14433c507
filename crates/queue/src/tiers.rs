//! Delay tiers: fixed delays, one queue (or visibility delay) each.

use std::time::Duration;

/// The ordered delays a retry can wait for. The n-th retry waits the n-th tier (the last one
/// repeats); a wait with a known length (a rate-limit reset) takes the smallest tier ≥ it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryTiers(Vec<Duration>);

impl Default for RetryTiers {
    fn default() -> Self {
        Self(
            [5, 30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
        )
    }
}

impl RetryTiers {
    /// Builds tiers from delays; empty input or zero delays are refused.
    pub fn new(mut delays: Vec<Duration>) -> Option<Self> {
        if delays.is_empty() || delays.iter().any(|d| d.is_zero()) {
            return None;
        }
        delays.sort();
        delays.dedup();
        Some(Self(delays))
    }

    /// Parses `5s,30s,2m,10m,30m,1h,3h,6h` (units s, m, h; plain numbers are seconds).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut delays = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (digits, unit) =
                part.split_at(part.trim_end_matches(|c: char| c.is_alphabetic()).len());
            let n: u64 = digits.parse().map_err(|_| {
                format!("retry tier `{part}` is not a number with a unit (s, m, h)")
            })?;
            let secs = match unit {
                "" | "s" => n,
                "m" => n * 60,
                "h" => n * 3600,
                other => return Err(format!("retry tier `{part}`: unknown unit `{other}`")),
            };
            delays.push(Duration::from_secs(secs));
        }
        Self::new(delays)
            .ok_or_else(|| "retry tiers must be a non-empty list of positive delays".into())
    }

    pub fn delays(&self) -> &[Duration] {
        &self.0
    }

    /// The tier for the given retry number (1-based); the last tier repeats.
    pub fn for_attempt(&self, retry: u32) -> Duration {
        let i = (retry.max(1) as usize - 1).min(self.0.len() - 1);
        self.0[i]
    }

    /// The smallest tier that waits at least `wait` (the largest if none does).
    pub fn at_least(&self, wait: Duration) -> Duration {
        self.0
            .iter()
            .copied()
            .find(|d| *d >= wait)
            .unwrap_or(self.0[self.0.len() - 1])
    }

    /// A stable queue-name suffix for a tier: `5s`, `2m`, `1h`.
    pub fn name(delay: Duration) -> String {
        let s = delay.as_secs();
        if s.is_multiple_of(3600) {
            format!("{}h", s / 3600)
        } else if s.is_multiple_of(60) {
            format!("{}m", s / 60)
        } else {
            format!("{s}s")
        }
    }
}
