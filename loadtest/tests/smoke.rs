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

#[test]
fn flash_sale_smoke_run_passes_the_checker() {
    let node = Node::for_load();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("result.json");
    let run = harness(
        &[
            "--target",
            &node.url,
            "--out",
            out.to_str().unwrap(),
            "flash-sale",
            "--buyers",
            "300",
            "--stock",
            "50",
            // Long enough that a loaded CI machine still checks out in time,
            // short enough that the run's wait for expiry stays brief.
            "--hold-ttl-ms",
            "3000",
        ],
        RUN_LIMIT,
    );
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
