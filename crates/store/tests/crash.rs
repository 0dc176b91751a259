//! Crash test: a child process appends to the embedded store and reports
//! every acknowledged batch; we SIGKILL it at some point, reopen the store
//! and check that everything acknowledged survived, byte for byte, that the
//! logs are gapless, that no batch is half there, and that the epoch fence
//! survived too. Three kills at different points, on one data directory, so
//! later children also recover what earlier kills left.
//!
//! No timing assertions: waits are bounded generously only so a broken
//! child cannot hang the test, and the child exits by itself after a cap.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use liveshop_protocol::LotId;
use liveshop_store::{EmbeddedStore, EventLog, LogKey};

const LOTS: usize = 4;
/// The child exits by itself after this long.
const CHILD_CAP_SECS: u64 = 300;
/// Longest wait for the acks of one round.
const ROUND_DEADLINE: Duration = Duration::from_secs(240);

/// Same as in src/bin/store-crash-writer.rs.
fn payload(lot: usize, epoch: u64, batch: u64, index: u64, len: u64) -> Vec<u8> {
    let mut s = format!("lot={lot} epoch={epoch} batch={batch} index={index} len={len} ");
    while s.len() < 100 {
        s.push('.');
    }
    s.into_bytes()
}

/// `(epoch, batch, index, len)` read back from a payload.
fn parse_payload(p: &[u8]) -> (u64, u64, u64, u64) {
    let text = std::str::from_utf8(p).expect("payload is text");
    let field = |name: &str| -> u64 {
        text.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("payload {text:?} has no {name}"))
    };
    (field("epoch"), field("batch"), field("index"), field("len"))
}

#[derive(Debug, Clone, Copy)]
struct Ack {
    lot: usize,
    epoch: u64,
    batch: u64,
    first_seq: u64,
    len: u64,
}

#[derive(Default)]
struct Seen {
    acks: Vec<Ack>,
    /// Highest epoch any child claimed, per lot.
    epochs: HashMap<usize, u64>,
}

impl Seen {
    fn take_line(&mut self, line: &str) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let num = |i: usize| -> u64 {
            parts
                .get(i)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("bad child line {line:?}"))
        };
        match parts.first() {
            Some(&"claim") => {
                let e = self.epochs.entry(num(1) as usize).or_default();
                *e = (*e).max(num(2));
            }
            Some(&"ack") => self.acks.push(Ack {
                lot: num(1) as usize,
                epoch: num(2),
                batch: num(3),
                first_seq: num(4),
                len: num(5),
            }),
            _ => panic!("unexpected child line {line:?}"),
        }
    }
}

fn log_key(lot: usize) -> LogKey {
    LogKey::Lot(LotId::new(format!("crash-lot-{lot}")).unwrap())
}

fn spawn_child(dir: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_store-crash-writer"))
        .arg(dir)
        .arg(LOTS.to_string())
        .arg(CHILD_CAP_SECS.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the crash writer")
}

/// Runs a child until it acknowledged `want` more batches, SIGKILLs it and
/// records every line it printed (including ones still in the pipe).
fn run_and_kill(dir: &std::path::Path, want: usize, seen: &mut Seen) {
    let mut child = spawn_child(dir);
    let stdout = child.stdout.take().expect("child stdout");
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    let deadline = Instant::now() + ROUND_DEADLINE;
    let mut acks = 0;
    let mut failure = None;
    while acks < want {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                acks += usize::from(line.starts_with("ack "));
                seen.take_line(&line);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                failure = Some(format!("only {acks} of {want} acks before the deadline"));
                break;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                failure = Some(format!("child exited after {acks} of {want} acks"));
                break;
            }
        }
    }
    // SIGKILL: no destructor, no final sync, mid-batch wherever it is.
    let _ = child.kill();
    let status = child.wait().expect("reap the child");
    // Lines the child printed before dying are acknowledged writes too.
    reader.join().expect("reader thread");
    for line in rx.try_iter() {
        seen.take_line(&line);
    }
    if let Some(f) = failure {
        panic!("{f} (child status {status})");
    }
}

async fn verify(dir: &std::path::Path, seen: &Seen) {
    let store = EmbeddedStore::open(dir).expect("reopen after SIGKILL");
    for lot in 0..LOTS {
        let key = log_key(lot);
        let events = store.read(&key, 0).await.expect("read");
        assert_eq!(
            store.last_seq(&key).await.expect("last_seq"),
            events.len() as u64
        );

        // Gapless from 1, and made of whole batches only.
        let mut expect_index = 0;
        let mut current: Option<(u64, u64, u64)> = None;
        for (i, ev) in events.iter().enumerate() {
            assert_eq!(ev.seq, i as u64 + 1, "lot {lot}: seqs are gapless from 1");
            let (epoch, batch, index, len) = parse_payload(&ev.payload);
            assert_eq!(index, expect_index, "lot {lot} seq {}: batch order", ev.seq);
            if index == 0 {
                current = Some((epoch, batch, len));
            }
            assert_eq!(
                current,
                Some((epoch, batch, len)),
                "lot {lot}: one batch at a time"
            );
            expect_index = if index + 1 == len { 0 } else { index + 1 };
        }
        assert_eq!(expect_index, 0, "lot {lot}: the last batch is whole");

        // Every acknowledged event is there with its exact payload.
        for ack in seen.acks.iter().filter(|a| a.lot == lot) {
            for i in 0..ack.len {
                let seq = ack.first_seq + i;
                let ev = events
                    .get(seq as usize - 1)
                    .unwrap_or_else(|| panic!("lot {lot}: acknowledged seq {seq} is lost"));
                assert_eq!(ev.seq, seq);
                assert_eq!(
                    ev.payload,
                    payload(lot, ack.epoch, ack.batch, i, ack.len),
                    "lot {lot} seq {seq}"
                );
            }
        }

        let acked = seen
            .acks
            .iter()
            .filter(|a| a.lot == lot)
            .map(|a| a.first_seq + a.len - 1)
            .max()
            .unwrap_or(0);
        eprintln!(
            "lot {lot}: {} events on disk, {acked} acknowledged",
            events.len()
        );

        // The fence survived: a new owner gets a larger epoch than any child.
        let had = seen.epochs.get(&lot).copied().unwrap_or(0);
        let epoch = store.claim(&key).await.expect("claim");
        assert!(
            epoch > had,
            "lot {lot}: new epoch {epoch} must exceed {had}"
        );
    }
}

#[tokio::test]
async fn acknowledged_appends_survive_sigkill() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut seen = Seen::default();
    // Kill at different points: after a few, more, and many acks.
    for (round, want) in [25usize, 90, 200].into_iter().enumerate() {
        let before = seen.acks.len();
        run_and_kill(dir.path(), want, &mut seen);
        assert!(
            seen.acks.len() >= before + want,
            "round {round} saw its acks"
        );
        verify(dir.path(), &seen).await;
    }
}
