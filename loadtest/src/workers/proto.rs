//! The messages between the driver and a worker process: JSON lines, the
//! driver's on the worker's stdin (the work order first, then phases and
//! answers), the worker's on its stdout (signals, questions, heartbeats,
//! then its members' results in order and its own figures). Lines rather
//! than one document, so the driver reacts to each signal as it comes and
//! never holds more than one member's result undecoded.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What every worker needs from the driver's command line and targets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Common {
    /// The run's clock (`Clock::base_unix_ns`), so the worker's timestamps
    /// are on the driver's clock.
    pub clock_base_unix_ns: u64,
    /// Each target's base URL and resolved address, in the driver's order
    /// (virtual user i goes to target i mod len, as in one process).
    pub targets: Vec<(String, SocketAddr)>,
    pub sources: Vec<IpAddr>,
    pub timeout_ms: u64,
}

/// The first line a worker reads: its share of the virtual users.
#[derive(Debug, Serialize, Deserialize)]
pub struct Order<C, P, M> {
    /// Which scenario part runs them (`Part::NAME`).
    pub part: String,
    /// The worker's number, 1-based (for messages).
    pub worker: usize,
    pub common: Common,
    pub config: C,
    /// The driver's phase when the worker starts.
    pub phase: P,
    pub members: Vec<M>,
}

/// A line from the driver after the order.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToWorker<P> {
    /// The driver's phase changed (the workers' members follow it as the
    /// driver's own tasks do).
    Phase(P),
    /// The answer to the worker's question `id`.
    Answer { id: u64, answer: Value },
}

/// A line from a worker.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FromWorker<W, O> {
    /// A member's signal, as the driver's own tasks send them.
    Signal(W),
    /// A question only the driver can answer (one counter for the run).
    Ask { id: u64, question: Value },
    /// Sent every second: a worker silent for longer than the run's timeout
    /// is taken as hung.
    Alive,
    /// One member's result, in the order's member order.
    Out(O),
    /// The last line: every member's result was sent.
    Finished(Figures),
    /// The worker cannot go on; it exits with status 2 after this line.
    Failed(String),
}

/// What a worker measured of itself, at its end.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub cpu_s: Option<f64>,
    /// `VmHWM`: the peak resident set.
    pub rss_peak_kib: Option<u64>,
    pub rss_end_kib: Option<u64>,
}

impl Figures {
    /// This process's figures, from /proc.
    pub fn of_this_process() -> Figures {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let kib = |key: &str| {
            let line = status.lines().find(|l| l.starts_with(key))?;
            line[key.len()..].split_whitespace().next()?.parse().ok()
        };
        Figures {
            cpu_s: crate::report::cpu_seconds(),
            rss_peak_kib: kib("VmHWM:"),
            rss_end_kib: kib("VmRSS:"),
        }
    }
}

/// One worker as the result records it (`figures.harness_workers`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub worker: usize,
    pub pid: u32,
    /// Virtual users it ran.
    pub members: usize,
    #[serde(flatten)]
    pub figures: Figures,
}
