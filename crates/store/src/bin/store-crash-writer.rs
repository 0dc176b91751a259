//! Child process of the crash test (`tests/crash.rs`); not part of liveshop.
//!
//! `store-crash-writer <dir> <lots> <cap-seconds>` opens the embedded store
//! in `<dir>`, claims the logs `crash-lot-0..<lots>` and appends batches to
//! all of them concurrently, forever. Lines on stdout, each written only
//! after the store acknowledged what it reports:
//!
//! - `claim <lot> <epoch>`
//! - `ack <lot> <epoch> <batch> <first seq> <len>`
//!
//! Each event's payload is [`payload`]`(lot, epoch, batch, index, len)`, so
//! the test can check every acknowledged event byte for byte and that no
//! batch is half there. The process exits by itself after `<cap-seconds>`
//! or when stdout is closed, so nothing outlives a test that died.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use liveshop_protocol::LotId;
use liveshop_store::{EmbeddedStore, EventLog, LogKey, StoredEvent};

/// Payload of event `index` of batch `batch` (of `len` events) that the
/// holder of `epoch` appended to lot `lot`, padded to 100 bytes.
/// tests/crash.rs has the same function.
fn payload(lot: usize, epoch: u64, batch: u64, index: u64, len: u64) -> Vec<u8> {
    let mut s = format!("lot={lot} epoch={epoch} batch={batch} index={index} len={len} ");
    while s.len() < 100 {
        s.push('.');
    }
    s.into_bytes()
}

/// Writes one line, flushed; exits quietly if the reader is gone.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        std::process::exit(0);
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("store-crash-writer: {msg}");
    std::process::exit(2);
}

async fn write_lot(store: Arc<EmbeddedStore>, lot: usize) {
    let id =
        LotId::new(format!("crash-lot-{lot}")).unwrap_or_else(|e| fail(&format!("lot id: {e}")));
    let key = LogKey::Lot(id);
    let epoch = store
        .claim(&key)
        .await
        .unwrap_or_else(|e| fail(&format!("claim: {e}")));
    say(&format!("claim {lot} {epoch}"));
    let mut last = store
        .last_seq(&key)
        .await
        .unwrap_or_else(|e| fail(&format!("last_seq: {e}")));
    for batch in 0u64.. {
        // Lengths 1..=7 vary so batches of different sizes meet the kill.
        let len = 1 + (batch + lot as u64) % 7;
        let events: Vec<StoredEvent> = (0..len)
            .map(|i| StoredEvent {
                seq: last + 1 + i,
                payload: payload(lot, epoch, batch, i, len),
            })
            .collect();
        if let Err(e) = store.append(&key, epoch, &events).await {
            fail(&format!("append to lot {lot}: {e}"));
        }
        say(&format!("ack {lot} {epoch} {batch} {} {len}", last + 1));
        last += len;
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, lots, cap] = args.as_slice() else {
        eprintln!("usage: store-crash-writer <dir> <lots> <cap-seconds>");
        return ExitCode::from(64);
    };
    let lots: usize = lots
        .parse()
        .unwrap_or_else(|_| fail("lots must be a number"));
    let cap: u64 = cap.parse().unwrap_or_else(|_| fail("cap must be seconds"));

    // The safety net: whatever happens, this process ends.
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(cap));
        eprintln!("store-crash-writer: cap of {cap}s reached, exiting");
        std::process::exit(3);
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("runtime: {e}")));
    runtime.block_on(async {
        let store = Arc::new(
            EmbeddedStore::open(dir).unwrap_or_else(|e| fail(&format!("open {dir}: {e}"))),
        );
        let tasks: Vec<_> = (0..lots)
            .map(|lot| tokio::spawn(write_lot(store.clone(), lot)))
            .collect();
        for t in tasks {
            if let Err(e) = t.await {
                fail(&format!("writer task: {e}"));
            }
        }
    });
    ExitCode::SUCCESS
}
