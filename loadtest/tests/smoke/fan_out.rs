//! The fan-out scenarios: broadcast (alone and with two workers) and
//! chat-storm.

use serde_json::Value;

use crate::*;

/// Runs a fan-out scenario against a fresh node; its passing JSON result.
fn fan_out_run(scenario_args: &[&str]) -> Value {
    let node = Node::for_load();
    let pid = node.child.id().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("result.json");
    let mut args = vec!["--target", &node.url, "--node-pid", &pid];
    args.extend(["--out", out.to_str().unwrap()]);
    args.extend(scenario_args);
    let run = harness(&args, RUN_LIMIT);
    assert_eq!(run.code, 0, "the checker should pass");
    assert!(run.stdout.contains("verdict: PASS"), "{}", run.stdout);
    let result: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(result["verdict"]["pass"], true, "{result}");
    for rule in ["room_seq", "room_order", "answered", "delivered"] {
        let rules = result["verdict"]["rules"].as_array().unwrap();
        assert!(rules.iter().any(|r| r == rule), "{rule} not checked");
    }
    let f = &result["figures"];
    // Every acknowledged emission was found in the stream and reached
    // every receiver; latencies were measured for each delivery.
    assert_eq!(f["lost_emissions"], 0, "{f}");
    assert_eq!(f["missing_deliveries"], 0, "{f}");
    assert_eq!(f["every_delivery_seen"], true, "{f}");
    assert_eq!(f["deliveries"], f["deliveries_expected"], "{f}");
    assert_eq!(f["delivery_latency"]["count"], f["deliveries"], "{f}");
    assert!(f["delivery_latency"]["p99_us"].as_u64().unwrap() > 0, "{f}");
    assert!(
        f["last_viewer_latency"]["p99_us"].as_u64().unwrap() > 0,
        "{f}"
    );
    assert!(f["node_rss_kib"]["idle_kib"].as_u64().unwrap() > 0, "{f}");
    result
}

#[test]
fn broadcast_smoke_run_delivers_every_event_to_every_viewer() {
    // 300 anonymous viewers, 12 chats and pins at 6/s (the node's default
    // chat limit is 5/s per user; the chats are 3/s).
    let result = fan_out_run(&[
        "broadcast",
        "--viewers",
        "300",
        "--rate",
        "6",
        "--events",
        "12",
        "--settle-ms",
        "500",
    ]);
    assert_eq!(result["scenario"], "broadcast");
    let f = &result["figures"];
    assert_eq!(f["emitted"], 12, "{f}");
    assert_eq!(f["emitted_ok"], 12, "{f}");
    assert_eq!(f["tracked_events"], 12, "{f}");
    assert_eq!(f["deliveries"], 12 * 300, "{f}");
    assert_eq!(f["last_viewer_latency"]["count"], 12, "{f}");
    assert!(f["node_rss_per_idle_connection_bytes"].is_u64(), "{f}");
    assert!(f["goals"]["delivery_p99_le_50ms"].is_boolean(), "{f}");
}

#[test]
fn broadcast_with_two_workers_delivers_every_event_to_every_viewer() {
    // The viewers run in two worker processes, the host in the driver:
    // delivery latency is a worker's receipt minus the driver's send.
    let result = fan_out_run(&[
        "--workers",
        "2",
        "broadcast",
        "--viewers",
        "300",
        "--rate",
        "6",
        "--events",
        "12",
        "--settle-ms",
        "500",
    ]);
    assert_eq!(result["scenario"], "broadcast");
    let f = &result["figures"];
    assert_eq!(f["emitted_ok"], 12, "{f}");
    assert_eq!(f["deliveries"], 12 * 300, "{f}");
    assert_eq!(f["last_viewer_latency"]["count"], 12, "{f}");
    // One clock across processes: no delivery before its send, and none
    // absurdly late on an idle node.
    let max = f["delivery_latency"]["max_us"].as_u64().unwrap();
    assert!(max < 30_000_000, "{f}");
    assert_two_workers(&result, 300);
}

#[test]
fn chat_storm_smoke_run_fans_out_every_message() {
    // 4 rooms x (5 chatters + 50 viewers), 2 messages/s per chatter for
    // 3 s: 120 messages, each to the 55 members of its room.
    let result = fan_out_run(&[
        "chat-storm",
        "--rooms",
        "4",
        "--chatters-per-room",
        "5",
        "--viewers-per-room",
        "50",
        "--chatter-rate",
        "2",
        "--duration-secs",
        "3",
        "--settle-ms",
        "300",
    ]);
    assert_eq!(result["scenario"], "chat-storm");
    let f = &result["figures"];
    assert_eq!(f["emitted"], 120, "{f}");
    assert_eq!(f["emitted_ok"], 120, "{f}");
    assert_eq!(f["refused"], serde_json::json!({}), "{f}");
    assert_eq!(f["deliveries"], 120 * 55, "{f}");
    assert!(f["deliveries_per_s"].as_f64().unwrap() > 0.0, "{f}");
    assert!(f["messages_sent_per_s"].as_f64().unwrap() > 0.0, "{f}");
}
