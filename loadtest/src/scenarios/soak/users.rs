//! The soak's virtual users, one task each: a buyer (hold, then check out
//! or release, on its room's sale lot), a bidder (one increment over the
//! highest bid it has seen on its room's auction lot) or a viewer (chat and
//! like in turns). Each acts once per interval, waiting for the reply, from
//! its own offset within the first interval until the deadline, reading
//! everything its room sends meanwhile and after, until the run stops.
//! Every user reports to the driver on one channel and follows its phases,
//! in the driver's process or in a worker's ([`SoakPart`]). Also the
//! seller's helpers: the join check and opening/closing lots.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub(crate) use super::super::signals::{Signal, Wire};
use super::super::{Env, RunError, join_room};
use crate::api::User;
use crate::client::{ClientError, Conn};
use crate::history::{ClientLog, Interner, Micros, Op, Outcome, Record};
use crate::workers::{Asker, Part};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Phase {
    Connect,
    /// Act from this time of the run's clock on (one clock in every
    /// process), until the deadline.
    Run(Micros),
    Stop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Role {
    Buyer,
    Bidder,
    Viewer,
}

/// A room and its two lots.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RoomLots {
    pub room: Arc<str>,
    pub sale: Arc<str>,
    pub auction: Arc<str>,
}

/// What every user task of a process shares (and a worker is given).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Config {
    pub connect_concurrency: usize,
    pub interval: Duration,
    pub duration: Duration,
    pub users: usize,
    pub checkout_fraction: f64,
    pub start_price: i64,
}

/// What every user task of a process shares.
pub(crate) struct Shared {
    env: Arc<Env>,
    connects: Semaphore,
    config: Config,
}

/// One user: its index among the users (which places its connection and
/// its schedule, whichever process runs it), role, room and account.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Member {
    pub k: usize,
    pub role: Role,
    pub lots: RoomLots,
    pub user: User,
}

/// The soak's users as a part `--workers` can run.
pub(crate) struct SoakPart;

impl Part for SoakPart {
    const NAME: &'static str = "soak";
    type Config = Config;
    type Member = Member;
    type Phase = Phase;
    type Signal = Signal;
    type Wire = Wire;
    type Out = ClientLog;
    type Shared = Shared;

    fn shared(env: Arc<Env>, config: Config, _asker: Option<Arc<Asker>>) -> Shared {
        Shared {
            env,
            connects: Semaphore::new(config.connect_concurrency.max(1)),
            config,
        }
    }

    fn spawn(
        shared: &Arc<Shared>,
        member: Member,
        signals: mpsc::UnboundedSender<Signal>,
        phase: watch::Receiver<Phase>,
    ) -> JoinHandle<ClientLog> {
        tokio::spawn(user(shared.clone(), member, signals, phase))
    }

    fn to_wire(signal: Signal) -> Wire {
        signal.into_wire()
    }

    fn from_wire(wire: Wire, worker: usize) -> Signal {
        Signal::from_wire(wire, worker)
    }

    fn failed(error: RunError) -> Signal {
        Signal::Failed(error)
    }

    fn intern(out: &mut ClientLog, ids: &mut Interner) {
        out.intern(ids);
    }
}

/// One user's task: returns its history.
async fn user(
    shared: Arc<Shared>,
    m: Member,
    signals: mpsc::UnboundedSender<Signal>,
    mut phase: watch::Receiver<Phase>,
) -> ClientLog {
    let Member {
        k,
        role,
        lots,
        user,
    } = m;
    let permit = shared.connects.acquire().await;
    let joined = async {
        let log = ClientLog::new(&user.name, &user.id);
        let mut conn = shared.env.connect(k + 1, &user.token, log).await?;
        for id in [&lots.room, &lots.sale, &lots.auction] {
            conn.know(id);
        }
        join_room(&user.name, &mut conn, &lots.room).await?;
        Ok::<Conn, RunError>(conn)
    }
    .await;
    drop(permit);
    let mut conn = match joined {
        Ok(conn) => conn,
        Err(e) => {
            let _ = signals.send(Signal::Ready(Err(e)));
            return ClientLog::new(&user.name, &user.id);
        }
    };
    let _ = signals.send(Signal::Ready(Ok(())));
    let start = conn
        .pump_while(async {
            match phase.wait_for(|p| *p != Phase::Connect).await.map(|p| *p) {
                Ok(Phase::Run(start)) => Some(Instant::from_std(shared.env.clock.instant(start))),
                _ => None,
            }
        })
        .await;
    if let Some(start) = start {
        let err = act_until(&shared, k, role, &lots, &mut conn, start)
            .await
            .err();
        let _ = signals.send(Signal::Done(err.map(|e| format!("{}: {e}", user.name))));
    }
    drop(signals);
    conn.pump_while(async {
        let _ = phase.wait_for(|p| *p == Phase::Stop).await;
    })
    .await;
    conn.finish().await
}

/// Acts once per interval from the user's offset until the deadline.
async fn act_until(
    shared: &Shared,
    k: usize,
    role: Role,
    lots: &RoomLots,
    conn: &mut Conn,
    start: Instant,
) -> Result<(), ClientError> {
    let c = &shared.config;
    let deadline = start + c.duration;
    let offset = c.interval.mul_f64(k as f64 / c.users.max(1) as f64);
    let mut next = start + offset;
    let mut state = State::default();
    while next < deadline {
        conn.pump_while(tokio::time::sleep_until(next)).await;
        match role {
            Role::Buyer => buy(shared, lots, conn, &mut state).await?,
            Role::Bidder => bid(shared, lots, conn, &mut state).await?,
            Role::Viewer => chat_or_like(k, lots, conn, &mut state).await?,
        }
        state.actions += 1;
        // The next slot; after a slow reply, no burst to catch up.
        next = (next + c.interval).max(Instant::now());
    }
    Ok(())
}

#[derive(Default)]
struct State {
    actions: u64,
    holds: u64,
    /// Records of this connection already scanned for bids.
    scanned: usize,
    high: Option<i64>,
}

async fn buy(
    shared: &Shared,
    lots: &RoomLots,
    conn: &mut Conn,
    state: &mut State,
) -> Result<(), ClientError> {
    let lot = &lots.sale;
    let op = Op::Hold {
        lot: lot.clone(),
        qty: 1,
    };
    let outcome = conn
        .request(op, json!({"type": "hold", "lot": &**lot, "qty": 1}))
        .await?;
    let Outcome::Held { hold, .. } = outcome else {
        return Ok(());
    };
    let n = state.holds as f64;
    state.holds += 1;
    let f = shared.config.checkout_fraction;
    if ((n + 1.0) * f).floor() > (n * f).floor() {
        let idem: Arc<str> = format!("lt-{hold}").into();
        let msg = json!({"type": "checkout", "hold": &*hold, "idem": &*idem});
        conn.request(Op::Checkout { hold, idem }, msg).await?;
    } else {
        let msg = json!({"type": "release", "hold": &*hold});
        conn.request(Op::Release { hold }, msg).await?;
    }
    Ok(())
}

async fn bid(
    shared: &Shared,
    lots: &RoomLots,
    conn: &mut Conn,
    state: &mut State,
) -> Result<(), ClientError> {
    let lot = &lots.auction;
    for r in &conn.log.records[state.scanned..] {
        if let Record::Bid { lot: l, amount, .. } = r
            && l == lot
        {
            state.high = state.high.max(Some(*amount));
        }
    }
    state.scanned = conn.log.records.len();
    let amount = state.high.map_or(shared.config.start_price, |h| h + 1);
    let op = Op::Bid {
        lot: lot.clone(),
        amount,
    };
    let msg = json!({"type": "bid", "lot": &**lot, "amount": amount});
    if let Outcome::Bid { amount, .. } = conn.request(op, msg).await? {
        state.high = state.high.max(Some(amount));
    }
    Ok(())
}

async fn chat_or_like(
    k: usize,
    lots: &RoomLots,
    conn: &mut Conn,
    state: &mut State,
) -> Result<(), ClientError> {
    let room = &*lots.room;
    let n = state.actions;
    if n.is_multiple_of(2) {
        let msg = json!({"type": "chat", "room": room, "text": format!("soak {k} says {n}")});
        conn.request(Op::Other { kind: "chat" }, msg).await?;
    } else {
        let msg = json!({"type": "like", "room": room, "count": 1 + n % 5});
        conn.request(Op::Other { kind: "like" }, msg).await?;
    }
    Ok(())
}

/// The seller sends `op` (`open_lot` or `close_lot`) for each lot in turn;
/// any refusal stops the run.
pub(crate) async fn each_lot(
    host: &mut Conn,
    seller: &User,
    lots: &[Arc<str>],
    op: &'static str,
) -> Result<(), RunError> {
    for lot in lots {
        let record = match op {
            "open_lot" => Op::OpenLot { lot: lot.clone() },
            _ => Op::CloseLot { lot: lot.clone() },
        };
        let reply = host
            .request(record, json!({"type": op, "lot": &**lot}))
            .await;
        match reply {
            Ok(Outcome::Error { code }) => {
                return Err(RunError::Refused {
                    who: seller.name.clone(),
                    op,
                    code: code.to_string(),
                });
            }
            Ok(_) => {}
            Err(source) => {
                return Err(RunError::Client {
                    who: seller.name.clone(),
                    source,
                });
            }
        }
    }
    Ok(())
}
