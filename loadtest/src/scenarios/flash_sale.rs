//! `flash-sale`: N buyers race to hold units of one sale lot.
//!
//! Setup over HTTP (a seller, a room, a sale lot with `allocation: fifo`,
//! the buyers); every buyer connects and joins the room; the seller opens
//! the lot and every buyer sends one `hold` at once. A share of those given
//! a hold check it out at once (with an idempotency key); the others let it
//! expire. The seller then closes the lot, which ends the queue, and the run
//! waits until the lot is settled (the unbought holds have expired), so the
//! state read back is final. Measured: hold-ack latency (send to reply) and
//! time to sell out (open sent to the seller seeing `available` 0).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use super::{Env, RunError, expect_ok, join_room, run_prefix};
use crate::check::{self, SaleSpec};
use crate::cli::FlashSaleArgs;
use crate::history::{ClientLog, History, Op};
use crate::report::RunResult;
use crate::workers::Crowd;
use buyers::{Buyer, BuyerPart, Config, Phase, Signal};
use figures::{figures, read_back, round3};

pub(super) mod buyers;
mod figures;

pub async fn run(env: Arc<Env>, args: FlashSaleArgs) -> Result<RunResult, RunError> {
    args.validate().map_err(RunError::Usage)?;
    // Before the sign-ups, which take long: the buyers' sockets must fit.
    let what = format!("flash-sale --buyers {}", args.buyers);
    env.check_fd_budget(args.buyers, 1 + args.setup_concurrency, &what, "--buyers")?;
    let api = env.api().clone();
    let prefix = run_prefix();
    let started = Instant::now();
    env.progress.note(&format!(
        "flash-sale: setting up a seller, a room, a lot of {} and {} buyers",
        args.stock, args.buyers
    ));
    let seller = api.register(&format!("{prefix}seller"), "seller").await?;
    let room = api.create_room(&seller, "loadtest flash sale").await?;
    let lot_body = json!({
        "title": "loadtest flash sale", "currency": "USD", "kind": "sale", "price": 2500,
        "stock": args.stock, "per_user_limit": args.per_user_limit,
        "hold_ttl_ms": args.hold_ttl_ms, "allocation": "fifo"});
    let lot = api.create_lot(&seller, &room, lot_body).await?;
    let bar = env.progress.phase("register", args.buyers as u64);
    let names = (0..args.buyers).map(|i| format!("{prefix}b{i}")).collect();
    let buyers = api.register_many(names, "buyer", || bar.inc(1)).await?;
    bar.finish_and_clear();
    let setup_s = started.elapsed().as_secs_f64();

    let (room, lot): (Arc<str>, Arc<str>) = (room.into(), lot.into());
    let mut host = env
        .connect(0, &seller.token, ClientLog::new(&seller.name, &seller.id))
        .await?;
    host.know(&room);
    host.know(&lot);
    join_room(&seller.name, &mut host, &room).await?;

    // Every buyer connects and joins, at most `connect_concurrency` at once
    // (in each process, with --workers).
    env.progress
        .note(&format!("connecting {} buyers", args.buyers));
    let connecting = Instant::now();
    let config = Config {
        room: room.clone(),
        lot: lot.clone(),
        checkout_fraction: args.checkout_fraction,
        connect_concurrency: args.connect_concurrency,
    };
    let (phase_tx, phase_rx) = watch::channel(Phase::Connect);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let members = buyers
        .into_iter()
        .enumerate()
        .map(|(i, user)| (Buyer { i: i + 1, user }, false))
        .collect();
    let crowd = Crowd::<BuyerPart>::start(&env, config, members, &tx, &phase_rx)?;
    drop(tx);
    let bar = env.progress.phase("connect", args.buyers as u64);
    let connected = host
        .pump_while(async {
            for _ in 0..args.buyers {
                match rx.recv().await {
                    Some(Signal::Ready(Ok(()))) => bar.inc(1),
                    Some(Signal::Ready(Err(e)) | Signal::Failed(e)) => return Err(e),
                    Some(Signal::Done(_)) => {}
                    None => return Err(RunError::Internal("a buyer task ended early".into())),
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

    // The race: open, then every buyer holds at once.
    env.progress.note("racing");
    let open_sent = env.clock.now();
    let open = host.request(
        Op::OpenLot { lot: lot.clone() },
        json!({"type": "open_lot", "lot": &*lot}),
    );
    if let Err(e) = expect_ok(&seller.name, "open_lot", open.await) {
        return stop(&phase_tx, crowd, e).await;
    }
    let _ = phase_tx.send(Phase::Race);
    let bar = env.progress.phase("race", args.buyers as u64);
    let raced = host
        .pump_while(async {
            let mut errors = Vec::new();
            for _ in 0..args.buyers {
                match rx.recv().await {
                    Some(Signal::Done(err)) => {
                        bar.inc(1);
                        errors.extend(err);
                    }
                    Some(Signal::Failed(e)) => return Err(e),
                    Some(Signal::Ready(_)) => {}
                    None => break,
                }
            }
            Ok(errors)
        })
        .await;
    bar.finish_and_clear();
    let race_errors = match raced {
        Ok(errors) => errors,
        Err(e) => return stop(&phase_tx, crowd, e).await,
    };

    // Close (ends the queue) and wait until the unbought holds expired.
    let close = host.request(
        Op::CloseLot { lot: lot.clone() },
        json!({"type": "close_lot", "lot": &*lot}),
    );
    expect_ok(&seller.name, "close_lot", close.await)?;
    env.progress.note("waiting for unbought holds to expire");
    let deadline = Instant::now() + Duration::from_millis(args.hold_ttl_ms) + env.timeout;
    let settled = host
        .pump_while(async {
            loop {
                if api.lot(&lot).await?["status"] == "settled" {
                    return Ok::<_, RunError>(true);
                }
                if Instant::now() > deadline {
                    return Ok(false);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
        .await?;

    let _ = phase_tx.send(Phase::Stop);
    let mut history = History {
        clients: vec![host.finish().await],
    };
    history.clients.extend(crowd.join("buyer").await?);

    env.timeline
        .replies(&history, &["join", "hold", "checkout"]);
    let readback = read_back(&api, &seller, &lot).await?;
    let sales = [SaleSpec {
        lot: lot.clone(),
        stock: args.stock,
        hold_ttl_ms: args.hold_ttl_ms,
    }];
    let verdict = check::check(&history, &sales, &readback);
    let (mut figures, hold_ack) = figures(&history, &sales[0], open_sent);
    figures["oversold_units"] = json!(verdict.oversold(&sales));
    figures["settled"] = json!(settled);
    figures["setup_s"] = json!(round3(setup_s));
    figures["connect_s"] = json!(round3(connect_s));
    figures["total_s"] = json!(round3(started.elapsed().as_secs_f64()));
    figures["harness_cpu_s"] = json!(env.harness_cpu_s());
    figures["race_errors"] = json!(race_errors.len());
    figures["race_error_examples"] = json!(race_errors.iter().take(5).collect::<Vec<_>>());
    figures["read_back"] = json!({"sold": readback.lots.get(&*lot).map(|l| l.sold),
        "available": readback.lots.get(&*lot).map(|l| l.available),
        "orders": readback.orders.len()});
    let summary = vec![
        format!(
            "holds: {} outcomes {}; checkouts ok {}",
            figures["holds_sent"], figures["hold_outcomes"], figures["checkouts_ok"]
        ),
        format!("hold ack: {hold_ack}"),
        format!(
            "sold out after {} ms (the seller saw 0 after {} ms); connect {:.1} s; harness CPU {} s",
            figures["sell_out_ms"],
            figures["stock_zero_seen_ms"],
            connect_s,
            figures["harness_cpu_s"]
        ),
    ];
    Ok(RunResult {
        scenario: "flash-sale",
        targets: env.target_urls(),
        params: serde_json::to_value(&args).unwrap_or(Value::Null),
        figures,
        verdict,
        summary,
    })
}

/// Ends a run that cannot go on: every buyer stops (a worker that failed
/// is gone already), then `e` is the run's error.
async fn stop<T>(
    phase_tx: &watch::Sender<Phase>,
    crowd: Crowd<BuyerPart>,
    e: RunError,
) -> Result<T, RunError> {
    let _ = phase_tx.send(Phase::Stop);
    let _ = crowd.join("buyer").await;
    Err(e)
}
