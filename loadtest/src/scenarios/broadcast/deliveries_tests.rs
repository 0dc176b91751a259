//! The delivery analysis on hand-made histories: matching, latencies, and
//! the `delivered` rule's failures and exemptions.

use super::*;
use crate::history::ClientLog;
use crate::scenarios::broadcast::watcher::Tag;

const MARKER: &str = "ltt-";

fn room() -> Arc<str> {
    "R".into()
}

/// The host (client 0): chat #0 at 10 ms and a pin of L1 (#1) at 20 ms.
fn host(pin_reply: Outcome) -> ClientLog {
    let mut log = ClientLog::new("host", "U-host");
    let sends = [
        (1, 10_000, "chat", Outcome::Ok),
        (2, 20_000, "pin", pin_reply),
    ];
    for (rid, at, kind, outcome) in sends {
        log.records.push(Record::Sent {
            at,
            rid,
            op: Op::Other { kind },
        });
        log.records.push(Record::Reply {
            at: at + 1_000,
            rid,
            outcome,
        });
    }
    log
}

/// A viewer joined at seq 5 that received `seqs` at 15 and 30 ms.
fn viewer(name: &str, seqs: &[u64]) -> ClientLog {
    let mut log = ClientLog::new(name, "");
    log.records.push(Record::Sent {
        at: 1_000,
        rid: 1,
        op: Op::Join { room: room() },
    });
    log.records.push(Record::Reply {
        at: 2_000,
        rid: 1,
        outcome: Outcome::Snapshot {
            seq: 5,
            reset: false,
        },
    });
    for &seq in seqs {
        log.records.push(Record::Event {
            at: if seq == 6 { 15_000 } else { 30_000 },
            room: room(),
            seq,
            digest: seq,
            stock: None,
        });
    }
    log
}

fn seen(pin_lot: &str) -> Seen {
    let tag = |seq, what| Tag {
        room: room(),
        seq,
        what,
    };
    Seen {
        tags: vec![
            tag(
                6,
                Tagged::Chat {
                    text: format!("{MARKER}0:0"),
                },
            ),
            tag(
                7,
                Tagged::Pin {
                    lot: pin_lot.into(),
                },
            ),
        ],
        incomplete: false,
    }
}

fn run(viewers: Vec<ClientLog>, pin_reply: Outcome, seen: &Seen) -> (Deliveries, Verdict) {
    let mut clients = vec![host(pin_reply)];
    clients.extend(viewers);
    let history = History { clients };
    let senders = [Sender {
        client: 0,
        room: room(),
        lots: vec![Arc::from("L0"), Arc::from("L1")].into(),
    }];
    let receivers: Vec<Receiver> = (1..history.clients.len())
        .map(|client| Receiver {
            client,
            room: room(),
        })
        .collect();
    let mut verdict = Verdict::default();
    let d = measure(&history, &senders, &receivers, seen, MARKER, &mut verdict);
    (d, verdict)
}

#[test]
fn every_delivery_is_matched_and_timed() {
    let viewers = vec![viewer("a", &[6, 7]), viewer("b", &[6, 7])];
    let (d, v) = run(viewers, Outcome::Ok, &seen("L1"));
    assert!(v.violations.is_empty(), "{:?}", v.violations);
    assert_eq!(v.rules, vec![RULE]);
    assert_eq!((d.emitted, d.ok, d.tracked), (2, 2, 2));
    assert_eq!((d.expected, d.delivered, d.missing), (4, 4, 0));
    // Chat: sent at 10 ms, received at 15 ms; pin: 20 ms -> 30 ms.
    assert_eq!(d.latency.count, 4);
    // (hdrhistogram keeps 3 significant digits.)
    assert!(
        (10_000..10_010).contains(&d.latency.max_us),
        "{:?}",
        d.latency
    );
    assert_eq!(d.all_received.count, 2);
    assert!((5_000..5_005).contains(&d.all_received.p50_us));
}

#[test]
fn a_viewer_missing_an_event_fails() {
    let viewers = vec![viewer("a", &[6, 7]), viewer("b", &[6])];
    let (d, v) = run(viewers, Outcome::Ok, &seen("L1"));
    assert_eq!((d.missing, d.incomplete_events), (1, 1));
    let msg = &v.violations[0].examples[0];
    assert!(msg.contains("b: room R: never received seq 7"), "{msg}");
}

#[test]
fn a_seq_skipped_by_a_documented_resync_is_not_a_violation() {
    let mut b = viewer("b", &[6]);
    b.records.push(Record::Lagged { at: 25_000 });
    b.records.push(Record::Resync {
        at: 26_000,
        room: room(),
        seq: 7,
    });
    let (d, v) = run(vec![viewer("a", &[6, 7]), b], Outcome::Ok, &seen("L1"));
    assert!(v.violations.is_empty(), "{:?}", v.violations);
    assert_eq!((d.missing, d.missing_after_reset), (0, 1));
}

#[test]
fn an_acknowledged_emission_missing_from_the_stream_fails() {
    // The pinned event names the wrong lot, so it is not the pin sent.
    let (d, v) = run(vec![viewer("a", &[6, 7])], Outcome::Ok, &seen("L0"));
    assert_eq!((d.unmatched, d.lost), (1, 1));
    let msg = &v.violations[0].examples[0];
    assert!(
        msg.contains("pin #1") && msg.contains("never appeared"),
        "{msg}"
    );
}

#[test]
fn a_refused_emission_is_counted_not_tracked() {
    let refused = Outcome::Error {
        code: "rate_limited".into(),
    };
    let mut only_chat = seen("L1");
    only_chat.tags.truncate(1);
    let (d, v) = run(vec![viewer("a", &[6])], refused, &only_chat);
    assert!(v.violations.is_empty(), "{:?}", v.violations);
    assert_eq!(d.refused.get("rate_limited"), Some(&1));
    assert_eq!((d.tracked, d.delivered, d.lost), (1, 1, 0));
}
