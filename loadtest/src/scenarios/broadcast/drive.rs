//! Runs a crowd of [`Member`]s through the phases (connect and join, send,
//! drain, stop) with the watcher beside them, and measures the node's RSS
//! on the way: shared by `broadcast` and `chat-storm`. The members run here
//! or in `--workers` processes (`workers::Crowd`); the watcher and the host
//! always run here.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::super::{Env, RunError, WORKER_LEAD};
use super::crowd::{Config, CrowdPart, Member, Phase, Signal};
use super::watcher::{Seen, Watcher};
use crate::history::History;
use crate::report::{Latency, Recorder};
use crate::workers::Crowd;

pub(in crate::scenarios) struct Opts {
    pub connect_concurrency: usize,
    /// The node's process, to read its RSS (a node on this machine).
    pub node_pid: Option<u32>,
    /// How long the connected crowd sits idle before the idle RSS is read.
    pub settle: Duration,
    pub marker: String,
    /// How long the senders' schedules last (bounds the waits).
    pub schedule: Duration,
}

/// The node's resident set (KiB), read from /proc at three moments.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub(in crate::scenarios) struct Rss {
    pub before_kib: Option<u64>,
    pub idle_kib: Option<u64>,
    pub end_kib: Option<u64>,
}

pub(in crate::scenarios) struct Driven {
    /// The members' histories in their order, then the watcher's.
    pub history: History,
    pub seen: Seen,
    pub send_lag: Latency,
    pub send_errors: Vec<String>,
    pub connect_s: f64,
    pub send_s: f64,
    pub drain_s: f64,
    pub rss: Rss,
    /// CPU seconds the node (with `--node-pid`) and the harness (with its
    /// workers) used from the start of sending to the end of the drain:
    /// who did the fan-out.
    pub node_cpu_send_s: Option<f64>,
    pub harness_cpu_send_s: Option<f64>,
}

/// `VmRSS` of process `pid` in KiB, if /proc tells.
pub(in crate::scenarios) fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User + system CPU seconds of process `pid`, if /proc tells.
pub(in crate::scenarios) fn cpu_s(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    // utime and stime (fields 14 and 15), in Linux's 100 ticks a second.
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

fn refused_hint(e: RunError) -> RunError {
    if e.to_string().contains("HTTP 503") {
        return RunError::Usage(format!(
            "{e} (the node refused more WebSockets: raise its [limits] max_websockets and \
             max_connections, see loadtest/README.md)"
        ));
    }
    e
}

/// Ends a run that cannot go on: every member stops (a worker that failed
/// is gone already; the others end with the phase), then `e` is the run's
/// error.
async fn stop(
    phase_tx: &watch::Sender<Phase>,
    crowd: Crowd<CrowdPart>,
    watcher: Watcher,
    e: RunError,
) -> Result<Driven, RunError> {
    let _ = phase_tx.send(Phase::Stop);
    let _ = crowd.join("virtual user").await;
    let _ = watcher.finish().await;
    Err(e)
}

/// Runs `members` through every phase; see the module doc.
pub(in crate::scenarios) async fn drive(
    env: &Arc<Env>,
    members: Vec<Member>,
    rooms: &[Arc<str>],
    opts: Opts,
) -> Result<Driven, RunError> {
    let rss_now = || opts.node_pid.and_then(rss_kib);
    let mut rss = Rss {
        before_kib: rss_now(),
        ..Rss::default()
    };
    let watcher = Watcher::start(env, rooms, &opts.marker).await?;
    let n = members.len();
    let senders = members.iter().filter(|m| m.schedule.is_some()).count();
    env.progress.note(&format!("connecting {n} virtual users"));
    let connecting = Instant::now();
    let config = Config {
        connect_concurrency: opts.connect_concurrency,
        marker: opts.marker.clone(),
    };
    let (phase_tx, phase_rx) = watch::channel(Phase::Connect);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let members = members.into_iter().map(|m| {
        let host = m.host;
        (m, host)
    });
    let crowd = match Crowd::<CrowdPart>::start(env, config, members.collect(), &tx, &phase_rx) {
        Ok(crowd) => crowd,
        Err(e) => {
            let _ = watcher.finish().await;
            return Err(e);
        }
    };
    drop(tx);
    let bar = env.progress.phase("connect", n as u64);
    let mut ready = Ok(());
    for _ in 0..n {
        match rx.recv().await {
            Some(Signal::Ready(Ok(()))) => bar.inc(1),
            Some(Signal::Ready(Err(e)) | Signal::Failed(e)) => {
                ready = Err(refused_hint(e));
                break;
            }
            Some(_) => {}
            None => {
                ready = Err(RunError::Internal(
                    "a virtual user's task ended early".into(),
                ));
                break;
            }
        }
    }
    bar.finish_and_clear();
    let connect_s = connecting.elapsed().as_secs_f64();
    if let Err(e) = ready {
        return stop(&phase_tx, crowd, watcher, e).await;
    }
    tokio::time::sleep(opts.settle).await;
    rss.idle_kib = rss_now();

    env.progress.note("sending");
    let pids = crowd.pids();
    let cpu_now = || {
        let harness = pids.iter().map(|&p| cpu_s(p)).sum::<Option<f64>>();
        let harness = harness.and_then(|w| Some(w + cpu_s(std::process::id())?));
        (opts.node_pid.and_then(cpu_s), harness)
    };
    let cpu_before = cpu_now();
    let sending = Instant::now();
    let lead = if pids.is_empty() {
        Duration::ZERO
    } else {
        WORKER_LEAD
    };
    let start = env.clock.now() + u64::try_from(lead.as_micros()).unwrap_or(0);
    let _ = phase_tx.send(Phase::Send(start));
    let deadline = Instant::now() + lead + opts.schedule + 2 * env.timeout;
    let (mut ok, mut send_errors, mut done) = (0u64, Vec::new(), 0usize);
    while done < senders {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(Signal::SendDone { ok: k, error })) => {
                done += 1;
                ok += k;
                send_errors.extend(error);
            }
            Ok(Some(Signal::Failed(e))) => return stop(&phase_tx, crowd, watcher, e).await,
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => {
                send_errors.push(format!("{} senders never finished", senders - done));
                break;
            }
        }
    }
    let send_s = sending.elapsed().as_secs_f64();

    // Every acknowledged emission should reach the watcher; then everyone
    // reads on until its room reached the last one.
    env.progress.note("draining");
    let draining = Instant::now();
    let until = Instant::now() + env.timeout;
    while watcher.tagged() < ok as usize && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut targets: HashMap<Arc<str>, u64> = HashMap::new();
    if let Ok(seen) = watcher.seen.lock() {
        for t in &seen.tags {
            let e = targets.entry(t.room.clone()).or_default();
            *e = (*e).max(t.seq);
        }
    }
    let _ = phase_tx.send(Phase::Drain(Arc::new(targets)));
    let until = Instant::now() + env.timeout + Duration::from_secs(5);
    let mut drained = 0;
    while drained < n {
        let left = until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(Signal::Drained)) => drained += 1,
            Ok(Some(Signal::Failed(e))) => return stop(&phase_tx, crowd, watcher, e).await,
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    let drain_s = draining.elapsed().as_secs_f64();
    rss.end_kib = rss_now();
    let cpu_after = cpu_now();
    let delta = |a: Option<f64>, b: Option<f64>| Some(((b? - a?) * 100.0).round() / 100.0);
    let _ = phase_tx.send(Phase::Stop);

    let mut history = History::default();
    let mut lag = Recorder::default();
    for out in crowd.join("virtual user").await? {
        out.send_lag_us.into_iter().for_each(|us| lag.record(us));
        history.clients.push(out.log);
    }
    let (log, seen) = watcher.finish().await?;
    history.clients.push(log);
    Ok(Driven {
        history,
        seen,
        send_lag: lag.summary(),
        send_errors,
        connect_s,
        send_s,
        drain_s,
        rss,
        node_cpu_send_s: delta(cpu_before.0, cpu_after.0),
        harness_cpu_send_s: delta(cpu_before.1, cpu_after.1),
    })
}
