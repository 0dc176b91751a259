//! The virtual users of the fan-out scenarios (`broadcast`, `chat-storm`),
//! one task each: anonymous viewers that join one room and read, and
//! senders (the broadcast host, the storm's chatters) that send `chat` or
//! `pin` requests on an open-loop schedule. Every task reports to the
//! driver on one channel and follows the driver's phases, in the driver's
//! process or in a worker's ([`CrowdPart`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub(crate) use super::super::signals::Out;
use super::super::{Env, RunError, expect_ok, join_room, token_taken};
use super::EmitKind;
use crate::client::Conn;
use crate::history::{ClientLog, Interner, Micros, Op, Outcome, Record};
use crate::workers::{Asker, Part};

/// The driver's phases, in order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Phase {
    Connect,
    /// Senders send, their schedules starting at this time of the run's
    /// clock (one clock in every process).
    Send(Micros),
    /// Every member reads on until its room reached this `seq`.
    Drain(Arc<HashMap<Arc<str>, u64>>),
    Stop,
}

/// What a task tells the driver.
pub(crate) enum Signal {
    /// Connected and joined (or why not).
    Ready(Result<(), RunError>),
    /// A sender's schedule is over and its requests are answered:
    /// how many were acknowledged `ok`, and what went wrong, if anything.
    SendDone { ok: u64, error: Option<String> },
    /// Saw its room reach the drain target, or gave up waiting.
    Drained,
    /// A worker process failed (its members are lost).
    Failed(RunError),
}

/// A [`Signal`] as it crosses from a worker (errors as their messages).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Wire {
    Ready(Result<(), String>),
    SendDone { ok: u64, error: Option<String> },
    Drained,
}

/// A sender's schedule: `count` requests, one every `interval` from the
/// start plus `offset` (open loop: whether or not earlier ones were
/// answered).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Schedule {
    pub kind: EmitKind,
    pub offset: Duration,
    pub interval: Duration,
    pub count: u64,
    /// Its number among the senders, carried in chat texts.
    pub sender: usize,
    /// The lots it pins in turn (pin and mixed).
    pub lots: Arc<[Arc<str>]>,
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
    pub room: Arc<str>,
    /// Whether it joins the room (the broadcast host does not: it only
    /// emits).
    pub joins: bool,
    pub schedule: Option<Schedule>,
    /// The host's part: it stays in the driver's process with `--workers`.
    #[serde(default)]
    pub host: bool,
}

/// What every task of a process shares.
pub(crate) struct Shared {
    pub env: Arc<Env>,
    pub connects: Semaphore,
    /// Every chat text starts with this (unique per run).
    pub marker: String,
}

/// What a worker needs to make its [`Shared`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Config {
    pub connect_concurrency: usize,
    pub marker: String,
}

/// The fan-out scenarios' users as a part `--workers` can run.
pub(crate) struct CrowdPart;

impl Part for CrowdPart {
    const NAME: &'static str = "fan-out";
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
            marker: config.marker,
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
            Signal::SendDone { ok, error } => Wire::SendDone { ok, error },
            Signal::Drained => Wire::Drained,
            Signal::Failed(e) => Wire::Ready(Err(e.to_string())),
        }
    }

    fn from_wire(wire: Wire, worker: usize) -> Signal {
        match wire {
            Wire::Ready(r) => {
                Signal::Ready(r.map_err(|message| RunError::Worker { worker, message }))
            }
            Wire::SendDone { ok, error } => Signal::SendDone { ok, error },
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

/// The text of chat `n` of `sender`: the watcher finds it by `marker`.
pub(in crate::scenarios) fn chat_text(marker: &str, sender: usize, n: u64) -> String {
    format!("{marker}{sender}:{n}")
}

/// Parses [`chat_text`] back into (sender, n).
pub(in crate::scenarios) fn parse_chat_text(marker: &str, text: &str) -> Option<(usize, u64)> {
    let (s, n) = text.strip_prefix(marker)?.split_once(':')?;
    Some((s.parse().ok()?, n.parse().ok()?))
}

async fn connect_and_join(shared: &Shared, m: &Member) -> Result<Conn, RunError> {
    let log = ClientLog::new(&m.name, &m.user_id);
    let mut conn = shared.env.connect_as(m.i, m.token.as_deref(), log).await?;
    conn.know(&m.room);
    if m.joins {
        join_room(&m.name, &mut conn, &m.room).await?;
    } else {
        // Proves the connection is up (and took the token) before sending.
        let ping = conn.request(Op::Other { kind: "ping" }, json!({"type": "ping"}));
        expect_ok(&m.name, "ping", ping.await)?;
        token_taken(&m.name, &conn)?;
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
    let mut out = Out {
        log: ClientLog::new(&m.name, &m.user_id),
        send_lag_us: Vec::new(),
    };
    let permit = shared.connects.acquire().await;
    let joined = connect_and_join(&shared, &m).await;
    drop(permit);
    let mut conn = match joined {
        Ok(conn) => conn,
        Err(e) => {
            let _ = tx.send(Signal::Ready(Err(e)));
            return out;
        }
    };
    let _ = tx.send(Signal::Ready(Ok(())));
    conn.pump_while(async {
        let _ = phase.wait_for(|p| !matches!(p, Phase::Connect)).await;
    })
    .await;
    let start = match *phase.borrow() {
        Phase::Send(start) => Some(start),
        _ => None,
    };
    if let (Some(schedule), Some(start)) = (&m.schedule, start) {
        let start = Instant::from_std(shared.env.clock.instant(start));
        let (ok, error) = send_all(&shared, &m, schedule, start, &mut conn, &mut out).await;
        let _ = tx.send(Signal::SendDone { ok, error });
    }
    let phase_now = |phase: &watch::Receiver<Phase>| phase.borrow().clone();
    let mut now = phase_now(&phase);
    if !matches!(now, Phase::Drain(_) | Phase::Stop) {
        conn.pump_while(async {
            let _ = phase
                .wait_for(|p| matches!(p, Phase::Drain(_) | Phase::Stop))
                .await;
        })
        .await;
        now = phase_now(&phase);
    }
    if let Phase::Drain(targets) = now {
        if m.joins
            && let Some(&target) = targets.get(&m.room)
        {
            let deadline = Instant::now() + shared.env.timeout;
            while conn.closed.is_none()
                && Instant::now() < deadline
                && last_seq(&conn.log, &m.room) < target
            {
                conn.pump_while(tokio::time::sleep(Duration::from_millis(100)))
                    .await;
            }
        }
        let _ = tx.send(Signal::Drained);
        conn.pump_while(async {
            let _ = phase.wait_for(|p| matches!(p, Phase::Stop)).await;
        })
        .await;
    }
    out.log = conn.finish().await;
    out
}

/// Sends the schedule (from `start`) and waits for every reply. Returns the `ok` count and an error.
async fn send_all(
    shared: &Shared,
    m: &Member,
    s: &Schedule,
    start: Instant,
    conn: &mut Conn,
    out: &mut Out,
) -> (u64, Option<String>) {
    let mut outstanding: HashSet<u32> = HashSet::new();
    let mut ok = 0u64;
    let mut settle = |conn: &mut Conn, outstanding: &mut HashSet<u32>| {
        for (rid, outcome) in conn.drain_replies() {
            if outstanding.remove(&rid) && outcome == Outcome::Ok {
                ok += 1;
            }
        }
    };
    let mut error = None;
    for n in 0..s.count {
        let due = start + s.offset + s.interval.mul_f64(n as f64);
        conn.pump_while(tokio::time::sleep_until(due)).await;
        settle(conn, &mut outstanding);
        if conn.closed.is_some() {
            break;
        }
        let late = Instant::now().saturating_duration_since(due);
        out.send_lag_us
            .push(u64::try_from(late.as_micros()).unwrap_or(u64::MAX));
        let (op, msg) = emission(&shared.marker, &m.room, s, n);
        match conn.send(op, msg).await {
            Ok(rid) => {
                outstanding.insert(rid);
            }
            Err(e) => {
                error = Some(format!("{}: {e}", m.name));
                break;
            }
        }
    }
    let deadline = Instant::now() + shared.env.timeout;
    while !outstanding.is_empty() && conn.closed.is_none() && Instant::now() < deadline {
        conn.pump_while(tokio::time::sleep(Duration::from_millis(20)))
            .await;
        settle(conn, &mut outstanding);
    }
    if error.is_none() && !outstanding.is_empty() {
        error = Some(format!(
            "{}: {} requests unanswered",
            m.name,
            outstanding.len()
        ));
    }
    (ok, error)
}

/// Request `n` of a schedule: a chat with a unique text, or a pin of the
/// next lot (consecutive pins name different lots, so a pin event can be
/// told from its neighbours).
fn emission(marker: &str, room: &str, s: &Schedule, n: u64) -> (Op, Value) {
    if s.kind.is_pin(n) && !s.lots.is_empty() {
        let lot = &s.lots[(n % s.lots.len() as u64) as usize];
        let msg = json!({"type": "pin", "room": room, "lot": &**lot});
        (Op::Other { kind: "pin" }, msg)
    } else {
        let text = chat_text(marker, s.sender, n);
        let msg = json!({"type": "chat", "room": room, "text": text});
        (Op::Other { kind: "chat" }, msg)
    }
}

/// The highest `seq` of `room` this connection has received or been given
/// by a snapshot.
fn last_seq(log: &ClientLog, room: &str) -> u64 {
    for r in log.records.iter().rev() {
        match r {
            Record::Event { room: r, seq, .. } | Record::Resync { room: r, seq, .. }
                if &**r == room =>
            {
                return *seq;
            }
            Record::Reply {
                outcome: Outcome::Snapshot { seq, .. },
                ..
            } => return *seq,
            _ => {}
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_texts_round_trip() {
        let t = chat_text("ltab-", 12, 345);
        assert_eq!(parse_chat_text("ltab-", &t), Some((12, 345)));
        assert_eq!(parse_chat_text("ltxy-", &t), None);
        assert_eq!(parse_chat_text("ltab-", "ltab-x:1"), None);
    }

    #[test]
    fn mixed_alternates() {
        assert!(!EmitKind::Mixed.is_pin(0));
        assert!(EmitKind::Mixed.is_pin(1));
        assert!(EmitKind::Pin.is_pin(0));
        assert!(!EmitKind::Chat.is_pin(1));
    }
}
