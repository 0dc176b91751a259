//! The Redis backend's durability: acknowledged appends survive a SIGKILL
//! of redis-server, and the store refuses a server that would lose them.
#![cfg(feature = "redis")]

use liveshop_testkit::redis_server as support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use liveshop_protocol::{LotId, UserId};
use liveshop_store::{
    EventLog, LogKey, RedisOptions, RedisStore, RefreshFamily, RefreshTokens, Rotation, StoreError,
    StoredEvent,
};
use support::Persistence;

fn event(seq: u64) -> StoredEvent {
    let mut payload = format!("bid #{seq}").into_bytes();
    payload.extend_from_slice(&[0, 0xff]);
    StoredEvent { seq, payload }
}

fn options(prefix: &str) -> RedisOptions {
    RedisOptions {
        prefix: prefix.into(),
        response_timeout: Duration::from_secs(2),
        connection_timeout: Duration::from_secs(2),
        ..RedisOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_appends_survive_sigkill_of_redis() {
    const PER_BATCH: u64 = 3;
    let Some(mut server) = support::start() else {
        return;
    };
    let dir = server.dir().to_path_buf();
    let key = LogKey::Lot(LotId::new("durable-lot").expect("lot id"));
    let store = Arc::new(
        RedisStore::connect_with(&server.url(), options("dur:"))
            .await
            .expect("connect"),
    );
    let epoch = store.claim(&key).await.expect("claim");
    let family = RefreshFamily {
        family: "durable-family".into(),
        user_id: UserId::new("durable-user").expect("user id"),
        current_hash: "h1".into(),
        expires_ms: u64::MAX,
        revoked: false,
    };
    store.create_family(&family).await.expect("create family");
    let rotated = store
        .rotate("durable-family", "h1", "h2", u64::MAX - 1, 10)
        .await
        .expect("rotate");
    assert!(matches!(rotated, Rotation::Rotated(_)), "{rotated:?}");

    // A writer appends batches as fast as it can and records the last seq
    // Redis acknowledged; the server is SIGKILLed under it.
    let acked = Arc::new(AtomicU64::new(0));
    let writer = {
        let (store, key, acked) = (store.clone(), key.clone(), acked.clone());
        tokio::spawn(async move {
            let mut next = 1;
            loop {
                let batch: Vec<StoredEvent> = (next..next + PER_BATCH).map(event).collect();
                match store.append(&key, epoch, &batch).await {
                    Ok(()) => {
                        next += PER_BATCH;
                        acked.store(next - 1, Ordering::SeqCst);
                    }
                    Err(e) => return e,
                }
            }
        })
    };
    while acked.load(Ordering::SeqCst) < 300 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill();
    let err = writer.await.expect("writer task");
    assert!(
        matches!(err, StoreError::Unavailable(_)),
        "a dead server is Unavailable, got {err:?}"
    );
    let acked = acked.load(Ordering::SeqCst);
    drop(store);

    // Same directory, so the same AOF: everything acknowledged is there.
    let server = support::start_in(&dir, support::DURABLE).expect("restart redis-server");
    let store = RedisStore::connect_with(&server.url(), options("dur:"))
        .await
        .expect("reconnect");
    let events = store.read(&key, 0).await.expect("read");
    assert!(
        events.len() as u64 >= acked,
        "{} events survived, {acked} were acknowledged",
        events.len()
    );
    // Unacknowledged batches may or may not have landed, but only whole.
    assert_eq!(events.len() as u64 % PER_BATCH, 0, "no half batch");
    let expected: Vec<StoredEvent> = (1..=events.len() as u64).map(event).collect();
    assert_eq!(events, expected, "in order, payloads intact");
    let last = store.last_seq(&key).await.expect("last_seq");
    assert_eq!(last, events.len() as u64);

    // So did the rotation (and the exact u64 expiry).
    let fam = store.family("durable-family").await.expect("family");
    assert_eq!(
        fam,
        Some(RefreshFamily {
            current_hash: "h2".into(),
            expires_ms: u64::MAX - 1,
            ..family
        })
    );

    // The epoch survived: its holder continues, a new claim fences it.
    store
        .append(&key, epoch, &[event(last + 1)])
        .await
        .expect("append after restart");
    let newer = store.claim(&key).await.expect("claim after restart");
    assert!(newer > epoch);
    assert!(matches!(
        store.append(&key, epoch, &[event(last + 2)]).await,
        Err(StoreError::Fenced { .. })
    ));
}

#[tokio::test]
async fn connect_refuses_a_server_without_fsync_per_write() {
    for persistence in [
        Persistence {
            appendonly: "no",
            appendfsync: "always",
        },
        Persistence {
            appendonly: "yes",
            appendfsync: "everysec",
        },
    ] {
        let Some(server) = support::start_with(persistence) else {
            return;
        };
        match RedisStore::connect(&server.url()).await {
            Err(StoreError::Unavailable(msg)) => {
                assert!(
                    msg.contains("appendonly yes") && msg.contains("appendfsync always"),
                    "the error says what is needed: {msg}"
                );
                assert!(msg.contains("allow_unsafe_durability"), "{msg}");
            }
            other => panic!("{persistence:?}: expected a refusal, got {other:?}"),
        }
        let unsafe_ok = RedisOptions {
            allow_unsafe_durability: true,
            ..options("unsafe:")
        };
        let store = RedisStore::connect_with(&server.url(), unsafe_ok)
            .await
            .unwrap_or_else(|e| panic!("{persistence:?}: allowed explicitly, got {e}"));
        let key = LogKey::Lot(LotId::new("unsafe-lot").expect("lot id"));
        assert!(store.claim(&key).await.expect("claim") >= 1);
    }
}

#[tokio::test]
async fn connect_accepts_a_durable_server() {
    let Some(server) = support::start() else {
        return;
    };
    RedisStore::connect(&server.url())
        .await
        .expect("a durable server is accepted");
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    // A port nobody listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let err = RedisStore::connect_with(&format!("redis://127.0.0.1:{port}/"), options("x:"))
        .await
        .expect_err("nothing listens there");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}
