//! The auction's virtual users, one task each: bidders (a registered user
//! that watches its lots' rooms and bids on a fixed open-loop schedule) and
//! viewers (anonymous connections that only watch one room). Every task
//! reports to the driver on one channel and follows its phases, in the
//! driver's process or in a worker's ([`AuctionPart`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub(crate) use super::super::signals::Out;
use super::super::{Env, RunError, join_room};
use crate::client::Conn;
use crate::history::{ClientLog, Interner, Micros, Op, Record};
use crate::workers::{Asker, Part};

/// The driver's phases, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Phase {
    Connect,
    /// Bidders bid, their schedules starting at this time of the run's
    /// clock (one clock in every process).
    Bid(Micros),
    /// Everyone reads on until it saw its lots close.
    Drain,
    Stop,
}

impl Phase {
    /// Its place in the order (whatever a `Bid` carries).
    fn rank(self) -> u8 {
        match self {
            Phase::Connect => 0,
            Phase::Bid(_) => 1,
            Phase::Drain => 2,
            Phase::Stop => 3,
        }
    }
}

/// What a task tells the driver.
pub(crate) enum Signal {
    /// Connected and joined (or why not).
    Ready(Result<(), RunError>),
    /// A bidder's schedule is over and its bids are answered (or why not).
    BidDone(Option<String>),
    /// Saw every one of its lots closed, or gave up waiting.
    Drained,
    /// A worker process failed (its members are lost).
    Failed(RunError),
}

/// A [`Signal`] as it crosses from a worker (errors as their messages).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Wire {
    Ready(Result<(), String>),
    BidDone(Option<String>),
    Drained,
}

/// What a worker needs to make its [`Shared`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Config {
    pub connect_concurrency: usize,
    /// Between two bids of one bidder.
    pub interval: Duration,
    pub duration: Duration,
    pub bidders: usize,
    pub start_price: i64,
    pub increment: i64,
}

/// What every task of a process shares.
pub(crate) struct Shared {
    env: Arc<Env>,
    connects: Semaphore,
    config: Config,
}

/// One virtual user.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Member {
    /// Its number among all connections (spreads targets and sources).
    pub i: usize,
    pub name: String,
    pub user_id: String,
    /// None: an anonymous viewer.
    pub token: Option<String>,
    pub rooms: Vec<Arc<str>>,
    /// The lots it watches (to know when all have closed).
    pub watches: Vec<Arc<str>>,
    /// The lots it bids on, in turn (empty for a viewer), and its index
    /// among the bidders (which places its schedule).
    pub bids_on: Vec<Arc<str>>,
    pub bidder_index: usize,
}

/// The auction's bidders and viewers as a part `--workers` can run.
pub(crate) struct AuctionPart;

impl Part for AuctionPart {
    const NAME: &'static str = "auction";
    type Config = Config;
    type Member = Member;
    type Phase = Phase;
    type Signal = Signal;
    type Wire = Wire;
    type Out = Out;
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
    ) -> JoinHandle<Out> {
        tokio::spawn(self::member(shared.clone(), member, signals, phase))
    }

    fn to_wire(signal: Signal) -> Wire {
        match signal {
            Signal::Ready(r) => Wire::Ready(r.map_err(|e| e.to_string())),
            Signal::BidDone(error) => Wire::BidDone(error),
            Signal::Drained => Wire::Drained,
            Signal::Failed(e) => Wire::Ready(Err(e.to_string())),
        }
    }

    fn from_wire(wire: Wire, worker: usize) -> Signal {
        match wire {
            Wire::Ready(r) => {
                Signal::Ready(r.map_err(|message| RunError::Worker { worker, message }))
            }
            Wire::BidDone(error) => Signal::BidDone(error),
            Wire::Drained => Signal::Drained,
        }
    }

    fn failed(error: RunError) -> Signal {
        Signal::Failed(error)
    }

    fn intern(out: &mut Out, ids: &mut Interner) {
        out.log.intern(ids);
    }
}

/// Connects and joins every room, checking the node took the token.
async fn join(shared: &Shared, m: &Member) -> Result<Conn, RunError> {
    let log = ClientLog::new(&m.name, &m.user_id);
    let mut conn = shared.env.connect_as(m.i, m.token.as_deref(), log).await?;
    for id in m.rooms.iter().chain(&m.bids_on) {
        conn.know(id);
    }
    for room in &m.rooms {
        join_room(&m.name, &mut conn, room).await?;
    }
    Ok(conn)
}

/// One virtual user's whole run.
async fn member(
    shared: Arc<Shared>,
    m: Member,
    tx: mpsc::UnboundedSender<Signal>,
    mut phase: watch::Receiver<Phase>,
) -> Out {
    let permit = shared.connects.acquire().await;
    let joined = join(&shared, &m).await;
    drop(permit);
    let mut out = Out {
        log: ClientLog::new(&m.name, &m.user_id),
        send_lag_us: Vec::new(),
    };
    let mut conn = match joined {
        Ok(conn) => conn,
        Err(e) => {
            let _ = tx.send(Signal::Ready(Err(e)));
            return out;
        }
    };
    let _ = tx.send(Signal::Ready(Ok(())));
    conn.pump_while(async {
        let _ = phase.wait_for(|p| p.rank() >= Phase::Bid(0).rank()).await;
    })
    .await;
    let now = *phase.borrow();
    if let (false, Phase::Bid(start)) = (m.bids_on.is_empty(), now) {
        let start = Instant::from_std(shared.env.clock.instant(start));
        let err = bid(&shared, &m, start, &mut conn, &mut out.send_lag_us)
            .await
            .err();
        let _ = tx.send(Signal::BidDone(err.map(|e| format!("{}: {e}", m.name))));
    }
    conn.pump_while(async {
        let _ = phase.wait_for(|p| p.rank() >= Phase::Drain.rank()).await;
    })
    .await;
    if *phase.borrow() == Phase::Drain {
        // Read on until every watched lot's `lot_closed` came (bounded).
        let deadline = Instant::now() + shared.env.timeout;
        let mut scanned = 0;
        let mut open: HashSet<&str> = m.watches.iter().map(|l| &**l).collect();
        while !open.is_empty() && conn.closed.is_none() && Instant::now() < deadline {
            for r in &conn.log.records[scanned..] {
                if let Record::LotClosed { lot, .. } = r {
                    open.remove(&**lot);
                }
            }
            scanned = conn.log.records.len();
            if open.is_empty() {
                break;
            }
            conn.pump_while(tokio::time::sleep(Duration::from_millis(20)))
                .await;
        }
        let _ = tx.send(Signal::Drained);
    }
    drop(tx);
    conn.pump_while(async {
        let _ = phase.wait_for(|p| *p == Phase::Stop).await;
    })
    .await;
    out.log = conn.finish().await;
    out
}

/// The open-loop schedule: bid number k leaves at start + (offset + k) x
/// interval (offset: its index among the bidders over their number, so the
/// same in whichever process) whether or not earlier ones were answered, each on the next of
/// `bids_on` in turn, at the highest bid known on that lot (from its bid
/// events, or this bidder's own last offer) plus the increment. Then waits
/// (bounded) until every bid is answered.
async fn bid(
    shared: &Shared,
    m: &Member,
    start: Instant,
    conn: &mut Conn,
    lags: &mut Vec<u64>,
) -> Result<(), crate::client::ClientError> {
    let c = &shared.config;
    let end = start + c.duration;
    let offset = m.bidder_index as f64 / c.bidders as f64;
    let mut known: HashMap<Arc<str>, i64> = HashMap::new();
    let mut outstanding: HashSet<u32> = HashSet::new();
    let mut scanned = 0;
    for k in 0u64.. {
        let due = start + c.interval.mul_f64(offset + k as f64);
        if due >= end || conn.closed.is_some() {
            break;
        }
        conn.pump_while(tokio::time::sleep_until(due)).await;
        for r in &conn.log.records[scanned..] {
            if let Record::Bid { lot, amount, .. } = r {
                let high = known.entry(lot.clone()).or_insert(*amount);
                *high = (*high).max(*amount);
            }
        }
        scanned = conn.log.records.len();
        for (rid, _) in conn.drain_replies() {
            outstanding.remove(&rid);
        }
        let lot = &m.bids_on[(k % m.bids_on.len() as u64) as usize];
        let amount = match known.get(lot) {
            Some(high) => high.saturating_add(c.increment),
            None => c.start_price,
        };
        known.insert(lot.clone(), amount);
        let lag = Instant::now().saturating_duration_since(due);
        lags.push(u64::try_from(lag.as_micros()).unwrap_or(u64::MAX));
        let op = Op::Bid {
            lot: lot.clone(),
            amount,
        };
        let msg = json!({"type": "bid", "lot": &**lot, "amount": amount});
        outstanding.insert(conn.send(op, msg).await?);
    }
    let deadline = Instant::now() + shared.env.timeout;
    while !outstanding.is_empty() && conn.closed.is_none() && Instant::now() < deadline {
        conn.pump_while(tokio::time::sleep(Duration::from_millis(10)))
            .await;
        for (rid, _) in conn.drain_replies() {
            outstanding.remove(&rid);
        }
    }
    match (&conn.closed, outstanding.len()) {
        (_, 0) => Ok(()),
        (Some(reason), n) => Err(crate::client::ClientError::Closed {
            what: format!("waiting for the replies to {n} bids"),
            reason: reason.clone(),
        }),
        (None, n) => Err(crate::client::ClientError::Timeout {
            secs: shared.env.timeout.as_secs(),
            what: format!("waiting for the replies to {n} bids"),
        }),
    }
}
