//! The bid rules on hand-made histories: a correct one passes, and each
//! kind of broken history fails with a message naming what broke.

use super::*;
use crate::history::ClientLog;

const LOT: &str = "L1";
const ROOM: &str = "R1";

/// Builds one client's log; times in milliseconds for readability.
struct Script {
    log: ClientLog,
    rid: u32,
}

impl Script {
    fn new(name: &str, user_id: &str) -> Script {
        Script {
            log: ClientLog::new(name, user_id),
            rid: 0,
        }
    }

    fn exchange(mut self, sent_ms: u64, op: Op, reply: Option<(u64, Outcome)>) -> Script {
        self.rid += 1;
        self.log.records.push(Record::Sent {
            at: sent_ms * 1000,
            rid: self.rid,
            op,
        });
        if let Some((at_ms, outcome)) = reply {
            self.log.records.push(Record::Reply {
                at: at_ms * 1000,
                rid: self.rid,
                outcome,
            });
        }
        self
    }

    fn join(self, at_ms: u64) -> Script {
        let snapshot = Outcome::Snapshot {
            seq: 0,
            reset: false,
        };
        self.exchange(
            at_ms,
            Op::Join { room: ROOM.into() },
            Some((at_ms + 1, snapshot)),
        )
    }

    /// A bid sent at `at_ms`, answered 2 ms later with `ok` at `lot_seq`
    /// (Some) or `bid_too_low` (None).
    fn bid(self, at_ms: u64, amount: i64, lot_seq: Option<u64>) -> Script {
        let outcome = match lot_seq {
            Some(lot_seq) => Outcome::Bid { lot_seq, amount },
            None => Outcome::Error {
                code: "bid_too_low".into(),
            },
        };
        let op = Op::Bid {
            lot: LOT.into(),
            amount,
        };
        self.exchange(at_ms, op, Some((at_ms + 2, outcome)))
    }

    fn unanswered_bid(self, at_ms: u64, amount: i64) -> Script {
        let op = Op::Bid {
            lot: LOT.into(),
            amount,
        };
        self.exchange(at_ms, op, None)
    }

    /// Receives the bid event `lot_seq` of `amount` by `bidder` (a user id).
    fn sees(mut self, at_ms: u64, lot_seq: u64, amount: i64, bidder: &str) -> Script {
        self.log.records.push(Record::Bid {
            at: at_ms * 1000,
            lot: LOT.into(),
            amount,
            lot_seq,
            bidder: fnv1a(bidder.as_bytes()),
        });
        self
    }

    /// The three bids of [`good`], in order, then the close.
    fn sees_all(self, winner: &str, amount: i64) -> Script {
        self.sees(13, 1, 100, "U-a")
            .sees(23, 2, 101, "U-b")
            .sees(33, 3, 102, "U-a")
            .closed(50, winner, amount)
    }

    fn closed(mut self, at_ms: u64, winner: &str, amount: i64) -> Script {
        self.log.records.push(Record::LotClosed {
            at: at_ms * 1000,
            lot: LOT.into(),
            winner: Some((fnv1a(winner.as_bytes()), amount)),
        });
        self
    }

    fn record(mut self, record: Record) -> Script {
        self.log.records.push(record);
        self
    }

    fn done(self) -> ClientLog {
        self.log
    }
}

fn specs() -> Vec<AuctionSpec> {
    vec![AuctionSpec {
        lot: LOT.into(),
        room: ROOM.into(),
        closed: true,
    }]
}

fn readback(high: i64, bidder: &str) -> HashMap<String, AuctionReadback> {
    let mut map = HashMap::new();
    map.insert(
        LOT.to_owned(),
        AuctionReadback {
            status: "settled".into(),
            high_bid: Some(high),
            high_bidder: Some(bidder.into()),
            orders: vec![(bidder.into(), high)],
        },
    );
    map
}

/// `a` bids 100 and 102 (both ok), `b` 101 (ok) and 102 (too low); `v`
/// only watches. Everyone sees the three bids and the close; `a` wins.
fn good() -> History {
    let a = Script::new("a", "U-a")
        .join(0)
        .bid(10, 100, Some(1))
        .bid(30, 102, Some(3))
        .sees_all("U-a", 102)
        .record(Record::Won {
            at: 51_000,
            lot: LOT.into(),
            amount: 102,
        })
        .done();
    let b = Script::new("b", "U-b")
        .join(0)
        .bid(20, 101, Some(2))
        .bid(31, 102, None)
        .sees_all("U-a", 102)
        .done();
    let v = Script::new("v", "").join(0).sees_all("U-a", 102).done();
    History {
        clients: vec![a, b, v],
    }
}

fn run(history: &History, rb: &HashMap<String, AuctionReadback>) -> Verdict {
    let mut verdict = Verdict::default();
    check_bids(history, &specs(), rb, &mut verdict);
    verdict
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
    let verdict = run(&good(), &readback(102, "U-a"));
    assert!(verdict.pass, "{:?}", verdict.violations);
    assert_eq!(verdict.rules, RULES);
}

#[test]
fn a_decreasing_viewer_sequence_fails() {
    let mut history = good();
    history.clients[2] = Script::new("v", "")
        .join(0)
        .sees(13, 1, 100, "U-a")
        .sees(33, 3, 102, "U-a")
        .sees(34, 2, 101, "U-b")
        .done();
    let verdict = run(&history, &readback(102, "U-a"));
    assert_fails(
        &verdict,
        "bid_order",
        "v: lot L1: bid 101 (lot_seq 2) after 102 (lot_seq 3): not strictly increasing",
    );
}

#[test]
fn an_ok_bid_missing_from_a_viewer_fails() {
    let mut history = good();
    history.clients[2] = Script::new("v", "")
        .join(0)
        .sees(13, 1, 100, "U-a")
        .sees(33, 3, 102, "U-a")
        .done();
    let verdict = run(&history, &readback(102, "U-a"));
    assert_fails(
        &verdict,
        "bid_seen",
        "v never saw the acknowledged bid 101 (lot_seq 2) of b on lot L1",
    );
}

#[test]
fn a_viewer_seeing_another_amount_at_an_acknowledged_lot_seq_fails() {
    let mut history = good();
    history.clients[2] = Script::new("v", "")
        .join(0)
        .sees(13, 1, 100, "U-a")
        .sees(23, 2, 101, "U-a")
        .sees(33, 3, 102, "U-a")
        .done();
    let verdict = run(&history, &readback(102, "U-a"));
    assert_fails(
        &verdict,
        "bid_seen",
        "v saw lot_seq 2 of lot L1 as 101 by another bidder, but b was acknowledged 101",
    );
    // `a` never sent 101.
    assert_fails(
        &verdict,
        "bid_origin",
        "bid 101 (lot_seq 2) that its bidder",
    );
}

#[test]
fn a_winner_that_is_not_the_highest_ack_fails() {
    let verdict = run(&good(), &readback(101, "U-b"));
    assert_fails(
        &verdict,
        "bid_winner",
        "lot L1: read back high bid Some(101) by Some(\"U-b\"), but the highest acknowledged bid is 102 by U-a",
    );
    // The events and the notice named the right winner.
    let v = verdict.violations.iter().find(|v| v.rule == "bid_winner");
    assert_eq!(v.map(|v| v.count), Some(1), "{:?}", verdict.violations);
}

#[test]
fn a_wrong_lot_closed_or_won_fails() {
    let mut history = good();
    history.clients[2] = Script::new("v", "").join(0).sees_all("U-b", 101).done();
    history.clients[1] = Script::new("b", "U-b")
        .join(0)
        .bid(20, 101, Some(2))
        .bid(31, 102, None)
        .sees_all("U-a", 102)
        .record(Record::Won {
            at: 51_000,
            lot: LOT.into(),
            amount: 101,
        })
        .done();
    let verdict = run(&history, &readback(102, "U-a"));
    assert_fails(&verdict, "bid_winner", "v: lot_closed of lot L1 names");
    assert_fails(&verdict, "bid_winner", "b was told it won lot L1 at 101");
}

#[test]
fn a_settled_lot_without_the_winners_order_fails() {
    let mut rb = readback(102, "U-a");
    if let Some(lot) = rb.get_mut(LOT) {
        lot.orders.clear();
    }
    let verdict = run(&good(), &rb);
    assert_fails(
        &verdict,
        "bid_winner",
        "no order of U-a at 102 was read back",
    );
}

#[test]
fn acknowledged_bids_out_of_order_fail() {
    let mut history = good();
    // `b` is told its 101 got lot_seq 3 too.
    history.clients[1] = Script::new("b", "U-b")
        .join(0)
        .bid(20, 101, Some(3))
        .sees_all("U-a", 102)
        .done();
    let verdict = run(&history, &readback(102, "U-a"));
    assert_fails(
        &verdict,
        "bid_order",
        "lot L1: lot_seq 3 acknowledged twice",
    );
}

#[test]
fn viewers_not_subscribed_for_the_whole_time_are_exempt() {
    let mut history = good();
    // `w` joined after bid 1 was sent; `x` lagged after bid 2 was sent and
    // was resynchronised past it; `y` stopped reading after bid 1.
    let w = Script::new("w", "").join(11).sees(23, 2, 101, "U-b");
    let w = w.sees(33, 3, 102, "U-a").closed(50, "U-a", 102).done();
    let x = Script::new("x", "")
        .join(0)
        .sees(13, 1, 100, "U-a")
        .record(Record::Lagged { at: 25_000 })
        .record(Record::Resync {
            at: 26_000,
            room: ROOM.into(),
            seq: 9,
        })
        .sees(33, 3, 102, "U-a")
        .closed(50, "U-a", 102)
        .done();
    let y = Script::new("y", "").join(0).sees(13, 1, 100, "U-a");
    let y = y
        .record(Record::Closed {
            at: 14_000,
            reason: "gone".into(),
        })
        .done();
    history.clients.extend([w, x, y]);
    let verdict = run(&history, &readback(102, "U-a"));
    assert!(verdict.pass, "{:?}", verdict.violations);
}

#[test]
fn an_unanswered_bid_may_have_won() {
    let mut history = good();
    history.clients.push(
        Script::new("c", "U-c")
            .join(0)
            .unanswered_bid(40, 105)
            .sees_all("U-c", 105)
            .done(),
    );
    // Everyone (bar `c`) saw the close naming c's 105.
    for i in 0..3 {
        let log = std::mem::take(&mut history.clients[i]);
        let mut records = log.records.clone();
        records.retain(|r| !matches!(r, Record::LotClosed { .. } | Record::Won { .. }));
        history.clients[i] = Script {
            log: ClientLog { records, ..log },
            rid: 10,
        }
        .sees(41, 4, 105, "U-c")
        .closed(50, "U-c", 105)
        .done();
    }
    let verdict = run(&history, &readback(105, "U-c"));
    assert!(verdict.pass, "{:?}", verdict.violations);
    // But it may not be lower than the highest acknowledged one.
    let verdict = run(&history, &readback(101, "U-b"));
    assert_fails(&verdict, "bid_winner", "read back high bid Some(101)");
}
