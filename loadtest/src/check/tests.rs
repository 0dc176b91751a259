//! The checker on hand-made histories: a correct one passes, and each kind
//! of broken history fails with a message naming what broke.

use super::*;
use crate::history::ClientLog;

const LOT: &str = "L1";
const ROOM: &str = "R1";
const TTL_MS: u64 = 1_000;

fn spec(stock: u64) -> Vec<SaleSpec> {
    vec![SaleSpec {
        lot: LOT.into(),
        stock,
        hold_ttl_ms: TTL_MS,
    }]
}

/// Builds one client's log; times in milliseconds for readability.
struct Script {
    log: ClientLog,
    rid: u32,
}

impl Script {
    fn new(name: &str) -> Script {
        Script {
            log: ClientLog::new(name, format!("U-{name}")),
            rid: 0,
        }
    }

    fn exchange(mut self, sent_ms: u64, op: Op, reply_ms: u64, outcome: Outcome) -> Script {
        self.rid += 1;
        self.log.records.push(Record::Sent {
            at: sent_ms * 1000,
            rid: self.rid,
            op,
        });
        self.log.records.push(Record::Reply {
            at: reply_ms * 1000,
            rid: self.rid,
            outcome,
        });
        self
    }

    fn join(self, at_ms: u64, seq: u64) -> Script {
        self.exchange(
            at_ms,
            Op::Join { room: ROOM.into() },
            at_ms + 1,
            Outcome::Snapshot { seq, reset: false },
        )
    }

    fn hold(self, at_ms: u64, hold: &str) -> Script {
        self.exchange(
            at_ms,
            Op::Hold {
                lot: LOT.into(),
                qty: 1,
            },
            at_ms + 2,
            Outcome::Held {
                hold: hold.into(),
                qty: 1,
            },
        )
    }

    fn checkout(self, at_ms: u64, hold: &str, order: &str) -> Script {
        self.exchange(
            at_ms,
            Op::Checkout {
                hold: hold.into(),
                idem: format!("k-{hold}").into(),
            },
            at_ms + 2,
            Outcome::Ordered {
                order: order.into(),
                amount: 2500,
            },
        )
    }

    fn event(mut self, at_ms: u64, seq: u64, digest: u64) -> Script {
        self.log.records.push(Record::Event {
            at: at_ms * 1000,
            room: ROOM.into(),
            seq,
            digest,
            stock: None,
        });
        self
    }

    fn done(self) -> ClientLog {
        self.log
    }
}

fn order(id: &str, buyer: &str) -> OrderReadback {
    OrderReadback {
        order: id.into(),
        lot: LOT.into(),
        buyer: format!("U-{buyer}"),
        qty: 1,
    }
}

fn readback(stock: u64, sold: u64, orders: Vec<OrderReadback>) -> Readback {
    let mut lots = HashMap::new();
    lots.insert(
        LOT.to_owned(),
        LotReadback {
            stock,
            sold,
            available: stock - sold,
            status: "settled".into(),
        },
    );
    Readback { lots, orders }
}

/// Two buyers, stock 2: both hold, `a` buys, `b` lets the hold expire;
/// both see events 6..=8 after joining at seq 5.
fn good() -> (History, Readback) {
    let a = Script::new("a")
        .join(0, 5)
        .hold(10, "L1:h1")
        .checkout(20, "L1:h1", "L1:o1")
        .event(21, 6, 100)
        .event(30, 7, 200)
        .event(40, 8, 300)
        .done();
    let b = Script::new("b")
        .join(1, 5)
        .hold(11, "L1:h2")
        .event(22, 6, 100)
        .event(31, 7, 200)
        .event(41, 8, 300)
        .done();
    let history = History {
        clients: vec![a, b],
    };
    (history, readback(2, 1, vec![order("L1:o1", "a")]))
}

fn assert_fails(verdict: &Verdict, rule: &str, needle: &str) {
    assert!(!verdict.pass, "expected a failure of {rule}");
    let v = verdict
        .violations
        .iter()
        .find(|v| v.rule == rule)
        .unwrap_or_else(|| panic!("no {rule} violation in {:?}", verdict.violations));
    assert!(
        v.examples.iter().any(|m| m.contains(needle)),
        "{rule} messages {:?} do not mention {needle:?}",
        v.examples
    );
}

#[test]
fn a_correct_history_passes() {
    let (history, rb) = good();
    let verdict = check(&history, &spec(2), &rb);
    assert!(verdict.pass, "{:?}", verdict.violations);
    assert_eq!(verdict.peak_units.get(LOT), Some(&2));
    assert_eq!(verdict.oversold(&spec(2)), 0);
}

#[test]
fn more_ok_holds_than_stock_is_oversold() {
    let (mut history, _) = good();
    history
        .clients
        .push(Script::new("c").join(2, 5).hold(12, "L1:h3").done());
    let verdict = check(
        &history,
        &spec(2),
        &readback(2, 1, vec![order("L1:o1", "a")]),
    );
    assert_fails(&verdict, "oversold", "3 units held or sold at once");
    assert_eq!(verdict.oversold(&spec(2)), 1);
}

#[test]
fn holds_that_expired_before_the_next_grant_are_not_oversold() {
    // Stock 1: `a`'s hold (sent at 10 ms, TTL 1 s) is over long before `b`
    // is granted one at 5 s.
    let a = Script::new("a").hold(10, "L1:h1").done();
    let b = Script::new("b").hold(5_000, "L1:h2").done();
    let history = History {
        clients: vec![a, b],
    };
    let verdict = check(&history, &spec(1), &readback(1, 0, vec![]));
    assert!(verdict.pass, "{:?}", verdict.violations);
}

#[test]
fn a_hold_sold_twice_fails() {
    let (mut history, rb) = good();
    let a = std::mem::take(&mut history.clients[0]);
    history.clients[0] = Script { log: a, rid: 10 }
        .checkout(25, "L1:h1", "L1:o2")
        .done();
    let verdict = check(&history, &spec(2), &rb);
    assert_fails(&verdict, "sold_once", "hold L1:h1 sold twice");
}

#[test]
fn a_hold_granted_twice_fails() {
    let (mut history, rb) = good();
    history
        .clients
        .push(Script::new("c").hold(12, "L1:h2").done());
    let verdict = check(&history, &spec(3), &rb);
    assert_fails(
        &verdict,
        "hold_unique",
        "hold L1:h2 granted to b and again to c",
    );
}

#[test]
fn a_reordered_viewer_sequence_fails() {
    let (mut history, rb) = good();
    // `b` receives 7 and 8 swapped.
    history.clients[1] = Script::new("b")
        .join(1, 5)
        .hold(11, "L1:h2")
        .event(22, 6, 100)
        .event(31, 8, 300)
        .event(41, 7, 200)
        .done();
    let verdict = check(&history, &spec(2), &rb);
    assert_fails(
        &verdict,
        "room_seq",
        "b: room R1: gap: expected seq 7, got 8",
    );
    assert_fails(
        &verdict,
        "room_seq",
        "repeat or reorder: expected seq 9, got 7",
    );
}

#[test]
fn viewers_disagreeing_on_an_event_fail() {
    let (mut history, rb) = good();
    // Same seq numbers, but `b`'s 7 and 8 are each other's events.
    history.clients[1] = Script::new("b")
        .join(1, 5)
        .event(22, 6, 100)
        .event(31, 7, 300)
        .event(41, 8, 200)
        .done();
    let verdict = check(&history, &spec(2), &rb);
    assert_fails(
        &verdict,
        "room_order",
        "room R1 seq 7: b saw another event than a",
    );
}

#[test]
fn a_gap_fails() {
    let (mut history, rb) = good();
    history.clients[1] = Script::new("b")
        .join(1, 5)
        .hold(11, "L1:h2")
        .event(22, 6, 100)
        .event(41, 8, 300)
        .done();
    let verdict = check(&history, &spec(2), &rb);
    assert_fails(&verdict, "room_seq", "gap: expected seq 7, got 8");
}

#[test]
fn a_documented_resync_restarts_the_count() {
    let (mut history, rb) = good();
    let mut b = Script::new("b").join(1, 5).event(22, 6, 100).done();
    b.records.push(Record::Lagged { at: 25_000 });
    b.records.push(Record::Resync {
        at: 26_000,
        room: ROOM.into(),
        seq: 7,
    });
    history.clients[1] = Script { log: b, rid: 10 }.event(41, 8, 300).done();
    let verdict = check(&history, &spec(2), &rb);
    assert!(verdict.pass, "{:?}", verdict.violations);
}

#[test]
fn an_acknowledged_checkout_missing_from_the_readback_fails() {
    let (history, _) = good();
    let verdict = check(&history, &spec(2), &readback(2, 0, vec![]));
    assert_fails(
        &verdict,
        "readback",
        "acknowledged order L1:o1 (lot L1) missing",
    );
    assert_fails(&verdict, "readback", "sold 0 but 1 units were acknowledged");
}

#[test]
fn an_order_nobody_was_told_about_fails() {
    let (history, _) = good();
    let rb = readback(2, 2, vec![order("L1:o1", "a"), order("L1:o9", "b")]);
    let verdict = check(&history, &spec(2), &rb);
    assert_fails(&verdict, "readback", "order L1:o9 of lot L1 exists");
}

#[test]
fn a_missing_lot_fails() {
    let (history, _) = good();
    let verdict = check(&history, &spec(2), &Readback::default());
    assert_fails(&verdict, "readback", "lot L1 missing");
}

#[test]
fn an_unanswered_request_on_an_open_connection_fails() {
    let (mut history, rb) = good();
    history.clients[1].records.push(Record::Sent {
        at: 50_000,
        rid: 99,
        op: Op::Other { kind: "ping" },
    });
    let verdict = check(&history, &spec(2), &rb);
    assert_fails(&verdict, "answered", "b: no reply to ping");
    // Once the connection is seen to end, a missing reply is not a breach.
    history.clients[1].records.push(Record::Closed {
        at: 60_000,
        reason: "closed by the node (1001 )".into(),
    });
    assert!(check(&history, &spec(2), &rb).pass);
}
