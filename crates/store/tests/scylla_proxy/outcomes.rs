//! What the store makes of the answers: refused LWTs become fence and
//! rotation outcomes, forged timeouts and overloads typed retryable errors.

use liveshop_protocol::{RoomId, UserId};
use liveshop_store::{
    ChatHistory, ChatLine, EventLog, RefreshTokens, Rotation, Snapshot, StoreError, Users,
};

use super::fixtures::*;
use crate::support::fake_scylla::{CallKind, Consistency, Reply, Val, WriteType, row};

#[tokio::test]
async fn a_refused_append_becomes_fenced_or_seq_gap() {
    let (fake, store) = start().await;
    let key = lot_key();

    // A newer owner holds the log: [applied] = false with its epoch.
    fake.respond_once(
        FENCE,
        Reply::not_applied(row(&[
            ("epoch", Val::BigInt(5)),
            ("last_seq", Val::BigInt(1)),
        ])),
    );
    let r = within("append", store.append(&key, 2, &events(&[2]))).await;
    match r {
        Err(StoreError::Fenced {
            key: k,
            current,
            presented,
        }) => {
            assert_eq!((k.as_str(), current, presented), ("lot/l1", 5, 2));
        }
        other => panic!("expected Fenced, got {other:?}"),
    }
    // Our epoch, but the log is further on: a gap.
    fake.respond_once(
        FENCE,
        Reply::not_applied(row(&[
            ("epoch", Val::BigInt(2)),
            ("last_seq", Val::BigInt(3)),
        ])),
    );
    let r = within("append", store.append(&key, 2, &events(&[2, 3]))).await;
    match r {
        Err(StoreError::SeqGap { expected, got, .. }) => assert_eq!((expected, got), (4, 2)),
        other => panic!("expected SeqGap, got {other:?}"),
    }
    let batches = fake
        .calls()
        .iter()
        .filter(|c| c.kind == CallKind::Batch)
        .count();
    assert_eq!(batches, 2, "one batch per append");

    // A snapshot refused under a newer epoch is fenced too.
    fake.respond_once(
        "IF epoch = ? AND last_seq >= ?",
        Reply::not_applied(row(&[
            ("epoch", Val::BigInt(9)),
            ("last_seq", Val::BigInt(3)),
        ])),
    );
    let snap = Snapshot {
        seq: 3,
        payload: vec![],
    };
    let r = within("save_snapshot", store.save_snapshot(&key, 2, &snap)).await;
    assert!(
        matches!(
            r,
            Err(StoreError::Fenced {
                current: 9,
                presented: 2,
                ..
            })
        ),
        "{r:?}"
    );

    // A claim that loses a race retries above the winner's epoch.
    fake.respond_once(
        "IF epoch = NULL",
        Reply::not_applied(row(&[("epoch", Val::BigInt(3))])),
    );
    assert_eq!(within("claim", store.claim(&key)).await, Ok(4));
    let claim_next = fake
        .calls()
        .into_iter()
        .rfind(|c| c.mentions("SET epoch = ? WHERE log_key = ? IF epoch = ?"))
        .expect("claim_next ran");
    assert_eq!(
        claim_next.statements[0].values,
        [Val::BigInt(4), text("lot/l1"), Val::BigInt(3)]
    );
    fake.stop().await;
}

#[tokio::test]
async fn a_refused_rotation_gives_the_right_outcome() {
    let (fake, store) = start().await;
    let rotate = "SET current_hash = ?";
    let far = Val::BigInt(4_000_000_000_000);
    // Another token of the family was presented: reuse, and the family is revoked.
    fake.respond_once(
        rotate,
        Reply::not_applied(row(&[
            ("current_hash", text("h-newer")),
            ("expires_ms", far.clone()),
            ("revoked", Val::Bool(false)),
        ])),
    );
    assert_eq!(
        within("rotate", store.rotate("f1", "h-old", "h-next", 5, 1_000)).await,
        Ok(Rotation::Reused)
    );
    assert!(
        fake.calls()
            .iter()
            .any(|c| c.mentions("SET revoked = true")),
        "the family was revoked"
    );
    // Already revoked: nothing changes.
    fake.clear_calls();
    fake.respond_once(
        rotate,
        Reply::not_applied(row(&[
            ("current_hash", text("h-old")),
            ("expires_ms", far),
            ("revoked", Val::Bool(true)),
        ])),
    );
    assert_eq!(
        within("rotate", store.rotate("f1", "h-old", "h-next", 5, 1_000)).await,
        Ok(Rotation::Revoked)
    );
    assert!(
        !fake
            .calls()
            .iter()
            .any(|c| c.mentions("SET revoked = true"))
    );
    // No such family: the old row is all nulls.
    fake.respond_once(
        rotate,
        Reply::Lwt {
            applied: false,
            rows: Vec::new(),
        },
    );
    assert_eq!(
        within("rotate", store.rotate("f9", "h", "h2", 5, 1_000)).await,
        Ok(Rotation::Unknown)
    );
    fake.stop().await;
}

#[tokio::test]
async fn a_write_timeout_on_an_lwt_is_a_retryable_timeout_sent_once() {
    let (fake, store) = start().await;
    let key = lot_key();
    fake.respond_once(FENCE, Reply::write_timeout(WriteType::Cas));
    let r = within("append", store.append(&key, 1, &events(&[1]))).await;
    assert!(matches!(r, Err(StoreError::Timeout(_))), "{r:?}");
    assert!(r.as_ref().expect_err("failed").is_retryable());
    let sent = fake.calls().iter().filter(|c| c.mentions(FENCE)).count();
    assert_eq!(
        sent, 1,
        "the non-idempotent LWT batch was not retried by the driver"
    );

    // The write type that makes the driver's default policy retry an
    // idempotent statement once (BatchLog): still one attempt, since the
    // store marks the conditional batch non-idempotent.
    fake.clear_calls();
    fake.respond_once(FENCE, Reply::write_timeout(WriteType::BatchLog));
    let r = within("append", store.append(&key, 1, &events(&[1]))).await;
    assert!(
        matches!(&r, Err(e @ StoreError::Timeout(_)) if e.is_retryable()),
        "{r:?}"
    );
    let sent = fake.calls().iter().filter(|c| c.mentions(FENCE)).count();
    assert_eq!(sent, 1, "the conditional batch was retried by the driver");

    fake.respond_once(
        "INSERT INTO liveshop.usernames",
        Reply::write_timeout(WriteType::Cas),
    );
    let r = within("create_user", store.create_user(&user("u1", "alice"))).await;
    assert!(
        matches!(&r, Err(e @ StoreError::Timeout(_)) if e.is_retryable()),
        "{r:?}"
    );
    let sent = fake
        .calls()
        .iter()
        .filter(|c| c.mentions("INSERT INTO liveshop.usernames"))
        .count();
    assert_eq!(sent, 1, "the claim LWT was not retried by the driver");
    fake.stop().await;
}

#[tokio::test]
async fn overloaded_on_a_write_and_a_read_is_retryable_overloaded() {
    let (fake, store) = start().await;
    fake.respond("INSERT INTO liveshop.chat ", Reply::overloaded());
    let line = ChatLine {
        room_id: RoomId::new("r1").expect("id"),
        user: UserId::new("u1").expect("id"),
        name: "Alice".into(),
        text: "hi".into(),
        at_ms: 1_700_000_000_000,
    };
    let r = within("append_chat", store.append_chat(&line)).await;
    assert!(
        matches!(&r, Err(e @ StoreError::Overloaded(_)) if e.is_retryable()),
        "{r:?}"
    );

    fake.respond("SELECT record FROM liveshop.users", Reply::overloaded());
    let r = within("user", store.user(&UserId::new("u1").expect("id"))).await;
    assert!(
        matches!(&r, Err(e @ StoreError::Overloaded(_)) if e.is_retryable()),
        "{r:?}"
    );

    // An overloaded LWT batch: nothing written, retryable, sent once.
    fake.respond_once(FENCE, Reply::overloaded());
    let r = within("append", store.append(&lot_key(), 1, &events(&[1]))).await;
    assert!(
        matches!(&r, Err(e @ StoreError::Overloaded(_)) if e.is_retryable()),
        "{r:?}"
    );
    assert_eq!(fake.calls().iter().filter(|c| c.mentions(FENCE)).count(), 1);
    fake.stop().await;
}

#[tokio::test]
async fn other_server_errors_are_not_typed_as_timeout_or_overloaded() {
    let (fake, store) = start().await;
    fake.respond_once(
        FENCE,
        Reply::error(crate::support::fake_scylla::DbError::ServerError),
    );
    let r = within("append", store.append(&lot_key(), 1, &events(&[1]))).await;
    assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
    fake.stop().await;
}

/// What ScyllaDB answers for a log nobody has claimed or written yet, and
/// for a claimed log without events: a refused append against a missing
/// partition carries all-null old values (so `Fenced` at epoch 0, read from
/// the answer alone); a claimed, empty log's partition reads back as one
/// row of nulls (ScyllaDB, unlike Cassandra, returns the static-only row even
/// when no static column is selected: scylladb/scylladb#10091), which is not
/// an event; a snapshot ahead of the log is a gap naming the log's last seq;
/// the head a claim starts from is read at LOCAL_SERIAL.
#[tokio::test]
async fn never_claimed_and_empty_logs_answer_like_scylla() {
    let (fake, store) = start().await;
    let key = lot_key();

    fake.respond_once(
        FENCE,
        Reply::Lwt {
            applied: false,
            rows: Vec::new(),
        },
    );
    let r = within("append", store.append(&key, 1, &events(&[1]))).await;
    assert!(
        matches!(
            r,
            Err(StoreError::Fenced {
                current: 0,
                presented: 1,
                ..
            })
        ),
        "{r:?}"
    );
    assert!(
        !fake.calls().iter().any(|c| c.mentions(HEAD)),
        "the refusal's own answer decided it"
    );

    // The first claim: a linearizable read of the head, then `IF epoch = NULL`.
    assert_eq!(within("claim", store.claim(&key)).await, Ok(1));
    let calls = fake.calls();
    let head = calls
        .iter()
        .find(|c| c.mentions(HEAD))
        .expect("the head was read");
    assert_eq!(head.consistency, Consistency::LocalSerial);
    let first = calls
        .iter()
        .find(|c| c.mentions("IF epoch = NULL"))
        .expect("claim_first ran");
    assert_eq!(
        first.statements[0].values,
        [Val::BigInt(1), Val::BigInt(0), text("lot/l1")]
    );

    fake.respond_once("SELECT seq, payload FROM", rows(vec![row(&[])]));
    assert_eq!(within("read", store.read(&key, 0)).await, Ok(vec![]));
    fake.respond_once(
        "SELECT seq, payload FROM",
        rows(vec![
            row(&[]),
            row(&[("seq", Val::BigInt(1)), ("payload", Val::blob(&[1]))]),
        ]),
    );
    assert_eq!(within("read", store.read(&key, 0)).await, Ok(events(&[1])));

    fake.respond_once(
        "IF epoch = ? AND last_seq >= ?",
        Reply::not_applied(row(&[
            ("epoch", Val::BigInt(1)),
            ("last_seq", Val::BigInt(3)),
        ])),
    );
    let snap = Snapshot {
        seq: 4,
        payload: b"ahead".to_vec(),
    };
    let r = within("save_snapshot", store.save_snapshot(&key, 1, &snap)).await;
    assert!(
        matches!(
            r,
            Err(StoreError::SeqGap {
                expected: 3,
                got: 4,
                ..
            })
        ),
        "{r:?}"
    );
    fake.stop().await;
}
