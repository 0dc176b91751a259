//! The conformance suite: what every backend of [`Store`] must do, written
//! once against the traits.
//!
//! Each behaviour is one `pub async fn` taking the store under test; a
//! backend's integration test calls [`run_all`] or, better for reporting,
//! each function from its own `#[tokio::test]`. Every function makes its own
//! ids (unique per process run and per call), so one store instance, even a
//! long-lived shared server, can serve every test, and lists are checked
//! only for the records the test created. The functions panic (assert) on a
//! violation, like any test.
//!
//! Ordering contract the suite pins down: "oldest first" means by the
//! record's own timestamp (`created_ms`, `at_ms`); the suite never relies on
//! how ties are broken, so backends may break them by creation order or id.

mod accounts;
mod catalog;
mod fixtures;

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;

use liveshop_protocol::{LotId, RoomId, UserId};

use crate::{EventLog, LogKey, Snapshot, Store, StoreError, StoredEvent};

pub use accounts::*;
pub use catalog::*;

/// Calls `$callback!` with the name of every behaviour of the suite. The
/// list lives only here: [`run_all`] and each backend's test runner expand
/// their per-behaviour code from it, so a new behaviour reaches every backend.
#[macro_export]
macro_rules! conformance_behaviours {
    ($callback:ident) => {
        $callback!(
            claim_returns_increasing_epochs,
            append_under_stale_epoch_writes_nothing,
            append_rejects_gaps_and_overlaps,
            read_returns_events_after_seq_in_order,
            logs_are_independent,
            snapshot_is_fenced,
            concurrent_appends_from_many_logs_all_land,
            concurrent_claims_fence_each_other,
            username_is_unique,
            concurrent_creates_have_one_winner,
            family_id_is_unique,
            refresh_rotation_detects_reuse_and_revokes_family,
            expired_family_does_not_rotate,
            revoked_family_does_not_rotate,
            concurrent_rotations_have_one_winner,
            rooms_are_unique_and_found_by_stream_key,
            stream_key_is_replaced_and_the_old_one_retired,
            rooms_listed_oldest_first,
            lots_listed_per_room_in_creation_order,
            orders_are_idempotent_by_id_and_by_buyer_idem,
            orders_listed_per_buyer_and_seller,
            recent_orders_newest_first_by_room_and_since,
            recent_chat_returns_newest_oldest_first,
        );
    };
}

/// Runs every behaviour against `store`, one after the other.
pub async fn run_all<S: Store + ?Sized>(store: &S) {
    macro_rules! run_each {
        ($($name:ident),* $(,)?) => {
            $( $name(store).await; )*
        };
    }
    conformance_behaviours!(run_each);
}

// ---------------------------------------------------------------- helpers

/// A fresh id: `<tag>-<run>-<n>`, unique per process run and call, at most
/// 36 bytes so it also fits lot ids (which leave room for child ids).
pub fn unique(tag: &str) -> String {
    static RUN: OnceLock<String> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let run = RUN.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let mixed = (nanos as u64) ^ (u64::from(std::process::id()) << 40);
        format!("{:010x}", mixed & 0xff_ffff_ffff)
    });
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let tag = &tag[..tag.len().min(12)];
    format!("{tag}-{run}-{n}")
}

pub(crate) fn user_id(s: &str) -> UserId {
    UserId::new(s).unwrap_or_else(|e| panic!("bad test user id {s:?}: {e}"))
}

pub(crate) fn room_id(s: &str) -> RoomId {
    RoomId::new(s).unwrap_or_else(|e| panic!("bad test room id {s:?}: {e}"))
}

pub(crate) fn lot_id(s: &str) -> LotId {
    LotId::new_for_lot(s).unwrap_or_else(|e| panic!("bad test lot id {s:?}: {e}"))
}

fn lot_log(tag: &str) -> LogKey {
    LogKey::Lot(lot_id(&unique(tag)))
}

/// Events `from..from + n`; the payload names the log and the seq and
/// contains a NUL and a 0xff byte to catch text-only encodings.
fn events(key: &LogKey, from: u64, n: u64) -> Vec<StoredEvent> {
    (from..from + n)
        .map(|seq| StoredEvent {
            seq,
            payload: payload(key, seq),
        })
        .collect()
}

fn payload(key: &LogKey, seq: u64) -> Vec<u8> {
    let mut p = format!("{}#{seq}", key.storage_key()).into_bytes();
    p.extend_from_slice(&[0, 0xff]);
    p
}

fn seqs(events: &[StoredEvent]) -> Vec<u64> {
    events.iter().map(|e| e.seq).collect()
}

/// Polls all futures concurrently on the current task until every one is
/// done; outputs in input order. (No `futures` dependency, no `'static`.)
pub(crate) async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (fut, out) in futures.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                match fut.as_mut().poll(cx) {
                    Poll::Ready(v) => *out = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

fn assert_fenced<T: std::fmt::Debug>(r: crate::Result<T>, current: u64, presented: u64) {
    match r {
        Err(StoreError::Fenced {
            current: c,
            presented: p,
            ..
        }) => {
            assert_eq!((c, p), (current, presented), "fence reports the epochs");
        }
        other => {
            panic!("expected Fenced (current {current}, presented {presented}), got {other:?}")
        }
    }
}

fn assert_gap<T: std::fmt::Debug>(r: crate::Result<T>, expected: u64, got: u64) {
    match r {
        Err(StoreError::SeqGap {
            expected: e,
            got: g,
            ..
        }) => assert_eq!((e, g), (expected, got), "gap reports the seqs"),
        other => panic!("expected SeqGap (expected {expected}, got {got}), got {other:?}"),
    }
}

async fn ok<T, E: std::fmt::Debug>(what: &str, f: impl Future<Output = Result<T, E>>) -> T {
    match f.await {
        Ok(v) => v,
        Err(e) => panic!("{what} failed: {e:?}"),
    }
}

// ---------------------------------------------------------------- event logs

pub async fn claim_returns_increasing_epochs<S: EventLog + ?Sized>(store: &S) {
    let key = lot_log("claim");
    let e1 = ok("claim", store.claim(&key)).await;
    let e2 = ok("claim", store.claim(&key)).await;
    let e3 = ok("claim", store.claim(&key)).await;
    assert!(e1 >= 1, "the first epoch is at least 1, got {e1}");
    assert!(e1 < e2 && e2 < e3, "epochs increase: {e1}, {e2}, {e3}");
    // Another log has its own epochs, and claiming it does not disturb this one.
    let other = lot_log("claim");
    ok("claim other", store.claim(&other)).await;
    ok(
        "append under the newest epoch",
        store.append(&key, e3, &events(&key, 1, 1)),
    )
    .await;
}

pub async fn append_under_stale_epoch_writes_nothing<S: EventLog + ?Sized>(store: &S) {
    let key = lot_log("stale");
    // Never claimed: nothing is accepted.
    assert_fenced(store.append(&key, 1, &events(&key, 1, 1)).await, 0, 1);
    assert_eq!(ok("last_seq", store.last_seq(&key)).await, 0);

    let e1 = ok("claim", store.claim(&key)).await;
    ok("append", store.append(&key, e1, &events(&key, 1, 2))).await;
    let e2 = ok("claim", store.claim(&key)).await;
    assert_fenced(store.append(&key, e1, &events(&key, 3, 2)).await, e2, e1);
    // An epoch nobody was given is refused too.
    assert_fenced(
        store.append(&key, e2 + 1, &events(&key, 3, 1)).await,
        e2,
        e2 + 1,
    );
    assert_eq!(ok("last_seq", store.last_seq(&key)).await, 2);
    assert_eq!(seqs(&ok("read", store.read(&key, 0)).await), vec![1, 2]);

    ok(
        "append as new owner",
        store.append(&key, e2, &events(&key, 3, 1)),
    )
    .await;
    assert_eq!(ok("read", store.read(&key, 0)).await, events(&key, 1, 3));
}

pub async fn append_rejects_gaps_and_overlaps<S: EventLog + ?Sized>(store: &S) {
    let key = lot_log("gaps");
    let e = ok("claim", store.claim(&key)).await;
    // An empty log starts at 1.
    assert_gap(store.append(&key, e, &events(&key, 2, 1)).await, 1, 2);
    assert_gap(store.append(&key, e, &events(&key, 0, 1)).await, 1, 0);
    ok("append", store.append(&key, e, &events(&key, 1, 3))).await;
    assert_gap(store.append(&key, e, &events(&key, 5, 1)).await, 4, 5);
    assert_gap(store.append(&key, e, &events(&key, 3, 2)).await, 4, 3);
    // A batch broken in the middle is refused whole: seq 4 is not written.
    let mut broken = events(&key, 4, 1);
    broken.extend(events(&key, 6, 1));
    assert_gap(store.append(&key, e, &broken).await, 5, 6);
    assert_eq!(ok("last_seq", store.last_seq(&key)).await, 3);
    assert_eq!(seqs(&ok("read", store.read(&key, 0)).await), vec![1, 2, 3]);
    ok("append", store.append(&key, e, &events(&key, 4, 2))).await;
    assert_eq!(ok("read", store.read(&key, 0)).await, events(&key, 1, 5));
}

pub async fn read_returns_events_after_seq_in_order<S: EventLog + ?Sized>(store: &S) {
    let key = lot_log("read");
    let e = ok("claim", store.claim(&key)).await;
    let mut all = events(&key, 1, 4);
    // Payloads are bytes: an empty one and a large one come back as given.
    all.push(StoredEvent {
        seq: 5,
        payload: Vec::new(),
    });
    all.push(StoredEvent {
        seq: 6,
        payload: (0..=255u8).cycle().take(70_000).collect(),
    });
    all.extend(events(&key, 7, 4));
    ok("append 1..4", store.append(&key, e, &all[..4])).await;
    ok("append 5..6", store.append(&key, e, &all[4..6])).await;
    ok("append 7..10", store.append(&key, e, &all[6..])).await;

    assert_eq!(ok("read", store.read(&key, 0)).await, all);
    assert_eq!(ok("read", store.read(&key, 4)).await, all[4..].to_vec());
    assert_eq!(ok("read", store.read(&key, 9)).await, all[9..].to_vec());
    assert!(ok("read", store.read(&key, 10)).await.is_empty());
    assert!(ok("read", store.read(&key, 1_000)).await.is_empty());
    assert!(ok("read", store.read(&key, u64::MAX)).await.is_empty());
    assert_eq!(ok("last_seq", store.last_seq(&key)).await, 10);

    let unknown = lot_log("read");
    assert!(ok("read unknown", store.read(&unknown, 0)).await.is_empty());
    assert_eq!(ok("last_seq unknown", store.last_seq(&unknown)).await, 0);
}

pub async fn logs_are_independent<S: EventLog + ?Sized>(store: &S) {
    let id = unique("indep");
    let lot = LogKey::Lot(lot_id(&id));
    let room = LogKey::Room(room_id(&id));
    // A lot whose id extends the first one's must not share its keys.
    let longer = LogKey::Lot(lot_id(&format!("{id}x")));
    let el = ok("claim lot", store.claim(&lot)).await;
    let er = ok("claim room", store.claim(&room)).await;
    let ex = ok("claim longer", store.claim(&longer)).await;
    ok("append lot", store.append(&lot, el, &events(&lot, 1, 3))).await;
    ok("append room", store.append(&room, er, &events(&room, 1, 1))).await;
    ok(
        "append longer",
        store.append(&longer, ex, &events(&longer, 1, 2)),
    )
    .await;

    assert_eq!(
        ok("read lot", store.read(&lot, 0)).await,
        events(&lot, 1, 3)
    );
    assert_eq!(
        ok("read room", store.read(&room, 0)).await,
        events(&room, 1, 1)
    );
    assert_eq!(
        ok("read longer", store.read(&longer, 0)).await,
        events(&longer, 1, 2)
    );
    assert_eq!(ok("last_seq room", store.last_seq(&room)).await, 1);
    // Claiming the room log did not fence the lot log.
    ok("claim room again", store.claim(&room)).await;
    ok("append lot", store.append(&lot, el, &events(&lot, 4, 1))).await;
}

pub async fn snapshot_is_fenced<S: EventLog + ?Sized>(store: &S) {
    let key = lot_log("snap");
    assert_eq!(ok("load", store.load_snapshot(&key)).await, None);
    let snap = |seq: u64| Snapshot {
        seq,
        payload: format!("state after {seq}").into_bytes(),
    };
    let e1 = ok("claim", store.claim(&key)).await;
    ok("append", store.append(&key, e1, &events(&key, 1, 3))).await;
    ok("save", store.save_snapshot(&key, e1, &snap(2))).await;
    assert_eq!(ok("load", store.load_snapshot(&key)).await, Some(snap(2)));

    // Never ahead of the log.
    assert!(matches!(
        store.save_snapshot(&key, e1, &snap(4)).await,
        Err(StoreError::SeqGap { .. })
    ));
    assert_eq!(ok("load", store.load_snapshot(&key)).await, Some(snap(2)));

    let e2 = ok("claim", store.claim(&key)).await;
    assert_fenced(store.save_snapshot(&key, e1, &snap(3)).await, e2, e1);
    assert_eq!(ok("load", store.load_snapshot(&key)).await, Some(snap(2)));
    ok("save as new owner", store.save_snapshot(&key, e2, &snap(3))).await;
    assert_eq!(ok("load", store.load_snapshot(&key)).await, Some(snap(3)));
    // Saving a snapshot leaves the log alone.
    assert_eq!(ok("read", store.read(&key, 0)).await, events(&key, 1, 3));
}

pub async fn concurrent_appends_from_many_logs_all_land<S: EventLog + ?Sized>(store: &S) {
    const LOGS: usize = 32;
    const BATCHES: u64 = 8;
    const PER_BATCH: u64 = 3;
    let keys: Vec<LogKey> = (0..LOGS).map(|_| lot_log("many")).collect();
    let epochs = join_all(keys.iter().map(|k| store.claim(k)).collect()).await;
    let writers = keys
        .iter()
        .zip(epochs)
        .map(|(key, epoch)| async move {
            let epoch = epoch.unwrap_or_else(|e| panic!("claim failed: {e:?}"));
            for b in 0..BATCHES {
                let batch = events(key, 1 + b * PER_BATCH, PER_BATCH);
                ok("concurrent append", store.append(key, epoch, &batch)).await;
            }
        })
        .collect();
    join_all(writers).await;
    for key in &keys {
        assert_eq!(
            ok("read", store.read(key, 0)).await,
            events(key, 1, BATCHES * PER_BATCH),
            "log {} is whole and in order",
            key.storage_key()
        );
    }
}

pub async fn concurrent_claims_fence_each_other<S: EventLog + ?Sized>(store: &S) {
    const CLAIMS: usize = 16;
    let key = lot_log("race");
    let epochs: Vec<u64> = join_all((0..CLAIMS).map(|_| store.claim(&key)).collect())
        .await
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("claim failed: {e:?}")))
        .collect();
    let mut distinct = epochs.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        CLAIMS,
        "every claim got its own epoch: {epochs:?}"
    );
    let newest = distinct[CLAIMS - 1];

    // Every claimant tries to write seq 1 at once: only the newest may.
    let batch = events(&key, 1, 1);
    let results = join_all(
        epochs
            .iter()
            .map(|e| store.append(&key, *e, &batch))
            .collect(),
    )
    .await;
    for (epoch, result) in epochs.iter().zip(results) {
        if *epoch == newest {
            assert_eq!(result, Ok(()), "the newest owner appends");
        } else {
            assert!(
                matches!(result, Err(StoreError::Fenced { .. })),
                "epoch {epoch} is fenced, got {result:?}"
            );
        }
    }
    assert_eq!(ok("read", store.read(&key, 0)).await, batch);
}
