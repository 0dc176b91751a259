//! flash-sale: alone and with two workers.

use serde_json::Value;

use crate::*;

/// Runs `flash-sale --buyers 300 --stock 50` (after `global` options)
/// against a fresh node and checks it passed; its JSON result.
fn flash_sale_run(global: &[&str]) -> Value {
    let node = Node::for_load();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("result.json");
    let mut args = vec!["--target", &node.url, "--out", out.to_str().unwrap()];
    args.extend(global);
    args.extend([
        "flash-sale",
        "--buyers",
        "300",
        "--stock",
        "50",
        // Long enough that a loaded CI machine still checks out in time,
        // short enough that the run's wait for expiry stays brief.
        "--hold-ttl-ms",
        "3000",
    ]);
    let run = harness(&args, RUN_LIMIT);
    assert_eq!(run.code, 0, "the checker should pass");
    let result: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let figures = &result["figures"];
    assert_eq!(result["scenario"], "flash-sale");
    assert_eq!(result["verdict"]["pass"], true, "{result}");
    assert_eq!(result["verdict"]["violations"], serde_json::json!([]));
    assert_eq!(figures["holds_sent"], 300, "{figures}");
    assert_eq!(figures["hold_outcomes"]["held"], 50, "{figures}");
    assert_eq!(figures["oversold_units"], 0);
    // Half of the 50 holders check out (one could in principle be refused
    // as expired on a very slow machine: then it must not have sold).
    let ok = figures["checkouts_ok"].as_u64().unwrap();
    let failed = figures["checkouts_failed"].as_u64().unwrap();
    assert_eq!(ok + failed, 25, "{figures}");
    assert!(ok > 0, "{figures}");
    assert_eq!(figures["read_back"]["sold"], ok);
    assert_eq!(figures["settled"], true);
    assert!(figures["hold_ack"]["p99_us"].as_u64().unwrap() > 0);
    assert!(figures["sell_out_ms"].is_number(), "{figures}");
    assert!(run.stdout.contains("verdict: PASS"), "{}", run.stdout);
    result
}

#[test]
fn flash_sale_smoke_run_passes_the_checker() {
    let result = flash_sale_run(&[]);
    assert_eq!(result["workers"], 1);
    assert!(result["figures"].get("harness_workers").is_none());
}

#[test]
fn flash_sale_with_two_workers_passes_the_checker() {
    // The buyers run in two worker processes; exactly half the holders
    // still check out (the driver keeps the one count).
    let result = flash_sale_run(&["--workers", "2"]);
    assert_two_workers(&result, 300);
}
