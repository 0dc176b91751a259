//! The cache test suite: what every backend of [`Cache`] must do, written
//! once against the trait.
//!
//! Each behaviour is one `pub async fn`; a backend's integration test calls
//! each from its own `#[tokio::test]`, giving it a fresh, empty cache (a
//! new `MemoryCache`, or a Redis prefix no other test uses). Rate limits
//! take time as an argument, so they need no sleeps; the TTL checks wait,
//! boundedly, for short TTLs to run out on the backend's clock. The
//! functions panic (assert) on a violation, like any test.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use liveshop_protocol::RoomId;

use crate::Cache;

/// How long a TTL check waits for a short TTL to run out.
const TTL_WAIT: Duration = Duration::from_secs(5);

/// A starting `now_ms` like a real clock's, different per call, so Lua's
/// number handling is tested at realistic magnitudes.
fn start_ms() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    1_700_000_000_000 + NEXT.fetch_add(1, Ordering::Relaxed) * 1_000_000
}

fn room(s: &str) -> RoomId {
    RoomId::new(s).unwrap_or_else(|e| panic!("bad test room id {s:?}: {e}"))
}

/// Polls `check` until it returns true or [`TTL_WAIT`] passes.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + TTL_WAIT;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: still not true after {TTL_WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A full bucket allows `burst` requests at once, then none, then one per
/// refill interval; idle long enough it is full again, never fuller.
pub async fn a_bucket_allows_the_burst_then_refills<C: Cache + ?Sized>(cache: &C) {
    // One token a second, so a Redis key outlives the test by far even if
    // the backend's clock runs ahead of `now`.
    let (rate, burst, t0) = (1, 3, start_ms());
    for i in 0..burst {
        assert!(
            cache.rate_allow("bucket", rate, burst, t0).await.unwrap(),
            "request {i} within the burst was refused"
        );
    }
    assert!(!cache.rate_allow("bucket", rate, burst, t0).await.unwrap());
    assert!(
        !cache
            .rate_allow("bucket", rate, burst, t0 + 999)
            .await
            .unwrap(),
        "a token came back before the interval"
    );
    assert!(
        cache
            .rate_allow("bucket", rate, burst, t0 + 1000)
            .await
            .unwrap(),
        "a token did not come back after the interval"
    );
    assert!(
        !cache
            .rate_allow("bucket", rate, burst, t0 + 1000)
            .await
            .unwrap()
    );
    // Idle for ten intervals: full again, but only `burst` deep.
    let later = t0 + 11_000;
    for _ in 0..burst {
        assert!(
            cache
                .rate_allow("bucket", rate, burst, later)
                .await
                .unwrap()
        );
    }
    assert!(
        !cache
            .rate_allow("bucket", rate, burst, later)
            .await
            .unwrap()
    );
    // Other keys are independent; a zero rate or burst allows nothing.
    assert!(cache.rate_allow("other", rate, burst, t0).await.unwrap());
    assert!(!cache.rate_allow("zero-rate", 0, burst, t0).await.unwrap());
    assert!(!cache.rate_allow("zero-burst", rate, 0, t0).await.unwrap());
}

/// Two handles on the same backend (two nodes) count into one bucket: a
/// rate limit counts requests made through both nodes.
pub async fn two_handles_share_one_bucket<C: Cache + ?Sized>(a: &C, b: &C) {
    let (rate, burst, t0) = (1, 4, start_ms());
    let mut allowed = 0;
    for i in 0..8 {
        let node = if i % 2 == 0 { a } else { b };
        if node.rate_allow("shared", rate, burst, t0).await.unwrap() {
            allowed += 1;
        }
    }
    assert_eq!(allowed, burst, "the two handles did not share one bucket");
    assert!(!a.rate_allow("shared", rate, burst, t0).await.unwrap());
    assert!(!b.rate_allow("shared", rate, burst, t0).await.unwrap());
    // What one node sets, the other sees.
    b.set_room_live(&room("shared-room"), true, 7, 60_000)
        .await
        .unwrap();
    assert_eq!(
        a.live_rooms(10).await.unwrap(),
        vec![(room("shared-room"), 7)]
    );
    assert_eq!(
        a.claim_idem("s", "k", "from-a", 60_000).await.unwrap(),
        None
    );
    assert_eq!(
        b.claim_idem("s", "k", "from-b", 60_000).await.unwrap(),
        Some("from-a".to_owned())
    );
    a.revoke_family("fam", 60_000).await.unwrap();
    assert!(b.is_family_revoked("fam").await.unwrap());
}

/// Live rooms come most viewers first, up to the limit; a count update
/// replaces the old one; a room going offline leaves the directory.
pub async fn live_rooms_are_listed_by_viewers<C: Cache + ?Sized>(cache: &C) {
    assert!(cache.live_rooms(10).await.unwrap().is_empty());
    cache
        .set_room_live(&room("r-small"), true, 3, 60_000)
        .await
        .unwrap();
    cache
        .set_room_live(&room("r-big"), true, 300, 60_000)
        .await
        .unwrap();
    cache
        .set_room_live(&room("r-mid"), true, 30, 60_000)
        .await
        .unwrap();
    cache
        .set_room_live(&room("r-gone"), true, 1000, 60_000)
        .await
        .unwrap();
    cache
        .set_room_live(&room("r-gone"), false, 0, 60_000)
        .await
        .unwrap();
    assert_eq!(
        cache.live_rooms(10).await.unwrap(),
        vec![
            (room("r-big"), 300),
            (room("r-mid"), 30),
            (room("r-small"), 3)
        ]
    );
    assert_eq!(
        cache.live_rooms(2).await.unwrap(),
        vec![(room("r-big"), 300), (room("r-mid"), 30)]
    );
    assert!(cache.live_rooms(0).await.unwrap().is_empty());
    // A new count replaces the old one and reorders.
    cache
        .set_room_live(&room("r-small"), true, 500, 60_000)
        .await
        .unwrap();
    assert_eq!(
        cache.live_rooms(1).await.unwrap(),
        vec![(room("r-small"), 500)]
    );
    // Going offline twice is harmless.
    cache
        .set_room_live(&room("r-big"), false, 0, 60_000)
        .await
        .unwrap();
    cache
        .set_room_live(&room("r-big"), false, 0, 60_000)
        .await
        .unwrap();
    assert_eq!(
        cache.live_rooms(10).await.unwrap(),
        vec![(room("r-small"), 500), (room("r-mid"), 30)]
    );
}

/// An idempotency key is claimed once per scope; later claims get the
/// first value back; after its TTL it can be claimed again.
pub async fn an_idem_key_is_claimed_once<C: Cache + ?Sized>(cache: &C) {
    assert_eq!(
        cache
            .claim_idem("orders", "k1", "order-1", 60_000)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        cache
            .claim_idem("orders", "k1", "order-2", 60_000)
            .await
            .unwrap(),
        Some("order-1".to_owned())
    );
    // Scopes are separate, even when the joined strings would collide.
    assert_eq!(
        cache
            .claim_idem("bids", "k1", "bid-1", 60_000)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        cache.claim_idem("a:b", "c", "x", 60_000).await.unwrap(),
        None
    );
    assert_eq!(
        cache.claim_idem("a", "b:c", "y", 60_000).await.unwrap(),
        None
    );
    // A short claim runs out and can be claimed anew.
    assert_eq!(
        cache
            .claim_idem("orders", "short", "first", 100)
            .await
            .unwrap(),
        None
    );
    eventually("a short idempotency claim expires", || async {
        cache
            .claim_idem("orders", "short", "second", 60_000)
            .await
            .unwrap()
            .is_none()
    })
    .await;
    assert_eq!(
        cache
            .claim_idem("orders", "short", "third", 60_000)
            .await
            .unwrap(),
        Some("second".to_owned())
    );
    // The long claim is still there.
    assert_eq!(
        cache
            .claim_idem("orders", "k1", "order-3", 60_000)
            .await
            .unwrap(),
        Some("order-1".to_owned())
    );
}

/// A revoked family reads as revoked until its TTL runs out; others never.
pub async fn revoked_families_are_remembered_until_their_ttl<C: Cache + ?Sized>(cache: &C) {
    assert!(!cache.is_family_revoked("fam-long").await.unwrap());
    cache.revoke_family("fam-long", 60_000).await.unwrap();
    cache.revoke_family("fam-short", 100).await.unwrap();
    assert!(cache.is_family_revoked("fam-long").await.unwrap());
    assert!(!cache.is_family_revoked("fam-other").await.unwrap());
    eventually("a short revocation expires", || async {
        !cache.is_family_revoked("fam-short").await.unwrap()
    })
    .await;
    assert!(cache.is_family_revoked("fam-long").await.unwrap());
}

/// A live entry not set again within its TTL leaves the directory by
/// itself (the node hosting the room died); setting it again (a heartbeat)
/// renews it; a long TTL keeps its room listed meanwhile.
pub async fn live_rooms_expire_without_a_heartbeat<C: Cache + ?Sized>(cache: &C) {
    cache
        .set_room_live(&room("r-kept"), true, 5, 60_000)
        .await
        .unwrap();
    cache
        .set_room_live(&room("r-dead"), true, 50, 150)
        .await
        .unwrap();
    cache
        .set_room_live(&room("r-beating"), true, 7, 1_000)
        .await
        .unwrap();
    let listed = cache.live_rooms(10).await.unwrap();
    assert!(
        listed.contains(&(room("r-dead"), 50)),
        "a fresh entry is listed: {listed:?}"
    );
    // Heartbeat r-beating every 100 ms (well within its 1 s TTL) until
    // r-dead has expired; r-beating must stay listed all along.
    let deadline = tokio::time::Instant::now() + TTL_WAIT;
    loop {
        cache
            .set_room_live(&room("r-beating"), true, 8, 1_000)
            .await
            .unwrap();
        let listed = cache.live_rooms(10).await.unwrap();
        assert!(
            listed.contains(&(room("r-beating"), 8)),
            "a room with a heartbeat expired: {listed:?}"
        );
        if !listed.iter().any(|(r, _)| *r == room("r-dead")) {
            assert!(listed.contains(&(room("r-kept"), 5)), "{listed:?}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "an entry without a heartbeat did not expire within {TTL_WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Without its heartbeat r-beating expires too; set again, it is back.
    eventually("a room whose heartbeat stopped expires", || async {
        !cache
            .live_rooms(10)
            .await
            .unwrap()
            .iter()
            .any(|(r, _)| *r == room("r-beating"))
    })
    .await;
    cache
        .set_room_live(&room("r-dead"), true, 1, 60_000)
        .await
        .unwrap();
    assert_eq!(
        cache.live_rooms(10).await.unwrap(),
        vec![(room("r-kept"), 5), (room("r-dead"), 1)]
    );
}
