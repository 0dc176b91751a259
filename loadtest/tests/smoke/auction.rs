//! auction: alone and with two workers.

use serde_json::Value;

use crate::*;

/// An auction run (with `global` options before the scenario) that must
/// pass the checker with every figure as expected; its JSON result.
fn auction_run(global: &[&str]) -> Value {
    let node = Node::for_load();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("result.json");
    // 50 bidders on 5 lots (10 each), 3 viewers per lot's room, 200 bids/s
    // for 3 s: 4 bids/s per bidder, under the node's default bid limit.
    let mut args = vec!["--target", &node.url, "--out", out.to_str().unwrap()];
    args.extend(global);
    args.extend([
        "auction",
        "--bidders",
        "50",
        "--lots",
        "5",
        "--viewers",
        "3",
        "--rate",
        "200",
        "--duration-secs",
        "3",
    ]);
    let run = harness(&args, RUN_LIMIT);
    assert_eq!(run.code, 0, "the checker should pass");
    let result: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let figures = &result["figures"];
    assert_eq!(result["scenario"], "auction");
    assert_eq!(result["verdict"]["pass"], true, "{result}");
    assert_eq!(result["verdict"]["violations"], serde_json::json!([]));
    for rule in [
        "bid_order",
        "bid_seen",
        "bid_origin",
        "bid_winner",
        "room_seq",
    ] {
        let rules = result["verdict"]["rules"].as_array().unwrap();
        assert!(rules.iter().any(|r| r == rule), "{rule} not checked");
    }
    // Each bidder's schedule: one bid every 0.25 s for 3 s.
    assert_eq!(figures["bids_sent"], 600, "{figures}");
    assert_eq!(figures["bids_answered"], 600, "{figures}");
    let ok = figures["bids_ok"].as_u64().unwrap();
    let refused: u64 = figures["bids_refused"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert!(ok > 0, "{figures}");
    assert_eq!(ok + refused, 600, "{figures}");
    assert!(figures["accepted_bids_per_s"].as_f64().unwrap() > 0.0);
    assert!(figures["bid_ack"]["p99_us"].as_u64().unwrap() > 0);
    assert_eq!(figures["bid_ack_ok"]["count"], ok);
    // Every lot got a winner, settled, and its order was read back; every
    // bidder and viewer (one lot each) saw its lot close.
    assert_eq!(figures["read_back"]["settled"], 5, "{figures}");
    assert_eq!(figures["read_back"]["with_a_winner"], 5, "{figures}");
    assert_eq!(figures["read_back"]["orders"], 5, "{figures}");
    assert_eq!(figures["lot_closed_seen"], 65, "{figures}");
    // `won` goes to the winner's own connection on its own path: at most
    // one a lot (the checker verifies each one that came).
    assert!(figures["won_notices"].as_u64().unwrap() <= 5, "{figures}");
    assert!(run.stdout.contains("verdict: PASS"), "{}", run.stdout);
    result
}

#[test]
fn auction_smoke_run_passes_the_checker() {
    let result = auction_run(&[]);
    assert_eq!(result["workers"], 1);
}

#[test]
fn auction_with_two_workers_passes_the_checker() {
    // The 50 bidders and 15 viewers run in two worker processes, on the
    // same open-loop schedules; the seller stays in the driver.
    let result = auction_run(&["--workers", "2"]);
    assert_two_workers(&result, 65);
}
