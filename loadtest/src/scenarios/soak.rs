//! `soak`: a mix at modest rates for a duration, to watch a node's memory
//! and latency over time (`--node-pid` samples its RSS into the timeline).
//!
//! Setup over HTTP: a seller, `--rooms` rooms each with a sale lot (stock
//! 1,000,000, no per-user limit) and an auction lot (`min_increment` 1, no
//! anti-snipe, open past the run), and the users. Every user connects and
//! joins its room (round-robin); the seller joins every room and opens the
//! lots. Then for `--duration-secs` each user acts once per
//! `--interval-ms`, waiting for each reply: buyers hold one unit and check
//! it out (`--checkout-fraction`) or release it, bidders bid one over the
//! highest bid they have seen, viewers chat and like in turns. At the end
//! the seller closes every lot, the run waits until they settle, reads
//! them back and runs the checker: the sale, room and `answered` rules,
//! `readback`, and the bid rules.
//!
//! With `--workers` the users run in worker processes
//! ([`users::SoakPart`]); the seller stays here, and the actions start at
//! a time on the run's clock, so every user's schedule is the same
//! whichever process runs it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use super::{Env, RunError, WORKER_LEAD, join_room, run_prefix};
use crate::check::bids::{self, AuctionSpec};
use crate::check::{self, SaleSpec};
use crate::history::{ClientLog, History};
use crate::report::RunResult;
use crate::workers::Crowd;
use users::{Config, Member, Phase, Role, RoomLots, Signal, SoakPart, each_lot};

mod figures;
pub(super) mod users;

/// The sale lots' stock (the node's maximum) and hold TTL.
const STOCK: u64 = 1_000_000;
const HOLD_TTL_MS: u64 = 10_000;
const START_PRICE: i64 = 100;

#[derive(Debug, Clone, Args, serde::Serialize)]
pub struct SoakArgs {
    /// How long the users act, seconds.
    #[arg(long, default_value_t = 60)]
    pub duration_secs: u64,
    /// Rooms, each with one sale lot and one auction lot.
    #[arg(long, default_value_t = 2)]
    pub rooms: usize,
    /// Buyers holding units of their room's sale lot.
    #[arg(long, default_value_t = 20)]
    pub buyers: usize,
    /// Bidders on their room's auction lot.
    #[arg(long, default_value_t = 10)]
    pub bidders: usize,
    /// Viewers chatting and liking in their room.
    #[arg(long, default_value_t = 40)]
    pub viewers: usize,
    /// Between two actions of one user, ms (a buyer's action is a hold and
    /// its checkout or release).
    #[arg(long, default_value_t = 2_000)]
    pub interval_ms: u64,
    /// Share of the holds checked out; the rest are released.
    #[arg(long, default_value_t = 0.5)]
    pub checkout_fraction: f64,
    /// WebSocket connects in flight at once.
    #[arg(long, default_value_t = 256)]
    pub connect_concurrency: usize,
    /// HTTP setup requests (registrations) in flight at once.
    #[arg(long, default_value_t = 32)]
    pub setup_concurrency: usize,
}

impl SoakArgs {
    /// Rejects values the node or the scenario cannot use, before any setup.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=86_400).contains(&self.duration_secs) {
            return Err("--duration-secs must be 1..=86400".into());
        }
        if !(1..=100).contains(&self.rooms) {
            return Err("--rooms must be 1..=100".into());
        }
        if self.buyers > 10_000 || self.bidders > 10_000 || self.viewers > 10_000 {
            return Err("--buyers, --bidders and --viewers must be at most 10000 each".into());
        }
        if self.buyers + self.bidders + self.viewers == 0 {
            return Err("give at least one buyer, bidder or viewer".into());
        }
        if !(200..=3_600_000).contains(&self.interval_ms) {
            return Err("--interval-ms must be 200..=3600000 (the node's per-user limits)".into());
        }
        if !(0.0..=1.0).contains(&self.checkout_fraction) {
            return Err("--checkout-fraction must be within 0..=1".into());
        }
        if self.connect_concurrency == 0 || self.setup_concurrency == 0 {
            return Err("concurrency options must be at least 1".into());
        }
        Ok(())
    }
}

pub async fn run(env: Arc<Env>, args: SoakArgs) -> Result<RunResult, RunError> {
    args.validate().map_err(RunError::Usage)?;
    let n = args.buyers + args.bidders + args.viewers;
    // Before the sign-ups: every user's socket must fit.
    let what = format!("soak with {n} users");
    let flag = "--buyers, --bidders or --viewers";
    env.check_fd_budget(n, 1 + args.setup_concurrency, &what, flag)?;
    let api = env.api().clone();
    let prefix = run_prefix();
    let started = Instant::now();
    env.progress.note(&format!(
        "soak: setting up {} rooms and {n} users",
        args.rooms
    ));
    let seller = api.register(&format!("{prefix}seller"), "seller").await?;
    let lot_ms = (args.duration_secs + 300) * 1000 + 4 * env.timeout.as_millis() as u64;
    let mut rooms = Vec::with_capacity(args.rooms);
    for r in 0..args.rooms {
        let room = api
            .create_room(&seller, &format!("loadtest soak {r}"))
            .await?;
        let sale = json!({"title": format!("soak sale {r}"), "currency": "USD", "kind": "sale",
            "price": 100, "stock": STOCK, "hold_ttl_ms": HOLD_TTL_MS, "allocation": "fifo"});
        let auction = json!({"title": format!("soak auction {r}"), "currency": "USD",
            "kind": "auction", "start_price": START_PRICE, "duration_ms": lot_ms,
            "anti_snipe_ms": 0, "min_increment": 1});
        rooms.push(RoomLots {
            sale: api.create_lot(&seller, &room, sale).await?.into(),
            auction: api.create_lot(&seller, &room, auction).await?.into(),
            room: room.into(),
        });
    }
    let bar = env.progress.phase("register", n as u64);
    let names = (0..n).map(|i| format!("{prefix}u{i}")).collect();
    let people = api.register_many(names, "buyer", || bar.inc(1)).await?;
    bar.finish_and_clear();
    let setup_s = started.elapsed().as_secs_f64();

    let mut host = env
        .connect(0, &seller.token, ClientLog::new(&seller.name, &seller.id))
        .await?;
    for r in &rooms {
        for id in [&r.room, &r.sale, &r.auction] {
            host.know(id);
        }
        join_room(&seller.name, &mut host, &r.room).await?;
    }
    let lots: Vec<Arc<str>> = rooms
        .iter()
        .flat_map(|r| [r.sale.clone(), r.auction.clone()])
        .collect();
    each_lot(&mut host, &seller, &lots, "open_lot").await?;

    env.progress.note(&format!("connecting {n} users"));
    let connecting = Instant::now();
    let config = Config {
        connect_concurrency: args.connect_concurrency,
        interval: Duration::from_millis(args.interval_ms),
        duration: Duration::from_secs(args.duration_secs),
        users: n,
        checkout_fraction: args.checkout_fraction,
        start_price: START_PRICE,
    };
    let (phase_tx, phase_rx) = watch::channel(Phase::Connect);
    let (tx, mut rx) = mpsc::unbounded_channel();
    // Every user may run in a worker; the seller stays here (`host`).
    let members = people
        .into_iter()
        .enumerate()
        .map(|(k, user)| {
            let role = if k < args.buyers {
                Role::Buyer
            } else if k < args.buyers + args.bidders {
                Role::Bidder
            } else {
                Role::Viewer
            };
            let lots = rooms[k % rooms.len()].clone();
            (
                Member {
                    k,
                    role,
                    lots,
                    user,
                },
                false,
            )
        })
        .collect();
    let crowd = Crowd::<SoakPart>::start(&env, config, members, &tx, &phase_rx)?;
    drop(tx);
    let bar = env.progress.phase("connect", n as u64);
    let connected = host
        .pump_while(async {
            for _ in 0..n {
                match rx.recv().await {
                    Some(Signal::Ready(Ok(()))) => bar.inc(1),
                    Some(Signal::Ready(Err(e)) | Signal::Failed(e)) => return Err(e),
                    Some(Signal::Done(_)) | None => {
                        return Err(RunError::Internal("a user task ended early".into()));
                    }
                }
            }
            Ok(())
        })
        .await;
    bar.finish_and_clear();
    if let Err(e) = connected {
        return stop(&phase_tx, crowd, e).await;
    }
    let connect_s = connecting.elapsed().as_secs_f64();

    env.progress.note(&format!(
        "soaking for {} s, one action per user every {} ms",
        args.duration_secs, args.interval_ms
    ));
    // Workers first hear of the start through a pipe: start a little
    // ahead so every process's users start on the same schedule.
    let lead = if crowd.pids().is_empty() {
        Duration::ZERO
    } else {
        WORKER_LEAD
    };
    let start = env.clock.now() + u64::try_from(lead.as_micros()).unwrap_or(0);
    let _ = phase_tx.send(Phase::Run(start));
    // Every user ends by its deadline plus one action (each reply waited
    // for at most the timeout); beyond that a signal was lost.
    let until = tokio::time::Instant::now()
        + lead
        + Duration::from_secs(args.duration_secs)
        + Duration::from_millis(args.interval_ms)
        + 2 * env.timeout;
    let bar = env.progress.phase("soak", n as u64);
    let soaked = host
        .pump_while(async {
            let mut errors = Vec::new();
            let mut done = 0;
            while done < n {
                match tokio::time::timeout_at(until, rx.recv()).await {
                    Ok(Some(Signal::Done(err))) => {
                        done += 1;
                        bar.inc(1);
                        errors.extend(err);
                    }
                    Ok(Some(Signal::Failed(e))) => return Err(e),
                    Ok(Some(Signal::Ready(_))) => {}
                    Ok(None) | Err(_) => {
                        errors.push(format!("{} users never finished", n - done));
                        break;
                    }
                }
            }
            Ok(errors)
        })
        .await;
    bar.finish_and_clear();
    let user_errors = match soaked {
        Ok(errors) => errors,
        Err(e) => return stop(&phase_tx, crowd, e).await,
    };

    env.progress
        .note("closing the lots and waiting until they settle");
    let closed = each_lot(&mut host, &seller, &lots, "close_lot").await;
    let deadline = Instant::now() + Duration::from_millis(HOLD_TTL_MS) + env.timeout;
    let settled = host
        .pump_while(async {
            loop {
                let mut all = true;
                for lot in &lots {
                    all &= api.lot(lot).await?["status"] == "settled";
                }
                if all || Instant::now() > deadline {
                    // A moment for the last events to reach every viewer.
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    return Ok::<_, RunError>(all);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
        .await?;
    let _ = phase_tx.send(Phase::Stop);
    let mut history = History {
        clients: vec![host.finish().await],
    };
    history.clients.extend(crowd.join("user").await?);
    closed?;

    env.progress.note("reading back and checking");
    env.timeline.replies(
        &history,
        &["hold", "checkout", "release", "bid", "chat", "like"],
    );
    let (readback, auction_readback) = figures::read_back(&api, &seller, &rooms).await?;
    let sales: Vec<SaleSpec> = rooms
        .iter()
        .map(|r| SaleSpec {
            lot: r.sale.clone(),
            stock: STOCK,
            hold_ttl_ms: HOLD_TTL_MS,
        })
        .collect();
    let auctions: Vec<AuctionSpec> = rooms
        .iter()
        .map(|r| AuctionSpec {
            lot: r.auction.clone(),
            room: r.room.clone(),
            closed: true,
        })
        .collect();
    let mut verdict = check::check(&history, &sales, &readback);
    bids::check_bids(&history, &auctions, &auction_readback, &mut verdict);

    let mut figures = figures::figures(&history);
    let sent: u64 = figures["ops"].as_object().map_or(0, |ops| {
        ops.values().filter_map(|o| o["sent"].as_u64()).sum()
    });
    figures["users"] = json!({"buyers": args.buyers, "bidders": args.bidders,
        "viewers": args.viewers, "rooms": args.rooms});
    figures["requests_per_s"] = json!(round3(sent as f64 / args.duration_secs as f64));
    figures["oversold_units"] = json!(verdict.oversold(&sales));
    figures["settled"] = json!(settled);
    figures["user_errors"] = json!(user_errors.len());
    figures["user_error_examples"] = json!(user_errors.iter().take(5).collect::<Vec<_>>());
    figures["read_back"] = json!({
        "sold": readback.lots.values().map(|l| l.sold).sum::<u64>(),
        "orders": readback.orders.len(),
        "high_bids": auction_readback.values().map(|a| a.high_bid).collect::<Vec<_>>()});
    figures["setup_s"] = json!(round3(setup_s));
    figures["connect_s"] = json!(round3(connect_s));
    figures["total_s"] = json!(round3(started.elapsed().as_secs_f64()));
    figures["harness_cpu_s"] = json!(env.harness_cpu_s());
    let mut summary = vec![format!(
        "soak: {n} users in {} rooms for {} s: {sent} requests ({}/s), {} events received, \
         {} user errors",
        args.rooms,
        args.duration_secs,
        figures["requests_per_s"],
        figures["events_received"],
        figures["user_errors"]
    )];
    if let Some(latency) = figures["latency"].as_object() {
        for (op, l) in latency {
            let p = |k: &str| l[k].as_u64().unwrap_or(0) as f64 / 1000.0;
            summary.push(format!(
                "{op} ack: n={} p50={:.2}ms p99={:.2}ms max={:.2}ms",
                l["count"],
                p("p50_us"),
                p("p99_us"),
                p("max_us")
            ));
        }
    }
    Ok(RunResult {
        scenario: "soak",
        targets: env.target_urls(),
        params: serde_json::to_value(&args).unwrap_or(Value::Null),
        figures,
        verdict,
        summary,
    })
}

/// Ends the run early with `e`: every user stops, the workers with them.
async fn stop(
    phase_tx: &watch::Sender<Phase>,
    crowd: Crowd<SoakPart>,
    e: RunError,
) -> Result<RunResult, RunError> {
    let _ = phase_tx.send(Phase::Stop);
    let _ = crowd.join("user").await;
    Err(e)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
