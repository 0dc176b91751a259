//! What a run saw, compactly: per virtual user, every request sent, every
//! reply, every room event (as its `seq` and a digest of its body) and the
//! notices the checker needs. All times come from one monotonic clock that
//! every process of a run shares (the driver and its `--workers`), so
//! records of different clients can be ordered against each other (never
//! against the node's wall clock).
//!
//! Ids are `Arc<str>` so a hold or lot id named by many records is stored
//! once per client that interned it, not once per record. Logs cross from
//! a worker to the driver serialised ([`ClientLog::intern`] shares the ids
//! again on arrival).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

mod intern;

pub use intern::Interner;

/// Microseconds since the run's clock started.
pub type Micros = u64;

/// The run's one monotonic clock. Copies share the origin; so do the
/// clocks of worker processes made with [`Clock::joined`].
///
/// Why this shape: an `Instant` (CLOCK_MONOTONIC on Linux) cannot be handed
/// to another process, and reading CLOCK_MONOTONIC directly would need libc,
/// which this crate does not link. So the driver notes the system (UNIX)
/// time of its origin, and a worker places its own `Instant` origin at that
/// moment once, when it starts; from then on every reading, in every
/// process, is monotonic. The cost is the skew between two reads of the
/// system clock (microseconds), plus any step of the system clock between
/// the driver's start and a worker's (seconds apart; NTP slews, which moves
/// both clocks alike, rather than steps). Delivery latency across processes
/// (a worker's receipt minus the driver's send) rests on this.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
    /// The system time at `origin`, ns since the UNIX epoch.
    base_unix_ns: u64,
}

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl Clock {
    pub fn start() -> Clock {
        Clock {
            origin: Instant::now(),
            base_unix_ns: unix_ns(),
        }
    }

    /// The clock of another process of this run, whose origin was at
    /// `base_unix_ns` ([`Clock::base_unix_ns`] there).
    pub fn joined(base_unix_ns: u64) -> Clock {
        let (now, wall) = (Instant::now(), unix_ns());
        let since = Duration::from_nanos(wall.saturating_sub(base_unix_ns));
        Clock {
            origin: now.checked_sub(since).unwrap_or(now),
            base_unix_ns,
        }
    }

    /// What another process needs to join this clock.
    pub fn base_unix_ns(&self) -> u64 {
        self.base_unix_ns
    }

    pub fn now(&self) -> Micros {
        u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// The local `Instant` of time `at` of this clock.
    pub fn instant(&self, at: Micros) -> Instant {
        self.origin + Duration::from_micros(at)
    }
}

/// A request as the checker needs it (only the operations a scenario uses
/// that carry an invariant; anything else is `Other`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    Join {
        room: Arc<str>,
    },
    OpenLot {
        lot: Arc<str>,
    },
    CloseLot {
        lot: Arc<str>,
    },
    Hold {
        lot: Arc<str>,
        qty: u32,
    },
    Checkout {
        hold: Arc<str>,
        idem: Arc<str>,
    },
    Release {
        hold: Arc<str>,
    },
    /// A plain `bid` on an auction lot.
    Bid {
        lot: Arc<str>,
        amount: i64,
    },
    Other {
        #[serde(deserialize_with = "intern::static_name")]
        kind: StaticName,
    },
}

/// An op name. (Spelt through an alias because serde would otherwise take
/// a `&str` field as borrowed from the input, and a worker's lines are not
/// `'static`; `static_name` reads it instead.)
pub type StaticName = &'static str;

impl Op {
    /// The name used in reports (`hold`, `checkout`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Op::Join { .. } => "join",
            Op::OpenLot { .. } => "open_lot",
            Op::CloseLot { .. } => "close_lot",
            Op::Hold { .. } => "hold",
            Op::Checkout { .. } => "checkout",
            Op::Release { .. } => "release",
            Op::Bid { .. } => "bid",
            Op::Other { kind } => kind,
        }
    }
}

/// What a reply said, reduced to what the checker and the figures use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// `ok` to `join` with a snapshot at `seq`.
    Snapshot {
        seq: u64,
        reset: bool,
    },
    /// `ok` to `hold` granting `qty` units as `hold`.
    Held {
        hold: Arc<str>,
        qty: u32,
    },
    /// `ok` to `hold` with a queue place instead.
    Queued {
        position: u64,
    },
    /// `ok` to `checkout`.
    Ordered {
        order: Arc<str>,
        amount: i64,
    },
    /// `ok` to `bid`: the bid's place in the lot's order and its amount.
    Bid {
        lot_seq: u64,
        amount: i64,
    },
    /// Any other `ok`.
    Ok,
    Error {
        code: Box<str>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Record {
    Sent {
        at: Micros,
        rid: u32,
        op: Op,
    },
    Reply {
        at: Micros,
        rid: u32,
        outcome: Outcome,
    },
    /// A room event: its `seq` and the FNV-1a digest of its `event` body as
    /// JSON, so viewers can be compared without keeping the bodies.
    Event {
        at: Micros,
        room: Arc<str>,
        seq: u64,
        digest: u64,
        /// For `stock` and sale `lot` events: the lot and its `available`.
        stock: Option<(Arc<str>, u64)>,
    },
    /// An `ok` without `rid` carrying a snapshot: the node resynchronised
    /// this connection after a `lagged` (the contract's documented reset).
    Resync {
        at: Micros,
        room: Arc<str>,
        seq: u64,
    },
    /// The `lagged` notice.
    Lagged {
        at: Micros,
    },
    /// `queue_offer`: a queued buyer was given a hold.
    Offer {
        at: Micros,
        lot: Arc<str>,
        hold: Arc<str>,
    },
    /// `hold_expired`.
    HoldExpired {
        at: Micros,
        hold: Arc<str>,
    },
    /// A `bid` room event (recorded besides its `Event`): the lot, the
    /// amount, its `lot_seq` and the FNV-1a digest of the bidder's user id.
    Bid {
        at: Micros,
        lot: Arc<str>,
        amount: i64,
        lot_seq: u64,
        bidder: u64,
    },
    /// A `lot_closed` room event (recorded besides its `Event`): the lot and
    /// its highest winner as (digest of the user id, amount), if any.
    LotClosed {
        at: Micros,
        lot: Arc<str>,
        winner: Option<(u64, i64)>,
    },
    /// The `won` notice.
    Won {
        at: Micros,
        lot: Arc<str>,
        amount: i64,
    },
    /// An `error` without `rid` (e.g. `unauthorized` for a bad token).
    ServerError {
        at: Micros,
        code: Box<str>,
    },
    /// The connection ended (close code if any, or why).
    Closed {
        at: Micros,
        reason: Box<str>,
    },
}

/// Everything one virtual user (one connection) saw.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientLog {
    /// The user's name, for messages.
    pub name: String,
    /// The user's id (as the API gave it), to match read-back orders.
    pub user_id: String,
    pub records: Vec<Record>,
}

/// A request and its reply, if one came.
#[derive(Debug, Clone, Copy)]
pub struct Exchange<'a> {
    pub op: &'a Op,
    pub sent: Micros,
    pub reply: Option<(Micros, &'a Outcome)>,
}

impl ClientLog {
    pub fn new(name: impl Into<String>, user_id: impl Into<String>) -> ClientLog {
        ClientLog {
            name: name.into(),
            user_id: user_id.into(),
            records: Vec::new(),
        }
    }

    /// Every request with its reply, in the order sent. A reply with a rid
    /// nobody sent is ignored here (the client never produces one).
    pub fn exchanges(&self) -> Vec<Exchange<'_>> {
        let mut out: Vec<Exchange<'_>> = Vec::new();
        let mut by_rid = std::collections::HashMap::new();
        for r in &self.records {
            match r {
                Record::Sent { at, rid, op } => {
                    by_rid.insert(*rid, out.len());
                    out.push(Exchange {
                        op,
                        sent: *at,
                        reply: None,
                    });
                }
                Record::Reply { at, rid, outcome } => {
                    if let Some(&i) = by_rid.get(rid) {
                        out[i].reply.get_or_insert((*at, outcome));
                    }
                }
                _ => {}
            }
        }
        out
    }
}

/// The whole run: one log per connection.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub clients: Vec<ClientLog>,
}

/// FNV-1a, 64 bits: a digest that is the same in every process and build
/// (unlike `DefaultHasher`), so worker processes' histories can be merged.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchanges_pair_replies_by_rid() {
        let mut log = ClientLog::new("u", "U");
        let op = Op::Hold {
            lot: "L".into(),
            qty: 1,
        };
        log.records.push(Record::Sent {
            at: 1,
            rid: 1,
            op: op.clone(),
        });
        log.records.push(Record::Sent {
            at: 2,
            rid: 2,
            op: Op::Other { kind: "ping" },
        });
        log.records.push(Record::Reply {
            at: 5,
            rid: 1,
            outcome: Outcome::Ok,
        });
        let ex = log.exchanges();
        assert_eq!(ex.len(), 2);
        assert_eq!(ex[0].reply.map(|r| r.0), Some(5));
        assert!(ex[1].reply.is_none());
    }

    #[test]
    fn a_joined_clock_reads_the_same_time() {
        let clock = Clock::start();
        std::thread::sleep(Duration::from_millis(20));
        let joined = Clock::joined(clock.base_unix_ns());
        let (a, b) = (clock.now(), joined.now());
        // Two reads of the system clock apart: well under a millisecond,
        // unless the system clock stepped in between.
        assert!(a.abs_diff(b) < 5_000, "{a} vs {b}");
        assert!(b >= 20_000, "{b}");
        let at = clock.instant(a + 1_000);
        assert!(at > Instant::now() - Duration::from_secs(1));
    }

    #[test]
    fn fnv_is_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
