//! The flash sale's buyers, one task each, in the driver's process or in a
//! worker's ([`BuyerPart`]): connect and join, wait for the race, hold
//! once, maybe check out, then read on until the run stops.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

pub(crate) use super::super::signals::{Signal, Wire};
use super::super::{Env, RunError, join_room};
use crate::api::User;
use crate::client::Conn;
use crate::history::{ClientLog, Interner, Op, Outcome};
use crate::workers::{Asker, Part};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) enum Phase {
    Connect,
    Race,
    Stop,
}

/// One buyer: its number among all connections (the seller is 0) and its
/// account.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Buyer {
    pub i: usize,
    pub user: User,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Config {
    pub room: Arc<str>,
    pub lot: Arc<str>,
    pub checkout_fraction: f64,
    pub connect_concurrency: usize,
}

/// Who checks out: exactly the fraction asked for of the buyers given a
/// hold (rounded down). It counts the holders of the whole run, so with
/// `--workers` only the driver's copy decides and workers ask it.
struct Quota {
    fraction: f64,
    holders: AtomicU64,
}

impl Quota {
    /// Whether the next holder checks out.
    fn next(&self) -> bool {
        let n = self.holders.fetch_add(1, Ordering::Relaxed) as f64;
        ((n + 1.0) * self.fraction).floor() > (n * self.fraction).floor()
    }
}

/// What every buyer task of a process shares.
pub(crate) struct Shared {
    env: Arc<Env>,
    room: Arc<str>,
    lot: Arc<str>,
    connects: Semaphore,
    quota: Quota,
    /// In a worker: the way to the driver's quota.
    asker: Option<Arc<Asker>>,
}

impl Shared {
    async fn may_check_out(&self) -> Result<bool, String> {
        let Some(asker) = &self.asker else {
            return Ok(self.quota.next());
        };
        match asker.ask(json!("checkout")).await {
            Some(Value::Bool(yes)) => Ok(yes),
            _ => Err("the driver did not say whether to check out".into()),
        }
    }
}

/// The buyers as a part `--workers` can run.
pub(crate) struct BuyerPart;

impl Part for BuyerPart {
    const NAME: &'static str = "flash-sale";
    type Config = Config;
    type Member = Buyer;
    type Phase = Phase;
    type Signal = Signal;
    type Wire = Wire;
    type Out = ClientLog;
    type Shared = Shared;

    fn shared(env: Arc<Env>, config: Config, asker: Option<Arc<Asker>>) -> Shared {
        Shared {
            env,
            room: config.room,
            lot: config.lot,
            connects: Semaphore::new(config.connect_concurrency.max(1)),
            quota: Quota {
                fraction: config.checkout_fraction,
                holders: AtomicU64::new(0),
            },
            asker,
        }
    }

    fn spawn(
        shared: &Arc<Shared>,
        member: Buyer,
        signals: mpsc::UnboundedSender<Signal>,
        phase: watch::Receiver<Phase>,
    ) -> JoinHandle<ClientLog> {
        tokio::spawn(buyer(shared.clone(), member, signals, phase))
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

    fn answer(shared: &Shared, _question: Value) -> Value {
        Value::Bool(shared.quota.next())
    }
}

/// One buyer: connect and join (reporting `Ready`), wait for the race,
/// hold once, maybe check out (reporting `Done`), then keep reading until
/// the run stops. Returns its history.
async fn buyer(
    shared: Arc<Shared>,
    b: Buyer,
    signals: mpsc::UnboundedSender<Signal>,
    mut phase: watch::Receiver<Phase>,
) -> ClientLog {
    let user = &b.user;
    let log = ClientLog::new(&user.name, &user.id);
    let permit = shared.connects.acquire().await;
    let joined = async {
        let mut conn = shared.env.connect(b.i, &user.token, log).await?;
        conn.know(&shared.room);
        conn.know(&shared.lot);
        join_room(&user.name, &mut conn, &shared.room).await?;
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
    conn.pump_while(async {
        let _ = phase.wait_for(|p| *p >= Phase::Race).await;
    })
    .await;
    if *phase.borrow() == Phase::Race {
        let err = hold_and_buy(&shared, &mut conn).await.err();
        let _ = signals.send(Signal::Done(err.map(|e| format!("{}: {e}", user.name))));
    }
    conn.pump_while(async {
        let _ = phase.wait_for(|p| *p == Phase::Stop).await;
    })
    .await;
    conn.finish().await
}

async fn hold_and_buy(shared: &Shared, conn: &mut Conn) -> Result<(), String> {
    let lot = &shared.lot;
    let op = Op::Hold {
        lot: lot.clone(),
        qty: 1,
    };
    let outcome = conn
        .request(op, json!({"type": "hold", "lot": &**lot, "qty": 1}))
        .await
        .map_err(|e| e.to_string())?;
    if let Outcome::Held { hold, .. } = outcome {
        // The decision may wait on the driver; keep reading meanwhile.
        if conn.pump_while(shared.may_check_out()).await? {
            let idem: Arc<str> = format!("lt-{hold}").into();
            let msg = json!({"type": "checkout", "hold": &*hold, "idem": &*idem});
            conn.request(Op::Checkout { hold, idem }, msg)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_checks_out_the_fraction_asked_rounded_down() {
        let quota = |fraction| Quota {
            fraction,
            holders: AtomicU64::new(0),
        };
        let half = quota(0.5);
        let picks: Vec<bool> = (0..5).map(|_| half.next()).collect();
        assert_eq!(picks, [false, true, false, true, false]);
        let third = quota(1.0 / 3.0);
        assert_eq!((0..50).filter(|_| third.next()).count(), 16);
        let none = quota(0.0);
        assert!((0..10).all(|_| !none.next()));
        let all = quota(1.0);
        assert!((0..10).all(|_| all.next()));
    }
}
