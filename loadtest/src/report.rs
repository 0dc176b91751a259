//! What a run tells its operator: live progress on stderr (only when it is
//! a terminal, so CI logs stay clean), latency percentiles from
//! hdrhistogram, a one-screen summary on stdout, the JSON result file (with
//! the run's [`timeline`]: throughput and RSS over time) and the HTML report
//! with PNG charts ([`html`]).

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use serde_json::Value;

use crate::check::Verdict;
use timeline::TimelineData;

mod charts;
pub mod html;
pub mod timeline;

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

    /// The JSON result as `--out` writes it: this result plus `timeline`.
    pub fn to_json(&self, timeline: &TimelineData) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(map) = v.as_object_mut() {
            map.insert(
                "timeline".into(),
                serde_json::to_value(timeline).unwrap_or(Value::Null),
            );
        }
        v
    }
}

/// Writes a JSON value, pretty, to `path`.
pub fn write_json(path: &Path, v: &Value) -> std::io::Result<()> {
    let json = serde_json::to_string_pretty(v).map_err(std::io::Error::other)?;
    std::fs::write(path, json + "\n")
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

    /// A small result as a scenario and `main` would make it.
    fn synthetic() -> Value {
        let mut hold = Recorder::default();
        let mut checkout = Recorder::default();
        for us in 1..=2000 {
            hold.record(us * 200);
            checkout.record(us * 90);
        }
        let mut verdict = Verdict {
            rules: vec!["oversold", "readback"],
            ..Verdict::default()
        };
        verdict.fail("readback", "order <o1> missing & more".into());
        let result = RunResult {
            scenario: "flash-sale",
            targets: vec!["http://127.0.0.1:8080/".into()],
            params: serde_json::json!({"buyers": 2000, "stock": 200}),
            figures: serde_json::json!({
                "hold_ack": hold.summary(), "checkout_ack": checkout.summary(),
                "unused_ack": Latency::default(), "held": 200,
                "hold_outcomes": {"held": 200, "queued": 1800}}),
            verdict,
            summary: Vec::new(),
        };
        let mut t = TimelineData {
            bucket_ms: 1000,
            ..TimelineData::default()
        };
        for s in 0..20u64 {
            t.add("hold", s * 1_000_000, s * 10);
            t.add("checkout", s * 1_000_000 + 500_000, s);
        }
        t.rss.push(timeline::RssSeries {
            pid: 42,
            name: "liveshop".into(),
            samples: (0..40).map(|i| [i * 500, 50_000 + i * 1000]).collect(),
            note: None,
        });
        t.rss.push(timeline::RssSeries {
            pid: 43,
            name: "?".into(),
            samples: Vec::new(),
            note: Some("not sampled: gone".into()),
        });
        result.to_json(&t)
    }

    fn assert_png(path: &Path) {
        let bytes = std::fs::read(path).unwrap();
        assert!(
            bytes.len() > 2000,
            "{}: {} bytes",
            path.display(),
            bytes.len()
        );
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{}",
            path.display()
        );
    }

    #[test]
    fn a_report_renders_from_a_result() {
        let result = synthetic();
        assert_eq!(result["timeline"]["throughput"]["hold"][3], 30);
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("report");
        let written = html::render(&result, &out).unwrap();
        assert_eq!(written.len(), 5, "{written:?}");
        for png in ["latency.png", "throughput.png", "rss.png"] {
            assert_png(&out.join(png));
        }
        let page = std::fs::read_to_string(out.join("index.html")).unwrap();
        assert!(page.contains("<span class=\"fail\">FAIL</span>"), "{page}");
        assert!(
            page.contains("order &lt;o1&gt; missing &amp; more"),
            "{page}"
        );
        assert!(page.contains("src=\"rss.png\""));
        assert!(
            page.contains("<th>hold_outcomes.queued</th><td>1800</td>"),
            "{page}"
        );
        assert!(page.contains("<td>hold_ack</td>"), "{page}");
        assert!(!page.contains("unused_ack"), "empty latencies are left out");
        assert!(page.contains("not sampled: gone"));
        assert!(!page.contains("<script"));
        // The copy of the result renders the same report again.
        let copy: Value =
            serde_json::from_slice(&std::fs::read(out.join("result.json")).unwrap()).unwrap();
        assert_eq!(copy, result);
        let again = dir.path().join("again");
        html::render(&copy, &again).unwrap();
        assert_eq!(
            std::fs::read_to_string(again.join("index.html")).unwrap(),
            page
        );
    }

    #[test]
    fn a_result_without_timeline_or_latencies_still_renders() {
        let result = serde_json::json!({"scenario": "x", "figures": {"n": 1},
            "verdict": {"pass": true, "rules": [], "violations": []}});
        let dir = tempfile::tempdir().unwrap();
        let written = html::render(&result, dir.path()).unwrap();
        assert_eq!(written.len(), 2, "result.json and index.html: {written:?}");
        let page = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
        assert!(page.contains("PASS"));
        assert!(!page.contains("<img"));
    }
}
