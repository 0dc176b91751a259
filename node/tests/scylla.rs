//! The node on the ScyllaDB store. No ScyllaDB runs in CI, so:
//! - always: `liveshop migrate` on a store without a schema says so and
//!   succeeds; a node (or `migrate`) pointed at a ScyllaDB that is not there
//!   exits with a clear error instead of hanging or panicking;
//! - with `SCYLLA_URI` set (a comma-separated `host:port` list of a real
//!   cluster): `liveshop migrate` creates a throwaway keyspace, a node runs
//!   on it, and a sale, a hold and an order survive a SIGKILL and restart.
//!   Without it that test prints `skipped: SCYLLA_URI not set`.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// `liveshop <args>` with a clean `LIVESHOP_*` environment plus `env`,
/// killed if it runs longer than `patience`.
fn liveshop(args: &[&str], env: &[(&str, &str)], patience: Duration) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_liveshop"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("LIVESHOP_")) {
        command.env_remove(key);
    }
    let mut child = command
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn liveshop");
    let deadline = Instant::now() + patience;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for liveshop") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("liveshop {args:?} still running after {patience:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let _ = child.stdout.take().map(|mut s| s.read_to_end(&mut stdout));
    let _ = child.stderr.take().map(|mut s| s.read_to_end(&mut stderr));
    Output {
        status,
        stdout,
        stderr,
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[test]
fn migrate_on_a_store_without_a_schema_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = liveshop(
        &["migrate", "--data-dir", data.to_str().unwrap()],
        &[],
        PATIENCE,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("nothing to migrate"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn an_unreachable_scylla_is_a_clear_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let nodes = format!("127.0.0.1:{}", closed_port());
    let env = [
        ("LIVESHOP_STORE", "scylla"),
        ("LIVESHOP_SCYLLA_NODES", nodes.as_str()),
    ];
    for args in [
        vec!["migrate", "--data-dir", data.to_str().unwrap()],
        vec![
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
        ],
    ] {
        let out = liveshop(&args, &env, PATIENCE);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded: {stderr}");
        assert!(
            stderr.contains(&format!("cannot use the scylla store at {nodes}")),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// A config file for a node on the keyspace `keyspace` of `uri`.
fn scylla_config(dir: &Path, uri: &str, keyspace: &str) -> String {
    let nodes: Vec<String> = uri
        .split(',')
        .map(|n| format!("\"{}\"", n.trim()))
        .collect();
    let rf = std::env::var("SCYLLA_RF").unwrap_or_else(|_| "1".into());
    let path = dir.join("scylla.toml");
    std::fs::write(
        &path,
        format!(
            "store = \"scylla\"\n\
             [scylla]\nnodes = [{}]\nkeyspace = \"{keyspace}\"\nreplication_factor = {rf}\n\
             [rate_limits]\nauth = {{ per_second = 100000, burst = 100000 }}\n",
            nodes.join(", ")
        ),
    )
    .expect("write test config");
    path.to_str().expect("utf-8 path").to_owned()
}

#[tokio::test]
async fn a_node_on_scylla_keeps_holds_and_orders_across_a_sigkill() {
    let Ok(uri) = std::env::var("SCYLLA_URI") else {
        eprintln!("skipped: SCYLLA_URI not set");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let keyspace = format!("node_{}", std::process::id());
    let config = scylla_config(dir.path(), &uri, &keyspace);
    let data = dir.path().join("data");
    let out = liveshop(
        &["migrate", "--config", &config],
        &[],
        Duration::from_secs(120),
    );
    assert!(out.status.success(), "migrate: {}", text(&out.stderr));

    let node = Node::start_with(&data, &["--config", &config]);
    let api = node.api();
    let seller = api.register("seller", "seller").await;
    let buyer = api.register("buyer", "buyer").await;
    let room = api.create_room(&seller, "Scylla drop").await;
    let lot = api
        .create_lot(
            &seller,
            &room,
            json!({"title": "Tee", "currency": "USD", "kind": "sale", "price": 2500,
                   "stock": 3, "per_user_limit": 1, "hold_ttl_ms": 60000,
                   "allocation": "fifo"}),
        )
        .await;
    let mut host = Ws::connect(node.addr, Some(&seller.token)).await;
    ok(host.request(json!({"type": "join", "room": room})).await);
    ok(host.request(json!({"type": "open_lot", "lot": lot})).await);
    let mut ws = Ws::connect(node.addr, Some(&buyer.token)).await;
    ok(ws.request(json!({"type": "join", "room": room})).await);
    let hold = ok(ws
        .request(json!({"type": "hold", "lot": lot, "qty": 1}))
        .await);
    let hold_id = hold["hold"].as_str().expect("hold id").to_owned();
    ok(ws
        .request(json!({"type": "checkout", "hold": hold_id, "idem": "k1"}))
        .await);
    node.kill();

    let node = Node::start_with(&data, &["--config", &config]);
    let api = node.api();
    let orders = api.orders(&buyer).await;
    assert_eq!(orders.len(), 1, "{orders:?}");
    let view = api.lot(&lot).await;
    assert_eq!(view["sold"], 1, "{view}");
    node.kill();
}
