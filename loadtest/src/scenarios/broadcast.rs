//! `broadcast`: V anonymous viewers in one room; the host emits chat and
//! pin events at a rate (open loop); measures how long each emission takes
//! to reach each viewer, from the host's send of the request to the
//! viewer's receipt of the room event, both on the harness's one clock.
//!
//! Setup over HTTP: a seller (the host), a room, a few draft lots to pin.
//! The watcher (`watcher.rs`) and the host connect, then every viewer
//! connects anonymously (no sign-up: the contract lets anyone watch) and
//! joins; the crowd idles a moment (the node's idle RSS is read then, with
//! `--node-pid`); the host sends its emissions; everyone reads on until it
//! has the last one. The checker's room rules and `delivered` run over
//! every viewer. The submodules are shared with `chat-storm`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Env, RunError, run_prefix};
use crate::check::{self, Readback};
use crate::history::{History, Record};
use crate::report::RunResult;
use crowd::{Member, Schedule};
use deliveries::{Receiver, Sender};

pub(super) mod crowd;
pub(super) mod deliveries;
pub(super) mod drive;
pub(super) mod watcher;

/// What the host emits.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum EmitKind {
    /// `chat` messages, each with a unique text.
    Chat,
    /// `pin` of the room's lots in turn.
    Pin,
    /// Chats and pins alternately.
    Mixed,
}

impl EmitKind {
    /// Whether emission `n` is a pin (else a chat).
    pub fn is_pin(self, n: u64) -> bool {
        match self {
            EmitKind::Chat => false,
            EmitKind::Pin => true,
            EmitKind::Mixed => n % 2 == 1,
        }
    }
}

#[derive(Debug, Clone, clap::Args, serde::Serialize)]
pub struct BroadcastArgs {
    /// Anonymous viewers in the room, one WebSocket each (the harness needs
    /// one open file per viewer under its `ulimit -n`).
    #[arg(long, default_value_t = 19_000)]
    pub viewers: usize,
    /// Events a second the host emits (open loop). Chats above the node's
    /// per-user chat limit (5/s by default) need `[rate_limits] chat` raised.
    #[arg(long, default_value_t = 5.0)]
    pub rate: f64,
    /// How long the host emits, seconds (default 10).
    #[arg(long, conflicts_with = "events")]
    pub duration_secs: Option<u64>,
    /// Emit exactly this many events instead.
    #[arg(long)]
    pub events: Option<u64>,
    /// What the host emits.
    #[arg(long, value_enum, default_value_t = EmitKind::Mixed)]
    pub kind: EmitKind,
    /// How long the connected viewers sit idle before the node's idle RSS
    /// is read (with `--node-pid`), ms.
    #[arg(long, default_value_t = 2_000)]
    pub settle_ms: u64,
    /// WebSocket connects in flight at once.
    #[arg(long, default_value_t = 256)]
    pub connect_concurrency: usize,
    /// HTTP setup requests in flight at once.
    #[arg(long, default_value_t = 32)]
    pub setup_concurrency: usize,
}

/// Lots the host pins in turn (at most).
const PIN_LOTS: u64 = 8;

impl BroadcastArgs {
    /// Rejects values the scenario cannot use, before any setup.
    pub fn validate(&self) -> Result<(), String> {
        if self.viewers == 0 {
            return Err("--viewers must be at least 1".into());
        }
        if !(self.rate.is_finite() && self.rate > 0.0 && self.rate <= 100_000.0) {
            return Err("--rate must be a number of events a second in (0, 100000]".into());
        }
        if self
            .duration_secs
            .is_some_and(|d| !(1..=86_400).contains(&d))
        {
            return Err("--duration-secs must be 1..=86400".into());
        }
        if self.events.is_some_and(|n| !(1..=10_000_000).contains(&n)) {
            return Err("--events must be 1..=10000000".into());
        }
        if self.connect_concurrency == 0 || self.setup_concurrency == 0 {
            return Err("concurrency options must be at least 1".into());
        }
        Ok(())
    }

    /// How many events the host emits.
    pub fn emissions(&self) -> u64 {
        let from_duration = || (self.duration_secs.unwrap_or(10) as f64 * self.rate).round();
        self.events.unwrap_or_else(|| from_duration() as u64).max(1)
    }
}

pub async fn run(
    env: Arc<Env>,
    args: BroadcastArgs,
    node_pid: Option<u32>,
) -> Result<RunResult, RunError> {
    args.validate().map_err(RunError::Usage)?;
    // The viewers (here or in the workers), the host and the watcher.
    let what = format!("broadcast --viewers {}", args.viewers);
    env.check_fd_budget(args.viewers, 2 + args.setup_concurrency, &what, "--viewers")?;
    let api = env.api().clone();
    let prefix = run_prefix();
    let started = Instant::now();
    let count = args.emissions();
    env.progress.note(&format!(
        "broadcast: setting up a host and a room for {} viewers",
        args.viewers
    ));
    let host = api.register(&format!("{prefix}host"), "seller").await?;
    let room: Arc<str> = api.create_room(&host, "loadtest broadcast").await?.into();
    let pins = (0..count).filter(|&n| args.kind.is_pin(n)).count() as u64;
    let mut lots: Vec<Arc<str>> = Vec::new();
    for j in 0..pins.min(PIN_LOTS) {
        let body = json!({"title": format!("loadtest pin {j}"), "currency": "USD",
            "kind": "sale", "price": 100, "stock": 1, "per_user_limit": 1,
            "hold_ttl_ms": 60_000, "allocation": "fifo"});
        lots.push(api.create_lot(&host, &room, body).await?.into());
    }
    let setup_s = started.elapsed().as_secs_f64();

    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let mut members = vec![Member {
        i: 0,
        name: host.name.clone(),
        user_id: host.id.clone(),
        token: Some(host.token.clone()),
        room: room.clone(),
        joins: false,
        host: true,
        schedule: Some(Schedule {
            kind: args.kind,
            offset: Duration::ZERO,
            interval,
            count,
            sender: 0,
            lots: lots.into(),
        }),
    }];
    let lots = members[0].schedule.as_ref().map(|s| s.lots.clone());
    members.extend((1..=args.viewers).map(|i| Member {
        i,
        name: format!("viewer-{i}"),
        user_id: String::new(),
        token: None,
        room: room.clone(),
        joins: true,
        schedule: None,
        host: false,
    }));
    let marker = prefix.clone();
    let opts = drive::Opts {
        connect_concurrency: args.connect_concurrency,
        node_pid,
        settle: Duration::from_millis(args.settle_ms),
        marker: marker.clone(),
        schedule: interval.mul_f64(count as f64),
    };
    let driven = drive::drive(&env, members, std::slice::from_ref(&room), opts).await?;

    env.progress.note("checking");
    let history = &driven.history;
    env.timeline.replies(history, &["chat", "pin"]);
    env.timeline.events(history);
    let mut verdict = check::check(history, &[], &Readback::default());
    verdict
        .rules
        .retain(|r| !["hold_unique", "oversold", "sold_once", "readback"].contains(r));
    let senders = [Sender {
        client: 0,
        room: room.clone(),
        lots: lots.unwrap_or_else(|| Arc::from(Vec::new())),
    }];
    let receivers: Vec<Receiver> = (1..=args.viewers)
        .map(|client| Receiver {
            client,
            room: room.clone(),
        })
        .collect();
    let d = deliveries::measure(
        history,
        &senders,
        &receivers,
        &driven.seen,
        &marker,
        &mut verdict,
    );
    verdict.pass = verdict.violations.is_empty();

    let mut figures = d.json();
    let rss = driven.rss;
    let per_conn = match (rss.before_kib, rss.idle_kib) {
        (Some(b), Some(i)) => Some((i.saturating_sub(b) * 1024) / args.viewers as u64),
        _ => None,
    };
    let p99_ok = |l: &crate::report::Latency| (l.count > 0).then_some(l.p99_us <= 50_000);
    figures["viewers"] = json!(args.viewers);
    figures["kind"] = json!(args.kind);
    figures["target_rate_per_s"] = json!(args.rate);
    figures["node_rss_kib"] = json!(rss);
    figures["node_rss_per_idle_connection_bytes"] = json!(per_conn);
    figures["goals"] = json!({
        "delivery_p99_le_50ms": p99_ok(&d.latency),
        "last_viewer_p99_le_50ms": p99_ok(&d.all_received),
        "idle_rss_per_connection_le_16kib": per_conn.map(|b| b <= 16 * 1024),
    });
    common_figures(&env, &mut figures, history, &driven, setup_s, started);
    let summary = vec![
        format!(
            "emitted {} ({} ok, refused {:?}, unanswered {}) to {} viewers; deliveries {}/{} (missing {}, skipped by resync {}, on closed connections {})",
            d.emitted,
            d.ok,
            d.refused,
            d.unanswered,
            args.viewers,
            d.delivered,
            d.expected,
            d.missing,
            d.missing_after_reset,
            d.missing_closed
        ),
        format!("delivery latency: {}", d.latency),
        format!("last viewer latency: {}", d.all_received),
        format!(
            "node RSS: before {:?} KiB, idle {:?} KiB, end {:?} KiB; per idle connection {:?} bytes; connect {:.1} s",
            rss.before_kib, rss.idle_kib, rss.end_kib, per_conn, driven.connect_s
        ),
    ];
    Ok(RunResult {
        scenario: "broadcast",
        targets: env.target_urls(),
        params: serde_json::to_value(&args).unwrap_or(Value::Null),
        figures,
        verdict,
        summary,
    })
}

/// Figures both fan-out scenarios report: lags, resyncs, connections the
/// node ended, the harness's own costs (CPU: this process and its workers;
/// RSS: this process, the workers' are in `harness_workers`), phase times.
pub(super) fn common_figures(
    env: &Env,
    figures: &mut Value,
    history: &History,
    driven: &drive::Driven,
    setup_s: f64,
    started: Instant,
) {
    let (mut events, mut lagged, mut resyncs, mut closed) = (0u64, 0u64, 0u64, 0u64);
    for log in &history.clients {
        for r in &log.records {
            match r {
                Record::Event { .. } => events += 1,
                Record::Lagged { .. } => lagged += 1,
                Record::Resync { .. } => resyncs += 1,
                Record::Closed { .. } => closed += 1,
                _ => {}
            }
        }
    }
    let round3 = |x: f64| (x * 1000.0).round() / 1000.0;
    figures["events_received"] = json!(events);
    figures["lagged_notices"] = json!(lagged);
    figures["resyncs"] = json!(resyncs);
    figures["connections_ended_early"] = json!(closed);
    figures["watcher_incomplete"] = json!(driven.seen.incomplete);
    figures["send_lag"] = json!(driven.send_lag);
    figures["send_errors"] = json!(driven.send_errors.len());
    figures["send_error_examples"] = json!(driven.send_errors.iter().take(5).collect::<Vec<_>>());
    figures["setup_s"] = json!(round3(setup_s));
    figures["connect_s"] = json!(round3(driven.connect_s));
    figures["send_s"] = json!(round3(driven.send_s));
    figures["drain_s"] = json!(round3(driven.drain_s));
    figures["total_s"] = json!(round3(started.elapsed().as_secs_f64()));
    figures["harness_cpu_s"] = json!(env.harness_cpu_s());
    figures["node_cpu_send_s"] = json!(driven.node_cpu_send_s);
    figures["harness_cpu_send_s"] = json!(driven.harness_cpu_send_s);
    figures["harness_rss_kib"] = json!(drive::rss_kib(std::process::id()));
}
