//! `auction`: M bidders on K auction lots, V anonymous viewers per room,
//! bids at a target aggregate rate (open loop).
//!
//! Setup over HTTP: a seller, ceil(K / lots-per-room) rooms, K auction lots
//! (`min_increment` = `--increment`, a duration long enough to outlast the
//! run, so the run ends them itself), the bidders. Every bidder and viewer
//! connects and joins its rooms; the seller opens every lot. Each bidder
//! then bids on its own schedule (one bid every M / rate seconds, the
//! bidders' schedules evenly staggered) at the highest bid it knows of on
//! the lot plus the increment; a refusal (`bid_too_low` when another bidder
//! got there first) is expected and counted. When every bid is answered
//! the seller closes every lot (an auction settles at close: the high
//! bidder wins and gets an order), everyone reads on until it saw its lots'
//! `lot_closed`, the lots and the seller's orders are read back, and the
//! history is checked (room rules and the bid rules of `check::bids`).
//!
//! With `--workers` the bidders and viewers run in worker processes
//! ([`crowd::AuctionPart`]); the seller stays here, and the bidding starts
//! at a time on the run's clock, so every schedule is the same whichever
//! process runs it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use super::{Env, RunError, WORKER_LEAD, run_prefix};
use crate::api::User;
use crate::check::bids::{self, AuctionSpec};
use crate::check::{self, Readback};
use crate::cli::AuctionArgs;
use crate::client::{ClientError, Conn};
use crate::history::{ClientLog, History, Op, Outcome};
use crate::report::{Recorder, RunResult};
use crate::workers::Crowd;
use crowd::{AuctionPart, Config, Member, Out, Phase, Signal};

pub(super) mod crowd;
mod figures;

/// How long lots stay open beyond the bidding, so none ends by itself
/// during the run (the run closes them).
const LOT_MARGIN_MS: u64 = 120_000;

pub async fn run(env: Arc<Env>, args: AuctionArgs) -> Result<RunResult, RunError> {
    args.validate().map_err(RunError::Usage)?;
    let n_rooms = args.lots.div_ceil(args.lots_per_room);
    // Before the sign-ups: every bidder's and viewer's socket must fit.
    let what = format!(
        "auction --bidders {} --viewers {} ({n_rooms} rooms)",
        args.bidders, args.viewers
    );
    let users = args.bidders + n_rooms * args.viewers;
    let flag = "--bidders or --viewers";
    env.check_fd_budget(users, 1 + args.setup_concurrency, &what, flag)?;
    let api = env.api().clone();
    let prefix = run_prefix();
    let started = Instant::now();
    env.progress.note(&format!(
        "auction: setting up a seller, {n_rooms} rooms, {} lots and {} bidders",
        args.lots, args.bidders
    ));
    let seller = api.register(&format!("{prefix}seller"), "seller").await?;
    let rooms: Vec<Arc<str>> = collect(
        (0..n_rooms).map(|r| {
            let (api, seller) = (&api, &seller);
            async move {
                api.create_room(seller, &format!("loadtest auction {r}"))
                    .await
            }
        }),
        args.setup_concurrency,
    )
    .await?;
    let duration_ms =
        args.duration_secs * 1000 + LOT_MARGIN_MS + 4 * env.timeout.as_millis() as u64;
    let lots: Vec<Arc<str>> = collect(
        (0..args.lots).map(|j| {
            let (api, seller, room) = (&api, &seller, &rooms[j / args.lots_per_room]);
            let body = json!({"title": format!("loadtest lot {j}"), "currency": "USD",
                "kind": "auction", "start_price": args.start_price, "duration_ms": duration_ms,
                "anti_snipe_ms": 1000, "min_increment": args.increment});
            async move { api.create_lot(seller, room, body).await }
        }),
        args.setup_concurrency,
    )
    .await?;
    let room_of = |j: usize| rooms[j / args.lots_per_room].clone();
    let bar = env.progress.phase("register", args.bidders as u64);
    let names = (0..args.bidders).map(|i| format!("{prefix}b{i}")).collect();
    let bidders = api.register_many(names, "buyer", || bar.inc(1)).await;
    bar.finish_and_clear();
    let bidders = bidders?;
    let setup_s = started.elapsed().as_secs_f64();

    let mut host = env
        .connect(0, &seller.token, ClientLog::new(&seller.name, &seller.id))
        .await?;
    // Who is who: bidders bid on lot i mod K (or, fewer than the lots, on
    // lots i, i+M, ...) and watch those lots' rooms; viewers watch a room.
    let mut members = Vec::new();
    for (b, user) in bidders.into_iter().enumerate() {
        let bids_on: Vec<usize> = if args.bidders >= args.lots {
            vec![b % args.lots]
        } else {
            (b..args.lots).step_by(args.bidders).collect()
        };
        let mut rooms: Vec<Arc<str>> = bids_on.iter().map(|&j| room_of(j)).collect();
        rooms.dedup();
        members.push(Member {
            i: members.len() + 1,
            name: user.name,
            user_id: user.id,
            token: Some(user.token),
            watches: bids_on.iter().map(|&j| lots[j].clone()).collect(),
            bids_on: bids_on.iter().map(|&j| lots[j].clone()).collect(),
            rooms,
            bidder_index: b,
        });
    }
    for (r, room) in rooms.iter().enumerate() {
        let first = r * args.lots_per_room;
        let watches = lots[first..(first + args.lots_per_room).min(args.lots)].to_vec();
        for v in 0..args.viewers {
            members.push(Member {
                i: members.len() + 1,
                name: format!("viewer-r{r}-{v}"),
                user_id: String::new(),
                token: None,
                rooms: vec![room.clone()],
                watches: watches.clone(),
                bids_on: Vec::new(),
                bidder_index: 0,
            });
        }
    }
    let n_members = members.len();

    env.progress.note(&format!(
        "connecting {} bidders and {} viewers",
        args.bidders,
        n_members - args.bidders
    ));
    let connecting = Instant::now();
    let config = Config {
        connect_concurrency: args.connect_concurrency,
        interval: Duration::from_secs_f64(args.bidders as f64 / args.rate),
        duration: Duration::from_secs(args.duration_secs),
        bidders: args.bidders,
        start_price: args.start_price,
        increment: args.increment,
    };
    let (phase_tx, phase_rx) = watch::channel(Phase::Connect);
    let (tx, mut rx) = mpsc::unbounded_channel();
    // Every member may run in a worker; the seller stays here (`host`).
    let members = members.into_iter().map(|m| (m, false)).collect();
    let crowd = Crowd::<AuctionPart>::start(&env, config, members, &tx, &phase_rx)?;
    drop(tx);
    let bar = env.progress.phase("connect", n_members as u64);
    let connected = host
        .pump_while(wait(&mut rx, n_members, None, |s| match s {
            Signal::Ready(Ok(())) => {
                bar.inc(1);
                Ok(true)
            }
            Signal::Ready(Err(e)) | Signal::Failed(e) => Err(e),
            _ => Ok(false),
        }))
        .await;
    bar.finish_and_clear();
    let connect_s = connecting.elapsed().as_secs_f64();

    let opened = match connected {
        Ok(()) => each_lot(&mut host, &seller, &lots, "open_lot").await,
        Err(e) => Err(e),
    };
    if let Err(e) = opened {
        return stop(&phase_tx, crowd, e).await;
    }

    env.progress.note(&format!(
        "bidding for {} s at {} bids/s",
        args.duration_secs, args.rate
    ));
    // Workers first hear of the start through a pipe: start a little
    // ahead so their first bids are not counted late.
    let lead = if crowd.pids().is_empty() {
        Duration::ZERO
    } else {
        WORKER_LEAD
    };
    let start = env.clock.now() + u64::try_from(lead.as_micros()).unwrap_or(0);
    let _ = phase_tx.send(Phase::Bid(start));
    let deadline = tokio::time::Instant::now()
        + lead
        + Duration::from_secs(args.duration_secs)
        + 2 * env.timeout;
    let mut bid_errors = Vec::new();
    let bidding = host
        .pump_while(wait(&mut rx, args.bidders, Some(deadline), |s| match s {
            Signal::BidDone(err) => {
                bid_errors.extend(err);
                Ok(true)
            }
            Signal::Failed(e) => Err(e),
            _ => Ok(false),
        }))
        .await;
    if let Err(e) = bidding {
        return stop(&phase_tx, crowd, e).await;
    }

    env.progress.note("closing the lots");
    let closed = each_lot(&mut host, &seller, &lots, "close_lot").await;
    if let Err(e) = closed {
        return stop(&phase_tx, crowd, e).await;
    }
    // Read on until everyone saw its lots close.
    let _ = phase_tx.send(Phase::Drain);
    let deadline = tokio::time::Instant::now() + env.timeout + Duration::from_secs(5);
    let drained = host
        .pump_while(wait(&mut rx, n_members, Some(deadline), |s| match s {
            Signal::Drained => Ok(true),
            Signal::Failed(e) => Err(e),
            _ => Ok(false),
        }))
        .await;
    if let Err(e) = drained {
        return stop(&phase_tx, crowd, e).await;
    }
    let _ = phase_tx.send(Phase::Stop);
    let mut history = History {
        clients: vec![host.finish().await],
    };
    let mut send_lag = Recorder::default();
    for Out { log, send_lag_us } in crowd.join("virtual user").await? {
        send_lag_us.into_iter().for_each(|us| send_lag.record(us));
        history.clients.push(log);
    }

    env.progress.note("reading back and checking");
    let readback = figures::read_back(&api, &seller, &lots, args.setup_concurrency).await?;
    let specs: Vec<AuctionSpec> = (0..args.lots)
        .map(|j| AuctionSpec {
            lot: lots[j].clone(),
            room: room_of(j),
            closed: true,
        })
        .collect();
    let mut verdict = check::check(&history, &[], &Readback::default());
    verdict
        .rules
        .retain(|r| !["hold_unique", "oversold", "sold_once", "readback"].contains(r));
    bids::check_bids(&history, &specs, &readback, &mut verdict);
    let (mut figures, answered_ack, ok_ack) = figures::figures(&history, &send_lag);
    figures["bidders"] = json!(args.bidders);
    figures["lots"] = json!(args.lots);
    figures["rooms"] = json!(n_rooms);
    figures["viewers"] = json!(n_members - args.bidders);
    figures["target_bids_per_s"] = json!(args.rate);
    figures["bid_errors"] = json!(bid_errors.len());
    figures["bid_error_examples"] = json!(bid_errors.iter().take(5).collect::<Vec<_>>());
    let settled = readback.values().filter(|l| l.status == "settled").count();
    let high_sum: i64 = readback.values().filter_map(|l| l.high_bid).sum();
    figures["read_back"] = json!({"lots": readback.len(), "settled": settled,
        "with_a_winner": readback.values().filter(|l| l.high_bid.is_some()).count(),
        "orders": readback.values().map(|l| l.orders.len()).sum::<usize>(),
        "high_bids_sum": high_sum});
    figures["setup_s"] = json!(round3(setup_s));
    figures["connect_s"] = json!(round3(connect_s));
    figures["total_s"] = json!(round3(started.elapsed().as_secs_f64()));
    figures["harness_cpu_s"] = json!(env.harness_cpu_s());
    let summary = vec![
        format!(
            "bids: sent {} ok {} refused {} unanswered {}; {} accepted/s, {} answered/s (target {}/s)",
            figures["bids_sent"],
            figures["bids_ok"],
            figures["bids_refused"],
            figures["bids_unanswered"],
            figures["accepted_bids_per_s"],
            figures["answered_bids_per_s"],
            args.rate
        ),
        format!("bid ack (answered): {answered_ack}"),
        format!("bid ack (accepted): {ok_ack}"),
        format!(
            "lots settled {settled}/{}; connect {connect_s:.1} s; harness CPU {} s",
            args.lots, figures["harness_cpu_s"]
        ),
    ];
    Ok(RunResult {
        scenario: "auction",
        targets: env.target_urls(),
        params: serde_json::to_value(&args).unwrap_or(Value::Null),
        figures,
        verdict,
        summary,
    })
}

/// Runs the futures, at most `concurrency` at once, into ids in order.
async fn collect<F>(
    futs: impl Iterator<Item = F>,
    concurrency: usize,
) -> Result<Vec<Arc<str>>, RunError>
where
    F: std::future::Future<Output = Result<String, crate::api::ApiError>>,
{
    let mut stream = futures_util::stream::iter(futs).buffered(concurrency.max(1));
    let mut out = Vec::new();
    while let Some(id) = stream.next().await {
        out.push(Arc::from(id?));
    }
    Ok(out)
}

/// Takes signals until `n` of them counted (`f` says Ok(true)), one is an
/// error, every task has ended, or `deadline` passed (the members' own
/// waits are bounded; this bounds a lost signal).
async fn wait(
    rx: &mut mpsc::UnboundedReceiver<Signal>,
    n: usize,
    deadline: Option<tokio::time::Instant>,
    mut f: impl FnMut(Signal) -> Result<bool, RunError>,
) -> Result<(), RunError> {
    let mut counted = 0;
    while counted < n {
        let next = match deadline {
            Some(at) => tokio::time::timeout_at(at, rx.recv()).await.ok().flatten(),
            None => rx.recv().await,
        };
        let Some(signal) = next else {
            break;
        };
        if f(signal)? {
            counted += 1;
        }
    }
    Ok(())
}

/// Ends the run early with `e`: every member stops, the workers with them.
async fn stop(
    phase_tx: &watch::Sender<Phase>,
    crowd: Crowd<AuctionPart>,
    e: RunError,
) -> Result<RunResult, RunError> {
    let _ = phase_tx.send(Phase::Stop);
    let _ = crowd.join("virtual user").await;
    Err(e)
}

/// The seller sends `op` (open_lot or close_lot) for every lot, then
/// takes every reply; any refusal stops the run.
async fn each_lot(
    host: &mut Conn,
    seller: &User,
    lots: &[Arc<str>],
    op: &'static str,
) -> Result<(), RunError> {
    let client = |source: ClientError| RunError::Client {
        who: seller.name.clone(),
        source,
    };
    let mut rids = Vec::with_capacity(lots.len());
    for lot in lots {
        let record = match op {
            "open_lot" => Op::OpenLot { lot: lot.clone() },
            _ => Op::CloseLot { lot: lot.clone() },
        };
        let rid = host
            .send(record, json!({"type": op, "lot": &**lot}))
            .await
            .map_err(client)?;
        rids.push(rid);
    }
    for rid in rids {
        if let Outcome::Error { code } = host.reply(rid, op).await.map_err(client)? {
            return Err(RunError::Refused {
                who: seller.name.clone(),
                op,
                code: code.to_string(),
            });
        }
    }
    Ok(())
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Scenario};

    fn parse(args: &[&str]) -> crate::cli::AuctionArgs {
        let cli = Cli::try_parse_from(["liveshop-loadtest", "auction"].iter().chain(args)).unwrap();
        match cli.scenario {
            Scenario::Auction(args) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn the_command_line_parses_and_is_checked() {
        let args = parse(&["--bidders", "50", "--lots", "5", "--rate", "200"]);
        assert_eq!((args.bidders, args.lots, args.viewers), (50, 5, 10));
        assert_eq!(
            (args.rate, args.duration_secs, args.lots_per_room),
            (200.0, 10, 1)
        );
        assert!(args.validate().is_ok());
        for bad in [
            ["--rate", "0"],
            ["--lots", "0"],
            ["--increment", "0"],
            ["--duration-secs", "0"],
        ] {
            assert!(parse(&bad).validate().is_err(), "{bad:?} accepted");
        }
    }
}
