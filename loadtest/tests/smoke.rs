//! Smoke runs: the real `liveshop-loadtest` binary against a real `liveshop`
//! node, both as child processes, asserting the exit status and the JSON
//! result; and bad targets, which must end in a clear error, not a hang.
//!
//! Finding the node binary: Cargo only builds a package's binaries for that
//! package's own tests, so `CARGO_BIN_EXE_liveshop` does not exist here.
//! The node is a workspace member with a binary, so `cargo test --workspace`
//! and `cargo nextest run --workspace` (what CI runs) build it into the same
//! target directory as this test: `<target>/<profile>/liveshop`, next to
//! the `deps/` directory holding this test. `LIVESHOP_BIN` overrides that
//! path. Building it from here instead (a nested `cargo build`) could wait
//! for ever on the build-directory lock the outer cargo holds, so a missing
//! binary fails the test with the command that builds it.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A run of the harness that takes longer than this is a hang.
const RUN_LIMIT: Duration = Duration::from_secs(180);

fn node_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("LIVESHOP_BIN") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("current exe");
    // <target>/<profile>/deps/smoke-<hash>  ->  <target>/<profile>/liveshop
    let path = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary in <target>/<profile>/deps")
        .join("liveshop");
    assert!(
        path.exists(),
        "the node binary {} is missing: build it with `cargo build -p liveshop-node` \
         (cargo test --workspace does), or set LIVESHOP_BIN",
        path.display()
    );
    path
}

/// A node on a free loopback port; killed on drop.
struct Node {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Node {
    /// `config` is the TOML the node runs with.
    fn start(config: &str) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("liveshop.toml");
        std::fs::write(&config_path, config).unwrap();
        let mut command = Command::new(node_binary());
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("LIVESHOP_")) {
            command.env_remove(key);
        }
        let mut child = command
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"))
            .arg("--config")
            .arg(&config_path)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn liveshop");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("liveshop exited before printing its address")
                .unwrap();
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.trim().to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines.by_ref() {});
        Node {
            child,
            url,
            _dir: dir,
        }
    }

    /// Registration unlimited, as a load test from one address needs.
    fn for_load() -> Node {
        Node::start("[rate_limits]\nauth = { per_second = 100000, burst = 100000 }\n")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Runs the harness with `args`; fails the test if it runs past `limit`.
fn harness(args: &[&str], limit: Duration) -> Outcome {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_liveshop-loadtest"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn liveshop-loadtest");
    // Drain both pipes on threads so a chatty child never blocks.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("liveshop-loadtest {args:?} still running after {limit:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let outcome = Outcome {
        code: status.code().expect("exit code, not a signal"),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        took: started.elapsed(),
    };
    eprintln!(
        "liveshop-loadtest {args:?}: exit {} in {:?}\n--- stdout\n{}--- stderr\n{}",
        outcome.code, outcome.took, outcome.stdout, outcome.stderr
    );
    outcome
}

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

/// The JSON result's workers: two, their virtual users adding up to
/// `users`, each measured and its RSS sampled over the run.
fn assert_two_workers(result: &Value, users: u64) {
    assert_eq!(result["workers"], 2, "{result}");
    let workers = result["figures"]["harness_workers"].as_array().unwrap();
    assert_eq!(workers.len(), 2, "{workers:?}");
    let members: u64 = workers.iter().map(|w| w["members"].as_u64().unwrap()).sum();
    assert_eq!(members, users, "{workers:?}");
    for w in workers {
        assert!(w["cpu_s"].as_f64().unwrap() > 0.0, "{w}");
        assert!(w["rss_peak_kib"].as_u64().unwrap() > 0, "{w}");
        let pid = w["pid"].as_u64().unwrap();
        let series = result["timeline"]["rss"].as_array().unwrap();
        let sampled = series.iter().find(|s| s["pid"].as_u64() == Some(pid));
        let sampled = sampled.unwrap_or_else(|| panic!("worker {pid} not sampled"));
        assert!(
            !sampled["samples"].as_array().unwrap().is_empty(),
            "{sampled}"
        );
    }
}

#[test]
fn flash_sale_with_two_workers_passes_the_checker() {
    // The buyers run in two worker processes; exactly half the holders
    // still check out (the driver keeps the one count).
    let result = flash_sale_run(&["--workers", "2"]);
    assert_two_workers(&result, 300);
}

#[test]
fn a_closed_port_is_a_clear_error_not_a_hang() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = format!("http://127.0.0.1:{port}");
    let run = harness(
        &["--target", &target, "flash-sale", "--buyers", "10"],
        Duration::from_secs(30),
    );
    assert_eq!(run.code, 2);
    assert!(run.took < Duration::from_secs(10), "took {:?}", run.took);
    assert!(run.stderr.contains("cannot reach"), "{}", run.stderr);
    assert!(run.stderr.contains("refused"), "{}", run.stderr);
    assert_eq!(
        run.stderr.lines().filter(|l| l.contains("error")).count(),
        1,
        "one line: {}",
        run.stderr
    );
}

#[test]
fn a_wrong_url_path_is_a_clear_error() {
    let node = Node::for_load();
    let target = format!("{}/nope/", node.url);
    let run = harness(
        &["--target", &target, "flash-sale", "--buyers", "10"],
        Duration::from_secs(30),
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("answered 404"), "{}", run.stderr);
    assert!(run.stderr.contains("base URL"), "{}", run.stderr);
}

#[test]
fn a_node_refusing_sign_ups_is_a_clear_error() {
    // The default limit lets one address register 50 users at once, then
    // 10 a second: 400 buyers must run into it.
    let node = Node::start("");
    let run = harness(
        &["--target", &node.url, "flash-sale", "--buyers", "400"],
        Duration::from_secs(60),
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("rate limiting"), "{}", run.stderr);
    assert!(run.stderr.contains("[rate_limits]"), "{}", run.stderr);
}

#[test]
fn a_malformed_target_is_a_usage_error() {
    let run = harness(
        &["--target", "localhost:8080", "flash-sale"],
        Duration::from_secs(10),
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("bad target URL"), "{}", run.stderr);
}

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
fn soak_with_two_workers_passes_the_checker() {
    // The 14 users run in two worker processes on the same schedules; the
    // seller stays in the driver.
    let node = Node::for_load();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("result.json");
    let run = harness(
        &[
            "--target",
            &node.url,
            "--out",
            out.to_str().unwrap(),
            "--workers",
            "2",
            "soak",
            "--duration-secs",
            "3",
            "--buyers",
            "4",
            "--bidders",
            "4",
            "--viewers",
            "6",
            "--interval-ms",
            "300",
        ],
        RUN_LIMIT,
    );
    assert_eq!(run.code, 0, "the checker should pass");
    let result: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(result["scenario"], "soak");
    assert_eq!(result["verdict"]["pass"], true, "{result}");
    let figures = &result["figures"];
    assert_eq!(figures["user_errors"], 0, "{figures}");
    for op in ["hold", "bid", "chat", "like"] {
        let ok = figures["ops"][op]["ok"].as_u64().unwrap();
        assert!(ok > 0, "{op}: {figures}");
    }
    assert_two_workers(&result, 14);
}

#[test]
fn auction_with_two_workers_passes_the_checker() {
    // The 50 bidders and 15 viewers run in two worker processes, on the
    // same open-loop schedules; the seller stays in the driver.
    let result = auction_run(&["--workers", "2"]);
    assert_two_workers(&result, 65);
}

fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.len() > 1000,
        "{}: {} bytes",
        path.display(),
        bytes.len()
    );
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{}",
        path.display()
    );
}

#[test]
fn soak_smoke_run_samples_the_node_and_writes_a_report() {
    let node = Node::for_load();
    let pid = node.child.id().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("result.json");
    let report = dir.path().join("report");
    let run = harness(
        &[
            "--target",
            &node.url,
            "--node-pid",
            &pid,
            "--rss-interval-ms",
            "200",
            "--out",
            out.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
            "soak",
            "--duration-secs",
            "3",
            "--buyers",
            "4",
            "--bidders",
            "4",
            "--viewers",
            "6",
            "--interval-ms",
            "300",
        ],
        RUN_LIMIT,
    );
    assert_eq!(run.code, 0, "the checker should pass");
    let result: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(result["scenario"], "soak");
    assert_eq!(result["verdict"]["pass"], true, "{result}");
    let rules = result["verdict"]["rules"].as_array().unwrap();
    assert!(rules.iter().any(|r| r == "bid_winner"), "{rules:?}");
    let figures = &result["figures"];
    assert_eq!(figures["oversold_units"], 0, "{figures}");
    assert_eq!(figures["user_errors"], 0, "{figures}");
    for op in ["hold", "bid", "chat", "like"] {
        assert!(
            figures["ops"][op]["ok"].as_u64().unwrap() > 0,
            "{op}: {figures}"
        );
    }
    let timeline = &result["timeline"];
    for kind in ["hold", "checkout", "release", "bid", "chat", "like"] {
        assert!(
            timeline["throughput"][kind].is_array(),
            "{kind}: {timeline}"
        );
    }
    let rss = timeline["rss"].as_array().unwrap();
    let node_rss = rss
        .iter()
        .find(|s| s["pid"].as_u64() == Some(u64::from(node.child.id())))
        .unwrap_or_else(|| panic!("no RSS series for the node: {timeline}"));
    assert!(node_rss.get("note").is_none(), "{node_rss}");
    assert!(
        node_rss["samples"].as_array().unwrap().len() >= 5,
        "{node_rss}"
    );
    assert!(
        run.stdout.contains(&format!("rss: pid {pid}")),
        "{}",
        run.stdout
    );

    for png in ["latency.png", "throughput.png", "rss.png"] {
        assert_png(&report.join(png));
    }
    let page = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(page.contains("liveshop-loadtest: soak"), "{page}");
    assert!(page.contains("src=\"rss.png\""), "{page}");

    // The report can be made again from the JSON alone.
    let again = dir.path().join("again");
    let run = harness(
        &[
            "report",
            out.to_str().unwrap(),
            "--out",
            again.to_str().unwrap(),
        ],
        Duration::from_secs(30),
    );
    assert_eq!(run.code, 0);
    assert_png(&again.join("rss.png"));
    assert!(again.join("index.html").exists());
}

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
fn a_failing_worker_is_a_clear_error_not_a_hang() {
    // Every other virtual user's source address is not this machine's, so
    // the worker running them cannot connect them.
    let node = Node::for_load();
    let run = harness(
        &[
            "--target",
            &node.url,
            "--timeout-secs",
            "5",
            "--workers",
            "2",
            "--source-addrs",
            "127.0.0.2,192.0.2.1",
            "broadcast",
            "--viewers",
            "40",
            "--events",
            "2",
        ],
        Duration::from_secs(60),
    );
    assert_eq!(run.code, 2);
    assert!(run.took < Duration::from_secs(30), "took {:?}", run.took);
    let errors: Vec<&str> = run.stderr.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "one line: {}", run.stderr);
    assert!(
        errors[0].contains("error: worker 1: viewer-"),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("192.0.2.1"), "{}", errors[0]);
}

#[test]
fn workers_out_of_range_is_a_usage_error() {
    let run = harness(&["--workers", "65", "soak"], Duration::from_secs(10));
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("--workers must be 1..=64"),
        "{}",
        run.stderr
    );
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
