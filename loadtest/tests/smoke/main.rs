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
//!
//! This file holds the node and harness runners; the runs themselves are
//! in one module per scenario (`flash_sale`, `auction`, `soak`, `fan_out`)
//! and `targets` (bad targets and worker failures).

mod auction;
mod fan_out;
mod flash_sale;
mod soak;
mod targets;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A run of the harness that takes longer than this is a hang.
pub(crate) const RUN_LIMIT: Duration = Duration::from_secs(180);

pub(crate) fn node_binary() -> PathBuf {
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
pub(crate) struct Node {
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

pub(crate) struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Runs the harness with `args`; fails the test if it runs past `limit`.
pub(crate) fn harness(args: &[&str], limit: Duration) -> Outcome {
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

/// The JSON result's workers: two, their virtual users adding up to
/// `users`, each measured and its RSS sampled over the run.
pub(crate) fn assert_two_workers(result: &Value, users: u64) {
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

pub(crate) fn assert_png(path: &Path) {
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
