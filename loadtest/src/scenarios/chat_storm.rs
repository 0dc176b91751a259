//! `chat-storm`: R rooms, C chatters and V anonymous viewers in each; every
//! chatter sends chat messages on its own open-loop schedule (the
//! chatters' schedules evenly staggered); measures fan-out throughput
//! (deliveries a second to every member of every room), the delivery
//! latency of each (member, message) pair from the chatter's send to the
//! member's receipt, and the refusals (`rate_limited` and the like).
//!
//! Chatters are signed-up users (registered at most `--setup-concurrency`
//! at once); viewers are anonymous. Chatters join their room too, so they
//! receive (and are checked on) the room's stream like the viewers. The
//! phases, the watcher and the analysis are `broadcast`'s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};

use super::broadcast::crowd::{Member, Schedule};
use super::broadcast::deliveries::{self, Receiver, Sender};
use super::broadcast::{EmitKind, common_figures, drive};
use super::{Env, RunError, run_prefix};
use crate::check::{self, Readback};
use crate::report::RunResult;

#[derive(Debug, Clone, clap::Args, serde::Serialize)]
pub struct ChatStormArgs {
    /// Rooms, each with its own chatters and viewers.
    #[arg(long, default_value_t = 10)]
    pub rooms: usize,
    /// Signed-up chatters per room (each also watches its room).
    #[arg(long, default_value_t = 10)]
    pub chatters_per_room: usize,
    /// Anonymous viewers per room.
    #[arg(long, default_value_t = 100)]
    pub viewers_per_room: usize,
    /// Messages a second over all chatters (default 100). Above 5/s per
    /// chatter the node's `[rate_limits] chat` must be raised, or the
    /// excess is refused `rate_limited` (counted, not a violation).
    #[arg(long, conflicts_with = "chatter_rate")]
    pub rate: Option<f64>,
    /// Messages a second per chatter, instead of `--rate`.
    #[arg(long)]
    pub chatter_rate: Option<f64>,
    /// How long the chatters chat, seconds.
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
    /// How long the connected crowd idles before sending (and before the
    /// node's idle RSS is read, with `--node-pid`), ms.
    #[arg(long, default_value_t = 1_000)]
    pub settle_ms: u64,
    /// WebSocket connects in flight at once.
    #[arg(long, default_value_t = 256)]
    pub connect_concurrency: usize,
    /// HTTP setup requests (registrations, rooms) in flight at once.
    #[arg(long, default_value_t = 32)]
    pub setup_concurrency: usize,
}

impl ChatStormArgs {
    /// Rejects values the scenario cannot use, before any setup.
    pub fn validate(&self) -> Result<(), String> {
        if self.rooms == 0 || self.chatters_per_room == 0 {
            return Err("--rooms and --chatters-per-room must be at least 1".into());
        }
        let rate = self.per_chatter_rate();
        if !(rate.is_finite() && rate > 0.0 && rate <= 10_000.0) {
            return Err(
                "--rate / --chatter-rate must be positive (at most 10000/s a chatter)".into(),
            );
        }
        if !(1..=86_400).contains(&self.duration_secs) {
            return Err("--duration-secs must be 1..=86400".into());
        }
        if self.connect_concurrency == 0 || self.setup_concurrency == 0 {
            return Err("concurrency options must be at least 1".into());
        }
        Ok(())
    }

    pub fn chatters(&self) -> usize {
        self.rooms * self.chatters_per_room
    }

    /// Messages a second each chatter sends.
    pub fn per_chatter_rate(&self) -> f64 {
        match (self.chatter_rate, self.rate) {
            (Some(r), _) => r,
            (None, r) => r.unwrap_or(100.0) / self.chatters().max(1) as f64,
        }
    }
}

pub async fn run(
    env: Arc<Env>,
    args: ChatStormArgs,
    node_pid: Option<u32>,
) -> Result<RunResult, RunError> {
    args.validate().map_err(RunError::Usage)?;
    let n_chatters = args.chatters();
    let n_viewers = args.rooms * args.viewers_per_room;
    let what = format!("chat-storm with {n_chatters} chatters and {n_viewers} viewers");
    let flag = "--viewers-per-room or --chatters-per-room";
    env.check_fd_budget(
        n_chatters + n_viewers,
        1 + args.setup_concurrency,
        &what,
        flag,
    )?;
    let api = env.api().clone();
    let prefix = run_prefix();
    let started = Instant::now();
    env.progress.note(&format!(
        "chat-storm: setting up {} rooms and {n_chatters} chatters",
        args.rooms
    ));
    let seller = api.register(&format!("{prefix}host"), "seller").await?;
    let mut rooms: Vec<Arc<str>> = Vec::new();
    let mut created = futures_util::stream::iter(0..args.rooms)
        .map(|r| {
            let (api, seller) = (&api, &seller);
            async move {
                api.create_room(seller, &format!("loadtest chat storm {r}"))
                    .await
            }
        })
        .buffered(args.setup_concurrency);
    while let Some(room) = created.next().await {
        rooms.push(room?.into());
    }
    drop(created);
    let bar = env.progress.phase("register", n_chatters as u64);
    let names = (0..n_chatters).map(|k| format!("{prefix}c{k}")).collect();
    let chatters = api.register_many(names, "buyer", || bar.inc(1)).await;
    bar.finish_and_clear();
    let chatters = chatters?;
    let setup_s = started.elapsed().as_secs_f64();

    let rate = args.per_chatter_rate();
    let interval = Duration::from_secs_f64(1.0 / rate);
    let count = ((args.duration_secs as f64 * rate).round() as u64).max(1);
    let no_lots: Arc<[Arc<str>]> = Arc::from(Vec::new());
    let mut members: Vec<Member> = chatters
        .into_iter()
        .enumerate()
        .map(|(k, user)| Member {
            i: k,
            name: user.name,
            user_id: user.id,
            token: Some(user.token),
            room: rooms[k / args.chatters_per_room].clone(),
            joins: true,
            host: false,
            schedule: Some(Schedule {
                kind: EmitKind::Chat,
                offset: interval.mul_f64(k as f64 / n_chatters as f64),
                interval,
                count,
                sender: k,
                lots: no_lots.clone(),
            }),
        })
        .collect();
    for (r, room) in rooms.iter().enumerate() {
        for v in 0..args.viewers_per_room {
            members.push(Member {
                i: members.len(),
                name: format!("viewer-r{r}-{v}"),
                user_id: String::new(),
                token: None,
                room: room.clone(),
                joins: true,
                schedule: None,
                host: false,
            });
        }
    }
    let receivers: Vec<Receiver> = members
        .iter()
        .enumerate()
        .map(|(client, m)| Receiver {
            client,
            room: m.room.clone(),
        })
        .collect();
    let senders: Vec<Sender> = members[..n_chatters]
        .iter()
        .enumerate()
        .map(|(client, m)| Sender {
            client,
            room: m.room.clone(),
            lots: no_lots.clone(),
        })
        .collect();
    let opts = drive::Opts {
        connect_concurrency: args.connect_concurrency,
        node_pid,
        settle: Duration::from_millis(args.settle_ms),
        marker: prefix.clone(),
        schedule: interval.mul_f64(count as f64),
    };
    let driven = drive::drive(&env, members, &rooms, opts).await?;

    env.progress.note("checking");
    let history = &driven.history;
    env.timeline.replies(history, &["chat"]);
    env.timeline.events(history);
    let mut verdict = check::check(history, &[], &Readback::default());
    verdict
        .rules
        .retain(|r| !["hold_unique", "oversold", "sold_once", "readback"].contains(r));
    let d = deliveries::measure(
        history,
        &senders,
        &receivers,
        &driven.seen,
        &prefix,
        &mut verdict,
    );
    verdict.pass = verdict.violations.is_empty();

    let mut figures = d.json();
    let per_s = |n: u64, s: f64| (s > 0.0).then(|| ((n as f64 / s) * 10.0).round() / 10.0);
    // The send phase lasts the schedule plus the wait for the last replies.
    let schedule_s = (count as f64 / rate).max(1e-3);
    figures["rooms"] = json!(args.rooms);
    figures["chatters"] = json!(n_chatters);
    figures["viewers"] = json!(n_viewers);
    figures["receivers"] = json!(n_chatters + n_viewers);
    figures["messages_per_chatter"] = json!(count);
    figures["target_messages_per_s"] = json!(rate * n_chatters as f64);
    figures["messages_sent_per_s"] = json!(per_s(d.emitted, schedule_s));
    figures["messages_ok_per_s"] = json!(per_s(d.ok, schedule_s));
    figures["node_rss_kib"] = json!(driven.rss);
    common_figures(&env, &mut figures, history, &driven, setup_s, started);
    let summary = vec![
        format!(
            "{} rooms x ({} chatters + {} viewers): messages sent {} ({}/s), ok {}, refused {:?}, unanswered {}",
            args.rooms,
            args.chatters_per_room,
            args.viewers_per_room,
            d.emitted,
            figures["messages_sent_per_s"],
            d.ok,
            d.refused,
            d.unanswered
        ),
        format!(
            "deliveries {}/{} ({}/s; missing {}, skipped by resync {}, on closed connections {})",
            d.delivered,
            d.expected,
            figures["deliveries_per_s"],
            d.missing,
            d.missing_after_reset,
            d.missing_closed
        ),
        format!("delivery latency: {}", d.latency),
        format!("last receiver latency: {}", d.all_received),
    ];
    Ok(RunResult {
        scenario: "chat-storm",
        targets: env.target_urls(),
        params: serde_json::to_value(&args).unwrap_or(Value::Null),
        figures,
        verdict,
        summary,
    })
}
