//! The worker protocol's logic without a node: shares and merging, and the
//! driver's side of a worker against stand-in workers (`sh` scripts
//! speaking, or failing to speak, the protocol).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::child::{self, Program};
use super::{Asker, Crowd, Part, merge, split};
use crate::history::{Clock, Interner};
use crate::scenarios::{Env, RunError};

/// A part whose members are numbers and whose results are their text.
struct Echo;

impl Part for Echo {
    const NAME: &'static str = "echo";
    type Config = ();
    type Member = u32;
    type Phase = u8;
    type Signal = String;
    type Wire = String;
    type Out = String;
    type Shared = ();

    fn shared(_env: Arc<Env>, _config: (), _asker: Option<Arc<Asker>>) {}

    fn spawn(
        _shared: &Arc<()>,
        member: u32,
        signals: mpsc::UnboundedSender<String>,
        mut phase: watch::Receiver<u8>,
    ) -> JoinHandle<String> {
        tokio::spawn(async move {
            let _ = signals.send(format!("ready {member}"));
            let _ = phase.wait_for(|p| *p == 9).await;
            member.to_string()
        })
    }

    fn to_wire(signal: String) -> String {
        signal
    }

    fn from_wire(wire: String, worker: usize) -> String {
        format!("worker {worker}: {wire}")
    }

    fn failed(error: RunError) -> String {
        format!("failed: {error}")
    }

    fn intern(_out: &mut String, _ids: &mut Interner) {}

    fn answer(_shared: &(), question: Value) -> Value {
        json!({"asked": question})
    }
}

fn env(workers: usize) -> Arc<Env> {
    let common = super::proto::Common {
        clock_base_unix_ns: Clock::start().base_unix_ns(),
        targets: vec![("http://127.0.0.1:9/".into(), "127.0.0.1:9".parse().unwrap())],
        sources: Vec::new(),
        timeout_ms: 2_000,
    };
    let mut env = Env::for_worker(&common, Clock::start()).unwrap();
    env.workers = workers;
    Arc::new(env)
}

#[test]
fn shares_are_dealt_round_robin() {
    assert_eq!(split(5, 2), vec![vec![0, 2, 4], vec![1, 3]]);
    assert_eq!(split(2, 3), vec![vec![0], vec![1], vec![]]);
    assert_eq!(split(3, 0), vec![vec![0, 1, 2]]);
}

#[test]
fn results_merge_back_into_the_original_order() {
    let local = vec![(0, "host")];
    let remote = vec![(vec![1, 3], vec!["a", "c"]), (vec![2, 4], vec!["b", "d"])];
    assert_eq!(
        merge(5, local, remote).unwrap(),
        ["host", "a", "b", "c", "d"]
    );
    let short = merge(3, vec![(0, 'x')], vec![(vec![1, 2], vec!['y'])]);
    assert!(short.unwrap_err().contains("worker 1 sent 1 results for 2"));
    let twice = merge(2, vec![(0, 'x')], vec![(vec![0, 1], vec!['y', 'z'])]);
    assert!(
        twice
            .unwrap_err()
            .contains("virtual user 0 has two results")
    );
    let missing = merge(3, vec![(0, 'x')], vec![(vec![1], vec!['y'])]);
    assert!(
        missing
            .unwrap_err()
            .contains("no result for virtual user 2")
    );
    let outside = merge(1, vec![(3, 'x')], Vec::new());
    assert!(outside.is_err());
}

#[tokio::test]
async fn one_process_runs_every_member_itself_in_order() {
    let env = env(1);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (phase_tx, phase) = watch::channel(0u8);
    let members = (0..4).map(|m| (m, m == 0)).collect();
    let crowd = Crowd::<Echo>::start(&env, (), members, &tx, &phase).unwrap();
    assert!(crowd.pids().is_empty());
    for _ in 0..4 {
        assert!(rx.recv().await.unwrap().starts_with("ready"));
    }
    phase_tx.send(9).unwrap();
    assert_eq!(crowd.join("echo").await.unwrap(), ["0", "1", "2", "3"]);
}

/// Starts `script` (sh) as worker 1 of the members at `indices`.
fn stand_in(
    script: &str,
    indices: Vec<usize>,
) -> (child::Worker<Echo>, mpsc::UnboundedReceiver<String>) {
    let program = Program {
        exe: "sh".into(),
        args: vec!["-c".into(), script.into()],
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let order = r#"{"part":"echo"}"#.to_owned();
    let timeout = Duration::from_secs(1);
    let worker =
        child::spawn::<Echo>(&program, 1, order, indices, tx, Arc::new(()), timeout).unwrap();
    (worker, rx)
}

#[tokio::test]
async fn a_worker_speaking_the_protocol_is_read_and_answered() {
    // It echoes its order back as a signal, asks a question and returns the
    // answer as its one result.
    let script = r#"read order
        printf '{"signal":"%s"}\n' "$(echo "$order" | tr -d '"')"
        echo '{"alive":null}'
        echo '{"ask":{"id":7,"question":"may I?"}}'
        read answer
        printf '{"out":"%s"}\n' "$(echo "$answer" | tr -d '"')"
        echo '{"finished":{"cpu_s":0.5,"rss_peak_kib":100,"rss_end_kib":90}}'
        "#;
    let (mut worker, mut signals) = stand_in(script, vec![3]);
    assert_eq!(signals.recv().await.unwrap(), "worker 1: {part:echo}");
    let (outs, figures) = worker.finish().await.unwrap();
    assert_eq!(outs, ["{answer:{id:7,answer:{asked:may I?}}}"]);
    assert_eq!(figures.cpu_s, Some(0.5));
    assert_eq!(figures.rss_peak_kib, Some(100));
}

#[tokio::test]
async fn a_worker_that_dies_is_an_error_naming_it_and_what_it_said() {
    let script = "read order; echo 'cannot bind 10.9.9.9' >&2; exit 3";
    let (mut worker, mut signals) = stand_in(script, vec![1, 2]);
    let started = Instant::now();
    let err = worker.finish().await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, RunError::Worker { worker: 1, .. }), "{msg}");
    assert!(
        msg.starts_with("worker 1: exited before it finished"),
        "{msg}"
    );
    assert!(msg.contains("exit status: 3"), "{msg}");
    assert!(msg.contains("cannot bind 10.9.9.9"), "{msg}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // The driver's waits hear of it too.
    let signal = signals.recv().await.unwrap();
    assert!(signal.starts_with("failed: worker 1: exited"), "{signal}");
}

#[tokio::test]
async fn a_worker_that_fails_gives_its_own_message() {
    let script = r#"read order; echo '{"failed":"viewer-3: cannot connect"}'; exit 2"#;
    let (mut worker, _signals) = stand_in(script, vec![0]);
    let msg = worker.finish().await.unwrap_err().to_string();
    assert_eq!(msg, "worker 1: viewer-3: cannot connect");
}

#[tokio::test]
async fn a_worker_short_of_results_or_off_protocol_is_an_error() {
    let script = r#"read order; echo '{"finished":{}}'"#;
    let (mut worker, _signals) = stand_in(script, vec![0, 1]);
    let msg = worker.finish().await.unwrap_err().to_string();
    assert!(msg.contains("sent 0 results for 2 virtual users"), "{msg}");

    let script = "read order; echo 'Segmentation fault'";
    let (mut worker, _signals) = stand_in(script, vec![0]);
    let msg = worker.finish().await.unwrap_err().to_string();
    assert!(msg.contains("not the protocol"), "{msg}");
    assert!(msg.contains("Segmentation fault"), "{msg}");
}

#[tokio::test]
async fn a_silent_worker_is_killed_not_waited_for() {
    // The silence allowed is the run's timeout, at least 5 s.
    let (mut worker, _signals) = stand_in("read order; sleep 60", vec![0]);
    let started = Instant::now();
    let msg = worker.finish().await.unwrap_err().to_string();
    assert!(msg.contains("sent nothing for 5 s"), "{msg}");
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[tokio::test]
async fn phases_reach_every_worker() {
    // Each stand-in waits for two phase lines and returns the second.
    let script = r#"read order; read p; read p
        printf '{"out":"%s"}\n' "$(echo "$p" | tr -d '"')"
        echo '{"finished":{}}'"#;
    let (mut a, _sa) = stand_in(script, vec![0]);
    let (mut b, _sb) = stand_in(script, vec![1]);
    let (phase_tx, phase) = watch::channel(0u8);
    let forward = child::forward_phases::<Echo>(phase, vec![a.lines.clone(), b.lines.clone()]);
    phase_tx.send(1).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    phase_tx.send(9).unwrap();
    assert_eq!(a.finish().await.unwrap().0, ["{phase:9}"]);
    assert_eq!(b.finish().await.unwrap().0, ["{phase:9}"]);
    forward.abort();
}
