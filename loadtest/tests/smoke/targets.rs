//! Bad targets and failing workers: a clear error and exit status, never a
//! hang.

use std::time::Duration;

use crate::*;

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
fn a_refused_seller_token_is_renewed_for_the_read_back() {
    // A long soak reads back after the seller's 15-minute access token
    // expired; any refused token takes the same path.
    use liveshop_loadtest::api::{Api, User};
    let node = Node::for_load();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let api = Api::new(&node.url, Duration::from_secs(10), 4).unwrap();
        let seller = api.register("renewed-seller", "seller").await.unwrap();
        let stale = User {
            token: "expired.or.revoked".into(),
            ..seller
        };
        let orders = api.seller_orders(&stale).await.unwrap();
        assert!(orders.is_empty(), "{orders:?}");
    });
}
