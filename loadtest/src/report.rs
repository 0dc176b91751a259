//! What a run tells its operator: live progress on stderr (only when it is
//! a terminal, so CI logs stay clean), latency percentiles from
//! hdrhistogram, a one-screen summary on stdout and the JSON result file.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use serde_json::Value;

use crate::check::Verdict;

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Latency {
    pub count: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

/// Collects latencies (microseconds, 1 µs to 1 h, 3 significant digits).
pub struct Recorder {
    hist: Option<Histogram<u64>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            // The bounds are constants that hdrhistogram accepts; None only
            // if that ever changed, and then latencies are simply absent.
            hist: Histogram::new_with_bounds(1, 3_600_000_000, 3).ok(),
        }
    }
}

impl Recorder {
    pub fn record(&mut self, micros: u64) {
        if let Some(h) = &mut self.hist {
            h.saturating_record(micros.max(1));
        }
    }

    pub fn summary(&self) -> Latency {
        match &self.hist {
            Some(h) if !h.is_empty() => Latency {
                count: h.len(),
                p50_us: h.value_at_quantile(0.50),
                p90_us: h.value_at_quantile(0.90),
                p99_us: h.value_at_quantile(0.99),
                p999_us: h.value_at_quantile(0.999),
                max_us: h.max(),
                mean_us: (h.mean() * 10.0).round() / 10.0,
            },
            _ => Latency::default(),
        }
    }
}

impl std::fmt::Display for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |us: u64| us as f64 / 1000.0;
        write!(
            f,
            "n={} p50={:.2}ms p90={:.2}ms p99={:.2}ms p99.9={:.2}ms max={:.2}ms",
            self.count,
            ms(self.p50_us),
            ms(self.p90_us),
            ms(self.p99_us),
            ms(self.p999_us),
            ms(self.max_us)
        )
    }
}

/// A progress bar per phase, drawn only on a terminal.
pub struct Progress {
    tty: bool,
}

impl Progress {
    pub fn new() -> Progress {
        Progress {
            tty: std::io::stderr().is_terminal(),
        }
    }

    /// A bar for `len` steps of `phase`; hidden when stderr is no terminal.
    pub fn phase(&self, phase: &str, len: u64) -> ProgressBar {
        let target = if self.tty {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(len), target);
        if let Ok(style) = ProgressStyle::with_template(
            "{prefix:>10} [{bar:40}] {pos}/{len} {per_sec} {elapsed_precise} {msg}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(phase.to_owned());
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }

    /// Says that a phase started, on stderr, when no bar shows it.
    pub fn note(&self, msg: &str) {
        if !self.tty {
            eprintln!("liveshop-loadtest: {msg}");
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

/// The result of one scenario run, as written to `--out`.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub scenario: &'static str,
    pub targets: Vec<String>,
    pub params: Value,
    pub figures: Value,
    pub verdict: Verdict,
    /// The few lines printed at the end (not in the JSON: figures has all).
    #[serde(skip)]
    pub summary: Vec<String>,
}

impl RunResult {
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, json + "\n")
    }
}

/// CPU seconds this process has used (user + system), if /proc tells.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces, hence rsplit).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13
    // here; in clock ticks, which Linux fixes at 100 per second for /proc.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_histogram() {
        let mut r = Recorder::default();
        for us in 1..=1000 {
            r.record(us);
        }
        let s = r.summary();
        assert_eq!(s.count, 1000);
        assert_eq!(s.p50_us, 500);
        assert!((990..=991).contains(&s.p99_us), "{s:?}");
        assert_eq!(s.max_us, 1000);
        assert_eq!(Recorder::default().summary(), Latency::default());
    }

    #[test]
    fn cpu_time_is_readable() {
        assert!(cpu_seconds().is_some());
    }
}
