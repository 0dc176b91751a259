//! A run's time series: throughput (completed operations per time bucket,
//! by kind) and the resident memory (RSS) of processes, sampled over time.
//! Both are on the harness's one clock (`Env::clock`), so they line up with
//! each other and with the history; the report charts them.
//!
//! Every scenario gets one through `env.timeline`; the API is three calls:
//!
//! - [`Timeline::replies`]: after the run, count every answered request of
//!   the history by op name (`hold`, `checkout`, `bid`, ...), at the reply's
//!   arrival; error replies count as `<op>:error`.
//! - [`Timeline::events`]: count the room events the clients received
//!   (kind `events`).
//! - [`Timeline::add`]: count `n` of any kind at a time of the clock, for
//!   what the history does not show.
//!
//! The RSS sampler is started by `Env::new` (the harness itself always, and
//! each `--node-pid`; each `--workers` process as it starts, through
//! [`Timeline::track`]); `main` calls [`Timeline::finish`] after the run and
//! writes the data into the JSON result as `timeline`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::history::{Clock, History, Micros, Outcome, Record};

/// Buckets past this many are not counted (a bound on memory and on the
/// JSON's size: 10^6 one-second buckets are eleven days).
pub const MAX_BUCKETS: usize = 1_000_000;

/// What the JSON result's `timeline` holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TimelineData {
    /// The width of a throughput bucket, ms. Bucket `i` of a kind counts
    /// what completed in `[i * bucket_ms, (i + 1) * bucket_ms)` after the
    /// harness's clock started.
    pub bucket_ms: u64,
    /// Completed operations per bucket, by kind.
    #[serde(default)]
    pub throughput: BTreeMap<String, Vec<u64>>,
    /// One series per sampled process.
    #[serde(default)]
    pub rss: Vec<RssSeries>,
}

/// The RSS of one process over time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RssSeries {
    pub pid: u32,
    /// Its command name (`/proc/PID/comm`), or a label.
    pub name: String,
    /// `[ms since the clock started, VmRSS in KiB]`, in time order.
    pub samples: Vec<[u64; 2]>,
    /// Why sampling stopped early or never started (the pid was missing or
    /// the process ended), if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl RssSeries {
    /// The highest sample, KiB.
    pub fn peak_kib(&self) -> Option<u64> {
        self.samples.iter().map(|s| s[1]).max()
    }
}

impl TimelineData {
    /// Adds `n` to `kind`'s bucket holding `at` (dropped past
    /// [`MAX_BUCKETS`]).
    pub fn add(&mut self, kind: &str, at: Micros, n: u64) {
        let width = self.bucket_ms.max(1).saturating_mul(1000);
        let Ok(i) = usize::try_from(at / width) else {
            return;
        };
        if i >= MAX_BUCKETS {
            return;
        }
        let buckets = self.throughput.entry(kind.to_owned()).or_default();
        if buckets.len() <= i {
            buckets.resize(i + 1, 0);
        }
        buckets[i] += n;
    }

    /// One line per sampled process: start, peak and end RSS, or its note.
    pub fn rss_summary(&self) -> Vec<String> {
        let mib = |kib: u64| kib as f64 / 1024.0;
        self.rss
            .iter()
            .map(|s| {
                let mut line = format!("rss: pid {} ({})", s.pid, s.name);
                if let (Some(first), Some(last), Some(peak)) =
                    (s.samples.first(), s.samples.last(), s.peak_kib())
                {
                    line += &format!(
                        ": {:.1} MiB at {:.1} s, peak {:.1} MiB, {:.1} MiB at {:.1} s ({} samples)",
                        mib(first[1]),
                        first[0] as f64 / 1000.0,
                        mib(peak),
                        mib(last[1]),
                        last[0] as f64 / 1000.0,
                        s.samples.len()
                    );
                }
                if let Some(note) = &s.note {
                    line += &format!("; {note}");
                }
                line
            })
            .collect()
    }
}

/// The recorder a run shares (`Env::timeline`).
pub struct Timeline {
    clock: Clock,
    data: Arc<Mutex<TimelineData>>,
    sampler: Mutex<Option<(watch::Sender<bool>, JoinHandle<()>)>>,
}

impl Timeline {
    /// An empty timeline on `clock` with `bucket_ms` wide buckets.
    pub fn new(clock: Clock, bucket_ms: u64) -> Timeline {
        Timeline {
            clock,
            data: Arc::new(Mutex::new(TimelineData {
                bucket_ms: bucket_ms.max(1),
                ..TimelineData::default()
            })),
            sampler: Mutex::new(None),
        }
    }

    fn data(&self) -> MutexGuard<'_, TimelineData> {
        // A panic while holding the lock leaves plain counters behind.
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts `n` operations of `kind` completed at `at` (the run's clock).
    pub fn add(&self, kind: &str, at: Micros, n: u64) {
        self.data().add(kind, at, n);
    }

    /// Counts the history's answered requests by op name at their replies'
    /// arrival (`<op>:error` for error replies); `ops` limits the count to
    /// those op names (empty: every op).
    pub fn replies(&self, history: &History, ops: &[&str]) {
        let mut data = self.data();
        for log in &history.clients {
            for ex in log.exchanges() {
                let name = ex.op.name();
                if !ops.is_empty() && !ops.contains(&name) {
                    continue;
                }
                match ex.reply {
                    Some((at, Outcome::Error { .. })) => {
                        data.add(&format!("{name}:error"), at, 1);
                    }
                    Some((at, _)) => data.add(name, at, 1),
                    None => {}
                }
            }
        }
    }

    /// Counts the room events the history's clients received, as `events`.
    pub fn events(&self, history: &History) {
        let mut data = self.data();
        for log in &history.clients {
            for r in &log.records {
                if let Record::Event { at, .. } = r {
                    data.add("events", *at, 1);
                }
            }
        }
    }

    /// Samples the VmRSS of this process and of `pids` every `every` until
    /// [`Timeline::finish`]. A pid that is missing or ends is noted in its
    /// series, never an error. Needs a tokio runtime; a second call does
    /// nothing.
    pub fn sample_rss(&self, pids: &[u32], every: Duration) {
        let mut sampler = self.sampler.lock().unwrap_or_else(|e| e.into_inner());
        if sampler.is_some() {
            return;
        }
        let mut targets = vec![(std::process::id(), "liveshop-loadtest (harness)".to_owned())];
        for &pid in pids {
            let name = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|_| "?".to_owned());
            targets.push((pid, name));
        }
        self.data().rss = targets
            .iter()
            .map(|(pid, name)| RssSeries {
                pid: *pid,
                name: name.clone(),
                ..RssSeries::default()
            })
            .collect();
        let (stop_tx, mut stop_rx) = watch::channel(false);
        let (data, clock) = (self.data.clone(), self.clock);
        let every = every.max(Duration::from_millis(10));
        let task = tokio::spawn(async move {
            loop {
                sample_all(&data, clock);
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stop_rx.changed() => break,
                }
            }
            sample_all(&data, clock);
        });
        *sampler = Some((stop_tx, task));
    }

    /// Samples `pid` too from now on (a worker process the run started);
    /// its series ends with a note when the process does.
    pub fn track(&self, pid: u32, name: &str) {
        self.data().rss.push(RssSeries {
            pid,
            name: name.to_owned(),
            ..RssSeries::default()
        });
    }

    /// Stops the sampler (after a last sample) and returns the data.
    pub async fn finish(&self) -> TimelineData {
        let sampler = self
            .sampler
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some((stop, task)) = sampler {
            let _ = stop.send(true);
            let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
        }
        self.data().clone()
    }
}

/// One sample of every series still being sampled.
fn sample_all(data: &Mutex<TimelineData>, clock: Clock) {
    let mut data = data.lock().unwrap_or_else(|e| e.into_inner());
    let now_ms = clock.now() / 1000;
    for series in data.rss.iter_mut().filter(|s| s.note.is_none()) {
        match read_rss_kib(series.pid) {
            Ok(kib) => series.samples.push([now_ms, kib]),
            Err(why) if series.samples.is_empty() => {
                series.note = Some(format!("not sampled: {why}"));
            }
            Err(why) => {
                series.note = Some(format!(
                    "ended after {:.1} s: {why}",
                    now_ms as f64 / 1000.0
                ));
            }
        }
    }
}

/// `VmRSS` of `pid` in KiB, from `/proc/PID/status`.
pub fn read_rss_kib(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    parse_vm_rss(&status).ok_or_else(|| format!("{path}: no VmRSS (the process has exited)"))
}

/// The `VmRSS:` line of a `/proc/PID/status` text, in KiB.
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut words = line["VmRSS:".len()..].split_whitespace();
    let n: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") | None => Some(n),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{ClientLog, Op};

    #[test]
    fn counts_fall_into_their_buckets() {
        let mut d = TimelineData {
            bucket_ms: 1000,
            ..TimelineData::default()
        };
        d.add("hold", 0, 1);
        d.add("hold", 999_999, 1);
        d.add("hold", 1_000_000, 1);
        d.add("hold", 3_500_000, 5);
        d.add("checkout", 2_000_000, 1);
        assert_eq!(d.throughput["hold"], vec![2, 1, 0, 5]);
        assert_eq!(d.throughput["checkout"], vec![0, 0, 1]);
        // Far past the bound: dropped, not a huge allocation.
        d.add("hold", u64::MAX, 1);
        assert_eq!(d.throughput["hold"].len(), 4);
    }

    #[test]
    fn replies_and_events_are_counted_from_the_history() {
        let mut log = ClientLog::new("u", "U");
        let hold = Op::Hold {
            lot: "L".into(),
            qty: 1,
        };
        let records = [
            Record::Sent {
                at: 100,
                rid: 1,
                op: hold.clone(),
            },
            Record::Reply {
                at: 200_000,
                rid: 1,
                outcome: Outcome::Queued { position: 1 },
            },
            Record::Sent {
                at: 300,
                rid: 2,
                op: hold,
            },
            Record::Reply {
                at: 1_200_000,
                rid: 2,
                outcome: Outcome::Error {
                    code: "sold_out".into(),
                },
            },
            Record::Sent {
                at: 400,
                rid: 3,
                op: Op::Other { kind: "chat" },
            },
            Record::Event {
                at: 2_500_000,
                room: "r".into(),
                seq: 1,
                digest: 0,
                stock: None,
            },
        ];
        log.records.extend(records);
        let history = History { clients: vec![log] };
        let t = Timeline::new(Clock::start(), 500);
        t.replies(&history, &["hold"]);
        t.events(&history);
        t.add("custom", 0, 3);
        let d = t.data().clone();
        assert_eq!(d.bucket_ms, 500);
        assert_eq!(d.throughput["hold"], vec![1]);
        assert_eq!(d.throughput["hold:error"], vec![0, 0, 1]);
        assert_eq!(d.throughput["events"], vec![0, 0, 0, 0, 0, 1]);
        assert_eq!(d.throughput["custom"], vec![3]);
        // The unanswered chat counts nowhere.
        assert!(!d.throughput.contains_key("chat"));
    }

    #[test]
    fn vm_rss_is_parsed() {
        let status = "Name:\tliveshop\nVmPeak:\t  9000 kB\nVmRSS:\t   12345 kB\nThreads: 4\n";
        assert_eq!(parse_vm_rss(status), Some(12345));
        assert_eq!(parse_vm_rss("Name:\tzombie\n"), None);
        assert!(read_rss_kib(std::process::id()).unwrap() > 0);
        assert!(read_rss_kib(u32::MAX).is_err());
    }

    #[tokio::test]
    async fn a_missing_pid_is_noted_and_the_harness_is_sampled() {
        let t = Timeline::new(Clock::start(), 1000);
        t.sample_rss(&[u32::MAX], Duration::from_millis(10));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let d = t.finish().await;
        assert_eq!(d.rss.len(), 2);
        assert!(d.rss[0].samples.len() >= 2, "{:?}", d.rss[0]);
        assert!(d.rss[0].note.is_none());
        assert!(d.rss[1].samples.is_empty());
        let note = d.rss[1].note.as_deref().unwrap();
        assert!(note.starts_with("not sampled"), "{note}");
        let summary = d.rss_summary();
        assert!(summary[0].contains("peak"), "{summary:?}");
        assert!(summary[1].contains("not sampled"), "{summary:?}");
    }
}
