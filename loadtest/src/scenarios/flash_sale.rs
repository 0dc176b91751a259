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
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc, watch};

use super::{Env, RunError, run_prefix};
use crate::api::User;
use crate::check::{self, SaleSpec};
use crate::cli::FlashSaleArgs;
use crate::client::Conn;
use crate::history::{ClientLog, Op, Outcome, Record};
use crate::report::{RunResult, cpu_seconds};
use figures::{figures, read_back, round3};

mod figures;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Connect,
    Race,
    Stop,
}

/// What every buyer task shares.
struct Race {
    env: Arc<Env>,
    room: Arc<str>,
    lot: Arc<str>,
    connects: Semaphore,
    checkout_fraction: f64,
    /// Buyers given a hold so far: decides who checks out, so that exactly
    /// the fraction asked for (rounded down) does.
    holders: AtomicU64,
}

pub async fn run(env: Arc<Env>, args: FlashSaleArgs) -> Result<RunResult, RunError> {
    args.validate().map_err(RunError::Usage)?;
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
    let reply = host.request(join(&room), join_msg(&room)).await;
    joined(&seller, &host, reply)?;

    // Every buyer connects and joins, at most `connect_concurrency` at once.
    env.progress
        .note(&format!("connecting {} buyers", args.buyers));
    let connecting = Instant::now();
    let race = Arc::new(Race {
        env: env.clone(),
        room: room.clone(),
        lot: lot.clone(),
        connects: Semaphore::new(args.connect_concurrency),
        checkout_fraction: args.checkout_fraction,
        holders: AtomicU64::new(0),
    });
    let (phase_tx, phase_rx) = watch::channel(Phase::Connect);
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let handles: Vec<_> = buyers
        .into_iter()
        .enumerate()
        .map(|(i, user)| {
            let (ready, done) = (ready_tx.clone(), done_tx.clone());
            tokio::spawn(buyer(
                race.clone(),
                i + 1,
                user,
                ready,
                done,
                phase_rx.clone(),
            ))
        })
        .collect();
    drop((ready_tx, done_tx));
    let bar = env.progress.phase("connect", args.buyers as u64);
    let connected = host
        .pump_while(async {
            for _ in 0..args.buyers {
                match ready_rx.recv().await {
                    Some(Ok(())) => bar.inc(1),
                    Some(Err(e)) => return Err(e),
                    None => return Err(RunError::Internal("a buyer task ended early".into())),
                }
            }
            Ok(())
        })
        .await;
    bar.finish_and_clear();
    if let Err(e) = connected {
        let _ = phase_tx.send(Phase::Stop);
        for h in handles {
            let _ = h.await;
        }
        return Err(e);
    }
    let connect_s = connecting.elapsed().as_secs_f64();

    // The race: open, then every buyer holds at once.
    env.progress.note("racing");
    let open_sent = env.clock.now();
    let open = host.request(
        Op::OpenLot { lot: lot.clone() },
        json!({"type": "open_lot", "lot": &*lot}),
    );
    expect_ok(&seller, "open_lot", open.await)?;
    let _ = phase_tx.send(Phase::Race);
    let bar = env.progress.phase("race", args.buyers as u64);
    let race_errors: Vec<String> = host
        .pump_while(async {
            let mut errors = Vec::new();
            while let Some(err) = done_rx.recv().await {
                bar.inc(1);
                errors.extend(err);
            }
            errors
        })
        .await;
    bar.finish_and_clear();

    // Close (ends the queue) and wait until the unbought holds expired.
    let close = host.request(
        Op::CloseLot { lot: lot.clone() },
        json!({"type": "close_lot", "lot": &*lot}),
    );
    expect_ok(&seller, "close_lot", close.await)?;
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
    let history = super::gather(host.finish().await, handles, "buyer").await?;

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
    figures["harness_cpu_s"] = json!(cpu_seconds());
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

fn join(room: &Arc<str>) -> Op {
    Op::Join { room: room.clone() }
}

fn join_msg(room: &str) -> Value {
    json!({"type": "join", "room": room})
}

/// An `ok` reply, or the run's error naming who was refused what.
fn expect_ok(
    who: &User,
    op: &'static str,
    reply: Result<Outcome, crate::client::ClientError>,
) -> Result<Outcome, RunError> {
    match reply {
        Ok(Outcome::Error { code }) => Err(RunError::Refused {
            who: who.name.clone(),
            op,
            code: code.to_string(),
        }),
        Ok(outcome) => Ok(outcome),
        Err(source) => Err(RunError::Client {
            who: who.name.clone(),
            source,
        }),
    }
}

/// The join went through, on a connection the node took as `who`: a bad
/// token still opens the socket, as an anonymous one, with an `error`
/// without `rid` first (docs/protocol.md), which would only show later as
/// refused holds.
fn joined(
    who: &User,
    conn: &Conn,
    reply: Result<Outcome, crate::client::ClientError>,
) -> Result<(), RunError> {
    expect_ok(who, "join", reply)?;
    let refused = conn.log.records.iter().find_map(|r| match r {
        Record::ServerError { code, .. } => Some(code.to_string()),
        _ => None,
    });
    match refused {
        Some(code) => Err(RunError::Refused {
            who: who.name.clone(),
            op: "the WebSocket token",
            code,
        }),
        None => Ok(()),
    }
}

/// One buyer: connect and join (reporting on `ready`), wait for the race,
/// hold once, maybe check out (reporting on `done`), then keep reading
/// until the run stops. Returns its history.
async fn buyer(
    race: Arc<Race>,
    i: usize,
    user: User,
    ready: mpsc::UnboundedSender<Result<(), RunError>>,
    done: mpsc::UnboundedSender<Option<String>>,
    mut phase: watch::Receiver<Phase>,
) -> ClientLog {
    let log = ClientLog::new(&user.name, &user.id);
    let permit = race.connects.acquire().await;
    let joined = async {
        let mut conn = race.env.connect(i, &user.token, log).await?;
        conn.know(&race.room);
        conn.know(&race.lot);
        let reply = conn.request(join(&race.room), join_msg(&race.room)).await;
        joined(&user, &conn, reply)?;
        Ok::<Conn, RunError>(conn)
    }
    .await;
    drop(permit);
    let mut conn = match joined {
        Ok(conn) => conn,
        Err(e) => {
            let _ = ready.send(Err(e));
            return ClientLog::new(&user.name, &user.id);
        }
    };
    let _ = ready.send(Ok(()));
    conn.pump_while(async {
        let _ = phase.wait_for(|p| *p >= Phase::Race).await;
    })
    .await;
    if *phase.borrow() == Phase::Race {
        let err = hold_and_buy(&race, &mut conn).await.err();
        let _ = done.send(err.map(|e| format!("{}: {e}", user.name)));
    }
    drop(done);
    conn.pump_while(async {
        let _ = phase.wait_for(|p| *p == Phase::Stop).await;
    })
    .await;
    conn.finish().await
}

async fn hold_and_buy(race: &Race, conn: &mut Conn) -> Result<(), crate::client::ClientError> {
    let lot = &race.lot;
    let op = Op::Hold {
        lot: lot.clone(),
        qty: 1,
    };
    let outcome = conn
        .request(op, json!({"type": "hold", "lot": &**lot, "qty": 1}))
        .await?;
    if let Outcome::Held { hold, .. } = outcome {
        let n = race.holders.fetch_add(1, Ordering::Relaxed) as f64;
        let f = race.checkout_fraction;
        if ((n + 1.0) * f).floor() > (n * f).floor() {
            let idem: Arc<str> = format!("lt-{hold}").into();
            let msg = json!({"type": "checkout", "hold": &*hold, "idem": &*idem});
            conn.request(Op::Checkout { hold, idem }, msg).await?;
        }
    }
    Ok(())
}
