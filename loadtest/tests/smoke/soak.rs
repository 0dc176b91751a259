//! soak: with two workers, and alone with the node sampled and a report.

use std::time::Duration;

use serde_json::Value;

use crate::*;

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
